"""The durable inbox: every update is saved before Telegram is told it arrived (#3).

Stock python-telegram-bot confirms updates before handling them, so a crash loses them. Here
the receiver (polling or webhook) stores each update first; the dispatcher claims stored
updates on a lease and hands them to the handlers; a handler's unit of work marks its update
done in the same transaction as its effects. A redelivered update finds its row and is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawUpdate:
    """An update as received: its id, its chat (for per-chat ordering), its JSON."""

    update_id: int
    chat_id: int | None
    payload: str
    attempts: int = 0
    sender_id: int | None = None  # who sent it, and the language of their app (our locale)
    client_locale: str | None = None


class InboxService:
    """Storing, claiming and finishing updates."""

    def __init__(self, rt: Runtime, *, lease: timedelta = timedelta(seconds=30)) -> None:
        self._rt = rt
        self._lease = lease

    @property
    def lease(self) -> timedelta:
        """How long a claim lasts without renewal."""
        return self._lease

    async def renew(self, update_ids: Sequence[int]) -> None:
        """Extend the leases of updates still being handled here (a heartbeat)."""
        if not update_ids:
            return
        async with self._rt.detached_uow() as uow:
            await uow.inbox.renew(update_ids, until=self._rt.clock() + self._lease)
            await uow.commit()

    async def store(self, updates: Sequence[RawUpdate]) -> int:
        """Save a batch in one transaction; returns how many were new (not redeliveries)."""
        if not updates:
            return 0
        now = self._rt.clock()
        new = 0
        languages: dict[int, str] = {}
        async with self._rt.detached_uow() as uow:
            for u in updates:
                if await uow.inbox.store(
                    u.update_id, chat_id=u.chat_id, payload=u.payload, now=now
                ):
                    new += 1
                    if u.sender_id is not None and u.client_locale is not None:
                        languages[u.sender_id] = u.client_locale  # the newest wins
                else:
                    logger.info("update %s redelivered: already stored", u.update_id)
            # Someone who never chose a language is answered in their app's language; it is
            # noted here, before any handler reads it, and written only when it changed.
            await uow.people.note_client_languages(languages)
            await uow.commit()
        return new

    async def claim(self, *, limit: int = 100) -> list[RawUpdate]:
        """Pending updates in arrival order, leased to this process."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            rows = await uow.inbox.claim(now=now, lease=self._lease, limit=limit)
            await uow.commit()
        return [RawUpdate(r.update_id, r.chat_id, r.payload, r.attempts) for r in rows]

    async def finish(self, update_id: int) -> bool:
        """Mark done if no handler did (an update that changed nothing still counts once)."""
        async with self._rt.detached_uow() as uow:
            changed = await uow.inbox.mark_done(update_id, now=self._rt.clock())
            await uow.commit()
        return changed

    async def fail(self, update_id: int, error: str) -> None:
        """Give up on an update whose handler keeps failing (kept for the operator)."""
        async with self._rt.detached_uow() as uow:
            await uow.inbox.mark_failed(update_id, now=self._rt.clock(), error=error)
            await uow.commit()

    async def release(self, update_id: int) -> None:
        """Hand an update back (e.g. the database went away mid-handler): retried soon."""
        async with self._rt.detached_uow() as uow:
            await uow.inbox.release(update_id)
            await uow.commit()

    async def release_leases(self) -> int:
        """Free every lease (only for a single-process database, at start-up)."""
        async with self._rt.detached_uow() as uow:
            n = await uow.inbox.release_all()
            await uow.commit()
        return n

    async def stats(self) -> dict[str, int]:
        """Counts per status (for /healthz and the operator)."""
        async with self._rt.detached_uow() as uow:
            return await uow.inbox.status_counts()
