"""The dispatcher never sleeps through an update stored while it was claiming (#8).

An update stored while a claim is running is not in that claim's result; the kick that
follows it must still wake the next claim, not wait out the poll interval (which showed as
~1 s replies from an idle bot in bench/broadcast.py).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from handlers.inbox import Dispatcher

pytestmark = pytest.mark.asyncio


class _Inbox:
    """claim(): the first call blocks until released and finds nothing; later ones count."""

    def __init__(self) -> None:
        self.first_started = asyncio.Event()
        self.release_first = asyncio.Event()
        self.claims = 0
        self.second = asyncio.Event()
        self.lease = SimpleNamespace(total_seconds=lambda: 300.0)

    async def claim(self, limit: int) -> list[Any]:
        self.claims += 1
        if self.claims == 1:
            self.first_started.set()
            await self.release_first.wait()
        else:
            self.second.set()
        return []

    async def renew(self, ids: list[int]) -> None:
        return None


async def test_a_kick_during_a_claim_wakes_the_next_claim() -> None:
    inbox = _Inbox()
    app = SimpleNamespace(update_processor=SimpleNamespace(max_concurrent_updates=4))
    dispatcher = Dispatcher(app, inbox, poll_interval_s=3600.0)  # type: ignore[arg-type]
    await dispatcher.start()
    try:
        await asyncio.wait_for(inbox.first_started.wait(), 5)
        dispatcher.kick()  # an update was stored while the first claim ran
        inbox.release_first.set()
        # Without the kick being kept, the next claim would come an hour later.
        await asyncio.wait_for(inbox.second.wait(), 5)
    finally:
        await dispatcher.stop()
    assert inbox.claims >= 2


async def test_without_a_kick_it_waits_for_the_poll() -> None:
    inbox = _Inbox()
    inbox.release_first.set()
    app = SimpleNamespace(update_processor=SimpleNamespace(max_concurrent_updates=4))
    dispatcher = Dispatcher(app, inbox, poll_interval_s=3600.0)  # type: ignore[arg-type]
    await dispatcher.start()
    try:
        await asyncio.wait_for(inbox.first_started.wait(), 5)
        await asyncio.sleep(0.2)
        assert inbox.claims == 1  # nothing new: no busy loop of claims
    finally:
        await dispatcher.stop()
