"""Outbox delivery for the sender: claim, complete, retry, block; one unit of work each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.errors import DomainError
from bot.i18n import DEFAULT_LOCALE, negotiate
from bot.messaging.outgoing import Outgoing
from bot.runtime import Runtime
from storage.tables.messaging import (
    PRIORITY_BROADCAST,
    PRIORITY_INTERACTIVE,
    PRIORITY_NOTIFY,
)
from storage.uow import UnitOfWork, is_unavailable

__all__ = [
    "PRIORITY_BROADCAST",
    "PRIORITY_INTERACTIVE",
    "PRIORITY_NOTIFY",
    "DeliveryService",
    "DeliveryUnavailableError",
]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
_OPEN = ("pending", "inflight", "sending")


# Queues a topic's card afresh in the caller's unit of work (topic key, now); False: cannot.
TopicCard = Callable[[UnitOfWork, str, datetime], Awaitable[bool]]
# Told, in the same unit of work, that a chat refused us or talks to us again (chat, reachable,
# now): what else depends on reaching it (a support ticket) follows.
Reachability = Callable[[UnitOfWork, int, bool, datetime], Awaitable[None]]
# Told, in a unit of work, that a file uploaded by bytes now has this Telegram file id (file
# key, file id): it is sent by id from then on (a course lesson's photo, #8).
FileUploaded = Callable[[UnitOfWork, str, str], Awaitable[None]]

# Told, in the unit of work that marks a row of its kind sent (ref id, staff id, now): what
# depends on delivery (an announcement's "delivered" count) follows, even after the outbox
# row itself is purged.
SentListener = Callable[[UnitOfWork, int | None, int | None, datetime], Awaitable[None]]


class DeliveryUnavailableError(DomainError):
    """The database cannot be reached right now; the rows are safe, try again later."""


@dataclass
class _Mark:
    """One of the sender's marks waiting for the next group commit."""

    apply: Callable[[UnitOfWork], Awaitable[None]]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DeliveryService:
    """What the outbox sender asks of the database; it never sees Telegram."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        default_locale: str = DEFAULT_LOCALE,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._rt = runtime
        self._default_locale = default_locale
        self._max_attempts = max_attempts
        self._topic_cards: dict[str, TopicCard] = {}
        self._forget_when_sent: tuple[str, ...] = ()
        self._reachability: list[Reachability] = []
        self._file_keys: dict[str, FileUploaded] = {}
        self._sent_listeners: dict[str, SentListener] = {}
        self._marks: list[_Mark] = []
        self._flusher: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[UnitOfWork]:
        """A detached unit of work; a database outage becomes ``DeliveryUnavailableError``."""
        try:
            async with self._rt.detached_uow() as uow:
                yield uow
        except DeliveryUnavailableError:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise DeliveryUnavailableError() from exc
            raise

    async def claim(
        self, *, limit: int, lease_s: float, exclude_chats: Collection[int] = ()
    ) -> list[Outgoing]:
        """Lease up to ``limit`` sendable rows, each the oldest open row of its chat.

        Only a chat's head is claimable (no earlier pending or inflight row for the same chat),
        so one chat's messages go out one after another in id order, whatever their priority,
        and a row deferred after a 429 holds back the ones queued behind it. Rows for a chat
        known to be unreachable are marked so instead of being returned.
        """
        if limit <= 0:
            return []
        now = self._rt.clock()
        async with self._unit() as uow:
            rows = await uow.outbox.claim(
                now=now,
                lease=timedelta(seconds=lease_s),
                limit=limit,
                exclude_chats=exclude_chats,
            )
            if not rows:
                return []
            unreachable = await uow.outbox.unreachable_among({r.chat_id for r in rows})
            languages = await uow.people.languages_of(
                {r.staff_id for r in rows if r.staff_id is not None}
            )
            cards = await uow.outbox.card_messages(r.card_key for r in rows if r.card_key)
            topics = await uow.outbox.topics(r.topic_key for r in rows if r.topic_key)
            for chat_id in unreachable:  # its later rows would only come up one by one
                await uow.outbox.drop_pending_for(chat_id, reason="chat unreachable")
            claimed: list[Outgoing] = []
            for row in rows:
                if row.id is None:  # never: a row read back has its key
                    continue
                if row.chat_id in unreachable:
                    await uow.outbox.mark_failed(
                        row.id, status="unreachable", error="chat unreachable"
                    )
                    logger.info("outbox %s skipped: chat %s unreachable", row.id, row.chat_id)
                    continue
                preferred = (languages.get(row.staff_id) if row.staff_id else None) or row.locale
                card = cards.get(row.card_key) if row.card_key else None
                topic = topics.get(row.topic_key) if row.topic_key else None
                if row.topic_key and (topic is None or topic.chat_id != row.chat_id):
                    await uow.outbox.mark_failed(row.id, status="failed", error="no such topic")
                    logger.error("outbox %s: topic %s is not declared", row.id, row.topic_key)
                    continue
                claimed.append(
                    Outgoing(
                        id=row.id,
                        chat_id=row.chat_id,
                        kind=row.kind,
                        locale=negotiate(preferred, self._default_locale),
                        facts=dict(row.facts or {}),
                        staff_id=row.staff_id,
                        ref_id=row.ref_id,
                        priority=row.priority,
                        attempts=row.attempts,
                        card_key=row.card_key,
                        card_message_id=card[1] if card and card[0] == row.chat_id else None,
                        topic_key=row.topic_key,
                        topic_name=topic.name if topic is not None else None,
                        thread_id=topic.thread_id if topic is not None else None,
                    )
                )
            await uow.commit()
        return claimed

    async def sent(self, msg_id: int, *, message_id: int | None, kind: str | None = None) -> None:
        """Telegram accepted the call; remember the message id it gave (for later edits).
        A row of a kind registered with ``forget_when_sent`` loses its facts now."""
        forget = kind is not None and kind.startswith(self._forget_when_sent)
        listener = self._sent_listeners.get(kind) if kind is not None else None

        async def apply(uow: UnitOfWork) -> None:
            if listener is not None:
                row = await uow.outbox.get(msg_id)
                if row is not None:
                    await listener(uow, row.ref_id, row.staff_id, self._rt.clock())
            await uow.outbox.mark_sent(
                msg_id, now=self._rt.clock(), message_id=message_id, forget_facts=forget
            )

        await self._mark(apply)

    async def _mark(self, apply: Callable[[UnitOfWork], Awaitable[None]]) -> None:
        """Apply a mark in the next group commit; return once it is committed.

        A broadcast marks every row twice ("sending", "sent"): at 30 a second, one commit
        each would keep SQLite's one connection busy and every reply waiting for it. The
        marks that come while a commit runs go together in the next one, so under load a
        commit carries many and when quiet a mark is committed at once (no added wait).
        A failed commit fails every mark in it (the sender retries each); a mark that
        fails on its own (not an outage) is then found by committing each alone.
        """
        mark = _Mark(apply)
        # Retrieved even if the waiter was cancelled meanwhile (no "never retrieved" noise).
        mark.done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._marks.append(mark)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="outbox-marks")
        await asyncio.shield(mark.done)

    async def _flush(self) -> None:
        batch: list[_Mark] = []
        try:
            while self._marks:
                batch, self._marks = self._marks, []
                try:
                    await self._commit(batch)
                except DeliveryUnavailableError as exc:
                    _settle(batch, exc)
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch, exc)
                        continue
                    for mark in batch:  # one of them is bad: the others still go in
                        try:
                            await self._commit([mark])
                        except Exception as single:
                            _settle([mark], single)
                        else:
                            _settle([mark], None)
                else:
                    _settle(batch, None)
        finally:  # cancelled (the loop is closing): nobody waits for ever
            stopped = DeliveryUnavailableError()
            stranded, self._marks = self._marks, []
            _settle(batch + stranded, stopped)

    async def _commit(self, batch: list[_Mark]) -> None:
        async with self._unit() as uow:
            for mark in batch:
                await mark.apply(uow)
            await uow.commit()

    def register_file_keys(self, prefix: str, listener: FileUploaded) -> None:
        """Who remembers the Telegram file id of files uploaded under keys with ``prefix``."""
        self._file_keys[prefix] = listener

    async def file_uploaded(self, key: str, file_id: str) -> None:
        """A file sent by its bytes under ``key`` now has ``file_id``."""
        for prefix, listener in self._file_keys.items():
            if key.startswith(prefix):
                async with self._unit() as uow:
                    await listener(uow, key, file_id)
                    await uow.commit()
                return

    def on_sent(self, kind: str, listener: SentListener) -> None:
        """Also tell ``listener`` when a row of this kind is sent, in the same transaction."""
        self._sent_listeners[kind] = listener

    def forget_when_sent(self, prefix: str) -> None:
        """Rows whose kind starts with ``prefix`` keep their facts only until delivered (what
        an anonymous survey's card shows of the answers must not stay with the chat)."""
        self._forget_when_sent = (*self._forget_when_sent, prefix)

    async def card_gone(self, msg_id: int, card_key: str) -> None:
        """A card's message was deleted on the phone: send this row as a new card instead."""
        async with self._unit() as uow:
            await uow.outbox.forget_card(card_key)
            await uow.outbox.retry_later(msg_id, not_before=self._rt.clock(), error="card gone")
            await uow.commit()

    async def topic_created(self, topic_key: str, *, thread_id: int) -> None:
        """The sender created the topic: every later row goes into this thread."""
        async with self._unit() as uow:
            await uow.outbox.set_topic_thread(topic_key, thread_id=thread_id, now=self._rt.clock())
            await uow.commit()

    async def topic_gone(self, msg_id: int, topic_key: str, *, thread_id: int) -> None:
        """The topic was deleted: create it again for this row and post its card anew there."""
        now = self._rt.clock()
        async with self._unit() as uow:
            if await uow.outbox.forget_topic_thread(topic_key, thread_id=thread_id, now=now):
                topic = (await uow.outbox.topics([topic_key])).get(topic_key)
                if topic is not None and topic.card_key is not None:
                    await self._card_again(uow, topic_key, topic.card_key)
                logger.warning(
                    "topic %s (thread %s) is gone: creating it again", topic_key, thread_id
                )
            await uow.outbox.retry_later(msg_id, not_before=now, error="topic gone")
            await uow.commit()

    def register_reachability(self, listener: Reachability) -> None:
        """Also tell ``listener`` when a chat becomes unreachable or reachable again."""
        self._reachability.append(listener)

    async def _tell(self, uow: UnitOfWork, chat_id: int, reachable: bool) -> None:
        now = self._rt.clock()
        for listener in self._reachability:
            await listener(uow, chat_id, reachable, now)

    def register_topic_card(self, prefix: str, queue: TopicCard) -> None:
        """Who draws the card of topics whose key starts with ``prefix`` afresh, when such a
        topic must be created again (otherwise its card's last row is sent again as it was)."""
        self._topic_cards[prefix] = queue

    async def _card_again(self, uow: UnitOfWork, topic_key: str, card_key: str) -> None:
        now = self._rt.clock()
        for prefix, queue in self._topic_cards.items():
            if topic_key.startswith(prefix):
                await uow.outbox.forget_card(card_key)
                if await queue(uow, topic_key, now):
                    return
        await uow.outbox.repost_card(card_key, now=now)

    async def retry(self, msg_id: int, *, after_s: float, error: str) -> bool:
        """A transient failure: try again after ``after_s``; False when the budget is spent."""
        async with self._unit() as uow:
            row = await uow.outbox.get(msg_id)
            if row is None:
                return False
            if row.attempts >= self._max_attempts:
                await uow.outbox.mark_failed(
                    msg_id, status="failed", error=f"gave up after {row.attempts}: {error}"
                )
                logger.warning("outbox %s failed after %s attempts", msg_id, row.attempts)
                await uow.commit()
                return False
            await uow.outbox.retry_later(
                msg_id, not_before=self._rt.clock() + timedelta(seconds=after_s), error=error
            )
            await uow.commit()
        return True

    async def defer(self, msg_id: int, *, after_s: float) -> None:
        """Give a claimed row back without counting an attempt (its bucket is busy or paused)."""
        not_before = self._rt.clock() + timedelta(seconds=after_s) if after_s > 0 else None
        async with self._unit() as uow:
            await uow.outbox.release(msg_id, not_before=not_before)
            await uow.commit()

    async def failed(self, msg_id: int, *, error: str) -> None:
        """A permanent failure (Telegram said 400, or nothing can render it): never retried."""
        async with self._unit() as uow:
            await uow.outbox.mark_failed(msg_id, status="failed", error=error)
            await uow.commit()

    async def blocked(self, chat_id: int, msg_id: int, *, reason: str) -> int:
        """The chat refused us (403): mark it unreachable with this row and its queued ones.

        Returns how many other pending rows for the chat were dropped.
        """
        async with self._unit() as uow:
            await uow.outbox.mark_unreachable(chat_id, now=self._rt.clock(), reason=reason)
            await uow.outbox.mark_failed(msg_id, status="unreachable", error=reason)
            dropped = await uow.outbox.drop_pending_for(chat_id, reason=reason)
            await self._tell(uow, chat_id, False)
            await uow.commit()
        logger.info("chat %s unreachable: outbox %s and %s queued rows", chat_id, msg_id, dropped)
        return dropped

    async def unreachable(self, chat_id: int, *, reason: str) -> int:
        """Telegram told us the user blocked the bot (my_chat_member): stop sending to them.

        Returns how many pending rows for the chat were dropped.
        """
        async with self._unit() as uow:
            await uow.outbox.mark_unreachable(chat_id, now=self._rt.clock(), reason=reason)
            dropped = await uow.outbox.drop_pending_for(chat_id, reason=reason)
            await self._tell(uow, chat_id, False)
            await uow.commit()
        logger.info("chat %s unreachable (%s queued rows dropped)", chat_id, dropped)
        return dropped

    async def reachable(self, chat_id: int) -> bool:
        """The chat wrote to us again: deliver to it again; True if it was marked unreachable."""
        async with self._unit() as uow:
            cleared = await uow.outbox.mark_reachable(chat_id)
            if cleared:
                await self._tell(uow, chat_id, True)
            await uow.commit()
        return cleared

    async def recover_inflight(self) -> list[int]:
        """At startup, deal with the rows a dead process left unfinished; return the ids of
        those queued again.

        A row it had only claimed ("inflight") never left: it goes back to pending. A row
        whose call was on its way ("sending", only mass sends are marked so) may or may not
        have reached Telegram, and the Bot API has no idempotency key. For a reply or a
        notification a second copy is better than none, so those are sent again (at least
        once). A mass send's row (an invitation, an announcement, one of 10,000) is not: the
        person may already have it, and a duplicate to thousands over restarts is what people
        complain of; it is marked "uncertain" and counted on the author's progress card, and
        the reminders and the /survey list still reach whoever did not get it (at most once).
        Call this only when no other sender is running.
        """
        now = self._rt.clock()
        async with self._unit() as uow:
            rows = await uow.outbox.inflight_at_start()
            again: list[int] = []
            for row in rows:
                if row.id is None:
                    continue
                if row.status == "sending":
                    logger.warning(
                        "outbox %s (%s) was being sent when the process stopped: uncertain, "
                        "not sent again (a mass send goes at most once)",
                        row.id,
                        row.kind,
                    )
                    await uow.outbox.mark_failed(
                        row.id, status="uncertain", error="process stopped mid-send"
                    )
                    continue
                logger.warning("outbox %s was inflight at startup: sending again", row.id)
                await uow.outbox.retry_later(
                    row.id, not_before=now, error="uncertain: process stopped mid-send"
                )
                again.append(row.id)
            await uow.commit()
        return again

    async def sending(self, msg_id: int) -> None:
        """A mass send's row is about to be sent: from now on a crash leaves it uncertain
        (see recover_inflight), never sent twice. Returns once that is committed."""

        async def apply(uow: UnitOfWork) -> None:
            await uow.outbox.mark_sending(msg_id)

        await self._mark(apply)

    async def uncertain(self, msg_id: int, *, error: str) -> None:
        """A mass send's call timed out: it may have arrived; it is not sent again."""
        async with self._unit() as uow:
            await uow.outbox.mark_failed(msg_id, status="uncertain", error=error)
            await uow.commit()

    async def stats(self) -> dict[str, int]:
        """Rows per status (pending, inflight, sending, sent, failed, unreachable, uncertain)."""
        async with self._unit() as uow:
            return await uow.outbox.counts()

    async def open_count(self) -> int:
        """Rows not yet finished (pending or inflight)."""
        counts = await self.stats()
        return sum(counts.get(status, 0) for status in _OPEN)


def _settle(batch: list[_Mark], error: BaseException | None) -> None:
    for mark in batch:
        if mark.done.done():
            continue
        if error is None:
            mark.done.set_result(None)
        else:
            mark.done.set_exception(error)
