"""Support desk (#7): how late the SLA and escalation timers run with 10,000 open tickets.

1. N open tickets wait in one desk group, seeded in bulk as ``open_ticket``, the earlier SLA
   checks and the sender would have left them (ticket, its messages, its forum topic and
   living card, the outbox rows already sent, the due items already done). Each has the one
   pending ``support.sla`` item a running bot keeps per ticket, due at a random moment of the
   next ``--window`` seconds: a third are fresh (opened in that minute: the first check works
   out the clocks and redraws the card), a third reach 80 % of a target (a warning in the
   topic), a third reach 100 % (the breach in the topic and the escalation chain: the two
   people on call at level 1 paged, level 2 after GOVBOT_SUPPORT_ESCALATE_MINUTES, then the
   administrators, since nobody is on call at level 3). First-response and update clocks,
   all four priorities, 7×24 (no office-hours categories).
2. The due-item tick is the bot's own, ``services.due.tick()`` (100 items a claim), driven as
   handlers/app.py's job queue drives it: every GOVBOT_DUE_TICK_S seconds, a run skipped
   while the previous one is still going (APScheduler's max_instances=1). The bench clock
   runs with real time while a tick works and jumps over the idle wait to the next tick, so
   the lags are what a wall clock would show while idle minutes cost nothing. ``--tick-s 0``
   runs the ticks back to back instead: what the code can do with no cadence in the way.
3. The clock runs until every item due by the end of the window plus ``--follow-s`` is done;
   whatever falls due meanwhile (an escalation step, the breach of a ticket warned in the
   burst) runs on time too and is counted apart from the burst.

Lag of an item: when the tick began to run it (its ``done_at``, the handler's "now") minus
its ``due_at``; claim lag: when the tick claimed its batch minus ``due_at``. No outbox sender
runs (in the bot it would share SQLite's one connection with the tick). The figures are
printed, not asserted; a ticket whose warning, breach or page is missing exits 1 (after
the figures).

    python -m bench.support_timers [--tickets 10000] [--window 60] [--tick-s 5] [--limit N]
                                   [--escalate-minutes 5] [--follow-s 0] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import logging
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from bot.calendar.domain import SHANGHAI
from bot.config import Settings
from bot.people.domain import COLUMNS as STAFF_COLUMNS
from bot.runtime import Runtime
from bot.services import Services, build_services
from bot.support.intake import subject_of, ticket_number
from bot.support.sla import (
    BREACH,
    WARN,
    WARN_SHARE,
    AroundTheClock,
    Policy,
    TicketTimes,
    due_stages,
)
from bot.support.timers import ESCALATE_KIND, LEVELS, SLA_KIND
from bot.support.topic import CATEGORIES, ticket_topic, topic_name
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from storage.tables.audit import AuditHead
from storage.tables.messaging import (
    PRIORITY_INTERACTIVE,
    PRIORITY_NOTIFY,
    ForumTopic,
    LiveCard,
    OutboxMessage,
)
from storage.tables.runtime import DueItem
from storage.tables.support import SupportEscalation, SupportMessage, SupportTicket

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
DESK = -1001234567890  # the desk group (a forum)
FRESH, WARNED, BREACHED = "fresh", "warn", "breach"
STAGES = (FRESH, WARNED, BREACHED)
# 1 urgent, 2 high, 5 normal, 2 low in 10
PRIORITY_CYCLE: tuple[str, ...] = ("urgent", "high", "high", *["normal"] * 5, "low", "low")
DEPARTMENTS = 20
AGENTS = 8  # support agents; the first two are on call at level 1
ADMINS = 2
ON_CALL = {1: ["A0001", "A0002"], 2: ["L0001"]}  # nobody at level 3: then the administrators
QUESTIONS = (
    "U盾插上没有反应，无法登录公文系统",
    "报销单提交后一直显示审核中",
    "打印机连不上内网",
    "OA 账号被锁定了",
    "会议室投影仪没有信号",
    "公文流转卡在分管领导那里",
)
INSERT_BATCH = 2000
PROGRESS_S = 30.0  # a line on stderr this often, so a long run is not silent
_US = timedelta(microseconds=1)


class BenchFailedError(Exception):
    """Something the figures rely on did not hold (exit 1)."""


class BenchClock:
    """Runs with real time while held running; jumps forward over idle waits."""

    def __init__(self, start: datetime) -> None:
        self._at = start
        self._since: float | None = None  # perf_counter() when it last started running

    def __call__(self) -> datetime:
        if self._since is None:
            return self._at
        return self._at + timedelta(seconds=time.perf_counter() - self._since)

    def run(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        self._at = self()
        self._since = None

    def jump(self, to: datetime) -> None:
        """Skip ahead (stopped); time never moves back."""
        self.stop()
        self._at = max(self._at, to)


class LogTally(logging.Handler):
    """Counts warnings and errors instead of printing them between the figures."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []
        self.warnings: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()[:120]}")
        else:
            self.warnings[f"{record.name}: {record.getMessage()[:60]}"] += 1


@dataclass(frozen=True)
class Org:
    requesters: list[tuple[int, str, int]]  # staff id, name, Telegram id
    agents: list[int]
    paged_up_to: dict[int, int]  # level reached -> people paged so far (LEVELS + 1: admins)


@dataclass(frozen=True)
class Tick:
    start: datetime
    end: datetime
    done: int


@dataclass
class Figures:
    db: str
    tickets: int
    window_s: float
    tick_s: float
    limit: int | None
    escalate_min: float
    horizon: datetime = T0
    stage_of: dict[int, str] = field(default_factory=dict)  # ticket id -> stage
    seeded_items: set[int] = field(default_factory=set)  # due item ids
    seed_s: float = 0.0
    run_wall_s: float = 0.0
    ticks: list[Tick] = field(default_factory=list)
    items: list[DueItem] = field(default_factory=list)  # the items the run completed
    left: Counter[str] = field(default_factory=Counter)  # pending after the run, by kind
    outbox: Counter[str] = field(default_factory=Counter)
    sla_posts: Counter[str] = field(default_factory=Counter)
    superseded_cards: int = 0
    outbox_pending: int = 0  # at the end: what each card redraw's "moot" UPDATE walks
    audit_entries: int = 0
    escalation_levels: Counter[int] = field(default_factory=Counter)
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    rss_peak_mb: float = 0.0
    peak_is_run: bool = False
    warn_skipped: int = 0  # tickets at 80 % run after their breach moment: breach, no warning
    transactions: int = 0  # during the run, the bench's own bookkeeping queries excluded
    statements: int = 0


# --- process memory --------------------------------------------------------------------------
def _status_mb(name: str) -> float:
    """VmRSS (resident now) or VmHWM (peak) of this process, in MB."""
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> bool:
    """Start VmHWM afresh, so the peak is the run's and not the seeding's (Linux ≥ 4.0)."""
    try:
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def counting(db: Database, figures: Figures) -> Iterator[None]:
    """Transactions and statements run on ``db`` meanwhile."""

    def begun(_conn: Connection) -> None:
        figures.transactions += 1

    def executed(_conn: Connection, _cursor: object, statement: str, *_rest: object) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is a statement too
            figures.statements += 1

    sync = db.engine.sync_engine
    event.listen(sync, "begin", begun)
    event.listen(sync, "before_cursor_execute", executed)
    try:
        yield
    finally:
        event.remove(sync, "begin", begun)
        event.remove(sync, "before_cursor_execute", executed)


# --- databases -------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def database_url(given: str | None) -> AsyncIterator[tuple[str, Path]]:
    """The given URL (an empty database), or a fresh SQLite file; and a scratch directory."""
    tmp = Path(tempfile.mkdtemp(prefix="govbot-bench-sla-"))
    try:
        yield (given or f"sqlite+aiosqlite:///{tmp}/bench.db"), tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- set-up ----------------------------------------------------------------------------------
async def build_org(services: Services, requesters: int) -> Org:
    """Requesters in 20 departments, 8 agents and a lead, 2 administrators, imported as the
    staff file is; then the on-call roster imported as ``govbot oncall import`` does."""
    people: list[list[str]] = []
    for i in range(requesters):
        people.append(
            [
                f"R{i:05d}",
                f"员工{i}",
                f"第{i % DEPARTMENTS + 1:02d}处",
                "staff",
                "",
                str(10**7 + i),
            ]
        )
    for i in range(1, AGENTS + 1):
        people.append(
            [f"A{i:04d}", f"坐席{i}", "信息中心", "support;staff", "", str(2 * 10**7 + i)]
        )
    people.append(["L0001", "王主任", "信息中心", "support;staff", "", str(3 * 10**7)])
    for i in range(1, ADMINS + 1):
        people.append(
            [f"M{i:04d}", f"管理员{i}", "信息中心", "admin;staff", "", str(4 * 10**7 + i)]
        )
    rows = [
        (n, dict(zip(STAFF_COLUMNS, [*cells, ""], strict=True)))
        for n, cells in enumerate(people, start=2)
    ]
    report = await services.staff_import.import_staff(rows, actor_id=None, partial=False)
    if report.errors:
        raise BenchFailedError(f"staff import failed: {report.errors[:3]}")

    local = "%Y-%m-%d %H:%M"
    start = (T0 - timedelta(hours=1)).astimezone(SHANGHAI).strftime(local)
    end = (T0 + timedelta(days=1)).astimezone(SHANGHAI).strftime(local)
    csv = "level,person,start,end\n" + "".join(
        f"{level},{person},{start},{end}\n" for level, who in ON_CALL.items() for person in who
    )
    roster = await services.support_oncall.import_file(csv.encode(), "roster.csv", tg_id=None)
    if roster.problems:
        raise BenchFailedError(f"roster import failed: {roster.problems}")

    async with services.runtime.detached_uow() as uow:
        found = await uow.people.by_employee_nos(
            [f"R{i:05d}" for i in range(requesters)] + [f"A{i:04d}" for i in range(1, AGENTS + 1)]
        )
    staff = [
        (s.id, s.name, s.telegram_id)
        for no, s in sorted(found.items())
        if no.startswith("R") and s.id and s.telegram_id
    ]
    agents = [s.id for no, s in sorted(found.items()) if no.startswith("A") and s.id]
    paged_up_to: dict[int, int] = {}
    total = 0
    for level in range(1, LEVELS + 2):
        total += len(ON_CALL.get(level, [])) if level <= LEVELS else ADMINS
        paged_up_to[level] = total
    return Org(staff, agents, paged_up_to)


@dataclass(frozen=True)
class Plan:
    """One seeded ticket: its row and the stage its pending SLA item is due for."""

    number: str
    stage: str
    due_at: datetime  # when its pending support.sla item falls due
    earlier_checks: tuple[datetime, ...]  # the checks that already ran (done due items)
    row: dict[str, Any]
    messages: tuple[tuple[datetime, str, str], ...]  # at, author, body
    requester: tuple[int, str, int]


def plan_ticket(i: int, org: Org, policy: Policy, rng: random.Random, window: float) -> Plan:
    """The i-th ticket, whose next SLA moment is a random moment of the window."""
    stage = STAGES[i % len(STAGES)]
    priority = PRIORITY_CYCLE[(i // len(STAGES)) % len(PRIORITY_CYCLE)]
    moment = T0 + timedelta(seconds=rng.uniform(0, window))
    targets = policy.targets_for(priority)
    requester = org.requesters[i % len(org.requesters)]
    agent = org.agents[i % len(org.agents)]
    question = f"{QUESTIONS[i % len(QUESTIONS)]}（{i}）"
    share = WARN_SHARE if stage == WARNED else 1.0
    on_update = stage != FRESH and (i // len(STAGES)) % 2 == 1
    row: dict[str, Any] = {"status": "new", "version": 1, "assignee_id": None}
    messages: list[tuple[datetime, str, str]] = []
    if stage == FRESH:
        created = moment
    elif not on_update:  # the first response is due; half of them claimed, not answered yet
        created = moment - targets.first_response * share
        if (i // 6) % 2:
            row.update(status="claimed", version=2, assignee_id=agent)
            row["claimed_at"] = created + timedelta(minutes=2)
    else:  # answered once; the requester wrote again and waits for the next answer
        awaiting = moment - targets.update * share
        created = awaiting - timedelta(minutes=30)
        row.update(status="claimed", version=3, assignee_id=agent)
        row["claimed_at"] = created + timedelta(minutes=5)
        row["first_response_at"] = created + timedelta(minutes=10)
        row["awaiting_since"] = awaiting
        messages += [
            (created + timedelta(minutes=10), "agent", "您好，请把报错截图发给我们。"),
            (awaiting, "user", "截图已发，还是不行。"),
        ]
    messages.insert(0, (created, "user", question))
    times = TicketTimes(
        status=row["status"],
        priority=priority,
        created_at=created,
        first_response_at=row.get("first_response_at"),
        awaiting_since=row.get("awaiting_since"),
    )
    deadlines = policy.deadlines(times, AroundTheClock())
    clock = "update" if on_update else "first_response"
    (deadline,) = [d for d in deadlines if d.clock == clock]
    fired: list[str] = []
    checks: tuple[datetime, ...] = ()
    if stage == FRESH:
        due_at = created  # check_soon() at opening
    elif stage == WARNED:
        due_at, checks = deadline.warn_at, (created,)
    else:
        due_at, checks = deadline.due_at, (created, deadline.warn_at)
        fired = [deadline.key(WARN)]
    # What the tick will find: nothing yet for a fresh ticket, else exactly this stage.
    expected = [] if stage == FRESH else [(deadline, WARN if stage == WARNED else BREACH)]
    if due_stages(deadlines, set(fired), due_at) != expected or abs(due_at - moment) > _US:
        raise BenchFailedError(f"ticket {i}: seeded clocks do not give the {stage} stage")
    number = ticket_number(T0.year, i + 1)
    row.update(
        number=number,
        requester_id=requester[0],
        source="menu",
        category=CATEGORIES[i % len(CATEGORIES)][0],
        subject=subject_of(question),
        created_at=created,
        updated_at=messages[-1][0],
        priority=priority,
        desk_chat_id=DESK,
        sla_fired=fired,
        sla_due=(
            []
            if stage == FRESH
            else [{"clock": d.clock, "due_at": d.due_at.isoformat()} for d in deadlines]
        ),
    )
    return Plan(number, stage, due_at, checks, row, tuple(messages), requester)


async def seed_tickets(rt: Runtime, org: Org, policy: Policy, figures: Figures) -> None:
    """Every ticket with its rows, in bulk (one Core INSERT per table and batch)."""
    rng = random.Random(7)
    plans = [plan_ticket(i, org, policy, rng, figures.window_s) for i in range(figures.tickets)]
    async with rt.detached_uow() as uow:
        if (await uow.session.exec(select(func.count()).select_from(SupportTicket))).one():
            raise BenchFailedError("the database already has tickets: give an empty one")
        for start in range(0, len(plans), INSERT_BATCH):
            batch = [p.row for p in plans[start : start + INSERT_BATCH]]
            await uow.session.exec(insert(SupportTicket), params=batch)
        ids = dict(
            (
                await uow.session.exec(select(col(SupportTicket.number), col(SupportTicket.id)))
            ).all()
        )
        messages: list[dict[str, Any]] = []
        topics: list[dict[str, Any]] = []
        cards: list[dict[str, Any]] = []
        outbox: list[dict[str, Any]] = []
        due: list[dict[str, Any]] = []
        for n, plan in enumerate(plans):
            tid = ids[plan.number]
            assert tid is not None
            figures.stage_of[tid] = plan.stage
            created = plan.row["created_at"]
            for at, author, body in plan.messages:
                staff = plan.requester[0] if author == "user" else plan.row["assignee_id"]
                messages.append(
                    {"ticket_id": tid, "at": at, "author": author, "staff_id": staff, "body": body}
                )
            key = ticket_topic(tid)
            # A fresh ticket's topic is not created yet (the desk group's 20 a minute), its
            # first card still queued; an older one's topic and card are on screen.
            thread = None if plan.stage == FRESH else 100_000 + n
            name = topic_name(
                plan.number, plan.requester[1], plan.row["subject"], plan.row["status"]
            )
            topics.append(
                {"key": key, "chat_id": DESK, "thread_id": thread, "name": name}
                | {"card_key": key, "updated_at": created}
            )
            if thread is not None:
                cards.append(
                    {"card_key": key, "chat_id": DESK, "message_id": thread + 1}
                    | {"updated_at": plan.row["updated_at"]}
                )
            sent = {"status": "sent", "sent_at": created + timedelta(seconds=1), "attempts": 1}
            card: dict[str, Any] = {"status": "pending", "attempts": 0}
            if thread is not None:
                card = sent | {"sent_message_id": thread + 1}
            outbox.append(
                card
                | {
                    "created_at": created,
                    "chat_id": DESK,
                    "kind": "support.card",
                    "ref_id": tid,
                    "facts": {"ticket_id": tid, "number": plan.number},
                    "priority": PRIORITY_NOTIFY,
                    "card_key": key,
                    "topic_key": key,
                }
            )
            outbox.append(
                sent
                | {
                    "created_at": created,
                    "chat_id": plan.requester[2],
                    "staff_id": plan.requester[0],
                    "kind": "support.opened",
                    "ref_id": tid,
                    "facts": {"number": plan.number, "ticket_id": tid},
                    "priority": PRIORITY_INTERACTIVE,
                    "sent_message_id": n + 1,
                }
            )
            for at in plan.earlier_checks:
                due.append(_due_row(tid, at, done=True))
            due.append(_due_row(tid, plan.due_at, done=False))
        for table, rows in (
            (SupportMessage, messages),
            (ForumTopic, topics),
            (LiveCard, cards),
            (OutboxMessage, outbox),
            (DueItem, due),
        ):
            for start in range(0, len(rows), INSERT_BATCH):
                await uow.session.exec(insert(table), params=rows[start : start + INSERT_BATCH])
        await uow.commit()
    async with rt.detached_uow() as uow:
        pending = await uow.session.exec(
            select(col(DueItem.id)).where(
                col(DueItem.kind) == SLA_KIND, col(DueItem.done_at).is_(None)
            )
        )
        figures.seeded_items = {i for i in pending.all() if i is not None}
    if len(figures.seeded_items) != figures.tickets:
        raise BenchFailedError(f"{len(figures.seeded_items)} pending SLA items seeded")


def _due_row(ticket_id: int, at: datetime, *, done: bool) -> dict[str, Any]:
    """A ``support.sla`` item as check_soon() and next_check() write it."""
    return {
        "kind": SLA_KIND,
        "ref_id": ticket_id,
        "due_at": at,
        "payload": {},
        "dedupe_key": f"{SLA_KIND}:{ticket_id}:{at.isoformat()}",
        "created_at": at - timedelta(minutes=1),
        "attempts": 1 if done else 0,
        "done_at": at if done else None,
    }


# --- the run ---------------------------------------------------------------------------------
async def pending(rt: Runtime, horizon: datetime) -> tuple[int, datetime | None]:
    """How many items due by the horizon are still to run, and when the earliest pending item
    of any kind falls due."""
    async with rt.detached_uow() as uow:
        undone = col(DueItem.done_at).is_(None)
        wanted = await uow.session.exec(
            select(func.count()).where(undone, col(DueItem.due_at) <= horizon)
        )
        earliest = await uow.session.exec(select(func.min(DueItem.due_at)).where(undone))
        return int(wanted.one()), earliest.one()


async def drive(services: Services, clock: BenchClock, figures: Figures) -> None:
    """Tick as the job queue would until nothing is left to run (see the module docstring)."""
    rt = services.runtime
    kwargs = {} if figures.limit is None else {"limit": figures.limit}
    interval = timedelta(seconds=figures.tick_s)
    give_up = figures.horizon + timedelta(hours=1, seconds=figures.tickets)  # ≥ 1 item/s
    next_at = T0
    started = shown = time.perf_counter()
    while True:
        clock.jump(next_at)
        clock.run()
        start = clock()
        with counting(rt.db, figures):
            done = await services.due.tick(**kwargs)
        end = clock()
        clock.stop()  # the bench's own queries below cost the bot nothing
        figures.ticks.append(Tick(start, end, done))
        left, earliest = await pending(rt, figures.horizon)
        if left == 0:
            break
        if time.perf_counter() - shown > PROGRESS_S:
            shown = time.perf_counter()
            print(
                f"  … bench clock T0+{(end - T0).total_seconds():.0f} s, "
                f"{time.perf_counter() - started:.0f} s in: {left} items still to run",
                file=sys.stderr,
            )
        if end > give_up:
            raise BenchFailedError(f"{left} due items still pending at {end - T0}")
        assert earliest is not None
        if interval:
            # The job queue's next run: the first one after this run ends, or after the
            # earliest pending item falls due (runs in between would claim nothing; any
            # item falling due meanwhile, beyond the horizon too, runs on time).
            after = max(end, earliest - interval)
            next_at = T0 + interval * (math.floor((after - T0) / interval) + 1)
        else:
            next_at = max(end, earliest)
    figures.run_wall_s = time.perf_counter() - started


async def collect(rt: Runtime, figures: Figures, outbox_before: int, audit_before: int) -> None:
    """What the run did, read back from the database."""
    async with rt.detached_uow() as uow:
        done = await uow.session.exec(
            select(DueItem)
            .where(col(DueItem.done_at) >= T0, col(DueItem.kind).in_([SLA_KIND, ESCALATE_KIND]))
            .order_by(col(DueItem.done_at))
        )
        figures.items = list(done.all())
        left = await uow.session.exec(
            select(col(DueItem.kind), func.count())
            .where(col(DueItem.done_at).is_(None))
            .group_by(col(DueItem.kind))
        )
        figures.left = Counter({kind: int(n) for kind, n in left.all()})
        made = await uow.session.exec(
            select(col(OutboxMessage.kind), func.count())
            .where(col(OutboxMessage.id) > outbox_before)
            .group_by(col(OutboxMessage.kind))
        )
        figures.outbox = Counter({kind: int(n) for kind, n in made.all()})
        keys = await uow.session.exec(
            select(col(OutboxMessage.dedupe_key)).where(
                col(OutboxMessage.id) > outbox_before, col(OutboxMessage.kind) == "support.sla"
            )
        )
        # sla-post:<ticket>:<clock>:<stage>:<due at>
        figures.sla_posts = Counter(k.split(":")[3] for k in keys.all() if k)
        superseded = await uow.session.exec(
            select(func.count()).where(
                col(OutboxMessage.kind) == "support.card",
                col(OutboxMessage.status) == "superseded",
            )
        )
        figures.superseded_cards = int(superseded.one())
        waiting = await uow.session.exec(
            select(func.count()).where(col(OutboxMessage.status) == "pending")
        )
        figures.outbox_pending = int(waiting.one())
        head = await uow.session.get(AuditHead, 1)
        figures.audit_entries = (head.seq if head else 0) - audit_before
        levels = await uow.session.exec(
            select(col(SupportEscalation.level), func.count()).group_by(
                col(SupportEscalation.level)
            )
        )
        figures.escalation_levels = Counter({int(lv): int(n) for lv, n in levels.all()})


async def check_outcome(rt: Runtime, figures: Figures, org: Org) -> list[str]:
    """What did not happen: every ticket at 80 % warned (or, reached after its breach moment
    too, breached: the breach makes the warning moot), every breached one breached,
    escalated and paged."""
    async with rt.detached_uow() as uow:
        keys = await uow.session.exec(
            select(col(OutboxMessage.dedupe_key)).where(
                col(OutboxMessage.kind) == "support.sla",
            )
        )
        posted: dict[str, set[int]] = {WARN: set(), BREACH: set()}
        for key in keys.all():
            if key:
                parts = key.split(":")
                posted[parts[3]].add(int(parts[1]))
        escalated = await uow.session.exec(select(col(SupportEscalation.ticket_id)))
        chains = set(escalated.all())
        drawn = await uow.session.exec(select(col(SupportTicket.id), col(SupportTicket.sla_due)))
        clocks_shown = {tid for tid, due in drawn.all() if due}
    by_stage: dict[str, set[int]] = {s: set() for s in STAGES}
    for tid, stage in figures.stage_of.items():
        by_stage[stage].add(tid)
    problems = []
    figures.warn_skipped = len(by_stage[WARNED] & posted[BREACH] - posted[WARN])
    if missing := by_stage[WARNED] - posted[WARN] - posted[BREACH]:
        problems.append(f"{len(missing)} tickets at 80 % without a warning or a breach")
    if missing := by_stage[BREACHED] - posted[BREACH]:
        problems.append(f"{len(missing)} breached tickets without a breach post")
    if missing := by_stage[BREACHED] - chains:
        problems.append(f"{len(missing)} breached tickets without an escalation")
    if missing := by_stage[FRESH] - clocks_shown:
        problems.append(f"{len(missing)} fresh tickets whose clocks were not worked out")
    # Everybody on call up to the level a chain reached was paged once (administrators last).
    paged = sum(n * org.paged_up_to[level] for level, n in figures.escalation_levels.items())
    if figures.outbox.get("support.page", 0) != paged:
        problems.append(f"{figures.outbox.get('support.page', 0)} pages, {paged} expected")
    if stuck := [i.id for i in figures.items if i.error or i.attempts > 1]:
        problems.append(f"{len(stuck)} due items failed or were retried")
    return problems


# --- output ----------------------------------------------------------------------------------
def _q(values: Sequence[float], p: int) -> float:
    """The p-th percentile (inclusive method: never beyond the largest value)."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def _spread(values: Sequence[float], unit: str, scale: float = 1.0) -> str:
    v = sorted(x * scale for x in values)
    if not v:
        return "-"
    return f"p50 {_q(v, 50):.2f}  p95 {_q(v, 95):.2f}  p99 {_q(v, 99):.2f}  max {v[-1]:.2f} {unit}"


def report(f: Figures, log: LogTally) -> None:
    ticks = f.ticks
    starts = [t.start for t in ticks]
    seeded = [i for i in f.items if i.id in f.seeded_items]
    later = [i for i in f.items if i.id not in f.seeded_items]

    def lag(item: DueItem) -> float:
        assert item.done_at is not None
        return (item.done_at - item.due_at).total_seconds()

    def claim_lag(item: DueItem) -> float:
        assert item.done_at is not None
        return (
            starts[bisect.bisect_right(starts, item.done_at) - 1] - item.due_at
        ).total_seconds()

    # An item runs from its done_at until the next item of its tick starts (or the tick ends).
    cost: dict[str, list[float]] = {}
    for n, item in enumerate(f.items):
        assert item.done_at is not None
        tick = ticks[bisect.bisect_right(starts, item.done_at) - 1]
        following = f.items[n + 1].done_at if n + 1 < len(f.items) else None
        until = following if following is not None and following <= tick.end else tick.end
        if item.kind == ESCALATE_KIND:
            step = int(item.payload.get("level", 2))
            what = f"escalation step to level {step}" + (
                "" if step in ON_CALL else " (nobody: administrators)"
            )
        elif item.id in f.seeded_items:
            what = {FRESH: "first check", WARNED: "80 % warning", BREACHED: "breach + page"}[
                f.stage_of.get(item.ref_id or 0, FRESH)
            ]
        else:
            what = "later SLA check"
        cost.setdefault(what, []).append((until - item.done_at).total_seconds())
    busy = [t for t in ticks if t.done]
    busy_s = sum((t.end - t.start).total_seconds() for t in busy)
    skipped = 0
    if f.tick_s:
        skipped = sum(int((t.end - t.start).total_seconds() // f.tick_s) for t in ticks)
    last = max((i.done_at for i in seeded if i.done_at), default=T0)
    stages = Counter(f.stage_of.values())
    print(
        f"bench.support_timers — {f.db}: {f.tickets} open tickets in one desk group, their "
        f"SLA items due within {f.window_s:.0f} s ({stages[FRESH]} fresh, {stages[WARNED]} at "
        f"80 %, {stages[BREACHED]} at 100 %); on call 2 at level 1, 1 at level 2, then "
        f"{ADMINS} administrators; "
        + (f"a tick every {f.tick_s:g} s" if f.tick_s else "ticks back to back")
        + f", {f.limit or 100} items a claim, escalation after {f.escalate_min:g} min"
    )
    rows = [
        ("seeding, bulk (not measured)", f"{f.seed_s:.1f} s"),
        (
            "burst: items run",
            f"{len(seeded)} of {len(f.seeded_items)}; the last at T0+"
            f"{(last - T0).total_seconds():.1f} s (window {f.window_s:.0f} s)",
        ),
        ("burst: lag, due → run", _spread([lag(i) for i in seeded], "s")),
        ("burst: claim lag, due → claimed", _spread([claim_lag(i) for i in seeded], "s")),
        (
            f"follow-on: {len(later)} items (escalations, later breaches)",
            _spread([lag(i) for i in later], "s"),
        ),
        (
            "throughput while ticking",
            f"{len(f.items) / busy_s:.0f} items/s ({len(f.items)} items in {busy_s:.1f} s of "
            f"{len(busy)} busy ticks)"
            if busy_s
            else "-",
        ),
        (
            "ticks",
            f"{len(ticks)} run, {len(busy)} busy; longest "
            f"{max((t.end - t.start).total_seconds() for t in ticks):.1f} s"
            + (
                f"; {skipped} scheduled runs skipped (the previous still running)"
                if f.tick_s
                else ""
            ),
        ),
        (
            "database work per item",
            f"{f.transactions / len(f.items):.1f} transactions, "
            f"{f.statements / len(f.items):.1f} statements (claims included)"
            if f.items
            else "-",
        ),
        (
            "bench clock span / wall time of the run",
            f"{(ticks[-1].end - T0).total_seconds():.0f} s / {f.run_wall_s:.1f} s",
        ),
    ]
    for what in sorted(cost):
        rows.append(
            (f"  per item: {what}", _spread(cost[what], "ms", 1000) + f"  (×{len(cost[what])})")
        )
    made = ", ".join(f"{k} {n}" for k, n in sorted(f.outbox.items()))
    rows += [
        ("outbox rows written", f"{sum(f.outbox.values())}: {made}"),
        (
            "  of which in topics",
            f"warnings {f.sla_posts[WARN]}, breaches {f.sla_posts[BREACH]}, "
            f"paged {f.outbox['support.paged']}; card redraws superseded {f.superseded_cards}",
        ),
        (
            "  tickets at 80 % reached too late to warn",
            f"{f.warn_skipped} (run after their breach moment: breached instead)",
        ),
        ("outbox rows pending at the end (no sender runs)", str(f.outbox_pending)),
        (
            "escalations by level reached",
            ", ".join(
                f"{'admins' if lv > LEVELS else f'L{lv}'} {n}"
                for lv, n in sorted(f.escalation_levels.items())
            ),
        ),
        ("audit entries written", str(f.audit_entries)),
        ("left pending for later", ", ".join(f"{k} {n}" for k, n in sorted(f.left.items()))),
        (
            "RSS",
            f"{f.rss_before_mb:.0f} MB before the run, {f.rss_after_mb:.0f} MB after, peak "
            f"{f.rss_peak_mb:.0f} MB" + (" (during the run)" if f.peak_is_run else ""),
        ),
        ("log", f"{len(log.errors)} errors, {sum(log.warnings.values())} warnings"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    for line in log.errors[:5]:
        print(f"    error   {line}")
    for line, count in log.warnings.most_common(3):
        print(f"    warning ×{count} {line}")


# --- main ------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> None:
    log = LogTally()
    logging.getLogger().addHandler(log)
    figures = Figures(
        db="",
        tickets=args.tickets,
        window_s=args.window,
        tick_s=args.tick_s,
        limit=args.limit,
        escalate_min=args.escalate_minutes,
    )
    figures.horizon = T0 + timedelta(seconds=args.window + args.follow_s)
    async with database_url(args.database_url) as (url, tmp):
        keys = KeyRing(bytes(32))
        install_key_ring(keys)
        settings = Settings(
            database_url=url,
            data_dir=tmp / "data",
            secret_key=keys.current.hex(),
            faq_embedder="hash",  # the FAQ is not exercised: no sentence encoder to load
            desk_chat_id=DESK,
            support_escalate_minutes=args.escalate_minutes,
        )
        db = Database(url)
        figures.db = db.dialect
        try:
            await db.upgrade()
            clock = BenchClock(T0 - timedelta(minutes=1))
            rt = Runtime(db, keys, clock)
            services = build_services(settings, rt)
            started = time.perf_counter()
            await services.due.ensure_maintenance()  # as the bot does when it starts
            requesters = min(5000, max(10, args.tickets // 4))
            org = await build_org(services, requesters)
            await seed_tickets(rt, org, services.support_sla.policy, figures)
            figures.seed_s = time.perf_counter() - started
            async with rt.detached_uow() as uow:
                before = (await uow.session.exec(select(func.max(OutboxMessage.id)))).one()
                head = await uow.session.get(AuditHead, 1)
                audit_before = head.seq if head else 0
            figures.rss_before_mb = _status_mb("VmRSS")
            figures.peak_is_run = _reset_peak()
            await drive(services, clock, figures)
            figures.rss_after_mb = _status_mb("VmRSS")
            figures.rss_peak_mb = _status_mb("VmHWM")
            await collect(rt, figures, int(before or 0), audit_before)
            problems = await check_outcome(rt, figures, org)
        finally:
            await db.dispose()
    report(figures, log)
    if problems:
        raise BenchFailedError("; ".join(problems))


def main(argv: Sequence[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="s the burst falls due in")
    parser.add_argument(
        "--tick-s",
        type=float,
        default=defaults.due_tick_s,
        help="the job queue's interval (GOVBOT_DUE_TICK_S); 0: ticks back to back",
    )
    parser.add_argument("--limit", type=int, default=None, help="items a claim (tick's default)")
    parser.add_argument(
        "--escalate-minutes", type=float, default=defaults.support_escalate_minutes
    )
    parser.add_argument(
        "--follow-s",
        type=float,
        default=0.0,
        help="keep the clock going this long after the window: with 2 × 60 × "
        "--escalate-minutes + 30 the chains the burst started reach the administrators",
    )
    parser.add_argument("--database-url", default=None, help="an empty database (PostgreSQL)")
    args = parser.parse_args(argv)
    if args.tickets < 3 or args.window <= 0 or args.tick_s < 0:
        parser.error("need --tickets >= 3, --window > 0 and --tick-s >= 0")
    try:
        asyncio.run(run(args))
    except BenchFailedError as exc:
        print(f"bench.support_timers FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
