"""Inbox claims: a live worker's heartbeat keeps its claim; a dead worker's claim lapses."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FakeClock
from bot.inbox import InboxService, RawUpdate
from bot.runtime import Runtime


async def test_renewed_claims_are_kept_and_lapsed_ones_come_back(
    runtime: Runtime, clock: FakeClock
) -> None:
    inbox = InboxService(runtime, lease=timedelta(seconds=30))
    assert await inbox.store([RawUpdate(1, 10, "{}"), RawUpdate(2, 20, "{}")]) == 2
    assert await inbox.store([RawUpdate(1, 10, "{}")]) == 0  # a redelivery
    claimed = await inbox.claim()
    assert [u.update_id for u in claimed] == [1, 2] and claimed[0].attempts == 1
    clock.advance(timedelta(seconds=20))
    await inbox.renew([1])  # update 1 is still being handled here; 2's worker died
    clock.advance(timedelta(seconds=20))
    again = await inbox.claim()
    assert [u.update_id for u in again] == [2] and again[0].attempts == 2
    assert await inbox.finish(2) and not await inbox.finish(2)
    clock.advance(timedelta(seconds=31))
    assert [u.update_id for u in await inbox.claim()] == [1]
    assert (await inbox.stats()) == {"pending": 1, "done": 1}
