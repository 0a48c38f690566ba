"""Queries over support tickets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for
from storage.tables.support import (
    SupportAttachment,
    SupportDesk,
    SupportEscalation,
    SupportMessage,
    SupportRelay,
    SupportShift,
    SupportTemplate,
    SupportTicket,
    SupportWriting,
)


class SupportRepo:
    """Tickets and the messages in them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_ticket(self, ticket: SupportTicket) -> SupportTicket:
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def ticket(self, ticket_id: int) -> SupportTicket | None:
        return await self.session.get(SupportTicket, ticket_id)

    async def ticket_by_number(self, number: str) -> SupportTicket | None:
        rows = await self.session.exec(
            select(SupportTicket).where(col(SupportTicket.number) == number)
        )
        return rows.first()

    async def add_message(self, message: SupportMessage) -> SupportMessage:
        self.session.add(message)
        await self.session.flush()
        return message

    async def messages(self, ticket_id: int) -> Sequence[SupportMessage]:
        rows = await self.session.exec(
            select(SupportMessage)
            .where(col(SupportMessage.ticket_id) == ticket_id)
            .order_by(col(SupportMessage.id))
        )
        return rows.all()

    async def last_messages(self, ticket_id: int, n: int) -> Sequence[SupportMessage]:
        """The newest ``n`` messages of a ticket, oldest first."""
        rows = await self.session.exec(
            select(SupportMessage)
            .where(col(SupportMessage.ticket_id) == ticket_id)
            .order_by(col(SupportMessage.id).desc())
            .limit(n)
        )
        return list(reversed(rows.all()))

    async def change(self, ticket_id: int, *, version: int, **values: Any) -> bool:
        """Compare-and-swap: apply ``values`` only if the ticket is still at ``version``."""
        result = await self.session.exec(
            update(SupportTicket)
            .where(col(SupportTicket.id) == ticket_id, col(SupportTicket.version) == version)
            .values(version=version + 1, **values)
        )
        await self.session.flush()
        changed = bool(result.rowcount)
        if changed:
            ticket = await self.session.get(SupportTicket, ticket_id)
            if ticket is not None:
                await self.session.refresh(ticket)
        return changed

    async def note_sla(self, ticket_id: int, **values: Any) -> None:
        """The SLA check's own bookkeeping (due times, fired stages, first breach): written
        without moving the version, so an agent's button pressed meanwhile is not stale."""
        await self.session.exec(
            update(SupportTicket).where(col(SupportTicket.id) == ticket_id).values(**values)
        )
        await self.session.flush()
        ticket = await self.session.get(SupportTicket, ticket_id)
        if ticket is not None:
            await self.session.refresh(ticket)

    async def add_attachment(self, attachment: SupportAttachment) -> None:
        self.session.add(attachment)
        await self.session.flush()

    async def attachments(self, ticket_id: int) -> Sequence[SupportAttachment]:
        rows = await self.session.exec(
            select(SupportAttachment)
            .where(col(SupportAttachment.ticket_id) == ticket_id)
            .order_by(col(SupportAttachment.id))
        )
        return rows.all()

    async def set_desk_chat(self, ticket_id: int, chat_id: int) -> None:
        """The ticket's topic is now in this desk group (the version is not moved: the caller
        changes it with whatever moved the ticket)."""
        await self.note_sla(ticket_id, desk_chat_id=chat_id)

    async def add_relay(
        self,
        *,
        ticket_id: int,
        direction: str,
        src_chat_id: int,
        src_message_id: int,
        dst_chat_id: int,
        at: datetime,
    ) -> int | None:
        """Record a relay; None if this message was relayed already (a redelivered update)."""
        result = await self.session.exec(
            insert_for(self.session)(SupportRelay)
            .values(
                ticket_id=ticket_id,
                direction=direction,
                src_chat_id=src_chat_id,
                src_message_id=src_message_id,
                dst_chat_id=dst_chat_id,
                at=at,
            )
            .on_conflict_do_nothing()
            .returning(col(SupportRelay.id))
        )
        found = result.first()
        return int(found[0]) if found is not None else None

    async def relay_of(self, src_chat_id: int, src_message_id: int) -> SupportRelay | None:
        """The relay of a message (to follow its edits to the copy)."""
        rows = await self.session.exec(
            select(SupportRelay).where(
                col(SupportRelay.src_chat_id) == src_chat_id,
                col(SupportRelay.src_message_id) == src_message_id,
            )
        )
        return rows.first()

    async def open_tickets_of(self, staff_id: int) -> Sequence[SupportTicket]:
        """The requester's tickets that are not closed, newest first."""
        rows = await self.session.exec(
            select(SupportTicket)
            .where(
                col(SupportTicket.requester_id) == staff_id,
                col(SupportTicket.status) != "closed",
            )
            .order_by(col(SupportTicket.id).desc())
        )
        return rows.all()

    async def other_open_tickets(self, ticket: SupportTicket) -> Sequence[SupportTicket]:
        """The same requester's other open tickets (what a ticket can be merged into)."""
        return [
            t
            for t in await self.open_tickets_of(ticket.requester_id)
            if t.id != ticket.id and t.status != "resolved"
        ]

    async def open_tickets_at(self, chat_id: int) -> Sequence[SupportTicket]:
        """The tickets not closed whose topic is in this desk group."""
        rows = await self.session.exec(
            select(SupportTicket)
            .where(
                col(SupportTicket.desk_chat_id) == chat_id,
                col(SupportTicket.status) != "closed",
            )
            .order_by(col(SupportTicket.id))
        )
        return rows.all()

    async def assigned_open(self, staff_id: int, *, limit: int) -> Sequence[SupportTicket]:
        """The open tickets an agent owns, those past an SLA target first, then oldest."""
        rows = await self.session.exec(
            select(SupportTicket)
            .where(
                col(SupportTicket.assignee_id) == staff_id,
                col(SupportTicket.status).in_(("claimed", "waiting")),
            )
            .order_by(col(SupportTicket.breached_at).is_(None), col(SupportTicket.id))
            .limit(limit)
        )
        return rows.all()

    async def queue_counts(self) -> tuple[int, int]:
        """Open tickets nobody has claimed, and open tickets past an SLA target."""
        is_open = col(SupportTicket.status).in_(("new", "claimed", "waiting"))
        unclaimed = await self.session.exec(
            select(func.count())
            .select_from(SupportTicket)
            .where(is_open, col(SupportTicket.assignee_id).is_(None))
        )
        breached = await self.session.exec(
            select(func.count())
            .select_from(SupportTicket)
            .where(is_open, col(SupportTicket.breached_at).is_not(None))
        )
        return int(unclaimed.one()), int(breached.one())

    async def carry_relay(self, relay_id: int, carried_by: str) -> None:
        """This relay went out in the outbox row ``carried_by`` (merged with earlier ones)."""
        await self.session.exec(
            update(SupportRelay)
            .where(col(SupportRelay.id) == relay_id)
            .values(carried_by=carried_by)
        )

    # --- the desk's daily figures ------------------------------------------------------------
    async def day_figures(
        self, chat_id: int, *, since: datetime, until: datetime
    ) -> dict[str, Any]:
        """One desk group's tickets: opened in [since, until), open now, open and past an SLA
        target, the first responses given in the window (seconds after opening) and the
        ratings given in it."""
        t = SupportTicket
        here = col(t.desk_chat_id) == chat_id
        is_open = col(t.status).in_(("new", "claimed", "waiting"))

        async def count(*where: Any) -> int:
            rows = await self.session.exec(select(func.count()).select_from(t).where(here, *where))
            return int(rows.one())

        responses = await self.session.exec(
            select(t.created_at, t.first_response_at).where(
                here, col(t.first_response_at) >= since, col(t.first_response_at) < until
            )
        )
        ratings = await self.session.exec(
            select(t.rating).where(
                here,
                col(t.rating).is_not(None),
                col(t.rated_at) >= since,
                col(t.rated_at) < until,
            )
        )
        return {
            "new": await count(col(t.created_at) >= since, col(t.created_at) < until),
            "open": await count(is_open),
            "breached": await count(is_open, col(t.breached_at).is_not(None)),
            "first_responses": [
                (answered - opened).total_seconds()
                for opened, answered in responses.all()
                if answered is not None
            ],
            "ratings": [int(r) for r in ratings.all() if r is not None],
        }

    # --- desk groups -------------------------------------------------------------------------
    async def desks(self) -> Sequence[SupportDesk]:
        rows = await self.session.exec(select(SupportDesk).order_by(col(SupportDesk.category)))
        return rows.all()

    async def desk_for(self, category: str | None) -> int | None:
        """The desk group of a category, else the default desk (``*``); None: none is set."""
        wanted = [category, "*"] if category else ["*"]
        rows = await self.session.exec(
            select(SupportDesk).where(col(SupportDesk.category).in_(wanted))
        )
        found = {row.category: row.chat_id for row in rows}
        return found.get(category or "*", found.get("*"))

    async def set_desk(
        self, category: str, chat_id: int, *, title: str, staff_id: int | None, now: datetime
    ) -> None:
        values = {"chat_id": chat_id, "title": title[:128], "set_by": staff_id, "set_at": now}
        await self.session.exec(
            insert_for(self.session)(SupportDesk)
            .values(category=category, **values)
            .on_conflict_do_update(index_elements=["category"], set_=values)
        )

    async def drop_desk(self, chat_id: int) -> list[str]:
        """This group is a desk no more: the categories it took."""
        rows = await self.session.exec(
            select(col(SupportDesk.category)).where(col(SupportDesk.chat_id) == chat_id)
        )
        categories = sorted(rows.all())
        await self.session.exec(delete(SupportDesk).where(col(SupportDesk.chat_id) == chat_id))
        return categories

    async def writing(self, staff_id: int) -> SupportWriting | None:
        return await self.session.get(SupportWriting, staff_id)

    async def start_writing(
        self, staff_id: int, ticket_id: int | None, *, until: datetime, category: str | None = None
    ) -> None:
        """The user's next messages go to this ticket (None: the next one opens a ticket)."""
        values = {"ticket_id": ticket_id, "category": category, "until": until}
        await self.session.exec(
            insert_for(self.session)(SupportWriting)
            .values(staff_id=staff_id, **values)
            .on_conflict_do_update(index_elements=["staff_id"], set_=values)
        )

    async def stop_writing(self, staff_id: int) -> None:
        await self.session.exec(
            delete(SupportWriting).where(col(SupportWriting.staff_id) == staff_id)
        )

    async def templates(self) -> Sequence[SupportTemplate]:
        rows = await self.session.exec(select(SupportTemplate).order_by(col(SupportTemplate.key)))
        return rows.all()

    async def template(self, key: str) -> SupportTemplate | None:
        return await self.session.get(SupportTemplate, key)

    async def put_template(self, key: str, body: str, *, staff_id: int, now: datetime) -> None:
        values = {"body": body, "updated_by": staff_id, "updated_at": now}
        await self.session.exec(
            insert_for(self.session)(SupportTemplate)
            .values(key=key, **values)
            .on_conflict_do_update(index_elements=["key"], set_=values)
        )

    async def delete_template(self, key: str) -> bool:
        result = await self.session.exec(
            delete(SupportTemplate).where(col(SupportTemplate.key) == key)
        )
        return bool(result.rowcount)

    # --- the on-call roster and escalation runs ----------------------------------------------
    async def add_shift(self, shift: SupportShift) -> SupportShift:
        self.session.add(shift)
        await self.session.flush()
        return shift

    async def delete_shift(self, shift_id: int) -> bool:
        result = await self.session.exec(
            delete(SupportShift).where(col(SupportShift.id) == shift_id)
        )
        return bool(result.rowcount)

    async def shifts(self, *, ending_after: datetime, limit: int = 50) -> Sequence[SupportShift]:
        """Shifts not over yet, soonest first (the roster as /oncall shows it)."""
        rows = await self.session.exec(
            select(SupportShift)
            .where(col(SupportShift.ends_at) > ending_after)
            .order_by(col(SupportShift.starts_at), col(SupportShift.level), col(SupportShift.id))
            .limit(limit)
        )
        return rows.all()

    async def on_call(self, at: datetime) -> Sequence[SupportShift]:
        """The shifts running at ``at``, by level."""
        rows = await self.session.exec(
            select(SupportShift)
            .where(col(SupportShift.starts_at) <= at, col(SupportShift.ends_at) > at)
            .order_by(col(SupportShift.level), col(SupportShift.id))
        )
        return rows.all()

    async def add_escalation(self, escalation: SupportEscalation) -> SupportEscalation:
        self.session.add(escalation)
        await self.session.flush()
        return escalation

    async def escalation(self, escalation_id: int) -> SupportEscalation | None:
        return await self.session.get(SupportEscalation, escalation_id)

    async def running_escalation(self, ticket_id: int) -> SupportEscalation | None:
        rows = await self.session.exec(
            select(SupportEscalation).where(
                col(SupportEscalation.ticket_id) == ticket_id,
                col(SupportEscalation.stopped_at).is_(None),
            )
        )
        return rows.first()

    async def stop_escalation(
        self, escalation_id: int, *, reason: str, now: datetime, acked_by: int | None = None
    ) -> bool:
        """End a running escalation once: False if it had ended already."""
        result = await self.session.exec(
            update(SupportEscalation)
            .where(
                col(SupportEscalation.id) == escalation_id,
                col(SupportEscalation.stopped_at).is_(None),
            )
            .values(stopped_at=now, stop_reason=reason, acked_by=acked_by)
        )
        return bool(result.rowcount)

    async def raise_escalation(self, escalation_id: int, *, level: int) -> bool:
        """Move a running escalation to ``level`` (False if it ended meanwhile)."""
        result = await self.session.exec(
            update(SupportEscalation)
            .where(
                col(SupportEscalation.id) == escalation_id,
                col(SupportEscalation.stopped_at).is_(None),
                col(SupportEscalation.level) < level,
            )
            .values(level=level)
        )
        return bool(result.rowcount)
