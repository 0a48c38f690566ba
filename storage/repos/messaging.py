"""The outbox queue and chat reachability."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for, insert_many_ignoring
from storage.tables.messaging import (
    PRIORITY_NOTIFY,
    ChatStatus,
    ForumTopic,
    LiveCard,
    OutboxMessage,
)

# Not finished: a row in one of these holds its chat's queue. "sending": a mass-send row whose
# call is on its way to Telegram (see DeliveryService.sending).
_OPEN = ("pending", "inflight", "sending")
_BATCH = 500  # ids per IN (...), under bind-parameter limits


class OutboxRepo:
    """Rows written with the change that causes them; the sender claims and completes them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        chat_id: int,
        kind: str,
        now: datetime,
        facts: dict[str, Any] | None = None,
        staff_id: int | None = None,
        locale: str | None = None,
        ref_id: int | None = None,
        priority: int = PRIORITY_NOTIFY,
        dedupe_key: str | None = None,
        not_before: datetime | None = None,
        card_key: str | None = None,
        topic_key: str | None = None,
    ) -> None:
        """Queue a message; a second add with the same dedupe key is ignored.

        Rows with a ``card_key`` are one living card: the first is sent, later ones edit it.
        Rows with a ``topic_key`` go into that forum topic (:meth:`ensure_topic` first).
        """
        if card_key is not None and await self._redraw_unsent_card(card_key, chat_id, kind, facts):
            return
        values = {
            "created_at": now,
            "chat_id": chat_id,
            "staff_id": staff_id,
            "locale": locale,
            "kind": kind,
            "ref_id": ref_id,
            "facts": facts or {},
            "priority": priority,
            "dedupe_key": dedupe_key,
            "status": "pending",
            "attempts": 0,
            "not_before": not_before,
            "card_key": card_key,
            "topic_key": topic_key,
        }
        stmt = (
            insert_for(self.session)(OutboxMessage)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(col(OutboxMessage.id))
        )
        added = (await self.session.exec(stmt)).first()
        if card_key is not None and added is not None:
            # A newer drawing of a living card makes an older one still waiting moot: it is
            # never sent, so a card changed five times in a minute costs one edit, not five
            # (a desk group gets only 20 messages a minute).
            # Until the card is on screen its first drawing stays queued, so the card is still
            # the first message of its topic; the newer drawing edits it.
            moot = update(OutboxMessage).where(
                col(OutboxMessage.card_key) == card_key,
                col(OutboxMessage.status) == "pending",
                col(OutboxMessage.id) < int(added[0]),
            )
            if await self.session.get(LiveCard, card_key) is None:
                first = (
                    select(func.min(OutboxMessage.id))
                    .where(
                        col(OutboxMessage.card_key) == card_key,
                        col(OutboxMessage.status).in_(_OPEN),
                    )
                    .scalar_subquery()
                )
                moot = moot.where(col(OutboxMessage.id) != first)
            await self.session.exec(moot.values(status="superseded"))

    async def add_many(self, rows: Sequence[dict[str, Any]], *, now: datetime) -> int:
        """Queue many plain rows at once (a mass send: one per person), in a few statements.

        Each row takes :meth:`add`'s keywords except ``topic_key``; a ``card_key`` must be
        new (the first drawing of each person's card: an announcement's, whose 已阅 later
        redraws it through :meth:`add`). A row whose dedupe key is already queued is
        ignored, as there. Returns how many were given.
        """
        values = []
        for row in rows:
            if row.get("topic_key") is not None:
                raise ValueError("add_many() takes no topic rows; they go through add()")
            values.append(
                {
                    "created_at": now,
                    "chat_id": row["chat_id"],
                    "staff_id": row.get("staff_id"),
                    "locale": row.get("locale"),
                    "kind": row["kind"],
                    "ref_id": row.get("ref_id"),
                    "facts": row.get("facts") or {},
                    "priority": row.get("priority", PRIORITY_NOTIFY),
                    "dedupe_key": row.get("dedupe_key"),
                    "status": "pending",
                    "attempts": 0,
                    "not_before": row.get("not_before"),
                    "card_key": row.get("card_key"),
                    "topic_key": None,
                }
            )
        await insert_many_ignoring(self.session, OutboxMessage, values)
        return len(values)

    async def _redraw_unsent_card(
        self, card_key: str, chat_id: int, kind: str, facts: dict[str, Any] | None
    ) -> bool:
        """A living card not on screen yet whose first drawing still waits: that row takes
        the newer drawing, so the card goes out once, as it is now (a new ticket's card
        redrawn by its first SLA check costs no edit in a desk group's 20 a minute)."""
        if await self.session.get(LiveCard, card_key) is not None:
            return False
        rows = await self.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.card_key) == card_key, col(OutboxMessage.status).in_(_OPEN))
            .order_by(col(OutboxMessage.id))
            .limit(1)
        )
        first = rows.first()
        if first is None or first.id is None or first.status != "pending":
            return False
        if first.chat_id != chat_id or first.kind != kind:
            return False
        return await self.refill_pending(first.id, facts or {})

    async def claim(
        self, *, now: datetime, lease: timedelta, limit: int, exclude_chats: Collection[int] = ()
    ) -> list[OutboxMessage]:
        """Lease up to ``limit`` sendable rows, each the oldest open row of its chat.

        A row is claimable when it is pending (or inflight with its lease run out), due, and
        the head of its chat: no earlier pending or inflight row for the same chat, so one
        chat's messages go out in id order whatever their priority. Rows come highest
        priority first, locked so another worker skips them.
        """
        head = aliased(OutboxMessage)
        earlier = aliased(OutboxMessage)
        queued_before = (
            select(earlier.id)
            .where(
                col(earlier.chat_id) == col(head.chat_id),
                col(earlier.id) < col(head.id),
                col(earlier.status).in_(_OPEN),
            )
            .exists()
        )
        ready = (
            select(head.id)
            .where(
                (col(head.status) == "pending")
                | ((col(head.status) == "inflight") & (col(head.lease_until) < now)),
                col(head.not_before).is_(None) | (col(head.not_before) <= now),
                ~queued_before,
            )
            .order_by(col(head.priority), col(head.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if exclude_chats:
            ready = ready.where(col(head.chat_id).not_in(list(exclude_chats)))
        result = await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ready.scalar_subquery()))
            .values(
                status="inflight",
                lease_until=now + lease,
                attempts=col(OutboxMessage.attempts) + 1,
            )
            .returning(OutboxMessage)
        )
        rows = list(result.scalars())
        rows.sort(key=lambda r: (r.priority, r.id or 0))
        return rows

    async def release(self, msg_id: int, *, not_before: datetime | None) -> None:
        """Give a claimed row back (its chat is paused or rate limited)."""
        await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id)
            .values(
                status="pending",
                lease_until=None,
                not_before=not_before,
                attempts=col(OutboxMessage.attempts) - 1,
            )
        )

    async def mark_sent(
        self, msg_id: int, *, now: datetime, message_id: int | None, forget_facts: bool = False
    ) -> None:
        """Done; a living card's row also records which message the card is now.
        ``forget_facts``: what it said is dropped (the message itself is on the phone)."""
        values: dict[str, Any] = {
            "status": "sent",
            "sent_at": now,
            "sent_message_id": message_id,
            "lease_until": None,
        }
        if forget_facts:
            values["facts"] = {}
        result = await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id)
            .values(**values)
            .returning(col(OutboxMessage.card_key), col(OutboxMessage.chat_id))
        )
        found = result.first()
        if found is None or found[0] is None or message_id is None:
            return
        card_key, chat_id = found
        await self.session.exec(
            insert_for(self.session)(LiveCard)
            .values(card_key=card_key, chat_id=chat_id, message_id=message_id, updated_at=now)
            .on_conflict_do_update(
                index_elements=["card_key"],
                set_={"chat_id": chat_id, "message_id": message_id, "updated_at": now},
            )
        )

    async def card_messages(self, card_keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        """card key -> (chat id, message id) for the cards already on a phone."""
        keys = list(set(card_keys))
        if not keys:
            return {}
        rows = await self.session.exec(select(LiveCard).where(col(LiveCard.card_key).in_(keys)))
        return {row.card_key: (row.chat_id, row.message_id) for row in rows}

    async def card_at(self, chat_id: int, message_id: int) -> str | None:
        """Which living card a message is (a reply to it comments on that card's request)."""
        rows = await self.session.exec(
            select(col(LiveCard.card_key)).where(
                col(LiveCard.chat_id) == chat_id, col(LiveCard.message_id) == message_id
            )
        )
        return rows.first()

    async def adopt_card(
        self, card_key: str, *, chat_id: int, message_id: int, now: datetime
    ) -> None:
        """A button was pressed on ``message_id``, so that message is the card from now on.

        After a crash between sending a card and recording it, the card is sent again and
        the phone shows two; whichever the user presses is the one later changes edit.
        A card already living in another chat is left alone.
        """
        current = await self.session.get(LiveCard, card_key)
        if current is None:
            self.session.add(
                LiveCard(card_key=card_key, chat_id=chat_id, message_id=message_id, updated_at=now)
            )
        elif current.chat_id == chat_id and current.message_id != message_id:
            current.message_id = message_id
            current.updated_at = now
            self.session.add(current)

    async def forget_card(self, card_key: str) -> None:
        """The card's message is gone (deleted by the user): the next row sends a new one."""
        await self.session.exec(delete(LiveCard).where(col(LiveCard.card_key) == card_key))

    async def mark_failed(self, msg_id: int, *, status: str, error: str) -> None:
        await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id)
            .values(status=status, error=error[:300], lease_until=None)
        )

    async def retry_later(self, msg_id: int, *, not_before: datetime, error: str) -> None:
        await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id)
            .values(status="pending", not_before=not_before, error=error[:300], lease_until=None)
        )

    async def inflight_at_start(self) -> list[OutboxMessage]:
        """Rows a dead process had claimed ("inflight") or was sending ("sending")."""
        rows = await self.session.exec(
            select(OutboxMessage).where(col(OutboxMessage.status).in_(["inflight", "sending"]))
        )
        return list(rows)

    async def mark_sending(self, msg_id: int) -> None:
        """The row's call is about to leave (a mass send's row, recorded before the call)."""
        await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id, col(OutboxMessage.status) == "inflight")
            .values(status="sending")
        )

    async def purge_sent(self, *, before: datetime) -> int:
        """Forget delivered (or given-up) messages older than a time."""
        result = await self.session.exec(
            delete(OutboxMessage).where(
                col(OutboxMessage.status).in_(["sent", "failed", "unreachable", "uncertain"]),
                col(OutboxMessage.created_at) < before,
            )
        )
        return int(result.rowcount)

    async def last_open_in_topic(self, topic_key: str) -> OutboxMessage | None:
        """The newest row for this topic not sent yet (nothing queued for it after this one)."""
        rows = await self.session.exec(
            select(OutboxMessage)
            .where(
                col(OutboxMessage.topic_key) == topic_key,
                col(OutboxMessage.status).in_(_OPEN),
            )
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
        )
        return rows.first()

    async def refill_pending(self, msg_id: int, facts: dict[str, Any]) -> bool:
        """New facts for a row still pending; False if the sender has claimed it meanwhile
        (on PostgreSQL this waits for the claim's commit and then finds it inflight)."""
        result = await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == msg_id, col(OutboxMessage.status) == "pending")
            .values(facts=facts)
        )
        return bool(result.rowcount)

    async def sent_message_of(self, dedupe_key: str) -> tuple[int, int] | None:
        """(chat id, message id) of the row with this dedupe key, once it has been sent."""
        rows = await self.session.exec(
            select(OutboxMessage.chat_id, OutboxMessage.sent_message_id).where(
                col(OutboxMessage.dedupe_key) == dedupe_key,
                col(OutboxMessage.status) == "sent",
            )
        )
        found = rows.first()
        if found is None or found[1] is None:
            return None
        return int(found[0]), int(found[1])

    async def get(self, msg_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, msg_id)

    async def counts(self) -> dict[str, int]:
        rows = await self.session.exec(
            select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
        )
        return {status: int(n) for status, n in rows}

    async def tally(
        self, kinds: Collection[str], ref_id: int, *, now: datetime
    ) -> tuple[dict[str, int], datetime | None]:
        """A mass send's rows (these kinds, this ref_id) per status, and when the earliest
        still waiting may go out if that is after ``now``."""
        mine = (col(OutboxMessage.kind).in_(list(kinds)), col(OutboxMessage.ref_id) == ref_id)
        rows = await self.session.exec(
            select(OutboxMessage.status, func.count())
            .where(*mine)
            .group_by(col(OutboxMessage.status))
        )
        counts = {status: int(n) for status, n in rows}
        later = (
            await self.session.exec(
                select(func.min(OutboxMessage.not_before)).where(
                    *mine,
                    col(OutboxMessage.status) == "pending",
                    col(OutboxMessage.not_before) > now,
                )
            )
        ).first()
        return counts, later

    async def next_not_before(self, now: datetime) -> datetime | None:
        rows = await self.session.exec(
            select(func.min(OutboxMessage.not_before)).where(
                col(OutboxMessage.status) == "pending", col(OutboxMessage.not_before) > now
            )
        )
        return rows.one()

    # reachability
    async def mark_unreachable(self, chat_id: int, *, now: datetime, reason: str) -> None:
        """Record that a chat refused us; an upsert, so two workers seeing it at once agree."""
        insert = insert_for(self.session)(ChatStatus).values(
            chat_id=chat_id, unreachable_since=now, reason=reason[:200]
        )
        await self.session.exec(
            insert.on_conflict_do_update(
                index_elements=["chat_id"],
                set_={"unreachable_since": now, "reason": reason[:200]},
                where=col(ChatStatus.unreachable_since).is_(None),
            )
        )

    async def mark_reachable(self, chat_id: int) -> bool:
        result = await self.session.exec(
            delete(ChatStatus).where(col(ChatStatus.chat_id) == chat_id)
        )
        return bool(result.rowcount)

    async def is_unreachable(self, chat_id: int) -> bool:
        row = await self.session.get(ChatStatus, chat_id)
        return row is not None and row.unreachable_since is not None

    async def unreachable_among(self, chat_ids: Iterable[int]) -> set[int]:
        """The chats among these that refused us."""
        ids = list(set(chat_ids))
        found: set[int] = set()
        for start in range(0, len(ids), _BATCH):
            rows = await self.session.exec(
                select(ChatStatus.chat_id).where(
                    col(ChatStatus.chat_id).in_(ids[start : start + _BATCH]),
                    col(ChatStatus.unreachable_since).is_not(None),
                )
            )
            found.update(rows)
        return found

    async def drop_pending_for(self, chat_id: int, *, reason: str) -> int:
        """A chat that blocked us gets nothing more from the queue."""
        result = await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.chat_id) == chat_id, col(OutboxMessage.status) == "pending")
            .values(status="unreachable", error=reason[:300])
        )
        return int(result.rowcount)

    # forum topics
    async def ensure_topic(
        self, key: str, *, chat_id: int, name: str, now: datetime, card_key: str | None = None
    ) -> None:
        """Declare a topic rows can be posted into (created by the sender on first use)."""
        await self.session.exec(
            insert_for(self.session)(ForumTopic)
            .values(key=key, chat_id=chat_id, name=name[:128], card_key=card_key, updated_at=now)
            .on_conflict_do_nothing()
        )

    async def topics(self, keys: Iterable[str]) -> dict[str, ForumTopic]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        rows = await self.session.exec(select(ForumTopic).where(col(ForumTopic.key).in_(wanted)))
        return {row.key: row for row in rows}

    async def topic_at(self, chat_id: int, thread_id: int) -> str | None:
        """The key of the topic a group message was posted in."""
        rows = await self.session.exec(
            select(col(ForumTopic.key)).where(
                col(ForumTopic.chat_id) == chat_id, col(ForumTopic.thread_id) == thread_id
            )
        )
        return rows.first()

    async def set_topic_thread(self, key: str, *, thread_id: int, now: datetime) -> None:
        await self.session.exec(
            update(ForumTopic)
            .where(col(ForumTopic.key) == key)
            .values(thread_id=thread_id, updated_at=now)
        )

    async def rename_topic(self, key: str, *, name: str, now: datetime) -> None:
        await self.session.exec(
            update(ForumTopic)
            .where(col(ForumTopic.key) == key)
            .values(name=name[:128], updated_at=now)
        )

    async def forget_topic_thread(self, key: str, *, thread_id: int, now: datetime) -> bool:
        """The thread was deleted: the next row creates the topic again (False: already done)."""
        result = await self.session.exec(
            update(ForumTopic)
            .where(col(ForumTopic.key) == key, col(ForumTopic.thread_id) == thread_id)
            .values(thread_id=None, updated_at=now)
        )
        return bool(result.rowcount)

    async def move_topic(
        self, key: str, *, chat_id: int, retired_prefix: str, now: datetime
    ) -> str | None:
        """The topic moves to another group, where the next row creates it again (its card as
        a new message). Its thread in the old group stays known as ``retired_key``, for a last
        word there (``<retired_prefix>:<chat>:<thread>``); rows still pending for it go to the
        new group. Returns the retired key, or None when the topic never had a thread there."""
        topic = await self.session.get(ForumTopic, key)
        if topic is None or topic.chat_id == chat_id:
            return None
        retired: str | None = None
        if topic.thread_id is not None:
            retired_key = f"{retired_prefix}:{topic.chat_id}:{topic.thread_id}"
            self.session.add(
                ForumTopic(
                    key=retired_key,
                    chat_id=topic.chat_id,
                    thread_id=topic.thread_id,
                    name=topic.name,
                    updated_at=now,
                )
            )
            retired = retired_key
        topic.chat_id, topic.thread_id, topic.updated_at = chat_id, None, now
        await self.session.flush()
        await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.topic_key) == key, col(OutboxMessage.status) == "pending")
            .values(chat_id=chat_id)
        )
        if topic.card_key is not None:
            await self.forget_card(topic.card_key)
        return retired

    async def repost_card(self, card_key: str, *, now: datetime) -> bool:
        """Queue a living card's latest row again as a new message (its old one is gone)."""
        rows = await self.session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.card_key) == card_key)
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
        )
        latest = rows.first()
        await self.forget_card(card_key)
        if latest is None:
            return False
        if latest.status in _OPEN:  # it has not gone out yet: it will be sent as new
            return True
        await self.add(
            chat_id=latest.chat_id,
            kind=latest.kind,
            now=now,
            facts=dict(latest.facts or {}),
            staff_id=latest.staff_id,
            locale=latest.locale,
            ref_id=latest.ref_id,
            priority=latest.priority,
            card_key=card_key,
            topic_key=latest.topic_key,
        )
        return True
