"""The route engine (bot/approvals/engine.py): node semantics, every move, and its invariants.

Reference: approvals.md §1 (vocabulary) and §4 items 3, 5, 7-11. Every test uses a fixed
``Context.now``; nothing here reads the wall clock.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from functools import partial

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from bot.approvals.engine import (
    BadReturnTargetError,
    BadTargetError,
    Context,
    EngineError,
    Event,
    InstanceState,
    InstanceStatus,
    NodeState,
    NodeStatus,
    NotReturnedError,
    NotYourTaskError,
    Outcome,
    Slot,
    SlotStatus,
    TaskGoneError,
    TaskState,
    TaskStatus,
    WithdrawRefusedError,
    add_alongside,
    add_signers,
    count_reminder,
    decide,
    decided_slots,
    escalate,
    node_outcome,
    resubmit,
    return_to,
    start,
    transfer,
    withdraw,
)
from bot.approvals.model import NodeAction, NodeKind

NOW = "2026-12-01T09:00:00+00:00"
CTX = Context(now=NOW)
SUB = 100  # the submitter
A, B, C, D, X, Y, Z = 1, 2, 3, 4, 5, 6, 7
BOSS = 50  # a superior, for escalations

SEQ, ALL, ANY, QUORUM = NodeKind.SEQUENTIAL, NodeKind.ALL, NodeKind.ANY, NodeKind.QUORUM
AP, RJ, OP, WT = SlotStatus.APPROVED, SlotStatus.REJECTED, SlotStatus.OPEN, SlotStatus.WAITING
AUTO = SlotStatus.AUTO_PASSED


# --- helpers --------------------------------------------------------------------------------
def node(
    key: str,
    *people: int,
    kind: NodeKind = SEQ,
    quorum: int | None = None,
    dedupe: bool = True,
    action: NodeAction = NodeAction.APPROVE,
) -> NodeState:
    return NodeState(
        key=key,
        kind=kind,
        action=action,
        slots=[Slot(approver=p) for p in people],
        quorum=quorum,
        dedupe=dedupe,
    )


def route(*nodes: NodeState) -> InstanceState:
    return InstanceState(submitter=SUB, nodes=list(nodes))


def abc() -> list[NodeState]:
    """The plain chain A → B → C, one approver per node."""
    return [node("a", A), node("b", B), node("c", C)]


def started(*nodes: NodeState, ctx: Context = CTX) -> InstanceState:
    return check(start(route(*nodes), ctx)).state


def task_of(state: InstanceState, person: int) -> TaskState:
    """The one open task ``person`` holds."""
    mine = [t for t in state.open_tasks() if t.assignee == person]
    assert len(mine) == 1, (person, state.open_tasks())
    return mine[0]


def holders(state: InstanceState) -> list[int]:
    return sorted(t.assignee for t in state.open_tasks())


def act(
    state: InstanceState,
    person: int,
    approve: bool = True,
    comment: str | None = None,
    ctx: Context = CTX,
) -> Outcome:
    return check(
        decide(
            state,
            task_of(state, person).n,
            actor=person,
            approve=approve,
            comment=comment,
            ctx=ctx,
        )
    )


def ok(state: InstanceState, *people: int) -> InstanceState:
    """Everyone in ``people`` approves their open task, in that order."""
    for p in people:
        state = act(state, p).state
    return state


def names(out: Outcome) -> list[str]:
    return [e.name for e in out.events]


def events(out: Outcome, name: str) -> list[Event]:
    return [e for e in out.events if e.name == name]


def slot_statuses(state: InstanceState, i: int) -> list[SlotStatus]:
    return [s.status for s in state.nodes[i].slots]


def node_statuses(state: InstanceState) -> list[NodeStatus]:
    return [n.status for n in state.nodes]


def invariants(state: InstanceState) -> None:
    """What must hold after every move."""
    # (de)serialisation is lossless, also through real JSON text
    assert InstanceState.from_json(state.to_json()) == state
    assert InstanceState.from_json(json.loads(json.dumps(state.to_json()))) == state
    numbers = [t.n for t in state.tasks]
    assert len(numbers) == len(set(numbers)), "task numbers are unique"
    active = [i for i, n in enumerate(state.nodes) if n.status == NodeStatus.ACTIVE]
    assert len(active) <= 1, "at most one active node"
    open_tasks = state.open_tasks()
    if state.status == InstanceStatus.RUNNING:
        assert len(active) == 1, "a running instance is somewhere"
        assert open_tasks, "a running instance waits for somebody (no stall)"
    else:
        assert not active
        assert not open_tasks, "a finished or returned instance has no open task"
        assert not [t for t in state.tasks if t.status == TaskStatus.SUSPENDED]
    if state.status == InstanceStatus.APPROVED:
        assert all(n.status == NodeStatus.PASSED for n in state.nodes)
    for t in open_tasks:
        assert t.node in active, "open tasks belong to the active node"
        assert state.slot_of(t).status == SlotStatus.OPEN, "an open task's slot is open"
    for t in state.tasks:
        if t.status == TaskStatus.SUSPENDED:
            assert t.sub is None
            assert state.slot_of(t).status == SlotStatus.SUSPENDED
    pairs = [(t.node, t.slot, t.sub, t.assignee) for t in open_tasks]
    assert len(pairs) == len(set(pairs)), "nobody holds two open tasks on one slot"
    for i, n in enumerate(state.nodes):
        for j, s in enumerate(n.slots):
            live = [
                t
                for t in state.tasks
                if (t.node, t.slot, t.sub) == (i, j, None)
                and t.status in (TaskStatus.OPEN, TaskStatus.SUSPENDED)
            ]
            if s.status == SlotStatus.OPEN:
                assert i in active
                assert any(t.status == TaskStatus.OPEN for t in live), "an open slot has a task"
            if s.status == SlotStatus.SUSPENDED:
                assert i in active
                assert len(live) == 1 and live[0].status == TaskStatus.SUSPENDED
                assert any(p.status == SlotStatus.OPEN for p in s.pre)
            if i not in active:
                assert s.status not in (SlotStatus.OPEN, SlotStatus.SUSPENDED), (i, j, s)
                assert all(
                    p.status not in (SlotStatus.OPEN, SlotStatus.SUSPENDED) for p in s.pre
                ), (i, j, s)
            elif s.status != SlotStatus.SUSPENDED:
                assert all(p.status != SlotStatus.OPEN for p in s.pre), (i, j, s)


def check(out: Outcome) -> Outcome:
    invariants(out.state)
    return out


# --- 1. node semantics (table) -----------------------------------------------------------------
def _statuses(decisions: str, total: int, rest: SlotStatus) -> list[SlotStatus]:
    decided = [AP if c == "A" else AUTO if c == "P" else RJ for c in decisions]
    return decided + [rest] * (total - len(decided))


OUTCOMES = [
    # kind, quorum, slots, decisions (A approve, R reject, P auto-passed), expected
    (SEQ, None, 3, "", None),
    (SEQ, None, 3, "A", None),
    (SEQ, None, 3, "AA", None),
    (SEQ, None, 3, "AAA", "passed"),
    (SEQ, None, 3, "R", "rejected"),
    (SEQ, None, 3, "AR", "rejected"),
    (SEQ, None, 3, "AAR", "rejected"),
    (SEQ, None, 3, "PAA", "passed"),
    (SEQ, None, 1, "A", "passed"),
    (ALL, None, 3, "", None),
    (ALL, None, 3, "A", None),
    (ALL, None, 3, "AA", None),
    (ALL, None, 3, "AAA", "passed"),
    (ALL, None, 3, "AAR", "rejected"),
    (ALL, None, 3, "R", "rejected"),
    (ALL, None, 3, "AR", "rejected"),
    (ALL, None, 3, "PPA", "passed"),
    (ALL, None, 3, "PP", None),
    (ANY, None, 3, "", None),
    (ANY, None, 3, "A", "passed"),
    (ANY, None, 3, "R", "rejected"),
    (ANY, None, 3, "P", "passed"),
    (ANY, None, 1, "R", "rejected"),
    (QUORUM, 2, 3, "", None),
    (QUORUM, 2, 3, "A", None),
    (QUORUM, 2, 3, "R", None),
    (QUORUM, 2, 3, "AR", None),
    (QUORUM, 2, 3, "RA", None),
    (QUORUM, 2, 3, "AA", "passed"),
    (QUORUM, 2, 3, "ARA", "passed"),
    (QUORUM, 2, 3, "RAA", "passed"),
    (QUORUM, 2, 3, "RR", "rejected"),
    (QUORUM, 2, 3, "ARR", "rejected"),
    (QUORUM, 2, 3, "RAR", "rejected"),
    (QUORUM, 2, 3, "PA", "passed"),
    (QUORUM, 3, 5, "AA", None),
    (QUORUM, 3, 5, "AAA", "passed"),
    (QUORUM, 3, 5, "RR", None),
    (QUORUM, 3, 5, "RRR", "rejected"),
    (QUORUM, 3, 5, "ARAR", None),
    (QUORUM, 3, 5, "ARARA", "passed"),
    (QUORUM, 3, 5, "RARAR", "rejected"),
    (QUORUM, 3, 5, "AARR", None),
    (QUORUM, 3, 5, "AARRA", "passed"),
    (QUORUM, 3, 5, "AARRR", "rejected"),
    (QUORUM, 3, 5, "PPA", "passed"),
    # a quorum out of range is clamped to 1..slots
    (QUORUM, None, 3, "A", "passed"),
    (QUORUM, None, 3, "RR", None),
    (QUORUM, None, 3, "RRR", "rejected"),
    (QUORUM, 0, 2, "A", "passed"),
    (QUORUM, 5, 3, "AA", None),
    (QUORUM, 5, 3, "AAA", "passed"),
    (QUORUM, 5, 3, "R", "rejected"),
]


@pytest.mark.parametrize(("kind", "quorum", "total", "decisions", "expected"), OUTCOMES)
def test_node_outcome_table(
    kind: NodeKind, quorum: int | None, total: int, decisions: str, expected: str | None
) -> None:
    for rest in (WT, OP, SlotStatus.SUSPENDED):  # undecided slots count the same, whatever state
        assert node_outcome(kind, quorum, _statuses(decisions, total, rest)) == expected


@pytest.mark.parametrize("kind", list(NodeKind))
def test_node_outcome_empty_node_passes(kind: NodeKind) -> None:
    assert node_outcome(kind, 2, []) == "passed"


def _oracle(kind: NodeKind, quorum: int | None, statuses: Sequence[SlotStatus]) -> str | None:
    yes = sum(s in (AP, AUTO) for s in statuses)
    no = sum(s == RJ for s in statuses)
    if not statuses:
        return "passed"
    if kind in (SEQ, ALL):
        return "rejected" if no else "passed" if yes == len(statuses) else None
    if kind == ANY:
        return "passed" if yes else "rejected" if no else None
    need = min(max(quorum or 1, 1), len(statuses))
    undecided = len(statuses) - yes - no
    if yes >= need:
        return "passed"
    return "rejected" if yes + undecided < need else None  # can no longer reach the quorum


@given(
    kind=st.sampled_from(list(NodeKind)),
    quorum=st.one_of(st.none(), st.integers(0, 7)),
    statuses=st.lists(st.sampled_from([WT, OP, AP, RJ, AUTO, SlotStatus.SUSPENDED]), max_size=7),
)
def test_node_outcome_matches_oracle(
    kind: NodeKind, quorum: int | None, statuses: list[SlotStatus]
) -> None:
    assert node_outcome(kind, quorum, statuses) == _oracle(kind, quorum, statuses)


@given(
    kind=st.sampled_from([SEQ, ALL, QUORUM]),  # ANY: the first decision closes the others
    quorum=st.integers(1, 5),
    statuses=st.lists(st.sampled_from([WT, AP, RJ]), min_size=1, max_size=6),
    flip=st.data(),
)
def test_node_outcome_settled_stays_settled(
    kind: NodeKind, quorum: int, statuses: list[SlotStatus], flip: st.DataObject
) -> None:
    """Deciding a further undecided slot never changes a settled node's outcome."""
    before = node_outcome(kind, quorum, statuses)
    waiting = [i for i, s in enumerate(statuses) if s == WT]
    if before is None or not waiting:
        return
    i = flip.draw(st.sampled_from(waiting))
    after = list(statuses)
    after[i] = flip.draw(st.sampled_from([AP, RJ]))
    assert node_outcome(kind, quorum, after) == before


# --- 2. sequential routes ---------------------------------------------------------------------
def test_start_opens_the_first_node_only() -> None:
    out = check(start(route(*abc()), CTX))
    s = out.state
    assert s.status == InstanceStatus.RUNNING
    assert node_statuses(s) == [NodeStatus.ACTIVE, NodeStatus.PENDING, NodeStatus.PENDING]
    assert holders(s) == [A]
    t = task_of(s, A)
    assert (t.n, t.node, t.slot, t.kind, t.version, t.opened_at) == (1, 0, 0, "normal", 1, NOW)
    assert names(out) == ["task_opened"]
    assert out.events[0] == Event("task_opened", task=1, node=0, slot=0, staff=A)
    assert s.current_node() == 0


def test_sequential_chain_one_task_at_a_time() -> None:
    s = started(*abc())
    for person, nxt in ((A, B), (B, C)):
        done = task_of(s, person)
        out = act(s, person, comment="ok")
        s = out.state
        assert out.closed() == [done.n]
        assert events(out, "task_done")[0].task == done.n
        assert len(out.opened()) == 1
        assert holders(s) == [nxt]
        assert out.opened() == [task_of(s, nxt).n]
        assert s.task(done.n).status == TaskStatus.DONE
        assert s.task(done.n).version == 2
    out = act(s, C)
    s = out.state
    assert s.status == InstanceStatus.APPROVED
    assert names(out) == ["task_done", "node_passed", "finished"]
    assert events(out, "finished")[0].detail == "approved"
    assert node_statuses(s) == [NodeStatus.PASSED] * 3
    assert [n.slots[0].decided_by for n in s.nodes] == [A, B, C]
    assert s.nodes[0].slots[0].comment == "ok"
    assert s.nodes[0].slots[0].at == NOW
    assert s.open_tasks() == []
    assert s.human_decisions == 3
    assert [(i, sl.approver) for i, sl in decided_slots(s)] == [(0, A), (1, B), (2, C)]


def test_sequential_node_opens_its_slots_in_order() -> None:
    s = started(node("n", A, B, C, kind=SEQ))
    assert slot_statuses(s, 0) == [OP, WT, WT]
    assert holders(s) == [A]
    s = ok(s, A)
    assert slot_statuses(s, 0) == [AP, OP, WT]
    assert holders(s) == [B]
    s = ok(s, B, C)
    assert s.status == InstanceStatus.APPROVED


def test_sequential_node_rejection_ends_the_instance() -> None:
    s = ok(started(node("n", A, B, C), node("m", D)), A)
    out = act(s, B, approve=False, comment="no budget")
    s = out.state
    assert s.status == InstanceStatus.REJECTED
    assert node_statuses(s) == [NodeStatus.REJECTED, NodeStatus.CANCELLED]
    assert slot_statuses(s, 0) == [AP, RJ, SlotStatus.CLOSED]
    assert s.nodes[0].slots[1].comment == "no budget"
    assert events(out, "finished")[0].detail == "rejected"
    assert "node_rejected" in names(out)


def test_the_input_state_is_never_mutated() -> None:
    s = started(*abc())
    before = s.to_json()
    out = act(s, A)
    assert s.to_json() == before
    assert out.state is not s
    start_state = route(*abc())
    snapshot = start_state.to_json()
    start(start_state, CTX)
    assert start_state.to_json() == snapshot


# --- 会签 / 或签 / quorum ------------------------------------------------------------------------
def test_countersign_all_opens_everyone_at_once() -> None:
    out = check(start(route(node("n", A, B, C, kind=ALL)), CTX))
    assert holders(out.state) == [A, B, C]
    assert len(out.opened()) == 3


def test_countersign_all_passes_when_everyone_approved() -> None:
    s = started(node("n", A, B, C, kind=ALL), node("m", D))
    s = ok(s, A, B)
    assert s.nodes[0].status == NodeStatus.ACTIVE
    assert holders(s) == [C]
    s = ok(s, C)
    assert holders(s) == [D]
    assert s.nodes[0].status == NodeStatus.PASSED


def test_countersign_one_rejection_rejects_and_closes_siblings() -> None:
    s = ok(started(node("n", A, B, C, kind=ALL), node("m", D)), A)
    c_task = task_of(s, C)
    b_task = task_of(s, B)
    out = act(s, B, approve=False, comment="no")
    s = out.state
    assert s.status == InstanceStatus.REJECTED
    assert s.task(c_task.n).status == TaskStatus.CLOSED
    assert s.task(c_task.n).version == c_task.version + 1
    assert s.task(b_task.n).status == TaskStatus.DONE
    assert slot_statuses(s, 0) == [AP, RJ, SlotStatus.CLOSED]
    assert set(out.closed()) == {b_task.n, c_task.n}
    assert [e.task for e in events(out, "task_closed")] == [c_task.n]
    assert events(out, "finished") == [Event("finished", detail="rejected")]
    with pytest.raises(TaskGoneError):
        decide(s, c_task.n, actor=C, approve=True, comment=None, ctx=CTX)


def test_or_sign_first_approval_closes_siblings() -> None:
    s = started(node("n", A, B, C, kind=ANY), node("m", D))
    b_task, c_task = task_of(s, B), task_of(s, C)
    out = act(s, A)
    s = out.state
    assert s.nodes[0].status == NodeStatus.PASSED
    assert slot_statuses(s, 0) == [AP, SlotStatus.CLOSED, SlotStatus.CLOSED]
    assert s.task(b_task.n).status == TaskStatus.CLOSED
    assert s.task(c_task.n).status == TaskStatus.CLOSED
    assert s.task(b_task.n).version == 2
    assert holders(s) == [D]
    with pytest.raises(TaskGoneError):
        decide(s, b_task.n, actor=B, approve=True, comment=None, ctx=CTX)


def test_or_sign_first_rejection_settles_it() -> None:
    s = started(node("n", A, B, kind=ANY))
    s = act(s, B, approve=False, comment="no").state
    assert s.status == InstanceStatus.REJECTED
    assert slot_statuses(s, 0) == [SlotStatus.CLOSED, RJ]


def test_quorum_two_of_three_passes_on_the_second_approval() -> None:
    s = started(node("n", A, B, C, kind=QUORUM, quorum=2), node("m", D))
    s = act(s, A).state
    s = act(s, B, approve=False, comment="no").state
    assert s.status == InstanceStatus.RUNNING
    assert holders(s) == [C]
    s = act(s, C).state
    assert s.nodes[0].status == NodeStatus.PASSED
    assert holders(s) == [D]


def test_quorum_two_of_three_closes_the_third_once_passed() -> None:
    s = started(node("n", A, B, C, kind=QUORUM, quorum=2))
    c_task = task_of(s, C)
    s = ok(s, A, B)
    assert s.status == InstanceStatus.APPROVED
    assert s.task(c_task.n).status == TaskStatus.CLOSED
    assert slot_statuses(s, 0) == [AP, AP, SlotStatus.CLOSED]


def test_quorum_two_of_three_fails_on_the_second_rejection() -> None:
    s = started(node("n", A, B, C, kind=QUORUM, quorum=2))
    s = act(s, A, approve=False).state
    assert s.status == InstanceStatus.RUNNING
    s = act(s, B, approve=False).state
    assert s.status == InstanceStatus.REJECTED
    assert slot_statuses(s, 0) == [RJ, RJ, SlotStatus.CLOSED]


# --- stale and foreign actions ----------------------------------------------------------------
def test_deciding_twice_is_stale() -> None:
    s = started(*abc())
    n = task_of(s, A).n
    s2 = decide(s, n, actor=A, approve=True, comment=None, ctx=CTX).state
    with pytest.raises(TaskGoneError):
        decide(s2, n, actor=A, approve=True, comment=None, ctx=CTX)
    with pytest.raises(TaskGoneError):
        decide(s2, n, actor=A, approve=False, comment=None, ctx=CTX)


def test_a_non_holder_cannot_decide() -> None:
    s = started(*abc())
    n = task_of(s, A).n
    for who in (B, SUB, D):
        with pytest.raises(NotYourTaskError):
            decide(s, n, actor=who, approve=True, comment=None, ctx=CTX)


def test_unknown_task_is_stale() -> None:
    s = started(*abc())
    with pytest.raises(TaskGoneError):
        decide(s, 99, actor=A, approve=True, comment=None, ctx=CTX)
    with pytest.raises(TaskGoneError):
        s.task(99)


def test_every_move_on_a_finished_instance_is_stale() -> None:
    s = started(node("a", A, B, kind=ALL))
    b = task_of(s, B).n
    s = act(s, A, approve=False).state
    for move in (
        lambda: decide(s, b, actor=B, approve=True, comment=None, ctx=CTX),
        lambda: return_to(s, b, actor=B, target=None, comment="x", ctx=CTX),
        lambda: transfer(s, b, actor=B, to=D, ctx=CTX),
        lambda: add_signers(s, b, actor=B, people=[D], before=True, kind=ALL, ctx=CTX),
        lambda: escalate(s, b, to=BOSS, ctx=CTX),
        lambda: withdraw(s, actor=SUB, any_time=True, ctx=CTX),
    ):
        with pytest.raises(TaskGoneError):
            move()
    with pytest.raises(NotReturnedError):
        resubmit(s, abc(), actor=SUB, from_return=True, ctx=CTX)


def test_engine_errors_are_domain_errors() -> None:
    from bot.errors import DomainError

    for cls in (
        TaskGoneError,
        NotYourTaskError,
        WithdrawRefusedError,
        NotReturnedError,
        BadTargetError,
        BadReturnTargetError,
    ):
        assert issubclass(cls, EngineError)
        assert issubclass(cls, DomainError)
    assert TaskGoneError(7).instance_id == 7


# --- 退回 and resubmit -----------------------------------------------------------------------
def _c_returns() -> InstanceState:
    s = ok(started(*abc()), A, B)
    out = check(
        return_to(s, task_of(s, C).n, actor=C, target=None, comment="fix the amount", ctx=CTX)
    )
    assert names(out) == ["task_done", "returned"]
    assert events(out, "returned")[0] == Event("returned", node=2, staff=C)
    return out.state


def test_return_to_submitter() -> None:
    s = _c_returns()
    assert s.status == InstanceStatus.RETURNED
    assert s.open_tasks() == []
    assert s.returned_from == 2
    assert s.epoch == 1
    assert s.approved_in_epoch == []
    assert node_statuses(s) == [NodeStatus.PASSED, NodeStatus.PASSED, NodeStatus.PENDING]
    assert s.current_node() is None
    assert s.human_decisions == 3


def test_return_inside_countersign_closes_the_other_countersigners() -> None:
    s = started(node("n", A, B, C, kind=ALL))
    b, c = task_of(s, B).n, task_of(s, C).n
    out = check(return_to(s, task_of(s, A).n, actor=A, target=None, comment="redo", ctx=CTX))
    s = out.state
    assert s.status == InstanceStatus.RETURNED
    assert s.task(b).status == TaskStatus.CLOSED
    assert s.task(c).status == TaskStatus.CLOSED
    assert {b, c} <= set(out.closed())
    assert s.open_tasks() == []


def test_resubmit_from_return_continues_at_the_returning_node() -> None:
    s = _c_returns()
    out = check(resubmit(s, abc(), actor=SUB, from_return=True, ctx=CTX))
    s = out.state
    assert s.status == InstanceStatus.RUNNING
    assert holders(s) == [C]
    assert events(out, "resubmitted")[0].detail == "from_return"
    assert [e.staff for e in events(out, "task_opened")] == [C]
    assert node_statuses(s)[:2] == [NodeStatus.PASSED, NodeStatus.PASSED]
    assert s.returned_from is None
    s = ok(s, C)
    assert s.status == InstanceStatus.APPROVED


def test_resubmit_from_scratch_restarts_at_the_first_node() -> None:
    s = _c_returns()
    out = check(resubmit(s, abc(), actor=SUB, from_return=False, ctx=CTX))
    s = out.state
    assert holders(s) == [A]
    assert events(out, "resubmitted")[0].detail == "restart"
    assert node_statuses(s) == [NodeStatus.ACTIVE, NodeStatus.PENDING, NodeStatus.PENDING]
    # A approved before the return: no de-duplication lets that count again
    s = ok(s, A, B, C)
    assert s.status == InstanceStatus.APPROVED


def test_resubmit_redo_forces_a_kept_node_again() -> None:
    s = _c_returns()
    s = check(
        resubmit(s, abc(), actor=SUB, from_return=True, redo=frozenset({"b"}), ctx=CTX)
    ).state
    assert holders(s) == [B]
    assert s.nodes[0].status == NodeStatus.PASSED
    s = ok(s, B)
    assert holders(s) == [C]


def test_resubmit_keeps_old_tasks_closed_and_numbers_growing() -> None:
    s = _c_returns()
    old = {t.n for t in s.tasks}
    s = check(resubmit(s, abc(), actor=SUB, from_return=False, ctx=CTX)).state
    new = task_of(s, A).n
    assert new > max(old)
    assert all(s.task(n).status != TaskStatus.OPEN for n in old)


def test_resubmit_on_a_replanned_route() -> None:
    """Nodes kept by key; a node new on the route is run; a node gone from it is dropped."""
    s = _c_returns()
    planned = [node("a", A), node("x", X), node("c", C)]
    s = check(resubmit(s, planned, actor=SUB, from_return=True, ctx=CTX)).state
    assert [n.key for n in s.nodes] == ["a", "x", "c"]
    assert holders(s) == [X]


def test_resubmit_ignores_statuses_carried_by_the_planned_nodes() -> None:
    s = _c_returns()
    planned = copy.deepcopy(s.nodes)  # a caller re-using the old node states
    s = check(resubmit(s, planned, actor=SUB, from_return=False, ctx=CTX)).state
    assert holders(s) == [A]


def test_resubmit_guards() -> None:
    s = started(*abc())
    with pytest.raises(NotReturnedError):
        resubmit(s, abc(), actor=SUB, from_return=True, ctx=CTX)
    r = _c_returns()
    with pytest.raises(NotYourTaskError):
        resubmit(r, abc(), actor=A, from_return=True, ctx=CTX)
    # while returned, approvers' moves are stale
    with pytest.raises(TaskGoneError):
        escalate(r, r.tasks[-1].n, to=BOSS, ctx=CTX)


def test_return_to_an_earlier_node_reactivates_it() -> None:
    s = ok(started(*abc()), A, B)
    c = task_of(s, C).n
    out = check(return_to(s, c, actor=C, target=0, comment="again", ctx=CTX))
    s = out.state
    assert s.status == InstanceStatus.RUNNING
    assert node_statuses(s) == [NodeStatus.ACTIVE, NodeStatus.PENDING, NodeStatus.PENDING]
    assert holders(s) == [A]
    assert s.epoch == 1
    assert events(out, "returned")[0] == Event("returned", node=0, staff=C, detail="node")
    assert s.task(c).status == TaskStatus.DONE
    s = ok(s, A, B, C)
    assert s.status == InstanceStatus.APPROVED


def test_return_to_the_previous_node() -> None:
    s = ok(started(*abc()), A, B)
    s = check(return_to(s, task_of(s, C).n, actor=C, target=1, comment="", ctx=CTX)).state
    assert node_statuses(s) == [NodeStatus.PASSED, NodeStatus.ACTIVE, NodeStatus.PENDING]
    assert holders(s) == [B]


@pytest.mark.parametrize("target", [1, 2, 3, -1])
def test_return_target_must_be_earlier(target: int) -> None:
    s = ok(started(*abc()), A)  # B, at node 1, holds the task
    with pytest.raises(BadReturnTargetError):
        return_to(s, task_of(s, B).n, actor=B, target=target, comment="", ctx=CTX)


def test_return_from_the_first_node_to_a_node_is_refused() -> None:
    s = started(*abc())
    with pytest.raises(BadReturnTargetError):
        return_to(s, task_of(s, A).n, actor=A, target=0, comment="", ctx=CTX)


def test_return_by_a_non_holder() -> None:
    s = started(*abc())
    with pytest.raises(NotYourTaskError):
        return_to(s, task_of(s, A).n, actor=B, target=None, comment="", ctx=CTX)


# --- de-duplication ---------------------------------------------------------------------------
def _a_twice(dedupe: bool = True) -> list[NodeState]:
    return [node("a", A), node("b", B), node("c", A, dedupe=dedupe)]


def test_dedupe_auto_passes_a_repeated_approver() -> None:
    s = ok(started(*_a_twice()), A)
    out = act(s, B)
    s = out.state
    assert s.status == InstanceStatus.APPROVED
    slot = s.nodes[2].slots[0]
    assert (slot.status, slot.note, slot.at, slot.decided_by) == (AUTO, "dedupe", NOW, None)
    assert events(out, "slot_auto_passed") == [
        Event("slot_auto_passed", node=2, slot=0, staff=A, detail="dedupe")
    ]
    assert out.opened() == []
    assert decided_slots(s) == [(0, s.nodes[0].slots[0]), (1, s.nodes[1].slots[0])]


def test_dedupe_off_asks_again() -> None:
    s = ok(started(*_a_twice(dedupe=False)), A, B)
    assert holders(s) == [A]


def test_no_dedupe_after_a_return_to_a_node() -> None:
    s = ok(started(*_a_twice()), A)
    s = check(return_to(s, task_of(s, B).n, actor=B, target=0, comment="", ctx=CTX)).state
    s = ok(s, A, B)
    assert holders(s) == [A]
    assert s.nodes[2].slots[0].status == OP


def test_no_dedupe_after_a_return_to_the_submitter() -> None:
    s = ok(started(*_a_twice()), A)
    s = check(return_to(s, task_of(s, B).n, actor=B, target=None, comment="", ctx=CTX)).state
    for from_return in (True, False):
        r = check(resubmit(s, _a_twice(), actor=SUB, from_return=from_return, ctx=CTX)).state
        r = ok(r, A, B) if not from_return else ok(r, B)
        assert holders(r) == [A], from_return
        assert r.nodes[2].slots[0].note is None


def test_dedupe_counts_the_delegate_and_the_principal() -> None:
    ctx = Context(now=NOW, delegates={A: D})
    s = started(node("a", A), node("b", D), node("c", A), ctx=ctx)
    s = act(s, D, ctx=ctx).state  # D approves on behalf of A
    assert s.status == InstanceStatus.APPROVED
    assert [sl.note for n in s.nodes[1:] for sl in n.slots] == ["dedupe", "dedupe"]


def test_dedupe_inside_a_sequential_node() -> None:
    s = ok(started(node("a", A), node("b", A, B)), A)
    assert slot_statuses(s, 1) == [AUTO, OP]
    assert holders(s) == [B]


def test_dedupe_settling_an_or_sign_node_opens_nobody_else() -> None:
    """Nobody gets a card that is taken back in the same move (pain point 7)."""
    s = started(node("a", A), node("b", B, A, kind=ANY), node("c", C))
    out = act(s, A)
    assert slot_statuses(out.state, 1) == [SlotStatus.CLOSED, AUTO]
    assert [e.staff for e in events(out, "task_opened")] == [C]
    assert holders(out.state) == [C]


def test_dedupe_settling_a_quorum_opens_nobody_else() -> None:
    s = started(node("a", A, B, kind=ALL), node("q", A, C, B, kind=QUORUM, quorum=2), node("z", Z))
    out = act(act(s, A).state, B)
    assert [e.staff for e in events(out, "task_opened")] == [Z]


def test_dedupe_partly_settles_a_countersign() -> None:
    s = ok(started(node("a", A), node("b", B, A, C, kind=ALL)), A)
    assert slot_statuses(s, 1) == [OP, AUTO, OP]
    assert holders(s) == [B, C]


# --- delegation -------------------------------------------------------------------------------
def test_delegation_assigns_the_delegate_on_behalf_of_the_approver() -> None:
    ctx = Context(now=NOW, delegates={A: B})
    out = check(start(route(node("a", A), node("c", C)), ctx))
    t = out.state.tasks[0]
    assert (t.assignee, t.on_behalf_of) == (B, A)
    assert events(out, "task_opened")[0].staff == B
    with pytest.raises(NotYourTaskError):
        decide(out.state, t.n, actor=A, approve=True, comment=None, ctx=ctx)
    s = decide(out.state, t.n, actor=B, approve=True, comment="代", ctx=ctx).state
    slot = s.nodes[0].slots[0]
    assert (slot.approver, slot.decided_by, slot.on_behalf_of) == (A, B, A)
    assert holders(s) == [C]
    assert s.tasks[-1].on_behalf_of is None  # C has no delegate


def test_no_delegation_means_no_on_behalf_of() -> None:
    s = ok(started(*abc()), A)
    slot = s.nodes[0].slots[0]
    assert (slot.decided_by, slot.on_behalf_of) == (A, None)
    assert s.tasks[-1].on_behalf_of is None


# --- 撤回 withdraw ------------------------------------------------------------------------------
def test_withdraw_before_any_decision() -> None:
    s = started(node("n", A, B, kind=ALL), node("m", C))
    out = check(withdraw(s, actor=SUB, any_time=False, ctx=CTX))
    s = out.state
    assert s.status == InstanceStatus.WITHDRAWN
    assert s.open_tasks() == []
    assert events(out, "finished") == [Event("finished", detail="withdrawn")]
    assert len(events(out, "task_closed")) == 2
    assert node_statuses(s) == [NodeStatus.CANCELLED, NodeStatus.CANCELLED]
    assert slot_statuses(s, 0) == [SlotStatus.CLOSED, SlotStatus.CLOSED]


def test_withdraw_refused_after_a_decision_unless_any_time() -> None:
    s = ok(started(*abc()), A)
    with pytest.raises(WithdrawRefusedError):
        withdraw(s, actor=SUB, any_time=False, ctx=CTX)
    s = check(withdraw(s, actor=SUB, any_time=True, ctx=CTX)).state
    assert s.status == InstanceStatus.WITHDRAWN
    assert node_statuses(s) == [NodeStatus.PASSED, NodeStatus.CANCELLED, NodeStatus.CANCELLED]


def test_withdraw_by_someone_else() -> None:
    s = started(*abc())
    for who in (A, B):
        with pytest.raises(NotYourTaskError):
            withdraw(s, actor=who, any_time=True, ctx=CTX)


def test_withdraw_twice_is_stale() -> None:
    s = check(withdraw(started(*abc()), actor=SUB, any_time=False, ctx=CTX)).state
    with pytest.raises(TaskGoneError):
        withdraw(s, actor=SUB, any_time=True, ctx=CTX)


def test_withdraw_while_pre_signers_are_at_work() -> None:
    s = started(node("a", A))
    s = check(
        add_signers(s, task_of(s, A).n, actor=A, people=[X, Y], before=True, kind=ALL, ctx=CTX)
    ).state
    s = check(withdraw(s, actor=SUB, any_time=True, ctx=CTX)).state
    assert s.open_tasks() == []
    assert all(t.status == TaskStatus.CLOSED for t in s.tasks)
    assert [p.status for p in s.nodes[0].slots[0].pre] == [SlotStatus.CLOSED] * 2


def test_withdraw_a_returned_request_when_allowed_any_time() -> None:
    s = check(withdraw(_c_returns(), actor=SUB, any_time=True, ctx=CTX)).state
    assert s.status == InstanceStatus.WITHDRAWN
    assert node_statuses(s) == [NodeStatus.PASSED, NodeStatus.PASSED, NodeStatus.CANCELLED]


# --- 转交 transfer -----------------------------------------------------------------------------
def test_transfer_hands_the_slot_over() -> None:
    s = started(node("a", A), node("b", B))
    old = task_of(s, A)
    out = check(transfer(s, old.n, actor=A, to=D, ctx=CTX))
    s = out.state
    slot = s.nodes[0].slots[0]
    assert slot.approver == D
    assert slot.note == f"transferred_from:{A}"
    assert s.task(old.n).status == TaskStatus.CLOSED
    assert s.task(old.n).version == old.version + 1
    new = task_of(s, D)
    assert (new.kind, new.node, new.slot) == ("transfer", 0, 0)
    assert names(out) == ["task_closed", "task_opened"]
    with pytest.raises(TaskGoneError):
        decide(s, old.n, actor=A, approve=True, comment=None, ctx=CTX)
    s = ok(s, D)
    assert s.nodes[0].slots[0].decided_by == D
    assert holders(s) == [B]


@pytest.mark.parametrize("to", [A, SUB, B])
def test_transfer_bad_targets(to: int) -> None:
    s = started(node("n", A, B, kind=ALL))
    with pytest.raises(BadTargetError):
        transfer(s, task_of(s, A).n, actor=A, to=to, ctx=CTX)


def test_transfer_to_a_later_approver_of_a_sequential_node_is_refused() -> None:
    s = started(node("n", A, B))
    with pytest.raises(BadTargetError):
        transfer(s, task_of(s, A).n, actor=A, to=B, ctx=CTX)


def test_transfer_to_someone_who_already_decided_on_the_node() -> None:
    s = ok(started(node("n", A, B, kind=ALL)), A)
    s = check(transfer(s, task_of(s, B).n, actor=B, to=A, ctx=CTX)).state
    assert holders(s) == [A]


def test_transfer_to_a_delegate_already_at_work_on_the_node_is_refused() -> None:
    ctx = Context(now=NOW, delegates={A: D})
    s = started(node("n", A, B, kind=ALL), ctx=ctx)
    with pytest.raises(BadTargetError):
        transfer(s, task_of(s, B).n, actor=B, to=D, ctx=ctx)


def test_transfer_by_a_non_holder() -> None:
    s = started(*abc())
    with pytest.raises(NotYourTaskError):
        transfer(s, task_of(s, A).n, actor=B, to=D, ctx=CTX)


def test_transfer_closes_an_escalation_too() -> None:
    s = started(node("a", A))
    s = check(escalate(s, task_of(s, A).n, to=BOSS, ctx=CTX)).state
    s = check(transfer(s, task_of(s, A).n, actor=A, to=D, ctx=CTX)).state
    assert holders(s) == [D]


def test_transfer_to_the_superior_my_task_was_escalated_to() -> None:
    s = started(node("a", A))
    s = check(escalate(s, task_of(s, A).n, to=BOSS, ctx=CTX)).state
    s = check(transfer(s, task_of(s, A).n, actor=A, to=BOSS, ctx=CTX)).state
    assert [(t.assignee, t.kind) for t in s.open_tasks()] == [(BOSS, "transfer")]
    assert s.nodes[0].slots[0].approver == BOSS


def test_transfer_to_a_pre_signer_of_the_node_is_refused() -> None:
    s = started(node("n", A, B, kind=ALL))
    s = check(
        add_signers(s, task_of(s, A).n, actor=A, people=[X], before=True, kind=ALL, ctx=CTX)
    ).state
    with pytest.raises(BadTargetError):
        transfer(s, task_of(s, B).n, actor=B, to=X, ctx=CTX)


# --- 加签 add signers -------------------------------------------------------------------------
def _before(
    state: InstanceState, actor: int, people: Sequence[int], kind: NodeKind = ALL
) -> Outcome:
    n = task_of(state, actor).n
    return check(
        add_signers(state, n, actor=actor, people=people, before=True, kind=kind, ctx=CTX)
    )


def test_add_before_countersign_suspends_me_until_both_approve() -> None:
    s = started(node("a", A), node("b", B))
    mine = task_of(s, A)
    out = _before(s, A, [X, Y])
    s = out.state
    assert s.task(mine.n).status == TaskStatus.SUSPENDED
    assert s.task(mine.n).version == 2
    assert s.nodes[0].slots[0].status == SlotStatus.SUSPENDED
    assert holders(s) == [X, Y]
    assert [(t.kind, t.sub) for t in s.open_tasks()] == [("pre", 0), ("pre", 1)]
    assert names(out) == ["task_suspended", "task_opened", "task_opened"]
    with pytest.raises(TaskGoneError):
        decide(s, mine.n, actor=A, approve=True, comment=None, ctx=CTX)
    s = ok(s, X)
    assert s.task(mine.n).status == TaskStatus.SUSPENDED
    out = act(s, Y)
    s = out.state
    assert s.task(mine.n).status == TaskStatus.OPEN
    assert s.task(mine.n).version == 3
    assert events(out, "task_resumed") == [
        Event("task_resumed", task=mine.n, node=0, slot=0, staff=A)
    ]
    assert s.nodes[0].slots[0].status == OP
    assert [p.status for p in s.nodes[0].slots[0].pre] == [AP, AP]
    assert [p.decided_by for p in s.nodes[0].slots[0].pre] == [X, Y]
    assert holders(s) == [A]
    s = ok(s, A)
    assert holders(s) == [B]


def test_add_before_a_pre_signer_rejection_rejects_the_instance() -> None:
    s = started(node("a", A), node("b", B))
    mine = task_of(s, A).n
    s = _before(s, A, [X, Y]).state
    y = task_of(s, Y).n
    out = act(s, X, approve=False, comment="wrong")
    s = out.state
    assert s.status == InstanceStatus.REJECTED
    assert s.task(mine).status == TaskStatus.CLOSED
    assert s.task(y).status == TaskStatus.CLOSED
    assert s.nodes[0].slots[0].status == RJ
    assert s.nodes[0].slots[0].note == "pre_rejected"


def test_add_before_rejection_in_a_quorum_node_closes_my_suspended_task() -> None:
    s = started(node("q", A, B, C, kind=QUORUM, quorum=2))
    mine = task_of(s, A).n
    s = _before(s, A, [X]).state
    s = act(s, X, approve=False).state
    assert s.status == InstanceStatus.RUNNING
    assert s.task(mine).status == TaskStatus.CLOSED
    assert slot_statuses(s, 0) == [RJ, OP, OP]
    s = ok(s, B, C)
    assert s.status == InstanceStatus.APPROVED


def test_add_before_sequential_pre_signers_one_at_a_time() -> None:
    s = started(node("a", A))
    s = _before(s, A, [X, Y, Z], kind=SEQ).state
    assert holders(s) == [X]
    assert [p.status for p in s.nodes[0].slots[0].pre] == [OP, WT, WT]
    s = ok(s, X)
    assert holders(s) == [Y]
    s = ok(s, Y)
    assert holders(s) == [Z]
    s = ok(s, Z)
    assert holders(s) == [A]
    s = ok(s, A)
    assert s.status == InstanceStatus.APPROVED


def test_add_before_or_sign_first_pre_signer_settles_it() -> None:
    s = started(node("a", A))
    s = _before(s, A, [X, Y], kind=ANY).state
    y = task_of(s, Y).n
    s = ok(s, X)
    assert holders(s) == [A]
    assert s.task(y).status == TaskStatus.CLOSED
    assert [p.status for p in s.nodes[0].slots[0].pre] == [AP, SlotStatus.CLOSED]


def test_add_before_quorum_kind_means_everyone() -> None:
    s = started(node("a", A))
    s = _before(s, A, [X, Y], kind=QUORUM).state
    assert s.nodes[0].slots[0].pre_kind == ALL
    s = ok(s, X)
    assert holders(s) == [Y]


def test_add_before_in_a_countersign_node_keeps_the_others_working() -> None:
    s = started(node("n", A, B, kind=ALL))
    s = _before(s, A, [X]).state
    assert holders(s) == [B, X]
    s = ok(s, B)
    assert s.nodes[0].status == NodeStatus.ACTIVE
    s = ok(s, X, A)
    assert s.status == InstanceStatus.APPROVED


def test_add_before_in_an_or_sign_node_that_another_settles() -> None:
    s = started(node("n", A, B, kind=ANY), node("m", C))
    mine = task_of(s, A).n
    s = _before(s, A, [X]).state
    s = ok(s, B)
    assert s.task(mine).status == TaskStatus.CLOSED
    assert [p.status for p in s.nodes[0].slots[0].pre] == [SlotStatus.CLOSED]
    assert holders(s) == [C]


def test_add_before_the_pre_signers_own_moves() -> None:
    s = started(node("a", A), node("b", B))
    s = _before(s, A, [X]).state
    x = task_of(s, X).n
    with pytest.raises(BadTargetError):  # a pre-signer cannot add signers in turn
        add_signers(s, x, actor=X, people=[Y], before=True, kind=ALL, ctx=CTX)
    # a pre-signer may hand over
    t = check(transfer(s, x, actor=X, to=Y, ctx=CTX)).state
    assert t.nodes[0].slots[0].pre[0].approver == Y
    t = ok(t, Y)
    assert holders(t) == [A]
    # a pre-signer may return the request to the submitter
    r = check(return_to(s, x, actor=X, target=None, comment="", ctx=CTX)).state
    assert r.status == InstanceStatus.RETURNED
    assert r.open_tasks() == []
    assert [t.status for t in r.tasks if t.status == TaskStatus.SUSPENDED] == []


@pytest.mark.parametrize("people", [[], [A], [SUB], [X, A], [B]])
def test_add_signers_bad_targets(people: list[int]) -> None:
    s = started(node("n", A, B, kind=ALL))
    n = task_of(s, A).n
    with pytest.raises(BadTargetError):
        add_signers(s, n, actor=A, people=people, before=True, kind=ALL, ctx=CTX)


def test_add_signers_by_a_non_holder() -> None:
    s = started(*abc())
    with pytest.raises(NotYourTaskError):
        add_signers(s, task_of(s, A).n, actor=B, people=[X], before=True, kind=ALL, ctx=CTX)


def test_add_signers_duplicates_are_dropped() -> None:
    s = started(node("a", A))
    s = _before(s, A, [X, X, Y]).state
    assert [p.approver for p in s.nodes[0].slots[0].pre] == [X, Y]


def test_add_before_while_escalated_leaves_no_open_task_on_my_suspended_slot() -> None:
    s = started(node("a", A))
    s = check(escalate(s, task_of(s, A).n, to=BOSS, ctx=CTX)).state
    s = _before(s, A, [X]).state
    assert holders(s) == [X]
    s = ok(s, X)
    assert holders(s) == [A]


def _after(
    state: InstanceState, actor: int, people: Sequence[int], kind: NodeKind = ALL
) -> Outcome:
    n = task_of(state, actor).n
    return check(
        add_signers(state, n, actor=actor, people=people, before=False, kind=kind, ctx=CTX)
    )


def test_add_after_inserts_a_node_after_mine() -> None:
    s = started(*abc())
    mine = task_of(s, A)
    out = _after(s, A, [X, Y])
    s = out.state
    assert [n.key for n in s.nodes] == ["a", f"a+{mine.n}", "b", "c"]
    added = s.nodes[1]
    assert (added.added_by, added.kind, added.dedupe, added.status) == (
        A,
        ALL,
        False,
        NodeStatus.PENDING,
    )
    assert [sl.approver for sl in added.slots] == [X, Y]
    assert events(out, "signers_added") == [
        Event("signers_added", node=1, staff=A, detail="after")
    ]
    assert holders(s) == [A]  # I still decide
    assert s.task(mine.n).version == mine.version
    s = ok(s, A)
    assert s.current_node() == 1
    assert holders(s) == [X, Y]
    s = ok(s, X, Y)
    assert s.current_node() == 2
    assert holders(s) == [B]
    s = ok(s, B, C)
    assert s.status == InstanceStatus.APPROVED


def test_add_after_sequential() -> None:
    s = _after(started(node("a", A)), A, [X, Y], kind=SEQ).state
    s = ok(s, A)
    assert holders(s) == [X]
    s = ok(s, X)
    assert holders(s) == [Y]


def test_add_after_quorum_kind_means_everyone() -> None:
    s = _after(started(node("a", A)), A, [X, Y], kind=QUORUM).state
    assert s.nodes[1].kind == ALL
    s = ok(s, A, X)
    assert holders(s) == [Y]


def test_add_after_is_not_deduplicated() -> None:
    s = started(node("a", A), node("b", B))
    s = ok(s, A)
    s = _after(s, B, [A]).state
    s = ok(s, B)
    assert holders(s) == [A]


def test_add_after_shifts_the_numbers_of_later_nodes_tasks() -> None:
    s = ok(started(*abc()), A, B)
    s = check(return_to(s, task_of(s, C).n, actor=C, target=0, comment="", ctx=CTX)).state
    old_c = next(t for t in s.tasks if t.assignee == C)
    assert old_c.node == 2
    s = _after(s, A, [X]).state
    assert s.task(old_c.n).node == 3
    assert s.nodes[3].key == "c"


def test_add_after_then_the_route_is_rejected() -> None:
    s = _after(started(*abc()), A, [X]).state
    s = act(s, A, approve=False).state
    assert s.status == InstanceStatus.REJECTED
    assert node_statuses(s) == [
        NodeStatus.REJECTED,
        NodeStatus.CANCELLED,
        NodeStatus.CANCELLED,
        NodeStatus.CANCELLED,
    ]


# --- escalation ------------------------------------------------------------------------------
def test_escalation_opens_a_second_task_on_the_same_slot() -> None:
    s = started(node("a", A), node("b", B))
    t = task_of(s, A)
    out = check(escalate(s, t.n, to=BOSS, ctx=CTX))
    s = out.state
    e = task_of(s, BOSS)
    assert (e.node, e.slot, e.sub, e.kind) == (t.node, t.slot, None, "escalation")
    assert holders(s) == [A, BOSS]
    assert names(out) == ["task_opened"]
    assert s.task(t.n).status == TaskStatus.OPEN


def test_escalation_the_superior_acts_first() -> None:
    s = started(node("a", A), node("b", B))
    t = task_of(s, A)
    s = check(escalate(s, t.n, to=BOSS, ctx=CTX)).state
    out = act(s, BOSS)
    s = out.state
    assert s.task(t.n).status == TaskStatus.CLOSED
    slot = s.nodes[0].slots[0]
    assert (slot.approver, slot.decided_by, slot.note) == (A, BOSS, "escalated")
    assert holders(s) == [B]
    with pytest.raises(TaskGoneError):
        decide(s, t.n, actor=A, approve=True, comment=None, ctx=CTX)


def test_escalation_the_holder_acts_first() -> None:
    s = started(node("a", A), node("b", B))
    s = check(escalate(s, task_of(s, A).n, to=BOSS, ctx=CTX)).state
    e = task_of(s, BOSS).n
    s = act(s, A).state
    assert s.task(e).status == TaskStatus.CLOSED
    assert s.nodes[0].slots[0].note is None
    with pytest.raises(TaskGoneError):
        decide(s, e, actor=BOSS, approve=True, comment=None, ctx=CTX)


def test_escalation_rejection_by_the_superior() -> None:
    s = started(node("a", A))
    s = check(escalate(s, task_of(s, A).n, to=BOSS, ctx=CTX)).state
    s = act(s, BOSS, approve=False).state
    assert s.status == InstanceStatus.REJECTED


def test_escalating_twice_to_the_same_person() -> None:
    s = started(node("a", A))
    n = task_of(s, A).n
    s = check(escalate(s, n, to=BOSS, ctx=CTX)).state
    with pytest.raises(BadTargetError):
        escalate(s, n, to=BOSS, ctx=CTX)
    with pytest.raises(BadTargetError):
        escalate(s, n, to=A, ctx=CTX)  # the holder themself
    s = check(escalate(s, n, to=BOSS + 1, ctx=CTX)).state  # a ladder: the next level up
    assert holders(s) == [A, BOSS, BOSS + 1]


def test_escalating_twice_to_a_delegated_superior() -> None:
    ctx = Context(now=NOW, delegates={BOSS: D})
    s = started(node("a", A), ctx=ctx)
    n = task_of(s, A).n
    s = check(escalate(s, n, to=BOSS, ctx=ctx)).state
    assert (task_of(s, D).on_behalf_of, task_of(s, D).kind) == (BOSS, "escalation")
    with pytest.raises(BadTargetError):
        escalate(s, n, to=BOSS, ctx=ctx)


def test_escalation_of_a_closed_task() -> None:
    s = started(node("a", A), node("b", B))
    n = task_of(s, A).n
    s = ok(s, A)
    with pytest.raises(TaskGoneError):
        escalate(s, n, to=BOSS, ctx=CTX)


def test_escalation_of_a_pre_signer() -> None:
    s = _before(started(node("a", A)), A, [X]).state
    x = task_of(s, X)
    s = check(escalate(s, x.n, to=BOSS, ctx=CTX)).state
    assert task_of(s, BOSS).sub == 0
    s = ok(s, BOSS)
    assert s.task(x.n).status == TaskStatus.CLOSED
    assert holders(s) == [A]


# --- empty nodes, reminders -----------------------------------------------------------------
def test_an_empty_node_passes_at_once() -> None:
    out = check(start(route(node("e"), node("b", B)), CTX))
    assert node_statuses(out.state) == [NodeStatus.PASSED, NodeStatus.ACTIVE]
    assert names(out) == ["node_passed", "task_opened"]


def test_an_empty_node_in_the_middle() -> None:
    s = started(node("a", A), node("e", kind=ALL), node("c", C))
    s = ok(s, A)
    assert holders(s) == [C]
    assert s.nodes[1].status == NodeStatus.PASSED


def test_a_route_of_empty_nodes_is_approved_at_start() -> None:
    out = check(start(route(node("e"), node("f", kind=QUORUM, quorum=2)), CTX))
    assert out.state.status == InstanceStatus.APPROVED
    assert events(out, "finished") == [Event("finished", detail="approved")]
    out = check(start(route(), CTX))
    assert out.state.status == InstanceStatus.APPROVED


def test_count_reminder_is_pure() -> None:
    s = started(node("a", A))
    n = task_of(s, A).n
    s2 = count_reminder(count_reminder(s, n), n)
    assert s2.task(n).reminders == 2
    assert s.task(n).reminders == 0
    with pytest.raises(TaskGoneError):
        count_reminder(s, 42)


# --- serialisation at several points of a flow -------------------------------------------------
def test_round_trip_through_a_whole_flow() -> None:
    ctx = Context(now=NOW, delegates={C: D})
    s = route(node("a", A), node("n", B, C, kind=ALL), node("q", X, Y, Z, kind=QUORUM, quorum=2))
    states = [s]
    s = check(start(s, ctx)).state
    states.append(s)
    s = _after(s, A, [Y]).state
    states.append(s)
    s = act(s, A, ctx=ctx).state
    states.append(s)
    s = act(s, Y, ctx=ctx).state
    s = _before(s, B, [Z], kind=SEQ).state
    states.append(s)
    s = check(escalate(s, task_of(s, D).n, to=BOSS, ctx=ctx)).state
    states.append(s)
    s = check(return_to(s, task_of(s, BOSS).n, actor=BOSS, target=None, comment="", ctx=ctx)).state
    states.append(s)
    s = check(
        resubmit(
            s,
            [node("a", A), node("q", X, Y, Z, kind=QUORUM, quorum=2)],
            actor=SUB,
            from_return=True,
            ctx=ctx,
        )
    ).state
    states.append(s)
    s = ok(s, X, Y)
    states.append(s)
    assert s.status == InstanceStatus.APPROVED
    for st_ in states:
        data = st_.to_json()
        assert json.loads(json.dumps(data)) == data
        assert InstanceState.from_json(data) == st_
        assert InstanceState.from_json(data).to_json() == data


def test_to_json_uses_plain_values() -> None:
    s = _before(started(node("a", A, kind=QUORUM, quorum=1)), A, [X], kind=SEQ).state
    data = s.to_json()
    assert data["status"] == "running"
    assert data["nodes"][0]["kind"] == "quorum"
    assert data["nodes"][0]["action"] == "approve"
    assert data["nodes"][0]["slots"][0]["status"] == "suspended"
    assert data["nodes"][0]["slots"][0]["pre_kind"] == "sequential"
    assert data["tasks"][0]["status"] == "suspended"
    assert type(data["status"]) is str


def test_from_json_defaults_for_older_rows() -> None:
    data = {
        "submitter": SUB,
        "status": "running",
        "nodes": [
            {
                "key": "a",
                "kind": "all",
                "action": "sign",
                "status": "active",
                "slots": [{"approver": A, "status": "open"}],
            }
        ],
        "tasks": [{"n": 1, "node": 0, "slot": 0, "assignee": A, "status": "open", "version": 1}],
    }
    s = InstanceState.from_json(data)
    assert s.nodes[0].action == NodeAction.SIGN
    assert s.nodes[0].dedupe is True
    assert s.nodes[0].slots[0].pre_kind == ALL
    assert s.tasks[0].kind == "normal"
    assert (s.epoch, s.human_decisions, s.approved_in_epoch) == (0, 0, [])
    s = ok(s, A)
    assert s.status == InstanceStatus.APPROVED


# --- property: random legal play ----------------------------------------------------------------
POOL = [1, 2, 3, 4, 5, 6]
OUTSIDERS = [7, 8, BOSS]


@st.composite
def routes(draw: st.DrawFn) -> InstanceState:
    nodes = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(list(NodeKind)))
        empty = draw(st.integers(0, 9)) == 0  # now and then a node that resolved to nobody
        people = (
            []
            if empty
            else draw(st.lists(st.sampled_from(POOL), unique=True, min_size=1, max_size=3))
        )
        quorum = draw(st.integers(1, 3)) if kind == QUORUM else None
        nodes.append(node(f"n{i}", *people, kind=kind, quorum=quorum, dedupe=draw(st.booleans())))
    return route(*nodes)


FINISHED = (InstanceStatus.APPROVED, InstanceStatus.REJECTED, InstanceStatus.WITHDRAWN)


def moves(
    s: InstanceState, ctx: Context, planned: list[NodeState]
) -> dict[str, list[Callable[[], Outcome]]]:
    """What people could try now, by kind of move (transfer and add-signer may be refused)."""
    out: dict[str, list[Callable[[], Outcome]]] = {}

    def add(kind: str, fn: Callable[[], Outcome]) -> None:
        out.setdefault(kind, []).append(fn)

    if s.status == InstanceStatus.RETURNED:
        for fr in (True, False):
            add("resubmit", partial(resubmit, s, planned, actor=SUB, from_return=fr, ctx=ctx))
    if s.status in (InstanceStatus.RUNNING, InstanceStatus.RETURNED):
        for a in (True, False):
            add("withdraw", partial(withdraw, s, actor=SUB, any_time=a, ctx=ctx))
    for t in s.open_tasks():
        n, w = t.n, t.assignee
        for yes in (True, False):
            add("decide", partial(decide, s, n, actor=w, approve=yes, comment=None, ctx=ctx))
        for g in [None, *range(t.node)]:
            add("return", partial(return_to, s, n, actor=w, target=g, comment="", ctx=ctx))
        for to in [*POOL, *OUTSIDERS]:
            add("transfer", partial(transfer, s, n, actor=w, to=to, ctx=ctx))
            add("escalate", partial(escalate, s, n, to=to, ctx=ctx))
        for b in (True, False):
            for k in NodeKind:
                for p in ([7], [7, 8], [1, 8]):
                    add(
                        "add",
                        partial(add_signers, s, n, actor=w, people=p, before=b, kind=k, ctx=ctx),
                    )
    return out


def _label(move: Callable[[], Outcome]) -> str:
    assert isinstance(move, partial)
    args = [a for a in move.args if not isinstance(a, InstanceState | list)]
    kw = {k: v for k, v in move.keywords.items() if k not in ("ctx", "comment")}
    return f"{move.func.__name__}{tuple(args)} {kw}"


def _versions(s: InstanceState) -> dict[int, tuple[int, TaskStatus]]:
    return {t.n: (t.version, t.status) for t in s.tasks}


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(initial=routes(), delegated=st.booleans(), data=st.data())
def test_random_play_keeps_the_invariants(
    initial: InstanceState, delegated: bool, data: st.DataObject
) -> None:
    ctx = Context(now=NOW, delegates={1: 7} if delegated else {})
    planned = copy.deepcopy(initial.nodes)
    s = check(start(initial, ctx)).state
    for _ in range(30):
        options = moves(s, ctx, planned)
        if not options:
            assert s.status in FINISHED
            break
        # decisions are drawn as often as every other kind of move taken together
        kinds = sorted(options)
        weights = ["decide"] * (len(kinds) - 1) + kinds if "decide" in kinds else kinds
        kind = data.draw(st.sampled_from(weights), label="kind")
        move = data.draw(st.sampled_from(options[kind]), label="move")
        label = _label(move)
        note(label)
        event(kind)
        before = s.to_json()
        try:
            out = move()
        except (BadTargetError, WithdrawRefusedError, BadReturnTargetError):
            assert s.to_json() == before  # refused moves change nothing
            continue
        assert s.to_json() == before, label  # moves are pure
        new = check(out).state
        old_tasks, new_tasks = _versions(s), _versions(new)
        assert set(old_tasks) <= set(new_tasks), "tasks are never forgotten"
        for n, (version, status) in old_tasks.items():
            assert new_tasks[n][0] >= version, "versions never decrease"
            if new_tasks[n][1] != status:
                assert new_tasks[n][0] > version, "a status change bumps the version"
            if status in (TaskStatus.DONE, TaskStatus.CLOSED):
                assert new_tasks[n] == (version, status), "finished tasks stay finished"
        opened = set(out.opened())
        assert opened == set(new_tasks) - set(old_tasks), "task_opened names the new tasks"
        assert len(out.opened()) == len(opened)
        assert not opened & set(out.closed()), "no task is opened and closed in one move"
        if new.status in FINISHED:
            assert [e.name for e in out.events].count("finished") == 1
            assert out.events[-1] == Event("finished", detail=new.status.value)
        s = new


# --- 并加签 (add alongside) --------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "then_open"), [(ALL, [A, X]), (ANY, [A, X]), (SEQ, [A])])
def test_add_alongside_joins_my_node(kind: NodeKind, then_open: list[int]) -> None:
    state = started(node("n", A, kind=kind), node("z", Z))
    out = check(add_alongside(state, task_of(state, A).n, actor=A, people=[X], ctx=CTX))
    assert [s.approver for s in out.state.nodes[0].slots] == [A, X]
    assert holders(out.state) == sorted(then_open)
    state = ok(out.state, A)
    if kind == ANY:  # 或签: my approval settles the node, X's task closes
        assert holders(state) == [Z]
    else:  # 会签 and 依次: X must approve too
        assert holders(state) == [X]
        assert holders(ok(state, X)) == [Z]


def test_add_alongside_refuses_the_submitter_myself_and_people_already_on_it() -> None:
    state = started(node("n", A, B, kind=ALL))
    n = task_of(state, A).n
    for people in ([A], [SUB], [B], []):
        with pytest.raises(BadTargetError):
            add_alongside(state, n, actor=A, people=people, ctx=CTX)
