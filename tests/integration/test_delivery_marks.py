"""The sender's marks ("sending", "sent") go in group commits (#8), on SQLite and PostgreSQL.

A broadcast marks each of 10,000 rows twice; committing each alone kept SQLite's one
connection busy. Marks that come together share a commit, each caller returns only once its
mark is committed, and one bad mark does not take the others with it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.messaging.services import DeliveryService
from bot.runtime import Runtime
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.uow import UnitOfWork

pytestmark = pytest.mark.asyncio


class CountingDelivery(DeliveryService):
    """Records the size of every group commit."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.commits: list[int] = []

    async def _commit(self, batch):  # type: ignore[no-untyped-def]
        self.commits.append(len(batch))
        await super()._commit(batch)


async def _queue(runtime: Runtime, clock: FakeClock, n: int, kind: str = "t.mass") -> None:
    async with runtime.detached_uow() as uow:
        await uow.outbox.add_many(
            [
                {
                    "chat_id": 5000 + i,
                    "kind": kind,
                    "staff_id": i,
                    "ref_id": 1,
                    "priority": PRIORITY_BROADCAST,
                }
                for i in range(n)
            ],
            now=clock(),
        )
        await uow.commit()


async def _statuses(runtime: Runtime) -> dict[int, tuple[str, int | None]]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return {r.chat_id: (r.status, r.sent_message_id) for r in rows}


async def test_marks_made_together_share_commits_and_each_waits_for_its_own(
    runtime: Runtime, clock: FakeClock
) -> None:
    await _queue(runtime, clock, 40)
    delivery = CountingDelivery(runtime)
    rows = await delivery.claim(limit=40, lease_s=60)
    assert len(rows) == 40
    await asyncio.gather(*(delivery.sending(r.id) for r in rows))
    after_sending = await _statuses(runtime)
    assert {s for s, _ in after_sending.values()} == {"sending"}  # committed on return
    await asyncio.gather(*(delivery.sent(r.id, message_id=r.id + 100) for r in rows))
    final = await _statuses(runtime)
    assert all(final[r.chat_id] == ("sent", r.id + 100) for r in rows)
    # 80 marks: the first of each wave alone, the rest together, not 80 commits.
    assert sum(delivery.commits) == 80
    assert len(delivery.commits) <= 6, delivery.commits


async def test_a_lone_mark_is_committed_at_once(runtime: Runtime, clock: FakeClock) -> None:
    await _queue(runtime, clock, 1)
    delivery = CountingDelivery(runtime)
    (row,) = await delivery.claim(limit=1, lease_s=60)
    await delivery.sent(row.id, message_id=7)
    assert (await _statuses(runtime))[5000] == ("sent", 7)
    assert delivery.commits == [1]


async def test_one_bad_mark_fails_alone(runtime: Runtime, clock: FakeClock) -> None:
    await _queue(runtime, clock, 10, kind="t.listened")
    delivery = CountingDelivery(runtime)
    rows = await delivery.claim(limit=10, lease_s=60)

    async def listener(
        uow: UnitOfWork, ref_id: int | None, staff_id: int | None, now: datetime
    ) -> None:
        if staff_id == 3:
            raise RuntimeError("a listener's bug")

    delivery.on_sent("t.listened", listener)
    outcomes = await asyncio.gather(
        *(delivery.sent(r.id, message_id=r.id, kind="t.listened") for r in rows),
        return_exceptions=True,
    )
    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failed) == 1 and "listener" in str(failed[0])
    final = await _statuses(runtime)
    assert [chat for chat, (status, _) in final.items() if status != "sent"] == [5003]
    # The shared commit with the bad mark failed, then each of its marks went alone.
    shared = next(i for i, n in enumerate(delivery.commits) if n > 1)
    k = delivery.commits[shared]
    assert delivery.commits[shared + 1 : shared + 1 + k] == [1] * k
