"""The support desk: a topic per ticket in the desk's forum group, claimed by one agent,
with messages relayed both ways by ``copyMessage`` and a persistent map of what was relayed.

* A ticket's topic is the outbox's forum topic ``ticket:<id>``: the sender creates it on the
  first row (the ticket's card), and again, with the card re-posted, if someone deletes it.
* The card is a living card (``ticket:<id>``): every change edits it in place.
* What the agents write in the topic reaches the requester as a copy from the bot (agents stay
  anonymous), except internal notes: a message starting with ``#`` or ``!note``.
* What the requester writes while "writing to" a ticket (after opening it, or after tapping
  ✍️ Add a message) is copied into the topic.
* Every relayed message is recorded by the message it copies (``support_relay``), so a
  redelivered update relays nothing twice; the copies are outbox rows, so a restart between
  a message and its relay loses nothing and sends nothing twice.
* Claim is a compare-and-swap on the ticket's version: two agents tapping at once get one
  owner, and the other is told who.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import access
from bot.errors import BadCallbackError, NotRegisteredError, PermissionDeniedError
from bot.messaging.services import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from bot.people.domain import Role
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from bot.support.files import DOWNLOAD_LIMIT, FileInfo
from bot.support.intake import Context, open_ticket
from bot.support.sla import PRIORITIES
from bot.support.templates import fill_template
from bot.support.timers import SlaService, check_soon, first_on_call
from bot.support.topic import (
    ALBUM_HOLD,
    CATEGORIES,
    OPEN,
    REOPEN_WITHIN,
    WRITING_FOR,
    Claim,
    audit_ticket,
    burst_fits,
    in_topic,
    is_note,
    load_agent,
    post_card,
    record,
    relay_items,
    tell_requester,
    tell_staff,
    ticket_topic,
)
from storage.tables.support import SupportAttachment, SupportTicket
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

AUTOCLOSE_KIND = "support.autoclose"
AUTOCLOSE_AFTER = timedelta(days=3)  # GOVBOT_SUPPORT_AUTOCLOSE_DAYS
HOME_TICKETS = 5  # open tickets listed on /support
LOW_RATING = 2  # at or below: the administrators hear of it


@dataclass(frozen=True)
class Relayed:
    """What happened to a message from either side."""

    # opened | relayed | note | duplicate | unreachable | reopened | not_agent | not_ours
    outcome: str
    number: str | None = None


class DeskService:
    """The agents' side (claim, resolve, replies in the topic) and the requester's messages."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        default_locale: str,
        sla: SlaService,
        desk_chat_id: int | None = None,
        autoclose_after: timedelta = AUTOCLOSE_AFTER,
    ) -> None:
        self._rt = runtime
        self._sla = sla
        self._default_locale = default_locale
        self._desk_chat_id = desk_chat_id
        self._autoclose_after = autoclose_after

    def register_due(self, due: DueService) -> None:
        """Close resolved tickets nobody came back to, from the due-item tick."""
        due.register(AUTOCLOSE_KIND, self._on_autoclose)

    async def _on_autoclose(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        """Still resolved, and not reopened and resolved again since: closed, and the
        requester is asked once for a rating (unless they gave one)."""
        ticket = await uow.support.ticket(item.ref_id or 0)
        if ticket is None or ticket.id is None or ticket.status != "resolved":
            return
        if ticket.resolved_at is None or ticket.resolved_at + self._autoclose_after > now:
            return  # resolved again later: that resolution has its own item
        if not await uow.support.change(
            ticket.id, version=ticket.version, status="closed", closed_at=now, updated_at=now
        ):
            raise RuntimeError(f"ticket {ticket.id} changed while closing it")  # retried
        await record(uow, ticket.id, "bot", "closed automatically", now=now)
        requester = await tell_requester(
            uow, ticket, "support.autoclosed", {"number": ticket.number}, now=now
        )
        if requester is not None and requester.telegram_id and requester.id and not ticket.rating:
            await self._ask_rating(uow, ticket, requester.telegram_id, requester.id, now=now)
        if ticket.desk_chat_id is not None:
            await post_card(uow, ticket, now=now)
        await audit_ticket(uow, None, "ticket.close", ticket.number, {"by": "auto"}, now=now)

    # --- the requester's side ----------------------------------------------------------------
    async def home(self, *, tg_id: int, chat_id: int) -> None:
        """/support: the requester's open tickets, and the categories to open a new one."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "menu.support", default_locale=self._default_locale
            )
            tickets = list(await uow.support.open_tickets_of(actor.staff_id))[:HOME_TICKETS]
            await uow.outbox.add(
                chat_id=chat_id,
                kind="support.home",
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "tickets": [
                        {
                            "id": t.id,
                            "number": t.number,
                            "status": t.status,
                            "subject": t.subject,
                        }
                        for t in tickets
                    ]
                },
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def desk_home(self, *, tg_id: int, chat_id: int) -> None:
        """The 🎧 Support desk menu item, for an agent in private: the tickets they own
        (past an SLA target first), how many wait for somebody to claim them, who is on call
        now, and where the desk groups are."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._agent(uow, tg_id)
            mine = await uow.support.assigned_open(actor.staff_id, limit=HOME_TICKETS * 2)
            unclaimed, breached = await uow.support.queue_counts()
            level, on_call = await first_on_call(uow, now)
            rows = await uow.support.desks()
            desks = sorted({d.title or str(d.chat_id) for d in rows})
            if self._desk_chat_id is not None and all(
                d.chat_id != self._desk_chat_id for d in rows
            ):  # GOVBOT_DESK_CHAT_ID only: its id is all there is to show
                desks.append(str(self._desk_chat_id))
            await uow.outbox.add(
                chat_id=chat_id,
                kind="support.agent_home",
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "mine": [
                        {
                            "number": t.number,
                            "status": t.status,
                            "priority": t.priority,
                            "subject": t.subject,
                            "breached": t.breached_at is not None,
                        }
                        for t in mine
                    ],
                    "unclaimed": unclaimed,
                    "breached": breached,
                    "on_call": [p.name for p in on_call],
                    "on_call_level": level,
                    "desks": desks,
                },
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def choose_category(self, *, tg_id: int, chat_id: int, index: int) -> None:
        """A category was picked: the requester's next message opens a ticket in it."""
        if not 0 <= index < len(CATEGORIES):
            raise BadCallbackError()
        now = self._rt.clock()
        category = CATEGORIES[index][0]
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "menu.support", default_locale=self._default_locale
            )
            await uow.support.start_writing(
                actor.staff_id, None, until=now + WRITING_FOR, category=category
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind="support.describe",
                staff_id=actor.staff_id,
                now=now,
                facts={"category": category},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def close(self, *, tg_id: int, chat_id: int, ticket_id: int) -> str:
        """The requester says it is solved: closed, and asked once for a rating."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._own_ticket(uow, tg_id, ticket_id)
            if ticket.status == "closed":
                return "already"
            if not await uow.support.change(
                ticket_id, version=ticket.version, status="closed", closed_at=now, updated_at=now
            ):
                return "stale"
            await record(
                uow, ticket_id, "bot", "closed by the requester", now=now, staff_id=actor.staff_id
            )
            await uow.support.stop_writing(actor.staff_id)
            await self._sla.stop(uow, ticket, "done", now)
            await self._ask_rating(uow, ticket, chat_id, actor.staff_id, now=now)
            if ticket.desk_chat_id is not None:
                await post_card(uow, ticket, now=now)
            await audit_ticket(
                uow, actor.staff_id, "ticket.close", ticket.number, {"by": "requester"}, now=now
            )
            await uow.commit()
        return "closed"

    async def _ask_rating(
        self, uow: UnitOfWork, ticket: SupportTicket, chat_id: int, staff_id: int, *, now: datetime
    ) -> None:
        assert ticket.id is not None
        await uow.outbox.add(
            chat_id=chat_id,
            kind="support.rate",
            staff_id=staff_id,
            now=now,
            facts={"ticket_id": ticket.id, "number": ticket.number, "rating": ticket.rating},
            ref_id=ticket.id,
            priority=PRIORITY_INTERACTIVE,
            card_key=f"rate:{ticket.id}",
        )

    async def rate(self, *, tg_id: int, chat_id: int, ticket_id: int, stars: int) -> str:
        """1-5 stars, once per ticket; a low rating (≤ 2) is sent to the administrators."""
        if not 1 <= stars <= 5:
            raise BadCallbackError()
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._own_ticket(uow, tg_id, ticket_id)
            if ticket.rating is not None:
                return "already"
            if ticket.status not in ("resolved", "closed"):
                return "open"
            if not await uow.support.change(
                ticket_id, version=ticket.version, rating=stars, rated_at=now, updated_at=now
            ):
                return "stale"
            await self._ask_rating(uow, ticket, chat_id, actor.staff_id, now=now)  # the thanks
            if ticket.desk_chat_id is not None:
                await post_card(uow, ticket, now=now)
            if stars <= LOW_RATING:
                await tell_staff(
                    uow,
                    await uow.people.staff_with_role(Role.ADMIN.value),
                    "support.low_rating",
                    {"number": ticket.number, "stars": stars, "name": actor.name},
                    ticket_id=ticket_id,
                    now=now,
                )
            await audit_ticket(
                uow, actor.staff_id, "ticket.rate", ticket.number, {"stars": stars}, now=now
            )
            await uow.commit()
        return "rated"

    async def _open_from_message(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        category: str | None,
        *,
        chat_id: int,
        message_id: int,
        text: str | None,
        media: str | None,
        now: datetime,
        related_to: SupportTicket | None = None,
        album: str | None = None,
        file: FileInfo | None = None,
    ) -> SupportTicket:
        """The first message after picking a category opens the ticket (a media message is
        copied into its topic too: the card quotes only text); ``related_to``: the earlier
        ticket this one follows up on."""
        ticket = await open_ticket(
            uow,
            requester=actor,
            context=Context(question=text or f"[{media or 'message'}]"),
            source="menu",
            chat_id=chat_id,
            now=now,
            fallback_desk=self._desk_chat_id,
            desk_locale=self._default_locale,
            category=category,
            related_to=related_to,
        )
        if media is not None:
            await self._relay_in(
                uow,
                ticket,
                chat_id=chat_id,
                message_id=message_id,
                now=now,
                text=text,
                media=media,
                album=album,
                file=file,
            )
        return ticket

    async def _relay_in(
        self,
        uow: UnitOfWork,
        ticket: SupportTicket,
        *,
        chat_id: int,
        message_id: int,
        now: datetime,
        text: str | None,
        media: str | None,
        album: str | None = None,
        file: FileInfo | None = None,
    ) -> bool:
        """Copy a requester's message into the ticket's topic, once: False if it was relayed
        already (a redelivered update) or the ticket has no desk group.

        A message right behind another of theirs that is still queued for the topic joins
        it (a burst of texts becomes one message, media and albums one ``copyMessages``), so
        a busy desk group's 20 messages a minute go further; an album's first item waits a
        moment for the others."""
        assert ticket.id is not None
        if ticket.desk_chat_id is None:
            return False
        relay_id = await uow.support.add_relay(
            ticket_id=ticket.id,
            direction="in",
            src_chat_id=chat_id,
            src_message_id=message_id,
            dst_chat_id=ticket.desk_chat_id,
            at=now,
        )
        if relay_id is None:
            return False
        item: dict[str, Any] = {
            "message_id": message_id,
            "text": None if media else text,
            "media": media,
        }
        if media:  # for a placeholder, or a resend by file id, if the copy is refused
            item.update(caption=(text or "")[:1000], file_id=file.file_id if file else None)
            item.update(file_name=file.name if file else "")
        if not await self._join_burst(uow, ticket.id, chat_id, item, relay_id):
            await in_topic(
                uow,
                ticket,
                "support.relay_in",
                {"from_chat": chat_id, "number": ticket.number, **item},
                now=now,
                dedupe_key=f"relay:{relay_id}",
                not_before=now + ALBUM_HOLD if album else None,
            )
        if file is not None:  # after the relay: its "not archived" note comes below the copy
            await self._archive(
                uow, ticket, chat_id=chat_id, message_id=message_id, file=file, now=now
            )
        return True

    async def _join_burst(
        self, uow: UnitOfWork, ticket_id: int, chat_id: int, item: dict[str, Any], relay_id: int
    ) -> bool:
        """Add the message to the relay queued just before it for the same topic, if that is
        still waiting and there is room; False: it needs a row of its own."""
        last = await uow.outbox.last_open_in_topic(ticket_topic(ticket_id))
        if last is None or last.id is None or last.status != "pending":
            return False
        facts = dict(last.facts or {})
        if last.kind != "support.relay_in" or facts.get("from_chat") != chat_id:
            return False
        items = [*relay_items(facts), item]
        if not burst_fits(items):
            return False
        facts["more"] = items[1:]
        facts["weight"] = 1 if all(i.get("media") is None for i in items) else len(items)
        if not await uow.outbox.refill_pending(last.id, facts):
            return False  # the sender took it meanwhile
        await uow.support.carry_relay(relay_id, last.dedupe_key or f"outbox:{last.id}")
        return True

    async def reachability(
        self, uow: UnitOfWork, chat_id: int, reachable: bool, now: datetime
    ) -> None:
        """The requester blocked the bot (or unblocked it): each of their open tickets says so
        on its card and in its topic. Registered with the delivery service."""
        staff = await uow.people.by_telegram_id(chat_id)
        if staff is None or staff.id is None:
            return  # a group, or somebody who is not staff
        for ticket in await uow.support.open_tickets_of(staff.id):
            if ticket.id is None or ticket.unreachable != reachable:
                continue  # already known
            await uow.support.change(
                ticket.id, version=ticket.version, unreachable=not reachable, updated_at=now
            )
            if reachable:
                await check_soon(uow, ticket.id, now)  # the clocks may nag again
            else:
                await self._sla.stop(uow, ticket, "unreachable", now)
            if ticket.desk_chat_id is None:
                continue
            await post_card(uow, ticket, now=now)
            await in_topic(
                uow,
                ticket,
                "support.reachability",
                {"number": ticket.number, "reachable": reachable},
                now=now,
                priority=PRIORITY_INTERACTIVE,
            )

    async def topic_card(self, uow: UnitOfWork, topic_key: str, now: datetime) -> bool:
        """A ticket's topic is being created again: queue its card drawn now (the summary
        shows the latest messages). Registered with the delivery service."""
        ticket_id = topic_key.split(":", 1)[1]
        ticket = await uow.support.ticket(int(ticket_id)) if ticket_id.isdigit() else None
        if ticket is None or ticket.desk_chat_id is None:
            return False
        await post_card(uow, ticket, now=now)
        return True

    async def _agent(self, uow: UnitOfWork, tg_id: int) -> access.Actor:
        return await load_agent(uow, tg_id, default_locale=self._default_locale)

    async def claim(self, *, tg_id: int, ticket_id: int, version: int) -> Claim:
        """Take the ticket; exactly one agent wins when several tap at once.

        The button's ``version`` is the card's; what decides is the ticket now (no owner, still
        open), written with a compare-and-swap on its current version, so a reply or a note
        since the card was drawn does not make the button stale.
        """
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._agent(uow, tg_id)
            ticket = await uow.support.ticket(ticket_id)
            if ticket is None:
                raise PermissionDeniedError("support.work", f"ticket:{ticket_id}")
            if ticket.assignee_id is not None:
                if ticket.assignee_id == actor.staff_id:
                    return Claim("mine", ticket.number)
                owner = await uow.people.get(ticket.assignee_id)
                return Claim("taken", ticket.number, owner.name if owner else None)
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            if not await uow.support.change(
                ticket_id,
                version=ticket.version,
                assignee_id=actor.staff_id,
                claimed_at=now,
                status="claimed",
                updated_at=now,
            ):  # another agent's claim committed between our read and our write
                await uow.session.refresh(ticket)
                owner = await uow.people.get(ticket.assignee_id) if ticket.assignee_id else None
                if owner is not None:
                    return Claim("taken", ticket.number, owner.name)
                return Claim("stale", ticket.number)
            await audit_ticket(uow, actor.staff_id, "ticket.claim", ticket.number, {}, now=now)
            await self._sla.stop(uow, ticket, "claim", now)
            await post_card(uow, ticket, now=now)
            await uow.commit()
        return Claim("claimed", ticket.number)

    async def resolve(self, *, tg_id: int, ticket_id: int, version: int) -> Claim:
        """Mark the ticket resolved and tell the requester (still open is what decides, as
        for :meth:`claim`)."""
        now = self._rt.clock()
        clock_of = await self._sla.clocks()
        async with self._rt.uow() as uow:
            actor = await self._agent(uow, tg_id)
            ticket = await uow.support.ticket(ticket_id)
            if ticket is None:
                raise PermissionDeniedError("support.work", f"ticket:{ticket_id}")
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            values: dict[str, Any] = {
                "status": "resolved",
                "resolved_at": now,
                "updated_at": now,
                "awaiting_since": None,
                **self._sla.pause_values(ticket, clock_of(ticket.category), now),
            }
            if ticket.assignee_id is None:
                values.update(assignee_id=actor.staff_id, claimed_at=now)
            if not await uow.support.change(ticket_id, version=ticket.version, **values):
                return Claim("stale", ticket.number)
            await record(uow, ticket_id, "bot", "resolved", now=now, staff_id=actor.staff_id)
            if await tell_requester(
                uow,
                ticket,
                "support.resolved",
                {"ticket_id": ticket_id, "number": ticket.number},
                now=now,
                priority=PRIORITY_INTERACTIVE,
            ):
                await uow.support.stop_writing(ticket.requester_id)
            await audit_ticket(uow, actor.staff_id, "ticket.resolve", ticket.number, {}, now=now)
            await self._sla.stop(uow, ticket, "done", now)
            await post_card(uow, ticket, now=now)
            await uow.due.add(
                kind=AUTOCLOSE_KIND,
                due_at=now + self._autoclose_after,
                now=now,
                ref_id=ticket_id,
                dedupe_key=f"{AUTOCLOSE_KIND}:{ticket_id}:{now.isoformat()}",
            )
            await uow.commit()
        return Claim("resolved", ticket.number)

    async def _open_ticket_for_agent(
        self, uow: UnitOfWork, tg_id: int, ticket_id: int
    ) -> tuple[access.Actor, SupportTicket]:
        actor = await self._agent(uow, tg_id)
        ticket = await uow.support.ticket(ticket_id)
        if ticket is None or ticket.id is None:
            raise PermissionDeniedError("support.work", f"ticket:{ticket_id}")
        return actor, ticket

    async def toggle_waiting(self, *, tg_id: int, ticket_id: int) -> Claim:
        """⏳ The desk waits for the requester (the clocks stop), or ▶️ no longer does."""
        now = self._rt.clock()
        clock_of = await self._sla.clocks()
        async with self._rt.uow() as uow:
            actor, ticket = await self._open_ticket_for_agent(uow, tg_id, ticket_id)
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            if ticket.status == "waiting":
                values: dict[str, Any] = {
                    "status": "claimed",
                    **self._sla.pause_values(ticket, clock_of(ticket.category), now),
                }
                outcome, action = "resumed", "ticket.resume"
            else:
                values = {"status": "waiting", "paused_since": now}
                if ticket.assignee_id is None:
                    values.update(assignee_id=actor.staff_id, claimed_at=now)
                outcome, action = "waiting", "ticket.wait"
            if not await uow.support.change(
                ticket_id, version=ticket.version, updated_at=now, **values
            ):
                return Claim("stale", ticket.number)
            if outcome == "waiting":
                await self._sla.stop(uow, ticket, "waiting", now)
            await audit_ticket(uow, actor.staff_id, action, ticket.number, {}, now=now)
            await check_soon(uow, ticket_id, now)
            await post_card(uow, ticket, now=now)
            await uow.commit()
        return Claim(outcome, ticket.number)

    async def set_priority(self, *, tg_id: int, ticket_id: int, index: int) -> Claim:
        """A priority button on the card: the SLA targets change with it."""
        if not 0 <= index < len(PRIORITIES):
            raise BadCallbackError()
        priority = PRIORITIES[index]
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._open_ticket_for_agent(uow, tg_id, ticket_id)
            if ticket.status not in OPEN:
                return Claim("closed", ticket.number)
            if ticket.priority == priority:
                return Claim("priority", ticket.number, priority)
            before = ticket.priority
            if not await uow.support.change(
                ticket_id, version=ticket.version, priority=priority, updated_at=now
            ):
                return Claim("stale", ticket.number)
            await audit_ticket(
                uow,
                actor.staff_id,
                "ticket.priority",
                ticket.number,
                {"from": before, "to": priority},
                now=now,
            )
            await check_soon(uow, ticket_id, now)
            await post_card(uow, ticket, now=now)
            await uow.commit()
        return Claim("priority", ticket.number, priority)

    async def desk_message(
        self,
        *,
        chat_id: int,
        thread_id: int,
        message_id: int,
        tg_id: int,
        text: str | None,
        media: str | None,
    ) -> Relayed:
        """A message an agent wrote in a ticket's topic: relay it, or keep it as a note."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            key = await uow.outbox.topic_at(chat_id, thread_id)
            ticket = await self._ticket_of_topic(uow, key)
            if key is None or ticket is None or ticket.id is None:
                return Relayed("not_ours")
            try:
                actor = await self._agent(uow, tg_id)
            except (PermissionDeniedError, NotRegisteredError):
                # a group member who is not an agent: not relayed, and not answered in the group
                logger.info("ticket %s: a message from %s, who is not an agent", key, tg_id)
                return Relayed("not_agent", ticket.number)
            body = text if text else f"[{media or 'message'}]"
            if is_note(text):
                await record(uow, ticket.id, "note", body, now=now, staff_id=actor.staff_id)
                await uow.commit()
                return Relayed("note", ticket.number)
            requester = await uow.people.get(ticket.requester_id)
            if requester is None or requester.telegram_id is None:
                return Relayed("unreachable", ticket.number)
            relay_id = await uow.support.add_relay(
                ticket_id=ticket.id,
                direction="out",
                src_chat_id=chat_id,
                src_message_id=message_id,
                dst_chat_id=requester.telegram_id,
                at=now,
            )
            if relay_id is None:
                return Relayed("duplicate", ticket.number)
            await record(uow, ticket.id, "agent", body, now=now, staff_id=actor.staff_id)
            if await uow.outbox.is_unreachable(requester.telegram_id):
                if not ticket.unreachable:
                    await uow.support.change(
                        ticket.id, version=ticket.version, unreachable=True, updated_at=now
                    )
                    await post_card(uow, ticket, now=now)
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="support.unreachable",
                    now=now,
                    facts={"number": ticket.number},
                    ref_id=ticket.id,
                    priority=PRIORITY_INTERACTIVE,
                    topic_key=key,
                )
                await uow.commit()
                return Relayed("unreachable", ticket.number)
            await uow.outbox.add(
                chat_id=requester.telegram_id,
                kind="support.relay_out",
                staff_id=requester.id,
                now=now,
                facts={"from_chat": chat_id, "message_id": message_id, "number": ticket.number},
                ref_id=ticket.id,
                priority=PRIORITY_INTERACTIVE,
                dedupe_key=f"relay:{relay_id}",
            )
            await self._answered(uow, ticket, actor, now=now)
            await uow.commit()
        return Relayed("relayed", ticket.number)

    async def _answered(
        self, uow: UnitOfWork, ticket: SupportTicket, actor: access.Actor, *, now: datetime
    ) -> None:
        """An agent answered: the first response is timed, and the first to answer an
        unclaimed ticket owns it (its card shows them)."""
        assert ticket.id is not None
        values: dict[str, Any] = {"updated_at": now, "awaiting_since": None}
        if ticket.first_response_at is None:
            values["first_response_at"] = now
        if ticket.assignee_id is None:
            values.update(assignee_id=actor.staff_id, claimed_at=now)
        if ticket.status == "new":
            values["status"] = "claimed"
        claimed = "assignee_id" in values
        await uow.support.change(ticket.id, version=ticket.version, **values)
        await self._sla.stop(uow, ticket, "reply", now)
        await check_soon(uow, ticket.id, now)  # the clocks it answered stop
        if claimed:
            await post_card(uow, ticket, now=now)

    async def send_template(self, *, tg_id: int, chat_id: int, thread_id: int, key: str) -> str:
        """``/t key`` in a ticket's topic: the filled canned reply goes to the requester and
        the topic shows what was sent; ``/t`` alone lists the keys. Returns the outcome."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            topic = await uow.outbox.topic_at(chat_id, thread_id)
            ticket = await self._ticket_of_topic(uow, topic)
            if ticket is None or ticket.id is None or topic is None:
                return "not_ticket"
            actor = await self._agent(uow, tg_id)
            template = await uow.support.template(key) if key else None
            if template is None:
                keys = [t.key for t in await uow.support.templates()]
                await uow.outbox.add(
                    chat_id=chat_id,
                    kind="support.templates",
                    now=now,
                    facts={"keys": keys, "asked": key},
                    priority=PRIORITY_INTERACTIVE,
                    topic_key=topic,
                )
                await uow.commit()
                return "listed"
            requester = await uow.people.get(ticket.requester_id)
            if requester is None or requester.telegram_id is None:
                return "unreachable"
            department = await uow.people.department(requester.department_id)
            text = fill_template(
                template.body,
                name=requester.name,
                number=ticket.number,
                department=department.name if department is not None else "",
            )
            await record(uow, ticket.id, "agent", text, now=now, staff_id=actor.staff_id)
            await uow.outbox.add(
                chat_id=requester.telegram_id,
                kind="support.template_reply",
                staff_id=requester.id,
                now=now,
                facts={"text": text},
                ref_id=ticket.id,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.outbox.add(
                chat_id=chat_id,
                kind="support.template_sent",
                now=now,
                facts={"key": key, "text": text},
                ref_id=ticket.id,
                priority=PRIORITY_NOTIFY,
                topic_key=topic,
            )
            await self._answered(uow, ticket, actor, now=now)
            await audit_ticket(
                uow, actor.staff_id, "ticket.template", ticket.number, {"template": key}, now=now
            )
            await uow.commit()
        return "sent"

    async def _ticket_of_topic(self, uow: UnitOfWork, topic: str | None) -> SupportTicket | None:
        if topic is None or not topic.startswith("ticket:") or not topic[7:].isdigit():
            return None
        return await uow.support.ticket(int(topic[7:]))

    async def user_message(
        self,
        *,
        tg_id: int,
        chat_id: int,
        message_id: int,
        text: str | None,
        media: str | None,
        album: str | None = None,
        file: FileInfo | None = None,
    ) -> Relayed:
        """A message from a requester: relayed to the ticket they are writing to, if any
        (``album``: the media group it belongs to; ``file``: the file it carries, archived
        with the ticket when the message is relayed).

        Writing to a ticket resolved less than 72 hours ago reopens it; to one resolved longer
        ago, or closed, opens a new ticket that follows up on it."""
        now = self._rt.clock()
        clock_of = await self._sla.clocks()
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            writing = await uow.support.writing(actor.staff_id)
            if writing is None or writing.until < now:
                return Relayed("not_ours")
            if writing.ticket_id is None:  # /support → category → this message opens it
                opened = await self._open_from_message(
                    uow,
                    actor,
                    writing.category,
                    chat_id=chat_id,
                    message_id=message_id,
                    text=text,
                    media=media,
                    now=now,
                    album=album,
                    file=file,
                )
                await uow.commit()
                return Relayed("opened", opened.number)
            ticket = await uow.support.ticket(writing.ticket_id)
            if ticket is None or ticket.id is None:
                return Relayed("not_ours")
            if ticket.status == "closed" or (
                ticket.status == "resolved"
                and ticket.resolved_at is not None
                and now - ticket.resolved_at > REOPEN_WITHIN
            ):
                follow_up = await self._open_from_message(
                    uow,
                    actor,
                    ticket.category,
                    chat_id=chat_id,
                    message_id=message_id,
                    text=text,
                    media=media,
                    now=now,
                    related_to=ticket,
                    album=album,
                    file=file,
                )
                await uow.commit()
                return Relayed("opened", follow_up.number)
            reopened = False
            clock = clock_of(ticket.category)
            values: dict[str, Any] = {}
            if ticket.status == "resolved":
                # the time it stood resolved does not count against the resolution target
                resolved_for = clock.between(ticket.resolved_at or now, now)
                values.update(
                    status="claimed" if ticket.assignee_id else "new",
                    resolved_at=None,
                    paused_seconds=ticket.paused_seconds + int(resolved_for.total_seconds()),
                )
                reopened = True
            elif ticket.status == "waiting":  # the desk was waiting for this: the clocks run
                values.update(status="claimed", **self._sla.pause_values(ticket, clock, now))
            if ticket.first_response_at is not None and ticket.awaiting_since is None:
                values["awaiting_since"] = now  # the update clock starts
            if ticket.unreachable:  # the requester wrote: they can hear us again
                values["unreachable"] = False
            if values:
                await uow.support.change(
                    ticket.id, version=ticket.version, updated_at=now, **values
                )
            if ticket.desk_chat_id is not None and not await self._relay_in(
                uow,
                ticket,
                chat_id=chat_id,
                message_id=message_id,
                now=now,
                text=text,
                media=media,
                album=album,
                file=file,
            ):
                return Relayed("duplicate", ticket.number)
            await record(
                uow,
                ticket.id,
                "user",
                text if text else f"[{media or 'message'}]",
                now=now,
                staff_id=actor.staff_id,
            )
            await uow.support.start_writing(actor.staff_id, ticket.id, until=now + WRITING_FOR)
            if ticket.desk_chat_id is not None:
                if reopened or "status" in values or "unreachable" in values:
                    await post_card(uow, ticket, now=now)
            else:
                await self._tell_agents(uow, ticket, text or f"[{media or 'message'}]", now=now)
            if values:
                await check_soon(uow, ticket.id, now)
            await uow.commit()
        return Relayed("reopened" if reopened else "relayed", ticket.number)

    async def writing_to_ticket(self, *, tg_id: int) -> bool:
        """Whether this user's next message goes to a ticket (the edge then fetches a file in
        it, to be archived with the ticket)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:
            staff = await uow.people.by_telegram_id(tg_id)
            if staff is None or staff.id is None:
                return False
            writing = await uow.support.writing(staff.id)
            return writing is not None and writing.until >= now

    async def _archive(
        self,
        uow: UnitOfWork,
        ticket: SupportTicket,
        *,
        chat_id: int,
        message_id: int,
        file: FileInfo,
        now: datetime,
    ) -> None:
        """Keep a relayed file with its ticket: its bytes (encrypted), or, without them (over
        the download limit, or the download failed), its file id, marked not archived, and
        the topic told."""
        assert ticket.id is not None
        missing = None if file.data is not None else (file.missing or "too_big")
        await uow.support.add_attachment(
            SupportAttachment(
                ticket_id=ticket.id,
                at=now,
                src_chat_id=chat_id,
                src_message_id=message_id,
                kind=file.kind[:12],
                file_id=file.file_id[:200],
                file_unique_id=file.unique_id[:64],
                file_name=file.name[:255],
                mime_type=file.mime_type[:100],
                size=file.size,
                data=file.data,
                not_archived=missing,
            )
        )
        if missing is None:
            return
        await record(uow, ticket.id, "bot", f"{file.label()}: not archived ({missing})", now=now)
        await in_topic(
            uow,
            ticket,
            "support.not_archived",
            {
                "name": file.name or file.kind,
                "size": file.size,
                "reason": missing,
                "limit": DOWNLOAD_LIMIT,
            },
            now=now,
        )

    async def user_edit(
        self, *, tg_id: int, chat_id: int, message_id: int, text: str | None
    ) -> bool:
        """The requester edited a message already copied into the topic: the topic gets
        "✏️ edited" with the new words, as a reply to the copy. (Not sent yet: the copy will
        carry the new words by itself.)"""
        if not text:
            return False
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            relay = await uow.support.relay_of(chat_id, message_id)
            if relay is None or relay.direction != "in" or relay.id is None:
                return False
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            ticket = await uow.support.ticket(relay.ticket_id)
            copy = await uow.outbox.sent_message_of(relay.carried_by or f"relay:{relay.id}")
            if ticket is None or ticket.id is None or copy is None:
                return False
            await record(
                uow, ticket.id, "user", f"(edited) {text}", now=now, staff_id=actor.staff_id
            )
            await in_topic(
                uow,
                ticket,
                "support.edited",
                {"text": text[:3500], "reply_to": copy[1]},
                now=now,
            )
            await uow.commit()
        return True

    async def agent_edit(
        self, *, tg_id: int, chat_id: int, message_id: int, html_text: str | None
    ) -> bool:
        """An agent edited a reply already copied to the requester: the copy is edited too.
        (Only text: a caption's edit is not mirrored.)"""
        if not html_text:
            return False
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            relay = await uow.support.relay_of(chat_id, message_id)
            if relay is None or relay.direction != "out" or relay.id is None:
                return False
            await self._agent(uow, tg_id)
            copy = await uow.outbox.sent_message_of(f"relay:{relay.id}")
            ticket = await uow.support.ticket(relay.ticket_id)
            if copy is None or ticket is None or ticket.id is None:
                return False
            requester = await uow.people.get(ticket.requester_id)
            await uow.outbox.add(
                chat_id=copy[0],
                kind="support.edit_copy",
                staff_id=requester.id if requester is not None else None,
                now=now,
                facts={"html": html_text[:4000], "message_id": copy[1]},
                ref_id=ticket.id,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
        return True

    async def _tell_agents(
        self, uow: UnitOfWork, ticket: SupportTicket, text: str, *, now: datetime
    ) -> None:
        """No desk group: the assignee (or every support agent) gets the message as a DM."""
        agents = (
            [a for a in [await uow.people.get(ticket.assignee_id)] if a is not None]
            if ticket.assignee_id
            else list(await uow.people.staff_with_role(Role.SUPPORT.value))
        )
        assert ticket.id is not None
        await tell_staff(
            uow,
            agents,
            "support.user_wrote",
            {"number": ticket.number, "text": text[:1000]},
            ticket_id=ticket.id,
            now=now,
        )

    async def start_writing(self, *, tg_id: int, chat_id: int, ticket_id: int) -> str:
        """The requester's next messages go to this ticket (✍️ Add a message)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor, ticket = await self._own_ticket(uow, tg_id, ticket_id)
            await uow.support.start_writing(actor.staff_id, ticket_id, until=now + WRITING_FOR)
            await uow.outbox.add(
                chat_id=chat_id,
                kind="support.writing",
                staff_id=actor.staff_id,
                now=now,
                facts={"ticket_id": ticket_id, "number": ticket.number},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
        return ticket.number

    async def stop_writing(self, *, tg_id: int) -> None:
        async with self._rt.uow() as uow:
            actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
            await uow.support.stop_writing(actor.staff_id)
            await uow.commit()

    async def _own_ticket(
        self, uow: UnitOfWork, tg_id: int, ticket_id: int
    ) -> tuple[access.Actor, SupportTicket]:
        actor = await access.load_actor(uow, tg_id, default_locale=self._default_locale)
        ticket = await uow.support.ticket(ticket_id)
        if ticket is None or ticket.requester_id != actor.staff_id:
            raise PermissionDeniedError("support.own", f"ticket:{ticket_id}")
        return actor, ticket
