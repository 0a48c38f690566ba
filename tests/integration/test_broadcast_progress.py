"""The author's progress card for a mass send (bot/messaging/progress.py), on SQLite and
PostgreSQL: counted from the outbox, redrawn until nothing is queued, then it stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.clock import FakeClock
from bot.messaging import progress
from bot.runtime import Runtime
from bot.scheduling import DueService
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.tables.runtime import DueItem

TITLE = {"zh_CN": "试点反馈", "en": "Pilot feedback"}


async def _queue(runtime: Runtime, clock: FakeClock, n: int, *, not_before=None) -> None:
    async with runtime.detached_uow() as uow:
        for i in range(n):
            await uow.outbox.add(
                chat_id=5000 + i,
                kind="demo.invite",
                now=clock(),
                ref_id=7,
                priority=PRIORITY_BROADCAST,
                dedupe_key=f"demo:{i}",
                not_before=not_before,
            )
        # Another send's rows are not counted.
        await uow.outbox.add(chat_id=1, kind="demo.invite", now=clock(), ref_id=8)
        await uow.outbox.add(chat_id=2, kind="other.kind", now=clock(), ref_id=7)
        await progress.track(
            uow,
            kinds=("demo.invite",),
            ref_id=7,
            chat_id=42,
            staff_id=None,
            title=TITLE,
            now=clock(),
        )
        await uow.commit()


async def _cards(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.kind) == progress.KIND)
            .order_by(col(OutboxMessage.id))
        )
        return list(rows)


async def _deliver(runtime: Runtime, clock: FakeClock, ids: list[int], status: str) -> None:
    async with runtime.detached_uow() as uow:
        for chat_id in ids:
            row = (
                await uow.session.exec(
                    select(OutboxMessage).where(
                        col(OutboxMessage.chat_id) == chat_id,
                        col(OutboxMessage.kind) == "demo.invite",
                    )
                )
            ).one()
            assert row.id is not None
            if status == "sent":
                await uow.outbox.mark_sent(row.id, now=clock(), message_id=1)
            else:
                await uow.outbox.mark_failed(row.id, status=status, error="test")
        await uow.commit()


async def test_the_card_counts_until_everything_is_out(runtime: Runtime, clock: FakeClock) -> None:
    clock.now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    await _queue(runtime, clock, 10)
    cards = await _cards(runtime)
    assert len(cards) == 1 and cards[0].card_key == "progress:demo.invite:7"
    first = cards[0].facts
    assert (first["total"], first["sent"], first["queued"], first["done"]) == (10, 0, 10, False)

    due = DueService(runtime)
    progress.BroadcastProgress(runtime).register_due(due)
    await _deliver(runtime, clock, list(range(5000, 5006)), "sent")
    await _deliver(runtime, clock, [5006], "unreachable")
    clock.advance(timedelta(seconds=15))
    assert await due.tick() == 1
    drawn = (await _cards(runtime))[-1].facts
    assert (drawn["sent"], drawn["unreachable"], drawn["queued"]) == (6, 1, 3)
    assert drawn["rate"] == round(7 / 15, 1) and drawn["eta_s"] == round(3 / (7 / 15))
    assert not drawn["done"]

    await _deliver(runtime, clock, [5007, 5008], "sent")
    await _deliver(runtime, clock, [5009], "failed")
    clock.advance(timedelta(seconds=15))
    assert await due.tick() == 1
    last = (await _cards(runtime))[-1].facts
    assert (last["sent"], last["failed"], last["queued"], last["done"]) == (8, 1, 0, True)
    assert last["elapsed_s"] == 30

    clock.advance(timedelta(minutes=5))
    assert await due.tick() == 0  # finished: no more drawings
    async with runtime.detached_uow() as uow:
        waiting = list(
            await uow.session.exec(
                select(DueItem).where(
                    col(DueItem.kind) == progress.KIND, col(DueItem.done_at).is_(None)
                )
            )
        )
    assert waiting == []


async def test_a_send_that_opens_later_is_not_redrawn_before_then(
    runtime: Runtime, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    opens = clock() + timedelta(hours=6)
    await _queue(runtime, clock, 3, not_before=opens)
    assert (await _cards(runtime))[0].facts["waits_until"] == opens.isoformat()
    async with runtime.detached_uow() as uow:
        item = (
            await uow.session.exec(select(DueItem).where(col(DueItem.kind) == progress.KIND))
        ).one()
    assert item.due_at == opens
