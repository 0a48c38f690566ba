"""Approvals (#4): decisions through the emulator, press-to-card-edit latency, 发文字号 races.

1. N reimbursements (300 元: the department head alone decides) wait on K department heads
   in K departments. They are created through ``services.approvals`` (begin/answer/choose/
   submit, as the handlers call them) so set-up stays short; then every head presses ✅ 同意
   on its task cards through the emulator (callback query → inbox → PTB handler → unit of
   work → outbox sender → editMessageText), one coroutine per head, one card after another.
   Decisions/s are counted from the first press to the last card edit the emulator recorded.
2. Per press: from pushing the callback query to the emulator storing the card's new version.
3. 200 concurrent units of work each take a 发文字号 (``DocNumberService.assign``) and commit:
   the numbers must be exactly 1..200. Then a round where every 10th rolls back after taking
   its number: the committed ones must still be 1..k without a gap.

The figures are printed, not asserted; a wrong number set or a card left undecided exits 1.

    python -m bench.approvals [--db sqlite|postgresql] [--requests 300] [--approvers 20]
                              [--submitters 5] [--numbers 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from bot.approvals.numbering import parse_doc_number
from bot.approvals.numbering_service import DocNumberService
from bot.clock import system_clock
from bot.emulator import BotApiEmulator, Phone, SentMessage
from bot.runtime import Runtime
from bot.services import Services
from handlers.sender import Limits
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from tests.e2e.conftest import STAFF_HEADER, RunningBot, bot_settings
from tests.pg import LocalCluster, PostgresUnavailableError, find_bindir, server_from_env

APPROVE = "✅ 同意"
DOC_PREFIX = "市府办发"
ROLLBACK_PREFIX = "市府办函"
SETUP_CONCURRENCY = 4
AMOUNT = "300"  # ≤ 5000 元: one node, the submitter's department head
LIFTED = Limits(
    chat_burst=10_000,
    chat_interval_s=0.0,
    group_limit=10_000,
    global_limit=10_000,
    global_burst=10_000,
    broadcast_limit=10_000,
    broadcast_burst=10_000,
)


class BenchFailedError(Exception):
    """Something the figures rely on did not hold (exit 1)."""


@dataclass
class Org:
    """K departments, each with a head and some submitters; one finance officer (the CC)."""

    heads: list[Phone]
    submitters: list[list[Phone]]  # per department
    finance: Phone


@dataclass
class Press:
    sent_at: float  # time.time() just before the callback query was pushed
    edited_at: float = 0.0  # the card's new version, as the emulator stored it


@dataclass
class Figures:
    db: str
    requests: int
    approvers: int
    submitters: int
    setup_s: float = 0.0
    presses: list[Press] = field(default_factory=list)
    window_s: float = 0.0
    settled_s: float = 0.0
    numbers: list[tuple[str, float, list[float], int, int]] = field(default_factory=list)
    transactions: int = 0  # from the first press until everything was sent
    statements: int = 0


class LogTally(logging.Handler):
    """Counts warnings and errors instead of printing them between the figures."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []
        self.warnings: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()[:120]}")
        else:
            key = f"{record.name}: {record.getMessage()[:60]}"
            self.warnings[key] = self.warnings.get(key, 0) + 1


@contextlib.contextmanager
def counting(db: Database, figures: Figures) -> Iterator[None]:
    """Transactions and statements the whole process runs on ``db`` meanwhile."""

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
async def database_url(kind: str, tmp: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a database on GOVBOT_TEST_PG_URL or a throwaway cluster."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    server = server_from_env()
    cluster: LocalCluster | None = None
    if server is None:
        bindir = find_bindir()
        if bindir is None:
            raise BenchFailedError("no PostgreSQL server binaries (initdb) found")
        cluster = LocalCluster(bindir)  # as root, initdb/pg_ctl run as the postgres user
        server = cluster.start()
    name = await server.create_database()
    try:
        yield server.url_for(name)
    finally:
        with contextlib.suppress(Exception):
            await server.drop_database(name)
        if cluster is not None:
            cluster.stop()


# --- set-up ----------------------------------------------------------------------------------
async def build_org(bot: RunningBot, approvers: int, per_department: int) -> Org:
    emu = bot.emulator
    heads = [emu.user(first_name=f"处长{d}") for d in range(approvers)]
    submitters = [
        [emu.user(first_name=f"科员{d}-{s}") for s in range(per_department)]
        for d in range(approvers)
    ]
    finance = emu.user(first_name="会计")
    people: list[tuple[str, str, str, Phone]] = [("F0000", "财务处", "finance;staff", finance)]
    for d in range(approvers):
        department = f"第{d + 1:02d}处"
        people.append((f"H{d:04d}", department, "dept_head;staff", heads[d]))
        people.extend(
            (f"S{d:04d}{s:03d}", department, "staff", p) for s, p in enumerate(submitters[d])
        )
    rows = [
        (
            i + 2,
            dict(
                zip(
                    STAFF_HEADER,
                    [number, phone.user.first_name, dept, roles, "", str(phone.id), ""],
                    strict=True,
                )
            ),
        )
        for i, (number, dept, roles, phone) in enumerate(people)
    ]
    report = await bot.services.staff_import.import_staff(rows, actor_id=None, partial=False)
    if report.errors:
        raise BenchFailedError(f"staff import failed: {report.errors[:3]}")
    return Org(heads, submitters, finance)


async def reimbursement_id(services: Services) -> int:
    async with services.runtime.uow() as uow:
        for loaded in await services.approvals.catalog.active(uow):
            if loaded.template.key == "reimbursement":
                return loaded.row_id
    raise BenchFailedError("the shipped reimbursement template is not active")


async def open_draft(services: Services, tg_id: int) -> tuple[int, int]:
    """The draft the phone's form flow is on, and its version."""
    async with services.runtime.uow() as uow:
        flow = await uow.flows.get(tg_id, tg_id)
        if flow is None:
            raise BenchFailedError(f"user {tg_id} has no open form")
        draft = await uow.approvals.draft(int(flow.data["draft_id"]))
        if draft is None or draft.id is None:
            raise BenchFailedError(f"user {tg_id}: the draft is gone")
        return draft.id, draft.version


async def file_request(services: Services, template_id: int, tg_id: int, n: int) -> None:
    """What /apply → 费用报销 → 300 → 事由 → 跳过 → 跳过 → ✅ 提交 calls, minus the chat.

    ``_turn()`` between the calls: in the bot each comes from its own update, and without a
    trip through the event loop this coroutine would take SQLite's one pooled connection
    straight back every time and starve the sender (see ``_turn``).
    """
    service = services.approvals
    await service.begin(tg_id=tg_id, chat_id=tg_id, template_id=template_id)
    await _turn()
    await service.answer(tg_id=tg_id, chat_id=tg_id, text=AMOUNT)
    await _turn()
    await service.answer(tg_id=tg_id, chat_id=tg_id, text=f"差旅费 第{n}笔")
    for _ in range(2):  # 费用明细, 发票及附件: both optional, skipped
        await _turn()
        draft_id, _version = await open_draft(services, tg_id)
        await service.choose(tg_id=tg_id, chat_id=tg_id, draft_id=draft_id, option=0)
    await _turn()
    draft_id, version = await open_draft(services, tg_id)
    await service.submit(tg_id=tg_id, chat_id=tg_id, draft_id=draft_id, version=version)


async def _turn() -> None:
    """Let whoever waits for a pooled connection run before we ask for it again.

    SQLAlchemy's async pool hands a returned connection to whoever asks first
    (``AsyncAdaptedQueue.get`` tries ``get_nowait`` before queueing), so a coroutine that
    runs transactions back to back overtakes the woken waiter every time.
    """
    await asyncio.sleep(0)


def _is_task_card(message: SentMessage) -> bool:
    return "费用报销" in message.text and any(APPROVE in row for row in message.buttons)


def task_cards(phone: Phone) -> list[SentMessage]:
    return [m for m in phone.messages(include_deleted=False) if _is_task_card(m)]


async def prepare(bot: RunningBot, org: Org, requests: int) -> None:
    """N requests, request i in department i mod K; a submitter files its share in turn."""
    services = bot.services
    template_id = await reimbursement_id(services)
    k, s = len(org.heads), len(org.submitters[0])
    queues: dict[int, list[int]] = {}
    for i in range(requests):
        d = i % k
        phone = org.submitters[d][(i // k) % s]
        queues.setdefault(phone.id, []).append(i)

    assert bot.runner is not None and bot.runner.sender is not None
    sender = bot.runner.sender

    # A few at a time: more buys nothing on SQLite's one connection, and unbounded (a
    # hundred submitters) the sender's claim waited out the pool's 30 s timeout.
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def submitter(tg_id: int, numbers: list[int]) -> None:
        for n in numbers:
            async with gate:
                await file_request(services, template_id, tg_id, n)
            sender.kick()  # what the dispatcher does after a handled update

    await asyncio.gather(*(submitter(tg, ns) for tg, ns in queues.items()))
    expected = {h.id: len(range(d, requests, k)) for d, h in enumerate(org.heads)}
    await bot.emulator.state.wait_until(
        lambda: all(len(task_cards(h)) == expected[h.id] for h in org.heads),
        max(60.0, requests * 0.5),
        lambda: (
            "task cards: " + str([(len(task_cards(h)), expected[h.id]) for h in org.heads][:5])
        ),
    )
    await bot.settle(within=max(60.0, requests * 0.5))


# --- 1 + 2: decisions through the emulator ---------------------------------------------------
async def decide_all(bot: RunningBot, org: Org, figures: Figures) -> None:
    emu = bot.emulator
    timeout = 60.0 + figures.requests * 0.2

    async def approver(phone: Phone) -> None:
        chat = emu.state.require_chat(phone.id)
        for card in task_cards(phone):
            press = Press(time.time())
            await phone.press(APPROVE, message=card)
            edited = await phone.wait_edit(card, timeout=timeout)
            record = chat.messages[card.message_id]
            press.edited_at = record.versions[card.version_count].at
            if any(APPROVE in row for row in edited.buttons):
                raise BenchFailedError(f"card #{card.message_id} still offers {APPROVE}")
            figures.presses.append(press)

    assert bot.runner is not None and bot.runner.db is not None
    with counting(bot.runner.db, figures):
        started = time.time()
        await asyncio.gather(*(approver(h) for h in org.heads))
        figures.window_s = max(p.edited_at for p in figures.presses) - min(
            p.sent_at for p in figures.presses
        )
        # Everything the decisions caused (status cards, 已结束 notices, the CC) sent too.
        await bot.settle(within=timeout)
        figures.settled_s = time.time() - started
    finished = sum(
        1 for row in org.submitters for p in row for m in p.messages() if "已结束" in m.text
    )
    if finished != figures.requests:
        raise BenchFailedError(f"{finished} 已结束 notices for {figures.requests} requests")
    cc = sum(1 for m in org.finance.messages() if "抄送" in m.text)
    if cc != figures.requests:
        raise BenchFailedError(f"{cc} CC notices to finance for {figures.requests} requests")
    left = sum(len(task_cards(h)) for h in org.heads)
    if left:
        raise BenchFailedError(f"{left} task cards still offer {APPROVE}")


# --- 3: 发文字号 ---------------------------------------------------------------------------
async def warm_pool(db: Database, n: int) -> None:
    """Open the pool's connections first, so the racers start together, not a connect apart."""

    async def hold() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(hold() for _ in range(n if db.dialect == "postgresql" else 1)))


async def number_round(
    rt: Runtime, prefix: str, count: int, rollback_every: int
) -> tuple[float, list[float], list[int], list[int]]:
    """``count`` concurrent assign+commit (or rollback): wall s, per-allocation s, numbers.

    An allocation's time runs from opening its unit of work to its commit, so it includes
    the wait for a pooled connection and for the counter row's lock.
    """
    service = DocNumberService(rt)
    now = datetime.now(UTC)
    committed: list[int] = []
    given_back: list[int] = []
    latencies: list[float] = []

    async def one(i: int) -> None:
        start = time.perf_counter()
        async with rt.detached_uow() as uow:
            number = await service.assign(uow, prefix=prefix, now=now)
            n = parse_doc_number(number)[2]
            if rollback_every and i % rollback_every == rollback_every - 1:
                await uow.rollback()
                given_back.append(n)
            else:
                await uow.commit()
                committed.append(n)
        latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started, latencies, committed, given_back


async def numbers_bench(url: str, keys: KeyRing, count: int, figures: Figures) -> None:
    db = Database(url)
    try:
        rt = Runtime(db, keys, system_clock)
        await warm_pool(db, 20)
        wall, lat, committed, _ = await number_round(rt, DOC_PREFIX, count, 0)
        if sorted(committed) != list(range(1, count + 1)):
            dupes = len(committed) - len(set(committed))
            raise BenchFailedError(f"{DOC_PREFIX}: not 1..{count} ({dupes} duplicates)")
        figures.numbers.append(("all commit", wall, lat, len(committed), 0))
        wall, lat, committed, back = await number_round(rt, ROLLBACK_PREFIX, count, 10)
        if sorted(committed) != list(range(1, len(committed) + 1)):
            raise BenchFailedError(f"{ROLLBACK_PREFIX}: committed numbers have a gap")
        year = datetime.now(UTC).year
        peek = await DocNumberService(rt).peek(ROLLBACK_PREFIX, year)
        if peek != len(committed):
            raise BenchFailedError(f"{ROLLBACK_PREFIX}: counter at {peek}, {len(committed)} kept")
        kept = set(committed)
        reused = sum(1 for n in back if n in kept)
        figures.numbers.append(("1 in 10 rolls back", wall, lat, len(committed), reused))
    finally:
        await db.dispose()


# --- output ----------------------------------------------------------------------------------
def _q(values: Sequence[float], p: int) -> float:
    """The p-th percentile (inclusive method: never beyond the largest value)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def report(f: Figures, numbers: int, log: LogTally) -> None:
    lat = sorted((p.edited_at - p.sent_at) * 1000 for p in f.presses)
    n = len(f.presses)
    print(
        f"bench.approvals — {f.db}: {f.requests} requests waiting on {f.approvers} department "
        f"heads ({f.submitters} submitters per department), Telegram's limits lifted"
    )
    rows = [
        ("set-up through services (not measured)", f"{f.setup_s:.1f} s"),
        ("decisions/s sustained", f"{n / f.window_s:.1f}"),
        ("decisions, first press → last card edit", f"{n} in {f.window_s:.1f} s"),
        ("… until every effect was sent", f"{f.settled_s:.1f} s (status cards, 已结束, CC)"),
        (
            "press → card edit, ms",
            f"p50 {_q(lat, 50):.0f}  p90 {_q(lat, 90):.0f}  p99 {_q(lat, 99):.0f}  "
            f"max {lat[-1]:.0f}",
        ),
        (
            "database work per decision",
            f"{f.transactions / n:.1f} transactions, {f.statements / n:.0f} statements",
        ),
    ]
    for label, wall, per, kept, reused in f.numbers:
        ms = sorted(x * 1000 for x in per)
        check = (
            f"exactly 1..{kept}"
            if label == "all commit"
            else f"kept 1..{kept}, no gap; {reused} of {numbers - kept} rolled-back re-issued"
        )
        rows.append(
            (
                f"发文字号 ×{numbers} concurrent, {label}",
                f"wall {wall * 1000:.0f} ms; each p50 {_q(ms, 50):.0f} / p99 {_q(ms, 99):.0f} ms; "
                + check,
            )
        )
    warned = sum(log.warnings.values())
    rows.append(("log", f"{len(log.errors)} errors, {warned} warnings"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    for line in log.errors[:5]:
        print(f"    error   {line}")
    for line, count in sorted(log.warnings.items(), key=lambda kv: -kv[1])[:3]:
        print(f"    warning ×{count} {line}")


# --- main ------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govbot-bench-ap-"))
    log = LogTally()
    logging.getLogger().addHandler(log)
    figures = Figures(args.db, args.requests, args.approvers, args.submitters)
    emu = BotApiEmulator(token="123456:TEST-TOKEN", bot_username="govoffice_test_bot")
    await emu.start(port=0)
    try:
        async with database_url(args.db, tmp) as url:
            keys = KeyRing(bytes(32))
            install_key_ring(keys)
            settings = bot_settings(emu, tmp / "data", url).with_overrides(
                secret_key=keys.current.hex()
            )
            db = Database(url)
            await db.upgrade()
            await db.dispose()
            bot = RunningBot(settings, emu, sender_limits=LIFTED)
            await bot.start()
            try:
                org = await build_org(bot, args.approvers, args.submitters)
                started = time.perf_counter()
                await prepare(bot, org, args.requests)
                figures.setup_s = time.perf_counter() - started
                await decide_all(bot, org, figures)
                if not (await bot.services.audit.verify()).ok:
                    raise BenchFailedError("the audit chain does not verify")
            finally:
                await bot.stop()
            await numbers_bench(url, keys, args.numbers, figures)
    finally:
        await emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(figures, args.numbers, log)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--approvers", type=int, default=20, help="departments, one head each")
    parser.add_argument("--submitters", type=int, default=5, help="per department")
    parser.add_argument("--numbers", type=int, default=200, help="concurrent 发文字号 takers")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.approvers, args.submitters, args.numbers = 12, 3, 2, 50
    if args.requests < args.approvers or min(args.approvers, args.submitters) < 1:
        parser.error("need --requests >= --approvers >= 1 and --submitters >= 1")
    try:
        asyncio.run(run(args))
    except (BenchFailedError, PostgresUnavailableError) as exc:
        print(f"bench.approvals FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
