"""Storage on SQLite and PostgreSQL: units of work, exactly-once marks, claims, types, CAS."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import col, select

from bot.clock import FakeClock
from storage.crypto import DecryptionError, KeyRing, install_key_ring
from storage.db import Database
from storage.tables.messaging import OutboxMessage
from storage.tables.people import Department, Staff
from storage.tables.runtime import InboxUpdate
from storage.uow import ReplayedUpdateError, UnitOfWork, is_unavailable

SHANGHAI = timezone(timedelta(hours=8))
LEASE = timedelta(minutes=1)


def uow(
    db: Database,
    keys: KeyRing,
    *,
    inbox_update_id: int | None = None,
    clock_now: datetime | None = None,
) -> UnitOfWork:
    return UnitOfWork(db, keys, inbox_update_id=inbox_update_id, clock_now=clock_now)


async def _warm_pool(db: Database, n: int) -> None:
    """Open n pooled connections first, so racing tasks start together, not a connect apart."""

    async def hold() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(hold() for _ in range(n if db.dialect == "postgresql" else 1)))


async def _departments(db: Database, keys: KeyRing) -> set[str]:
    async with uow(db, keys) as u:
        return set(await u.people.departments_by_name())


async def _outbox_keys(db: Database, keys: KeyRing) -> list[str | None]:
    async with uow(db, keys) as u:
        rows = await u.session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [r.dedupe_key for r in rows]


async def _store_update(db: Database, keys: KeyRing, update_id: int, now: datetime) -> None:
    async with uow(db, keys) as u:
        assert await u.inbox.store(update_id, chat_id=10, payload='{"x": 1}', now=now)
        await u.commit()


# --- the unit of work -------------------------------------------------------------------------


async def test_commit_keeps_the_changes(db: Database, key_ring: KeyRing, clock: FakeClock) -> None:
    async with uow(db, key_ring) as u:
        await u.people.add_department("办公室", now=clock())
        await u.commit()
    assert await _departments(db, key_ring) == {"办公室"}


async def test_leaving_without_commit_rolls_back(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    async with uow(db, key_ring) as u:
        await u.people.add_department("办公室", now=clock())  # flushed, so really sent
    assert await _departments(db, key_ring) == set()


async def test_an_exception_rolls_back(db: Database, key_ring: KeyRing, clock: FakeClock) -> None:
    with pytest.raises(RuntimeError):
        async with uow(db, key_ring) as u:
            await u.people.add_department("办公室", now=clock())
            await u.outbox.add(chat_id=1, kind="t.t", now=clock(), dedupe_key="k")
            raise RuntimeError("boom")
    assert await _departments(db, key_ring) == set()
    assert await _outbox_keys(db, key_ring) == []


async def test_update_uow_marks_the_update_done_with_its_effects(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    await _store_update(db, key_ring, 42, clock())
    clock.advance(timedelta(seconds=5))
    async with uow(db, key_ring, inbox_update_id=42, clock_now=clock()) as u:
        await u.outbox.add(chat_id=10, kind="t.reply", now=clock(), dedupe_key="first")
        await u.commit()
    async with uow(db, key_ring) as u:
        row = await u.inbox.get(42)
        assert row is not None
        assert (row.status, row.done_at) == ("done", clock())

    # A redelivered update reaches the handler again: its effects must not commit.
    with pytest.raises(ReplayedUpdateError):
        async with uow(db, key_ring, inbox_update_id=42, clock_now=clock()) as u:
            await u.outbox.add(chat_id=10, kind="t.reply", now=clock(), dedupe_key="second")
            await u.people.add_department("办公室", now=clock())
            await u.commit()
    assert await _outbox_keys(db, key_ring) == ["first"]
    assert await _departments(db, key_ring) == set()


async def test_update_uow_that_fails_leaves_the_update_pending(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    await _store_update(db, key_ring, 7, clock())
    async with uow(db, key_ring) as u:
        await u.people.add_department("办公室", now=clock())
        await u.commit()
    with pytest.raises(IntegrityError):
        async with uow(db, key_ring, inbox_update_id=7, clock_now=clock()) as u:
            await u.outbox.add(chat_id=10, kind="t.reply", now=clock(), dedupe_key="x")
            u.session.add(Department(name="办公室", created_at=clock()))  # duplicate name
            await u.commit()
    async with uow(db, key_ring) as u:
        row = await u.inbox.get(7)
        assert row is not None
        assert row.status == "pending"
    assert await _outbox_keys(db, key_ring) == []


async def test_update_uow_needs_the_time(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    await _store_update(db, key_ring, 8, clock())
    with pytest.raises(ValueError, match="time"):
        async with uow(db, key_ring, inbox_update_id=8) as u:
            await u.commit()


# --- dedupe ---------------------------------------------------------------------------------


async def test_outbox_add_with_the_same_dedupe_key_keeps_one_row(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    for _ in range(2):
        async with uow(db, key_ring) as u:
            await u.outbox.add(chat_id=1, kind="t.t", now=clock(), dedupe_key="same")
            await u.outbox.add(chat_id=1, kind="t.t", now=clock(), dedupe_key="same")
            await u.outbox.add(chat_id=1, kind="t.t", now=clock())  # no key: never deduped
            await u.commit()
    assert Counter(await _outbox_keys(db, key_ring)) == Counter({"same": 1, None: 2})


async def test_outbox_add_many_queues_every_row_once_in_chunks(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    """A mass send's 5,000 rows, given twice: one each, with what each row said, and a row
    already queued by add() is not queued again. (5,000 rows of 14 columns in one VALUES
    list would be 70,000 bind parameters: more than PostgreSQL takes in one statement.)"""
    facts = {"title": {"zh_CN": "试点反馈", "en": "Pilot feedback"}}
    rows = [
        {
            "chat_id": 10_000 + i,
            "kind": "t.mass",
            "staff_id": i,
            "facts": facts,
            "ref_id": 7,
            "priority": 5,
            "dedupe_key": f"t.mass:7:{i}",
            "card_key": f"t.card:7:{i}" if i % 2 else None,
        }
        for i in range(5000)
    ]
    async with uow(db, key_ring) as u:
        await u.outbox.add(chat_id=10_000, kind="t.mass", now=clock(), dedupe_key="t.mass:7:0")
        assert await u.outbox.add_many(rows, now=clock()) == 5000
        await u.outbox.add_many(rows, now=clock())
        await u.commit()
    async with uow(db, key_ring) as u:
        queued = list(
            await u.session.exec(select(OutboxMessage).where(col(OutboxMessage.kind) == "t.mass"))
        )
    assert len(queued) == 5000 and len({r.dedupe_key for r in queued}) == 5000
    by_chat = {r.chat_id: r for r in queued}
    assert by_chat[10_001].facts == facts and by_chat[10_001].card_key == "t.card:7:1"
    assert by_chat[14_999].staff_id == 4999 and by_chat[14_999].priority == 5
    assert all(r.status == "pending" and r.ref_id == 7 for r in queued if r.chat_id != 10_000)
    with pytest.raises(ValueError, match="topic"):
        async with uow(db, key_ring) as u:
            await u.outbox.add_many([{**rows[0], "topic_key": "ticket:1"}], now=clock())


async def test_due_add_with_the_same_dedupe_key_keeps_one_row(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    for _ in range(2):
        async with uow(db, key_ring) as u:
            await u.due.add(kind="t.remind", due_at=clock(), now=clock(), dedupe_key="r:1")
            await u.commit()
    async with uow(db, key_ring) as u:
        assert await u.due.pending_count() == 1


async def test_inbox_store_twice_is_a_no_op(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    await _store_update(db, key_ring, 5, clock())
    async with uow(db, key_ring) as u:
        assert not await u.inbox.store(5, chat_id=10, payload="again", now=clock())
        await u.commit()
    async with uow(db, key_ring) as u:
        row = await u.inbox.get(5)
        assert row is not None
        assert row.payload == '{"x": 1}'


# --- claims ---------------------------------------------------------------------------------

Claim = Callable[[UnitOfWork, datetime], Awaitable[list[int]]]


async def _claim_outbox(u: UnitOfWork, now: datetime) -> list[int]:
    return [r.id or 0 for r in await u.outbox.claim(now=now, lease=LEASE, limit=3)]


async def _claim_due(u: UnitOfWork, now: datetime) -> list[int]:
    return [r.id or 0 for r in await u.due.claim(now=now, lease=LEASE, limit=3)]


async def _claim_inbox(u: UnitOfWork, now: datetime) -> list[int]:
    return [r.update_id for r in await u.inbox.claim(now=now, lease=LEASE, limit=3)]


CLAIMS: dict[str, Claim] = {"outbox": _claim_outbox, "due": _claim_due, "inbox": _claim_inbox}
TABLES = {"outbox": "outbox_message", "due": "due_item", "inbox": "inbox_update"}


async def _fill(kind: str, db: Database, keys: KeyRing, now: datetime, n: int) -> set[int]:
    async with uow(db, keys) as u:
        for i in range(1, n + 1):
            if kind == "outbox":
                await u.outbox.add(chat_id=i, kind="t.t", now=now)
            elif kind == "due":
                await u.due.add(kind="t.remind", due_at=now - timedelta(seconds=i), now=now)
            else:
                await u.inbox.store(1000 + i, chat_id=i, payload=f"u{i}", now=now)
        await u.commit()
    key = "update_id" if kind == "inbox" else "id"
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT {key} FROM {TABLES[kind]}"))
        return {int(r[0]) for r in rows}


@pytest.mark.parametrize("workers", [2, 8])
@pytest.mark.parametrize("kind", ["outbox", "due", "inbox"])
async def test_claims_are_exclusive(
    db: Database, key_ring: KeyRing, clock: FakeClock, kind: str, workers: int
) -> None:
    now = clock()
    all_ids = await _fill(kind, db, key_ring, now, 30)
    assert len(all_ids) == 30

    async def worker() -> list[int]:
        mine: list[int] = []
        while True:
            async with uow(db, key_ring) as u:
                got = await CLAIMS[kind](u, now)
                # Hold the rows' locks a moment, so the other claimers run into them.
                await asyncio.sleep(0.005)
                await u.commit()
            if not got:
                return mine
            mine.extend(got)
            await asyncio.sleep(0)  # a real worker waits for its next tick; lets others in

    await _warm_pool(db, workers)
    per_worker = await asyncio.gather(*(worker() for _ in range(workers)))
    claimed = [i for ids in per_worker for i in ids]
    assert Counter(claimed) == Counter(all_ids)  # each row once, none twice, none left over
    assert sum(1 for ids in per_worker if ids) > 1  # they really did overlap


@pytest.mark.parametrize("kind", ["outbox", "due", "inbox"])
async def test_an_expired_lease_comes_back_to_another_claimer(
    db: Database, key_ring: KeyRing, clock: FakeClock, kind: str
) -> None:
    t0 = clock()
    (only,) = await _fill(kind, db, key_ring, t0, 1)
    for at, expected in [
        (t0, [only]),
        (t0 + LEASE / 2, []),  # the first worker's lease still holds
        (t0 + LEASE + timedelta(seconds=1), [only]),  # that worker died: the row comes back
    ]:
        async with uow(db, key_ring) as u:
            assert await CLAIMS[kind](u, at) == expected
            await u.commit()
    async with db.engine.connect() as conn:
        attempts = (await conn.execute(text(f"SELECT attempts FROM {TABLES[kind]}"))).one()[0]
    assert attempts == 2


async def test_due_items_in_the_future_or_done_are_not_claimed(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    now = clock()
    async with uow(db, key_ring) as u:
        await u.due.add(kind="t.later", due_at=now + timedelta(hours=1), now=now)
        await u.due.add(kind="t.now", due_at=now, now=now)
        await u.commit()
    async with uow(db, key_ring) as u:
        (item,) = await u.due.claim(now=now, lease=LEASE)
        assert item.kind == "t.now"
        await u.commit()
    async with uow(db, key_ring) as u:
        assert item.id is not None
        assert await u.due.complete(item.id, now=now)
        await u.commit()
    async with uow(db, key_ring) as u:
        assert not await u.due.complete(item.id, now=now)  # a second worker finishing it too
        assert await u.due.claim(now=now + 2 * LEASE, lease=LEASE) == []
        assert await u.due.pending_count() == 1


async def test_outbox_claim_skips_excluded_chats_and_not_before(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    now = clock()
    async with uow(db, key_ring) as u:
        await u.outbox.add(chat_id=1, kind="t.t", now=now, priority=9)
        await u.outbox.add(chat_id=2, kind="t.t", now=now, priority=0)
        await u.outbox.add(chat_id=3, kind="t.t", now=now, not_before=now + LEASE)
        await u.commit()
    async with uow(db, key_ring) as u:
        rows = await u.outbox.claim(now=now, lease=LEASE, limit=10, exclude_chats=[1])
        assert [r.chat_id for r in rows] == [2]
    async with uow(db, key_ring) as u:
        rows = await u.outbox.claim(now=now, lease=LEASE, limit=10)
        assert [r.chat_id for r in rows] == [2, 1]  # the interactive lane first


# --- column types ---------------------------------------------------------------------------

SECRET = '{"message": {"text": "请批准我的请假申请 marker-5f3a"}}'


async def test_inbox_payload_is_encrypted_at_rest(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    async with uow(db, key_ring) as u:
        await u.inbox.store(99, chat_id=10, payload=SECRET, now=clock())
        await u.commit()
    async with db.engine.connect() as conn:
        raw = bytes(
            (
                await conn.execute(text("SELECT payload FROM inbox_update WHERE update_id = 99"))
            ).one()[0]
        )
    assert b"marker-5f3a" not in raw
    assert "请批准".encode() not in raw
    assert raw[0] == 1  # the format version byte
    async with uow(db, key_ring) as u:
        row = await u.inbox.get(99)
        assert row is not None
        assert row.payload == SECRET


async def test_encrypted_payload_needs_the_right_key(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    async with uow(db, key_ring) as u:
        await u.inbox.store(99, chat_id=10, payload=SECRET, now=clock())
        await u.commit()
    install_key_ring(KeyRing(bytes(32)))
    try:
        with pytest.raises(DecryptionError):
            async with uow(db, key_ring) as u:
                await u.inbox.get(99)
    finally:
        install_key_ring(key_ring)
    # A rotated ring still reads what the old key wrote.
    install_key_ring(KeyRing(bytes(32), previous=(key_ring.current,)))
    try:
        async with uow(db, key_ring) as u:
            row = await u.inbox.get(99)
            assert row is not None
            assert row.payload == SECRET
    finally:
        install_key_ring(key_ring)


async def test_datetimes_round_trip_as_aware_utc(db: Database, key_ring: KeyRing) -> None:
    local = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    async with uow(db, key_ring) as u:
        await u.people.add_department("办公室", now=local)
        await u.people.record_attempt(5, ok=False, now=local)
        await u.commit()
    async with uow(db, key_ring) as u:
        dept = (await u.people.departments_by_name())["办公室"]
        assert dept.created_at == local
        assert dept.created_at.tzinfo == UTC
        assert dept.created_at.hour == 1  # stored and read as UTC, not as Shanghai wall time
        # Comparisons in SQL see the instant, whatever zone the bound value is in.
        found = await u.people.failed_attempts_since(5, local - timedelta(microseconds=1))
        assert found == [local]
        assert await u.people.failed_attempts_since(5, local + timedelta(microseconds=1)) == []
        utc_bound = local.astimezone(UTC) - timedelta(microseconds=1)
        assert await u.people.failed_attempts_since(5, utc_bound) == [local]


async def test_naive_datetimes_are_refused(db: Database, key_ring: KeyRing) -> None:
    with pytest.raises(StatementError, match="naive"):
        async with uow(db, key_ring) as u:
            await u.people.add_department("办公室", now=datetime(2026, 12, 1))  # noqa: DTZ001


# --- flows and people -----------------------------------------------------------------------


async def test_flow_put_get_clear(db: Database, key_ring: KeyRing, clock: FakeClock) -> None:
    async with uow(db, key_ring) as u:
        assert await u.flows.get(1, 10) is None
        await u.flows.put(1, 10, flow="leave", step="days", data={"类型": "年假"}, now=clock())
        await u.flows.put(1, 11, flow="faq", step="ask", data={}, now=clock())
        await u.commit()
    clock.advance(timedelta(minutes=1))
    async with uow(db, key_ring) as u:
        moved = await u.flows.put(
            1, 10, flow="leave", step="confirm", data={"类型": "年假", "天数": 2}, now=clock()
        )
        assert moved.version == 2
        await u.commit()
    async with uow(db, key_ring) as u:
        row = await u.flows.get(1, 10)
        assert row is not None
        assert (row.flow, row.step, row.data, row.version) == (
            "leave",
            "confirm",
            {"类型": "年假", "天数": 2},
            2,
        )
        assert row.updated_at == clock()
        assert await u.flows.clear(1, 10)
        await u.commit()
    async with uow(db, key_ring) as u:
        assert await u.flows.get(1, 10) is None
        assert not await u.flows.clear(1, 10)
        other = await u.flows.get(1, 11)  # another chat's flow is untouched
        assert other is not None
        assert other.flow == "faq"


async def _staff(db: Database, keys: KeyRing, now: datetime) -> int:
    async with uow(db, keys) as u:
        dept = await u.people.add_department("办公室", now=now)
        assert dept.id is not None
        staff = await u.people.add(
            Staff(
                employee_no="E001",
                name="张三",
                department_id=dept.id,
                created_at=now,
                updated_at=now,
            )
        )
        await u.commit()
    assert staff.id is not None
    return staff.id


async def test_bind_telegram_is_compare_and_swap(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    staff_id = await _staff(db, key_ring, clock())
    async with uow(db, key_ring) as u:
        assert await u.people.bind_telegram(
            staff_id, tg_id=111, seen_version=1, language="zh_CN", now=clock()
        )
        await u.commit()
    async with uow(db, key_ring) as u:
        # A second phone that read the row before the first bound it: stale version.
        assert not await u.people.bind_telegram(
            staff_id, tg_id=222, seen_version=1, language="en", now=clock()
        )
        await u.commit()
    async with uow(db, key_ring) as u:
        staff = await u.people.get(staff_id)
        assert staff is not None
        assert (staff.telegram_id, staff.version, staff.language) == (111, 2, "zh_CN")


async def test_racing_binds_have_one_winner(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    staff_id = await _staff(db, key_ring, clock())

    async def bind(tg_id: int) -> bool:
        async with uow(db, key_ring) as u:
            won = await u.people.bind_telegram(
                staff_id, tg_id=tg_id, seen_version=1, language=None, now=clock()
            )
            await asyncio.sleep(0.01)  # keep the row lock while the other one tries
            await u.commit()
            return won

    await _warm_pool(db, 3)
    results = await asyncio.gather(*(bind(tg) for tg in (301, 302, 303)))
    assert sorted(results) == [False, False, True]


# --- the database going away ----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns


async def test_a_busy_pool_is_unavailable_not_a_bug(tmp_path: Path, key_ring: KeyRing) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/busy.db", pool_timeout=0.2)
    try:
        await db.upgrade()
        async with uow(db, key_ring) as holder:
            await holder.people.count()  # holds SQLite's one connection
            with pytest.raises(Exception) as waited:
                async with uow(db, key_ring) as other:
                    await other.people.count()
        assert is_unavailable(waited.value), repr(waited.value)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_an_unreachable_database_is_unavailable(
    dialect: str, tmp_path: Path, key_ring: KeyRing
) -> None:
    if dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    else:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/gone"
    threads_before = set(threading.enumerate())
    db = Database(url)
    try:
        with pytest.raises(Exception) as ping_error:  # any type: which one is the question
            await db.ping()
        assert is_unavailable(ping_error.value), repr(ping_error.value)
        # What a service sees: the error out of a unit of work.
        with pytest.raises(Exception) as uow_error:
            async with uow(db, key_ring) as u:
                await u.people.count()
        assert is_unavailable(uow_error.value), repr(uow_error.value)
    finally:
        await db.dispose()
        # aiosqlite stops a failed connection's worker thread without waiting for it; if this
        # test's loop closed first, that thread's callback would fail in a later test.
        for thread in set(threading.enumerate()) - threads_before:
            await asyncio.to_thread(thread.join, 2)


async def test_our_own_mistakes_are_not_unavailability(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:
    async with uow(db, key_ring) as u:
        await u.people.add_department("办公室", now=clock())
        await u.commit()
    with pytest.raises(IntegrityError) as dup:
        async with uow(db, key_ring) as u:
            await u.people.add_department("办公室", now=clock())
    assert not is_unavailable(dup.value)


async def test_a_missing_table_is_not_unavailability(db: Database, key_ring: KeyRing) -> None:
    with pytest.raises(Exception) as bad:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM no_such_table"))
    assert not is_unavailable(bad.value), repr(bad.value)


async def test_concurrent_redelivery_is_a_no_op(
    db: Database, key_ring: KeyRing, clock: FakeClock
) -> None:

    async def store() -> bool:
        async with uow(db, key_ring) as u:
            new = await u.inbox.store(77, chat_id=1, payload="p", now=clock())
            await asyncio.sleep(0.05)  # both deliveries in flight at once
            await u.commit()
            return new

    await _warm_pool(db, 2)
    assert sorted(await asyncio.gather(store(), store())) == [False, True]
    async with uow(db, key_ring) as u:
        n = (await u.session.exec(select(func.count()).select_from(InboxUpdate))).one()
    assert n == 1
