"""Due items: run once by kind, survive a dead worker, and the nightly purge (#3)."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FakeClock
from bot.runtime import Runtime
from bot.scheduling import INBOX_RETENTION, PURGE_KIND, Due, DueService
from storage.uow import UnitOfWork


async def test_due_items_run_once_when_due_and_not_before(
    runtime: Runtime, clock: FakeClock
) -> None:
    service = DueService(runtime)
    ran: list[int | None] = []

    async def remind(item: Due, uow: UnitOfWork, now) -> None:  # type: ignore[no-untyped-def]
        ran.append(item.ref_id)
        await uow.outbox.add(chat_id=42, kind="test.reminder", now=now, ref_id=item.ref_id)

    service.register("test.remind", remind)
    async with runtime.detached_uow() as uow:
        for ref in (1, 2):
            await uow.due.add(
                kind="test.remind",
                ref_id=ref,
                due_at=clock() + timedelta(hours=ref),
                now=clock(),
                dedupe_key=f"r{ref}",
            )
        await uow.due.add(
            kind="test.remind", ref_id=1, due_at=clock(), now=clock(), dedupe_key="r1"
        )  # scheduled twice: kept once
        await uow.commit()
    assert await service.tick() == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert await service.tick() == 1 and ran == [1]
    assert await service.tick() == 0  # done means done
    clock.advance(timedelta(hours=1))
    assert await service.tick() == 1 and ran == [1, 2]
    async with runtime.detached_uow() as uow:
        assert (await uow.outbox.counts()) == {"pending": 2}


async def test_a_failing_item_is_retried_then_given_up(runtime: Runtime, clock: FakeClock) -> None:
    service = DueService(runtime, lease=timedelta(seconds=30))
    attempts: list[int] = []

    async def broken(item: Due, uow: UnitOfWork, now) -> None:  # type: ignore[no-untyped-def]
        attempts.append(item.attempts)
        await uow.outbox.add(chat_id=1, kind="never", now=now)
        raise RuntimeError("bug")

    service.register("test.broken", broken)
    async with runtime.detached_uow() as uow:
        await uow.due.add(kind="test.broken", due_at=clock(), now=clock())
        await uow.commit()
    for _ in range(7):
        await service.tick()
        clock.advance(timedelta(seconds=31))  # the lease of the failed attempt runs out
    assert attempts == [1, 2, 3, 4, 5]
    async with runtime.detached_uow() as uow:
        assert await uow.due.pending_count() == 0
        assert await uow.outbox.counts() == {}  # a failed attempt committed nothing


async def test_a_dead_workers_claim_comes_back_after_its_lease(
    runtime: Runtime, clock: FakeClock
) -> None:
    service = DueService(runtime, lease=timedelta(minutes=2))
    ran: list[int] = []

    async def job(item: Due, uow: UnitOfWork, now) -> None:  # type: ignore[no-untyped-def]
        ran.append(item.id)

    service.register("test.job", job)
    async with runtime.detached_uow() as uow:
        await uow.due.add(kind="test.job", due_at=clock(), now=clock())
        await uow.commit()
    async with runtime.detached_uow() as uow:  # a worker claims it, then dies
        assert len(await uow.due.claim(now=clock(), lease=timedelta(minutes=2))) == 1
        await uow.commit()
    assert await service.tick() == 0
    clock.advance(timedelta(minutes=3))
    assert await service.tick() == 1 and len(ran) == 1


async def test_nightly_purge_forgets_old_updates_and_reschedules(
    runtime: Runtime, clock: FakeClock
) -> None:
    service = DueService(runtime)
    await service.ensure_maintenance()
    await service.ensure_maintenance()  # idempotent
    async with runtime.detached_uow() as uow:
        await uow.inbox.store(1, chat_id=5, payload='{"text": "密码是123"}', now=clock())
        await uow.inbox.mark_done(1, now=clock())
        await uow.inbox.store(2, chat_id=5, payload="{}", now=clock())  # still pending: kept
        assert await uow.due.pending_count() == 1
        await uow.commit()
    async with runtime.detached_uow() as uow:
        done = await uow.inbox.get(1)
        assert done is not None and done.payload == ""  # handled: its words are gone
        assert await uow.inbox.store(1, chat_id=5, payload="{}", now=clock()) is False  # replay
    clock.advance(INBOX_RETENTION + timedelta(days=1))
    assert await service.tick() == 1
    async with runtime.detached_uow() as uow:
        assert await uow.inbox.get(1) is None and await uow.inbox.get(2) is not None
        assert await uow.due.pending_count() == 1  # tomorrow's purge
        rows = await uow.due.claim(now=clock() + timedelta(days=2), lease=timedelta(1))
        assert [r.kind for r in rows] == [PURGE_KIND]


async def test_a_deep_queue_drains_in_one_tick_batch_after_batch(
    runtime: Runtime, clock: FakeClock
) -> None:
    """300 items due at once: a tick with no time budget runs one batch of 100; the next
    claims batch after batch until the queue is empty, earliest first."""
    service = DueService(runtime)
    ran: list[int | None] = []

    async def check(item: Due, uow: UnitOfWork, now) -> None:  # type: ignore[no-untyped-def]
        ran.append(item.ref_id)

    service.register("test.check", check)
    async with runtime.detached_uow() as uow:
        for ref in range(300):
            await uow.due.add(
                kind="test.check",
                ref_id=ref,
                due_at=clock() - timedelta(seconds=300 - ref),
                now=clock(),
                dedupe_key=f"c{ref}",
            )
        await uow.commit()
    assert await service.tick(limit=100, budget_s=0.0) == 100
    assert await service.tick(limit=100) == 200
    assert ran == list(range(300))
    assert await service.tick(limit=100) == 0
