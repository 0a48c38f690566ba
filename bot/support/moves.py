"""Moving a ticket: to another category (and the desk group that takes it), into another
ticket of the same requester, or to another agent.

Each starts from a button on the ticket's card, which shows a picker in the topic (a living
card ``pick:<ticket id>``): categories, the requester's other open tickets, or the agents.
``/merge T2026-000123`` in a topic merges without the picker.

* Transfer changes the category; when that category has a desk group of its own, the ticket's
  topic moves there (a last word in the old topic, the topic and card created anew).
* Merge closes the ticket into the other one: its history is copied there, the requester is
  told where the conversation goes on, what they write next goes to the other ticket, and the
  merged ticket's SLA clocks and escalation stop.
* Assign gives the ticket to an agent: a supervisor (administrator) may give any ticket to
  anyone on the desk; an agent may hand over a ticket that is theirs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import access
from bot.errors import BadCallbackError, PermissionDeniedError
from bot.messaging.services import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from bot.people.domain import Role
from bot.runtime import Runtime
from bot.support.routing import desk_of
from bot.support.timers import SlaService, check_soon
from bot.support.topic import (
    CATEGORIES,
    OPEN,
    WRITING_FOR,
    Claim,
    audit_ticket,
    in_topic,
    load_agent,
    move_to_desk,
    post_card,
    record,
    tell_requester,
    ticket_topic,
)
from storage.tables.support import SupportTicket
from storage.uow import UnitOfWork

PICKERS = ("transfer", "merge", "assign")
CLOSE_PICKER = 3
MAX_CHOICES = 12  # buttons in a picker
MERGED_HISTORY = 50  # lines of the merged ticket copied into the other's history


def picker_key(ticket_id: int) -> str:
    return f"pick:{ticket_id}"


class MoveService:
    """Transfer, merge and assign, from the card's buttons (see the module docstring)."""

    def __init__(
        self, runtime: Runtime, *, default_locale: str, sla: SlaService, fallback: int | None
    ) -> None:
        self._rt = runtime
        self._default_locale = default_locale
        self._sla = sla
        self._fallback = fallback

    async def _open(
        self, uow: UnitOfWork, tg_id: int, ticket_id: int
    ) -> tuple[access.Actor, SupportTicket]:
        actor = await load_agent(uow, tg_id, default_locale=self._default_locale)
        ticket = await uow.support.ticket(ticket_id)
        if ticket is None or ticket.id is None:
            raise PermissionDeniedError("support.work", f"ticket:{ticket_id}")
        return actor, ticket

    # --- the picker -------------------------------------------------------------------------
    async def picker(self, *, tg_id: int, ticket_id: int, what: int) -> Claim:
        """Show (or put away, ``what`` 3) the choices for a transfer, merge or assignment."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._open(uow, tg_id, ticket_id)
            assert ticket.id is not None
            if what == CLOSE_PICKER:
                await self._close_picker(uow, ticket, "cancelled", now)
                await uow.commit()
                return Claim("picked", ticket.number)
            if not 0 <= what < len(PICKERS):
                raise BadCallbackError()
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            kind = PICKERS[what]
            options: list[dict[str, Any]]
            if kind == "transfer":
                options = [
                    {"value": i, "category": key, "current": key == ticket.category}
                    for i, (key, _) in enumerate(CATEGORIES)
                ]
            elif kind == "merge":
                options = [
                    {"value": t.id, "number": t.number, "subject": t.subject}
                    for t in (await uow.support.other_open_tickets(ticket))[:MAX_CHOICES]
                ]
                if not options:
                    return Claim("nothing_to_merge", ticket.number)
            else:
                if not (actor.has_role(Role.ADMIN) or ticket.assignee_id == actor.staff_id):
                    return Claim("not_yours", ticket.number)
                options = [
                    {"value": p.id, "name": p.name}
                    for p in await self._agents(uow)
                    if p.id != ticket.assignee_id
                ][:MAX_CHOICES]
            if ticket.desk_chat_id is None:
                raise BadCallbackError()  # the card's buttons are only in a desk topic
            await uow.outbox.add(
                chat_id=ticket.desk_chat_id,
                kind="support.picker",
                now=now,
                facts={
                    "ticket_id": ticket.id,
                    "number": ticket.number,
                    "kind": kind,
                    "options": options,
                },
                ref_id=ticket.id,
                priority=PRIORITY_INTERACTIVE,
                card_key=picker_key(ticket.id),
                topic_key=ticket_topic(ticket.id),
            )
            await uow.commit()
        return Claim("picked", ticket.number)

    async def _close_picker(
        self, uow: UnitOfWork, ticket: SupportTicket, result: str, now: datetime, **facts: Any
    ) -> None:
        """The picker on screen (if any) says what was done and loses its buttons. Edited
        where it is, without the topic: a ticket moved to another group keeps its old one."""
        assert ticket.id is not None
        key = picker_key(ticket.id)
        shown = (await uow.outbox.card_messages([key])).get(key)
        if shown is None:
            return
        await uow.outbox.add(
            chat_id=shown[0],
            kind="support.picker",
            now=now,
            facts={"number": ticket.number, "result": result, **facts},
            ref_id=ticket.id,
            priority=PRIORITY_NOTIFY,
            card_key=key,
        )

    async def _agents(self, uow: UnitOfWork) -> list[Any]:
        """Who works the desk: the support agents, then administrators not already listed."""
        seen: dict[int, Any] = {}
        for role in ("support", "admin"):
            for person in await uow.people.staff_with_role(role):
                if person.id is not None and person.telegram_id is not None:
                    seen.setdefault(person.id, person)
        return list(seen.values())

    # --- transfer ---------------------------------------------------------------------------
    async def transfer(self, *, tg_id: int, ticket_id: int, index: int) -> Claim:
        """A category for the ticket; its topic moves if that category has another desk."""
        if not 0 <= index < len(CATEGORIES):
            raise BadCallbackError()
        category = CATEGORIES[index][0]
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._open(uow, tg_id, ticket_id)
            assert ticket.id is not None
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            if ticket.category == category:
                return Claim("same", ticket.number, category)
            before, old_desk = ticket.category, ticket.desk_chat_id
            if not await uow.support.change(
                ticket.id, version=ticket.version, category=category, updated_at=now
            ):
                return Claim("stale", ticket.number)
            target = await desk_of(uow, category, self._fallback)
            moved = target is not None and old_desk is not None and target != old_desk
            await record(
                uow,
                ticket.id,
                "bot",
                f"category {before or '-'} -> {category}",
                now=now,
                staff_id=actor.staff_id,
            )
            await self._close_picker(uow, ticket, "moved" if moved else "recategorized", now)
            if moved and target is not None:
                await move_to_desk(
                    uow,
                    ticket,
                    target,
                    now=now,
                    facts={"number": ticket.number, "category": category},
                )
            else:
                await post_card(uow, ticket, now=now)
            await audit_ticket(
                uow,
                actor.staff_id,
                "ticket.transfer",
                ticket.number,
                {"from": before, "to": category, "desk": target},
                now=now,
            )
            await check_soon(uow, ticket.id, now)  # another category may keep office hours
            await uow.commit()
        return Claim("moved" if moved else "recategorized", ticket.number, category)

    # --- merge ------------------------------------------------------------------------------
    async def merge(self, *, tg_id: int, ticket_id: int, into_id: int) -> Claim:
        """The picker's choice: this ticket merged into ``into_id``."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._open(uow, tg_id, ticket_id)
            target = await uow.support.ticket(into_id)
            if target is None or target.id == ticket.id:
                raise BadCallbackError()
            claim = await self._merge(uow, actor, ticket, target, now)
            await uow.commit()
        return claim

    async def merge_command(
        self, *, tg_id: int, chat_id: int, thread_id: int, number: str
    ) -> Claim:
        """``/merge T2026-000123`` in a ticket's topic; the outcome is said in the topic."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await load_agent(uow, tg_id, default_locale=self._default_locale)
            key = await uow.outbox.topic_at(chat_id, thread_id)
            source_id = key[7:] if key and key.startswith("ticket:") else ""
            ticket = await uow.support.ticket(int(source_id)) if source_id.isdigit() else None
            if ticket is None:
                return Claim("not_ticket", "")
            target = await uow.support.ticket_by_number(number.strip().upper())
            if target is None or target.id == ticket.id:
                claim = Claim("not_found", ticket.number, number.strip()[:20])
            else:
                claim = await self._merge(uow, actor, ticket, target, now)
            if claim.outcome != "merged":
                await in_topic(
                    uow,
                    ticket,
                    "support.action_result",
                    {"outcome": claim.outcome, "number": claim.number, "by": claim.by},
                    now=now,
                    priority=PRIORITY_INTERACTIVE,
                )
            await uow.commit()
        return claim

    async def _merge(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        ticket: SupportTicket,
        target: SupportTicket,
        now: datetime,
    ) -> Claim:
        assert ticket.id is not None and target.id is not None
        if ticket.status not in OPEN or target.status not in OPEN:
            return Claim("closed", ticket.number, target.number)
        if ticket.requester_id != target.requester_id:
            return Claim("other_requester", ticket.number, target.number)
        if not await uow.support.change(
            ticket.id,
            version=ticket.version,
            status="closed",
            closed_at=now,
            updated_at=now,
            merged_into=target.id,
            awaiting_since=None,
        ):
            return Claim("stale", ticket.number)
        # the requester has waited since the earlier of the two unanswered messages
        waiting = [t for t in (ticket.awaiting_since, target.awaiting_since) if t is not None]
        values: dict[str, Any] = {"updated_at": now}
        if waiting and min(waiting) != target.awaiting_since:
            values["awaiting_since"] = min(waiting)
        await uow.support.change(target.id, version=target.version, **values)
        history = await uow.support.messages(ticket.id)
        await record(uow, target.id, "bot", f"merged {ticket.number}: {ticket.subject}", now=now)
        for line in history[-MERGED_HISTORY:]:
            if line.author in ("user", "agent", "note"):
                await record(
                    uow,
                    target.id,
                    line.author,
                    f"[{ticket.number}] {line.body}",
                    now=now,
                    staff_id=line.staff_id,
                )
        await record(uow, ticket.id, "bot", f"merged into {target.number}", now=now)
        writing = await uow.support.writing(ticket.requester_id)
        if writing is not None and writing.ticket_id == ticket.id:
            await uow.support.start_writing(
                ticket.requester_id, target.id, until=max(writing.until, now + WRITING_FOR)
            )
        await tell_requester(
            uow,
            target,
            "support.merged",
            {"number": ticket.number, "into": target.number},
            now=now,
        )
        await self._sla.stop(uow, ticket, "merged", now)
        await self._close_picker(uow, ticket, "merged", now, into=target.number)
        await in_topic(
            uow,
            ticket,
            "support.moved",
            {"number": ticket.number, "into": target.number},
            now=now,
        )
        await post_card(uow, ticket, now=now)
        await in_topic(
            uow,
            target,
            "support.merged_in",
            {"number": ticket.number, "subject": ticket.subject, "lines": len(history)},
            now=now,
        )
        await post_card(uow, target, now=now)
        details = {"into": target.number}
        await audit_ticket(uow, actor.staff_id, "ticket.merge", ticket.number, details, now=now)
        await check_soon(uow, target.id, now)
        return Claim("merged", ticket.number, target.number)

    # --- assign -----------------------------------------------------------------------------
    async def assign(self, *, tg_id: int, ticket_id: int, staff_id: int) -> Claim:
        """Give the ticket to an agent: a supervisor, or the agent who owns it."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._open(uow, tg_id, ticket_id)
            assert ticket.id is not None
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            if not (actor.has_role(Role.ADMIN) or ticket.assignee_id == actor.staff_id):
                return Claim("not_yours", ticket.number)
            agents = {p.id: p for p in await self._agents(uow)}
            person = agents.get(staff_id)
            if person is None:
                raise BadCallbackError()  # not on the desk (any more)
            if ticket.assignee_id == staff_id:
                return Claim("same", ticket.number, person.name)
            before = ticket.assignee_id
            values: dict[str, Any] = {"assignee_id": staff_id, "updated_at": now}
            if ticket.claimed_at is None:
                values["claimed_at"] = now
            if ticket.status == "new":
                values["status"] = "claimed"
            if not await uow.support.change(ticket.id, version=ticket.version, **values):
                return Claim("stale", ticket.number)
            await self._sla.stop(uow, ticket, "claim", now)
            await self._close_picker(uow, ticket, "assigned", now, name=person.name)
            await post_card(uow, ticket, now=now)
            await uow.outbox.add(
                chat_id=person.telegram_id,
                kind="support.assigned",
                staff_id=person.id,
                now=now,
                facts={
                    "number": ticket.number,
                    "subject": ticket.subject,
                    "by": actor.name,
                    "ticket_id": ticket.id,
                },
                ref_id=ticket.id,
                priority=PRIORITY_INTERACTIVE,
            )
            await audit_ticket(
                uow,
                actor.staff_id,
                "ticket.assign",
                ticket.number,
                {"from": before, "to": staff_id},
                now=now,
            )
            await uow.commit()
        return Claim("assigned", ticket.number, person.name)
