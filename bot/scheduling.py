"""Durable scheduled work: services write due items; a periodic tick claims and runs them.

APScheduler (PTB's JobQueue) only drives the tick; the due_item table is the source of truth,
so reminders and deadlines survive restarts and several workers never run one item twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.runtime import Runtime
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
PURGE_KIND = "maintenance.purge"
# Updates carry users' messages: keep them only as long as replay protection needs them.
INBOX_RETENTION = timedelta(days=7)
OUTBOX_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Due:
    """A claimed due item, as a value."""

    id: int
    kind: str
    ref_id: int | None
    due_at: datetime
    attempts: int
    payload: dict[str, Any] = field(default_factory=dict)


DueHandler = Callable[[Due, UnitOfWork, datetime], Awaitable[None]]


class DueService:
    """Runs due items by kind, each in one unit of work with its completion."""

    def __init__(self, rt: Runtime, *, lease: timedelta = timedelta(minutes=2)) -> None:
        self._rt = rt
        self._lease = lease
        self._handlers: dict[str, DueHandler] = {PURGE_KIND: _purge}

    def register(self, kind: str, handler: DueHandler) -> None:
        """Say which coroutine runs items of a kind (once per kind)."""
        if kind in self._handlers:
            raise ValueError(f"two handlers for due kind {kind!r}")
        self._handlers[kind] = handler

    async def ensure_maintenance(self) -> None:
        """Schedule the next nightly purge if none is pending (idempotent)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            await _schedule_purge(uow, now)
            await uow.commit()

    async def tick(self, *, limit: int = 100, budget_s: float = 20.0) -> int:
        """Claim and run what is due now; returns how many items completed.

        A full batch means more are waiting (thousands of SLA checks after an outage, say):
        the next batch is claimed at once rather than a tick later, for up to ``budget_s`` of
        real time, so the queue drains at the speed of the work, not of the tick.
        """
        started = time.monotonic()
        done = 0
        while True:
            now = self._rt.clock()
            async with self._rt.detached_uow() as uow:
                rows = await uow.due.claim(now=now, lease=self._lease, limit=limit)
                await uow.commit()
            items = [
                Due(r.id or 0, r.kind, r.ref_id, r.due_at, r.attempts, dict(r.payload))
                for r in rows
            ]
            for item in items:
                if await self._run(item):
                    done += 1
            if len(items) < limit or time.monotonic() - started >= budget_s:
                return done

    async def _run(self, item: Due) -> bool:
        handler = self._handlers.get(item.kind)
        now = self._rt.clock()
        try:
            async with self._rt.detached_uow() as uow:
                if handler is None:
                    logger.error("due item %s has unknown kind %s", item.id, item.kind)
                    await uow.due.complete(item.id, now=now, error="no handler")
                else:
                    await handler(item, uow, now)
                    if not await uow.due.complete(item.id, now=now):
                        return False  # another worker finished it first; roll back ours
                await uow.commit()
                return True
        except Exception:
            logger.exception(
                "due item %s (%s) failed, attempt %s", item.id, item.kind, item.attempts
            )
            if item.attempts >= MAX_ATTEMPTS:
                async with self._rt.detached_uow() as uow:
                    await uow.due.complete(item.id, now=now, error="gave up")
                    await uow.commit()
            return False


async def _schedule_purge(uow: UnitOfWork, now: datetime) -> None:
    next_run = (now + timedelta(days=1)).replace(hour=19, minute=0, second=0, microsecond=0)
    await uow.due.add(
        kind=PURGE_KIND, due_at=next_run, now=now, dedupe_key=f"{PURGE_KIND}:{next_run:%Y%m%d}"
    )


async def _purge(item: Due, uow: UnitOfWork, now: datetime) -> None:
    """Delete handled updates and delivered messages past retention; schedule tomorrow's."""
    updates = await uow.inbox.purge_done(before=now - INBOX_RETENTION)
    messages = await uow.outbox.purge_sent(before=now - OUTBOX_RETENTION)
    logger.info("purged %s updates and %s sent messages", updates, messages)
    await _schedule_purge(uow, now)
