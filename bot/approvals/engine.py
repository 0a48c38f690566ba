"""The route engine: an approval instance's state and every legal move on it; pure.

An instance is a list of nodes (the planned route); a node is a list of slots (one per
approver position); a slot is worked through tasks (the original holder, an escalation to a
superior, a transfer, a delegate). Every function takes a state and returns a new one plus the
events it caused; the service persists the state with a compare-and-swap on the instance's
version and turns the events into task rows, cards, notifications and audit entries.

Semantics follow the reference (approvals.md §1, §4 items 3, 5, 7-11):
- 依次 SEQUENTIAL: slots open one after another; ALL (会签): every slot must approve, one
  rejection rejects the node and closes its siblings; ANY (或签): the first decision settles
  the node; QUORUM: N approvals pass it, more than M-N rejections fail it.
- 退回 closes every open task of the instance and bumps the epoch: after a return nothing is
  de-duplicated any more, so no approval from before it can skip a later node (steedos #2068).
- a slot may hold several open tasks (the approver and an escalation); the first to act wins.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from bot.approvals.model import NodeAction, NodeKind
from bot.errors import DomainError
from bot.text import N_


class InstanceStatus(StrEnum):
    """Where a request is."""

    RUNNING = "running"
    RETURNED = "returned"  # waiting for the submitter to resubmit
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"  # 通过后撤销: approved, then taken back within the allowed days


FINISHED = frozenset(
    {
        InstanceStatus.APPROVED,
        InstanceStatus.REJECTED,
        InstanceStatus.WITHDRAWN,
        InstanceStatus.REVOKED,
    }
)


# How each status reads, wherever it is shown (cards, lists, registers).
STATUS_LABELS: dict[str, str] = {
    InstanceStatus.RUNNING.value: N_("In progress"),
    InstanceStatus.RETURNED.value: N_("Returned to the submitter"),
    InstanceStatus.APPROVED.value: N_("Approved"),
    InstanceStatus.REJECTED.value: N_("Rejected"),
    InstanceStatus.WITHDRAWN.value: N_("Withdrawn"),
    InstanceStatus.REVOKED.value: N_("Revoked after approval"),
}


class NodeStatus(StrEnum):
    """Where one node of the route is."""

    PENDING = "pending"  # not reached
    ACTIVE = "active"
    PASSED = "passed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the instance ended before it finished (withdraw, return)


class SlotStatus(StrEnum):
    """One approver position of a node."""

    WAITING = "waiting"  # a later slot of a sequential node
    OPEN = "open"
    SUSPENDED = "suspended"  # waiting for the signers this approver added before themself
    APPROVED = "approved"
    REJECTED = "rejected"
    AUTO_PASSED = "auto_passed"  # de-duplicated, or the node was empty under auto-pass
    CLOSED = "closed"  # the node was settled by others, or the instance ended


class TaskStatus(StrEnum):
    """One person's piece of work on a slot."""

    OPEN = "open"
    DONE = "done"  # its holder acted
    CLOSED = "closed"  # no longer needed (another acted, transferred, withdrawn, returned)
    SUSPENDED = "suspended"  # the holder added signers before themself


class Move(StrEnum):
    """What a person did, as recorded on a slot and in the audit trail."""

    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    TRANSFER = "transfer"
    ADD_BEFORE = "add_before"
    ADD_AFTER = "add_after"
    ADD_ALONGSIDE = "add_alongside"


DECIDED = frozenset({SlotStatus.APPROVED, SlotStatus.REJECTED, SlotStatus.AUTO_PASSED})
_PASSING = frozenset({SlotStatus.APPROVED, SlotStatus.AUTO_PASSED})


# --- errors ----------------------------------------------------------------------------------
class EngineError(DomainError):
    """A move that the instance's state does not allow (the service maps these to toasts)."""

    def __init__(self, instance_id: int = 0) -> None:
        super().__init__(instance_id)
        self.instance_id = instance_id


class TaskGoneError(EngineError):
    """The task was closed or decided; the card is stale."""


class NotYourTaskError(EngineError):
    """The actor does not hold this task."""


class WithdrawRefusedError(EngineError):
    """Someone already decided (or the template does not allow withdrawing)."""


class NotReturnedError(EngineError):
    """Resubmitting is only possible after a return to the submitter."""


class BadTargetError(EngineError):
    """A transfer or add-signer target that cannot take the task."""


class BadReturnTargetError(EngineError):
    """Return to a node that is not earlier on the route."""


# --- state ----------------------------------------------------------------------------------
@dataclass
class Slot:
    """One approver position; ``approver`` is who the position belongs to now."""

    approver: int
    status: SlotStatus = SlotStatus.WAITING
    decided_by: int | None = None  # who acted (a delegate, an escalation's superior)
    on_behalf_of: int | None = None  # the approver they acted for (代), if not themself
    comment: str | None = None
    at: str | None = None  # ISO time of the decision
    note: str | None = None  # "dedupe", "self", "empty", "escalated", "transferred_from:<id>"
    pre: list[Slot] = field(default_factory=list)  # signers added before this one (前加签)
    pre_kind: NodeKind = NodeKind.ALL


@dataclass
class NodeState:
    """One step of the route as planned for this instance."""

    key: str
    kind: NodeKind
    action: NodeAction
    slots: list[Slot]
    quorum: int | None = None
    status: NodeStatus = NodeStatus.PENDING
    rule: str | None = None  # the matched rule, for the cards' "why me" line
    empty: str | None = None  # why the slots are what they are ("admin", "auto_pass", ...)
    added_by: int | None = None  # an add-signer node (后加签): who added it
    dedupe: bool = True
    allow_self: bool = False


@dataclass
class TaskState:
    """One person's piece of work: on slot ``slot`` of node ``node`` (``sub``: a pre-signer)."""

    n: int
    node: int
    slot: int
    assignee: int
    on_behalf_of: int | None = None  # 代: the approver whose task this is
    status: TaskStatus = TaskStatus.OPEN
    version: int = 1
    kind: str = "normal"  # normal | escalation | transfer | pre
    sub: int | None = None
    opened_at: str | None = None
    reminders: int = 0


@dataclass
class InstanceState:
    """Everything the engine needs to know about one request."""

    submitter: int
    nodes: list[NodeState]
    status: InstanceStatus = InstanceStatus.RUNNING
    tasks: list[TaskState] = field(default_factory=list)
    epoch: int = 0  # bumped on every return
    approved_in_epoch: list[int] = field(default_factory=list)  # for de-duplication
    returned_from: int | None = None  # node index that returned to the submitter
    human_decisions: int = 0  # decisions by people (withdraw rule)
    # Every move by a person, in order, as the cards' timeline shows it (the audit trail is
    # the record; this survives the slot resets of a return).
    history: list[dict[str, Any]] = field(default_factory=list)

    # -- queries
    def task(self, n: int) -> TaskState:
        """Task number ``n`` (TaskGoneError if there is none)."""
        for t in self.tasks:
            if t.n == n:
                return t
        raise TaskGoneError()

    def open_tasks(self) -> list[TaskState]:
        """Tasks someone can act on now."""
        return [t for t in self.tasks if t.status == TaskStatus.OPEN]

    def current_node(self) -> int | None:
        """The index of the active node, if any."""
        for i, node in enumerate(self.nodes):
            if node.status == NodeStatus.ACTIVE:
                return i
        return None

    def people(self) -> set[int]:
        """Everyone the state names: submitter, holders, approvers, deciders, the history."""
        slots = [s for n in self.nodes for slot in n.slots for s in (slot, *slot.pre)]
        return (
            {self.submitter}
            | {t.assignee for t in self.tasks}
            | {t.on_behalf_of for t in self.tasks if t.on_behalf_of}
            | {s.approver for s in slots}
            | {s.decided_by for s in slots if s.decided_by}
            | {s.on_behalf_of for s in slots if s.on_behalf_of}
            | {int(h["by"]) for h in self.history if h.get("by")}
            | {int(h["for"]) for h in self.history if h.get("for")}
            | {int(p) for h in self.history for p in h.get("people", [])}
        )

    def slot_of(self, task: TaskState) -> Slot:
        """The slot (or pre-signer slot) a task works on."""
        slot = self.nodes[task.node].slots[task.slot]
        return slot if task.sub is None else slot.pre[task.sub]

    # -- (de)serialisation: the state is stored as JSON on the instance row
    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (enums as their values)."""
        plain: dict[str, Any] = _plain(asdict(self))
        return plain

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceState:
        """The inverse of :meth:`to_json`."""
        return cls(
            submitter=int(data["submitter"]),
            nodes=[_node(n) for n in data["nodes"]],
            status=InstanceStatus(data["status"]),
            tasks=[_task(t) for t in data.get("tasks", [])],
            epoch=int(data.get("epoch", 0)),
            approved_in_epoch=[int(x) for x in data.get("approved_in_epoch", [])],
            returned_from=data.get("returned_from"),
            human_decisions=int(data.get("human_decisions", 0)),
            history=[dict(h) for h in data.get("history", [])],
        )


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _slot(d: Mapping[str, Any]) -> Slot:
    return Slot(
        approver=int(d["approver"]),
        status=SlotStatus(d["status"]),
        decided_by=d.get("decided_by"),
        on_behalf_of=d.get("on_behalf_of"),
        comment=d.get("comment"),
        at=d.get("at"),
        note=d.get("note"),
        pre=[_slot(p) for p in d.get("pre", [])],
        pre_kind=NodeKind(d.get("pre_kind", NodeKind.ALL)),
    )


def _node(d: Mapping[str, Any]) -> NodeState:
    return NodeState(
        key=str(d["key"]),
        kind=NodeKind(d["kind"]),
        action=NodeAction(d["action"]),
        slots=[_slot(s) for s in d["slots"]],
        quorum=d.get("quorum"),
        status=NodeStatus(d["status"]),
        rule=d.get("rule"),
        empty=d.get("empty"),
        added_by=d.get("added_by"),
        dedupe=bool(d.get("dedupe", True)),
        allow_self=bool(d.get("allow_self", False)),
    )


def _task(d: Mapping[str, Any]) -> TaskState:
    return TaskState(
        n=int(d["n"]),
        node=int(d["node"]),
        slot=int(d["slot"]),
        assignee=int(d["assignee"]),
        on_behalf_of=d.get("on_behalf_of"),
        status=TaskStatus(d["status"]),
        version=int(d["version"]),
        kind=str(d.get("kind", "normal")),
        sub=d.get("sub"),
        opened_at=d.get("opened_at"),
        reminders=int(d.get("reminders", 0)),
    )


# --- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """Something that happened in a move; the service turns each into rows and messages."""

    name: str  # task_opened | task_closed | task_done | task_suspended | task_resumed |
    #            node_passed | node_rejected | slot_auto_passed | signers_added | returned |
    #            resubmitted | finished
    task: int | None = None
    node: int | None = None
    slot: int | None = None
    staff: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The new state and what happened on the way."""

    state: InstanceState
    events: tuple[Event, ...]

    def opened(self) -> list[int]:
        """Numbers of the tasks this move opened."""
        return [e.task for e in self.events if e.name == "task_opened" and e.task is not None]

    def closed(self) -> list[int]:
        """Numbers of the tasks this move closed or completed."""
        return [
            e.task
            for e in self.events
            if e.name in ("task_closed", "task_done") and e.task is not None
        ]


@dataclass(frozen=True)
class Context:
    """What a move needs from outside: the time and the delegations in force now."""

    now: str  # ISO timestamp
    delegates: Mapping[int, int] = field(default_factory=dict)  # approver -> who acts for them
    # May this delegate act for this approver on this node? Delegation never grants rights
    # the delegate lacks (a 签发 or a finance node needs the delegate to hold the role).
    may_delegate: Callable[[NodeState, int, int], bool] | None = None


# --- node semantics (table-tested) ------------------------------------------------------------
def node_outcome(kind: NodeKind, quorum: int | None, statuses: Sequence[SlotStatus]) -> str | None:
    """``"passed"``, ``"rejected"`` or None (still open) for a node's slot statuses."""
    total = len(statuses)
    approved = sum(1 for s in statuses if s in _PASSING)
    rejected = sum(1 for s in statuses if s == SlotStatus.REJECTED)
    if total == 0:
        return "passed"
    if kind == NodeKind.ANY:
        if approved:
            return "passed"
        return "rejected" if rejected else None
    if kind == NodeKind.QUORUM:
        need = min(max(quorum or 1, 1), total)
        if approved >= need:
            return "passed"
        return "rejected" if rejected > total - need else None
    # SEQUENTIAL and ALL: every slot must pass, one rejection fails the node.
    if rejected:
        return "rejected"
    return "passed" if approved == total else None


class _Run:
    """One move in progress: a private copy of the state and the events so far."""

    def __init__(self, state: InstanceState, ctx: Context) -> None:
        self.s = copy.deepcopy(state)
        self.ctx = ctx
        self.events: list[Event] = []

    def done(self) -> Outcome:
        return Outcome(self.s, tuple(self.events))

    def emit(self, name: str, **kw: Any) -> None:
        self.events.append(Event(name, **kw))

    def log(
        self,
        move: Move | str,
        actor: int | None,
        *,
        node: int | None = None,
        comment: str | None = None,
        on_behalf_of: int | None = None,
        people: Sequence[int] = (),
    ) -> None:
        self.s.history.append(
            {
                "move": str(move),
                "by": actor,
                "for": on_behalf_of,
                "node": self.s.nodes[node].key if node is not None else None,
                "comment": comment,
                "people": list(people),
                "at": self.ctx.now,
            }
        )

    # -- tasks
    def open_task(
        self, node: int, slot: int, person: int, *, kind: str = "normal", sub: int | None = None
    ) -> TaskState:
        acting = self.ctx.delegates.get(person, person)
        may = self.ctx.may_delegate
        if acting != person and may is not None and not may(self.s.nodes[node], person, acting):
            acting = person
        n = max((t.n for t in self.s.tasks), default=0) + 1
        task = TaskState(
            n=n,
            node=node,
            slot=slot,
            assignee=acting,
            on_behalf_of=person if acting != person else None,
            kind=kind,
            sub=sub,
            opened_at=self.ctx.now,
        )
        self.s.tasks.append(task)
        self.emit("task_opened", task=n, node=node, slot=slot, staff=acting)
        return task

    def close_task(self, task: TaskState, *, status: TaskStatus = TaskStatus.CLOSED) -> None:
        if task.status not in (TaskStatus.OPEN, TaskStatus.SUSPENDED):
            return
        task.status = status
        task.version += 1
        name = "task_done" if status == TaskStatus.DONE else "task_closed"
        self.emit(name, task=task.n, node=task.node, slot=task.slot, staff=task.assignee)

    def close_slot_tasks(self, node: int, slot: int, *, sub: int | None, keep: int | None) -> None:
        for t in self.s.tasks:
            if t.node == node and t.slot == slot and t.sub == sub and t.n != keep:
                self.close_task(t)

    def close_all(self) -> None:
        for t in self.s.tasks:
            self.close_task(t)

    # -- nodes
    def activate_from(self, start: int) -> None:
        """Activate the first node from ``start`` that does not pass at once; finish if none."""
        i = start
        while i < len(self.s.nodes):
            node = self.s.nodes[i]
            if node.status == NodeStatus.PASSED:
                i += 1
                continue
            node.status = NodeStatus.ACTIVE
            for slot in node.slots:
                slot.status = SlotStatus.WAITING
            if self.advance_node(i):
                i += 1
                continue
            return
        self.finish(InstanceStatus.APPROVED)

    def advance_node(self, i: int) -> bool:
        """Open what is due in node ``i`` or settle it; True if it passed."""
        node = self.s.nodes[i]
        while True:
            outcome = node_outcome(node.kind, node.quorum, [s.status for s in node.slots])
            if outcome == "passed":
                self.pass_node(i)
                return True
            if outcome == "rejected":
                self.reject_node(i)
                return False
            waiting = [j for j, s in enumerate(node.slots) if s.status == SlotStatus.WAITING]
            if not waiting:
                return False  # open slots remain: wait for people
            if node.kind == NodeKind.SEQUENTIAL:
                if any(s.status in (SlotStatus.OPEN, SlotStatus.SUSPENDED) for s in node.slots):
                    return False
                to_open = waiting[:1]
            else:
                to_open = waiting
            # De-duplicate first and look again: a node that the auto-passes settle (an ANY,
            # a quorum) must not open a task for somebody only to close it in the same move.
            deduped = [j for j in to_open if self.dedupe_slot(i, j)]
            if deduped:
                continue
            for j in to_open:
                self.open_slot(i, j)

    def dedupe_slot(self, i: int, j: int) -> bool:
        """Auto-pass slot ``j`` of node ``i`` if its approver already approved; True if so."""
        node = self.s.nodes[i]
        slot = node.slots[j]
        if not (node.dedupe and slot.approver in self.s.approved_in_epoch):
            return False
        slot.status = SlotStatus.AUTO_PASSED
        slot.note = "dedupe"
        slot.at = self.ctx.now
        self.emit("slot_auto_passed", node=i, slot=j, staff=slot.approver, detail="dedupe")
        return True

    def open_slot(self, i: int, j: int) -> None:
        if self.dedupe_slot(i, j):
            return
        self.s.nodes[i].slots[j].status = SlotStatus.OPEN
        self.open_task(i, j, self.s.nodes[i].slots[j].approver)

    def close_slots(self, i: int) -> None:
        """Every undecided slot of node ``i`` (and pre-signer slot) becomes CLOSED."""
        for slot in self.s.nodes[i].slots:
            _close_slot(slot)
        for t in self.s.tasks:
            if t.node == i:
                self.close_task(t)

    def pass_node(self, i: int) -> None:
        self.s.nodes[i].status = NodeStatus.PASSED
        self.close_slots(i)
        self.emit("node_passed", node=i)

    def reject_node(self, i: int) -> None:
        self.s.nodes[i].status = NodeStatus.REJECTED
        for slot in self.s.nodes[i].slots:
            _close_slot(slot)
        self.emit("node_rejected", node=i)
        self.finish(InstanceStatus.REJECTED)

    def finish(self, status: InstanceStatus) -> None:
        self.s.status = status
        self.close_all()
        if status != InstanceStatus.APPROVED:
            for node in self.s.nodes:
                if node.status in (NodeStatus.ACTIVE, NodeStatus.PENDING):
                    node.status = NodeStatus.CANCELLED
                    for slot in node.slots:
                        _close_slot(slot)
        self.emit("finished", detail=status.value)


_UNDECIDED = frozenset({SlotStatus.WAITING, SlotStatus.OPEN, SlotStatus.SUSPENDED})


def _close_slot(slot: Slot) -> None:
    if slot.status in _UNDECIDED:
        slot.status = SlotStatus.CLOSED
    for p in slot.pre:
        if p.status in _UNDECIDED:
            p.status = SlotStatus.CLOSED


# --- moves ----------------------------------------------------------------------------------
def start(state: InstanceState, ctx: Context) -> Outcome:
    """Run a freshly planned (or re-planned) route from its first unfinished node."""
    run = _Run(state, ctx)
    run.s.status = InstanceStatus.RUNNING
    run.activate_from(0)
    return run.done()


def _holding(state: InstanceState, n: int, actor: int) -> TaskState:
    if state.status in FINISHED or state.status == InstanceStatus.RETURNED:
        raise TaskGoneError()
    task = state.task(n)
    if task.status != TaskStatus.OPEN:
        raise TaskGoneError()
    if task.assignee != actor:
        raise NotYourTaskError()
    return task


def decide(
    state: InstanceState, n: int, *, actor: int, approve: bool, comment: str | None, ctx: Context
) -> Outcome:
    """Approve or reject task ``n`` (reject needs a reason: the service asks for it)."""
    task = _holding(state, n, actor)
    run = _Run(state, ctx)
    task = run.s.task(n)
    slot = run.s.slot_of(task)
    slot.status = SlotStatus.APPROVED if approve else SlotStatus.REJECTED
    slot.decided_by = actor
    slot.on_behalf_of = task.on_behalf_of
    if task.kind == "escalation":
        slot.note = "escalated"
    slot.comment = comment
    slot.at = ctx.now
    run.s.human_decisions += 1
    run.log(
        Move.APPROVE if approve else Move.REJECT,
        actor,
        node=task.node,
        comment=comment,
        on_behalf_of=task.on_behalf_of,
    )
    if approve and run.s.epoch == 0:
        # De-duplication counts only approvals of a request never returned: after a return
        # the content may have changed, so later nodes are looked at again (steedos #2068).
        run.s.approved_in_epoch.append(slot.approver)
        if actor != slot.approver:
            run.s.approved_in_epoch.append(actor)
    run.close_task(task, status=TaskStatus.DONE)
    run.close_slot_tasks(task.node, task.slot, sub=task.sub, keep=task.n)
    if task.sub is not None:
        _settle_pre(run, task.node, task.slot)
    else:
        run.advance_node(task.node)
        _continue(run, task.node)
    return run.done()


def _continue(run: _Run, i: int) -> None:
    if run.s.nodes[i].status == NodeStatus.PASSED and run.s.status == InstanceStatus.RUNNING:
        run.activate_from(i + 1)


def _settle_pre(run: _Run, i: int, j: int) -> None:
    """A pre-signer decided: reject the node, open the next pre-signer, or give it back."""
    slot = run.s.nodes[i].slots[j]
    outcome = node_outcome(slot.pre_kind, None, [p.status for p in slot.pre])
    if outcome == "rejected":
        for k, p in enumerate(slot.pre):
            if p.status == SlotStatus.OPEN:
                p.status = SlotStatus.CLOSED
                run.close_slot_tasks(i, j, sub=k, keep=None)
        slot.status = SlotStatus.REJECTED
        slot.note = "pre_rejected"
        slot.at = run.ctx.now
        # The suspended task of the approver who added them will never come back.
        run.close_slot_tasks(i, j, sub=None, keep=None)
        run.advance_node(i)
        return
    if outcome == "passed":
        for k, p in enumerate(slot.pre):
            if p.status in (SlotStatus.OPEN, SlotStatus.WAITING):
                p.status = SlotStatus.CLOSED
                run.close_slot_tasks(i, j, sub=k, keep=None)
        slot.status = SlotStatus.OPEN
        for t in run.s.tasks:  # the suspended task comes back, with a new version
            if t.node == i and t.slot == j and t.sub is None and t.status == TaskStatus.SUSPENDED:
                t.status = TaskStatus.OPEN
                t.version += 1
                run.emit("task_resumed", task=t.n, node=i, slot=j, staff=t.assignee)
        return
    if slot.pre_kind == NodeKind.SEQUENTIAL and not any(
        p.status == SlotStatus.OPEN for p in slot.pre
    ):
        for k, p in enumerate(slot.pre):
            if p.status == SlotStatus.WAITING:
                p.status = SlotStatus.OPEN
                run.open_task(i, j, p.approver, kind="pre", sub=k)
                return


def return_to(
    state: InstanceState,
    n: int,
    *,
    actor: int,
    target: int | None,
    comment: str,
    ctx: Context,
) -> Outcome:
    """退回 to the submitter (``target`` None) or to an earlier node; closes every open task."""
    task = _holding(state, n, actor)
    if target is not None and not 0 <= target < task.node:
        raise BadReturnTargetError()
    run = _Run(state, ctx)
    task = run.s.task(n)
    slot = run.s.slot_of(task)
    slot.comment = comment
    slot.decided_by = actor
    slot.at = ctx.now
    slot.note = "returned"
    run.s.human_decisions += 1
    run.log(Move.RETURN, actor, node=task.node, comment=comment, on_behalf_of=task.on_behalf_of)
    run.close_task(task, status=TaskStatus.DONE)
    run.close_all()
    run.s.epoch += 1
    run.s.approved_in_epoch = []
    first = task.node if target is None else target
    for k in range(first, len(run.s.nodes)):
        _reset_node(run.s.nodes[k])
    if target is None:
        run.s.status = InstanceStatus.RETURNED
        run.s.returned_from = task.node
        run.emit("returned", node=task.node, staff=actor)
    else:
        run.emit("returned", node=target, staff=actor, detail="node")
        run.activate_from(target)
    return run.done()


def _reset_node(node: NodeState) -> None:
    node.status = NodeStatus.PENDING
    for slot in node.slots:
        slot.status = SlotStatus.WAITING
        slot.decided_by = slot.on_behalf_of = slot.comment = slot.at = slot.note = None
        slot.pre = []


def resubmit(
    state: InstanceState,
    planned: Sequence[NodeState],
    *,
    actor: int,
    from_return: bool,
    redo: frozenset[str] = frozenset(),
    ctx: Context,
) -> Outcome:
    """The submitter sends a returned request again, on a re-planned route.

    With ``from_return``, nodes before the one that returned it stay passed when they are
    still on the route (loonflow #483) unless their key is in ``redo`` (a 签发 whose document
    changed substantively goes back to its signer); otherwise approval starts over.
    """
    if state.status != InstanceStatus.RETURNED:
        raise NotReturnedError()
    if actor != state.submitter:
        raise NotYourTaskError()
    run = _Run(state, ctx)
    kept: dict[str, NodeState] = {}
    if from_return and state.returned_from is not None:
        for node in state.nodes[: state.returned_from]:
            if node.status == NodeStatus.PASSED and node.key not in redo:
                kept[node.key] = node
    nodes: list[NodeState] = []
    for fresh in planned:
        old = kept.get(fresh.key)
        if old is not None:
            nodes.append(copy.deepcopy(old))
        else:  # a planned node is a plan: whatever status it carries, it has yet to run
            new = copy.deepcopy(fresh)
            _reset_node(new)
            nodes.append(new)
    # Tasks of the old route keep their numbers (task rows refer to them) but all are closed.
    run.s.nodes = nodes
    run.s.status = InstanceStatus.RUNNING
    run.s.returned_from = None
    run.log("resubmit", actor, comment="from_return" if kept else "restart")
    run.emit("resubmitted", staff=actor, detail="from_return" if kept else "restart")
    run.activate_from(0)
    return run.done()


def withdraw(state: InstanceState, *, actor: int, any_time: bool, ctx: Context) -> Outcome:
    """撤回 by the submitter: before anyone decided, or while running when allowed."""
    if actor != state.submitter:
        raise NotYourTaskError()
    if state.status in FINISHED:
        raise TaskGoneError()
    if state.human_decisions and not any_time:
        raise WithdrawRefusedError()
    run = _Run(state, ctx)
    run.log("withdraw", actor)
    run.finish(InstanceStatus.WITHDRAWN)
    return run.done()


def transfer(state: InstanceState, n: int, *, actor: int, to: int, ctx: Context) -> Outcome:
    """转交: the slot now belongs to ``to``; the record keeps who handed it over."""
    task = _holding(state, n, actor)
    if to in (actor, state.submitter) or _at_work(state, task, to, ctx):
        raise BadTargetError()
    run = _Run(state, ctx)
    task = run.s.task(n)
    slot = run.s.slot_of(task)
    run.close_slot_tasks(task.node, task.slot, sub=task.sub, keep=None)
    run.log(Move.TRANSFER, actor, node=task.node, people=[to], on_behalf_of=task.on_behalf_of)
    slot.note = f"transferred_from:{slot.approver}"
    slot.approver = to
    run.open_task(task.node, task.slot, to, kind="transfer", sub=task.sub)
    return run.done()


def _at_work(state: InstanceState, task: TaskState, person: int, ctx: Context) -> bool:
    """Is ``person`` (or their delegate) still to act on the node of ``task``?

    An undecided slot or pre-signer slot of theirs counts, and so does an open task (as a
    delegate, an escalation's superior, ...) except one on ``task``'s own slot: the move
    closes those.
    """
    acting = ctx.delegates.get(person, person)
    for slot in state.nodes[task.node].slots:
        for s in (slot, *slot.pre):
            if s.approver == person and s.status not in DECIDED:
                return True
    return any(
        t.node == task.node
        and (t.slot, t.sub) != (task.slot, task.sub)
        and t.status in (TaskStatus.OPEN, TaskStatus.SUSPENDED)
        and (t.assignee in (person, acting) or t.on_behalf_of == person)
        for t in state.tasks
    )


def add_alongside(
    state: InstanceState, n: int, *, actor: int, people: Sequence[int], ctx: Context
) -> Outcome:
    """并加签: ``people`` join my node as approvers of its own kind (会签: all must approve).

    On a sequential node they act right after me; on the others they start at once. My own
    task stays open.
    """
    task = _holding(state, n, actor)
    unique = list(dict.fromkeys(people))
    if (
        not unique
        or task.sub is not None
        or actor in unique
        or state.submitter in unique
        or any(_at_work(state, task, p, ctx) for p in unique)
    ):
        raise BadTargetError()
    run = _Run(state, ctx)
    task = run.s.task(n)
    run.log(
        Move.ADD_ALONGSIDE, actor, node=task.node, people=unique, on_behalf_of=task.on_behalf_of
    )
    node = run.s.nodes[task.node]
    added = [Slot(approver=p) for p in unique]
    node.slots[task.slot + 1 : task.slot + 1] = added
    for t in run.s.tasks:  # later slots moved along
        if t.node == task.node and t.slot > task.slot:
            t.slot += len(added)
    run.advance_node(task.node)
    _continue(run, task.node)
    return run.done()


def add_signers(
    state: InstanceState,
    n: int,
    *,
    actor: int,
    people: Sequence[int],
    before: bool,
    kind: NodeKind,
    ctx: Context,
) -> Outcome:
    """加签: ``people`` act before me (then it comes back to me) or after my approval."""
    task = _holding(state, n, actor)
    unique = list(dict.fromkeys(people))
    if (
        not unique
        or task.sub is not None
        or actor in unique
        or state.submitter in unique
        or (before and any(_at_work(state, task, p, ctx) for p in unique))
    ):
        raise BadTargetError()
    # Without a quorum parameter a QUORUM of added signers would mean "one approval": ALL.
    kind = kind if kind != NodeKind.QUORUM else NodeKind.ALL
    run = _Run(state, ctx)
    task = run.s.task(n)
    run.log(
        Move.ADD_BEFORE if before else Move.ADD_AFTER,
        actor,
        node=task.node,
        people=unique,
        on_behalf_of=task.on_behalf_of,
    )
    if before:
        slot = run.s.slot_of(task)
        # Adding signers is acting on the slot: an escalation's parallel task ends here.
        run.close_slot_tasks(task.node, task.slot, sub=None, keep=task.n)
        slot.pre = [Slot(approver=p) for p in unique]
        slot.pre_kind = kind
        slot.status = SlotStatus.SUSPENDED
        task.status = TaskStatus.SUSPENDED
        task.version += 1
        run.emit("task_suspended", task=task.n, node=task.node, slot=task.slot, staff=actor)
        for k, p in enumerate(slot.pre):
            if slot.pre_kind == NodeKind.SEQUENTIAL and k > 0:
                continue
            p.status = SlotStatus.OPEN
            run.open_task(task.node, task.slot, p.approver, kind="pre", sub=k)
        return run.done()
    current = run.s.nodes[task.node]
    added = NodeState(
        key=f"{current.key}+{task.n}",
        kind=kind,
        action=NodeAction.APPROVE,
        slots=[Slot(approver=p) for p in unique],
        quorum=None,
        added_by=actor,
        dedupe=False,
        rule=None,
    )
    run.s.nodes.insert(task.node + 1, added)
    _shift_tasks_after(run.s, task.node)
    run.emit("signers_added", node=task.node + 1, staff=actor, detail="after")
    return run.done()


def _shift_tasks_after(state: InstanceState, i: int) -> None:
    for t in state.tasks:
        if t.node > i:
            t.node += 1


def escalate(state: InstanceState, n: int, *, to: int, ctx: Context) -> Outcome:
    """The deadline passed: ``to`` (the holder's superior) may act on the slot too."""
    if state.status != InstanceStatus.RUNNING:
        raise TaskGoneError()
    task = state.task(n)
    if task.status != TaskStatus.OPEN:
        raise TaskGoneError()
    acting = ctx.delegates.get(to, to)
    if any(
        t.status == TaskStatus.OPEN
        and t.node == task.node
        and t.slot == task.slot
        and t.sub == task.sub
        and (t.assignee in (to, acting) or t.on_behalf_of == to)
        for t in state.tasks
    ):
        raise BadTargetError()
    run = _Run(state, ctx)
    run.log("escalate", None, node=task.node, people=[to], on_behalf_of=task.assignee)
    run.open_task(task.node, task.slot, to, kind="escalation", sub=task.sub)
    return run.done()


def count_reminder(state: InstanceState, n: int) -> InstanceState:
    """The same state with one more reminder counted on task ``n``."""
    new = copy.deepcopy(state)
    new.task(n).reminders += 1
    return new


def decided_slots(state: InstanceState) -> list[tuple[int, Slot]]:
    """(node index, slot) for every slot a person decided, in route order (for notices)."""
    return [
        (i, s)
        for i, node in enumerate(state.nodes)
        for s in node.slots
        if s.status in (SlotStatus.APPROVED, SlotStatus.REJECTED) and s.decided_by is not None
    ]


def comment(state: InstanceState, *, actor: int, text: str, ctx: Context) -> InstanceState:
    """A comment on the request's timeline (评论); it changes no task."""
    run = _Run(state, ctx)
    run.log("comment", actor, comment=text)
    return run.s


def revoke(state: InstanceState, *, actor: int, ctx: Context) -> Outcome:
    """通过后撤销: the submitter takes back an approved request (the service checks the days)."""
    if actor != state.submitter:
        raise NotYourTaskError()
    if state.status != InstanceStatus.APPROVED:
        raise TaskGoneError()
    run = _Run(state, ctx)
    run.log("revoke", actor)
    run.s.status = InstanceStatus.REVOKED
    run.emit("finished", detail=InstanceStatus.REVOKED.value)
    return run.done()
