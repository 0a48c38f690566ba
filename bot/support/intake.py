"""Opening a ticket: a gap-free number, what the user asked and what they were already shown,
and word to the support desk, all in the caller's unit of work.

The FAQ's "ask a person" (#6) opens tickets this way; the support desk (#7) works them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.access import Actor
from bot.messaging.services import PRIORITY_INTERACTIVE, PRIORITY_NOTIFY
from bot.support.routing import desk_of
from bot.support.timers import check_soon
from bot.support.topic import WRITING_FOR, post_card, record, tell_staff, ticket_topic
from storage.tables.support import SupportTicket
from storage.uow import UnitOfWork

NUMBER_PREFIX = "T"
MAX_SUBJECT = 200  # the first line of the question, for lists and cards


@dataclass(frozen=True)
class Context:
    """What the bot had already shown the user before they asked for a person."""

    question: str
    shown_key: str | None = None
    shown_question: str | None = None
    score: float | None = None
    band: str | None = None


def ticket_number(year: int, serial: int) -> str:
    """``T2026-000123``: the year, then a serial with no gaps within it."""
    return f"{NUMBER_PREFIX}{year}-{serial:06d}"


def subject_of(text: str) -> str:
    """The first non-empty line, cut to fit a card."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= MAX_SUBJECT else line[: MAX_SUBJECT - 1] + "…"


async def open_ticket(
    uow: UnitOfWork,
    *,
    requester: Actor,
    context: Context,
    source: str,
    chat_id: int,
    now: datetime,
    fallback_desk: int | None,
    desk_locale: str,
    faq_question_id: int | None = None,
    category: str | None = None,
    related_to: SupportTicket | None = None,
) -> SupportTicket:
    """Create the ticket with its first messages, tell the user and the desk (the category's
    desk group, else the default one, else ``fallback_desk``); caller commits."""
    desk_chat_id = await desk_of(uow, category, fallback_desk)
    year = now.year
    number = ticket_number(year, await uow.numbers.allocate(NUMBER_PREFIX, year, now=now))
    ticket = await uow.support.add_ticket(
        SupportTicket(
            number=number,
            requester_id=requester.staff_id,
            status="new",
            source=source,
            subject=subject_of(context.question),
            faq_question_id=faq_question_id,
            created_at=now,
            updated_at=now,
            desk_chat_id=desk_chat_id,
            category=category,
            related_to=related_to.id if related_to is not None else None,
            priority=related_to.priority if related_to is not None else "normal",
        )
    )
    assert ticket.id is not None
    await record(uow, ticket.id, "user", context.question, now=now, staff_id=requester.staff_id)
    if context.shown_key is not None or context.score is not None:
        note = (
            f"FAQ band={context.band or '-'} shown={context.shown_key or '-'}"
            f" ({context.shown_question or '-'}) score={(context.score or 0.0):.2f}"
        )
        await record(uow, ticket.id, "bot", note, now=now)
    department = await uow.people.department(requester.department_id)
    facts = {
        "ticket_id": ticket.id,
        "number": number,
        "name": requester.name,
        "department": department.name if department is not None else "",
        "question": context.question,
        "shown_key": context.shown_key,
        "shown_question": context.shown_question,
        "score": context.score,
        "band": context.band,
        "source": source,
    }
    await uow.outbox.add(
        chat_id=chat_id,
        kind="support.opened",
        staff_id=requester.staff_id,
        now=now,
        facts={
            "number": number,
            "question": context.question,
            "ticket_id": ticket.id,
            "follows": related_to.number if related_to is not None else None,
        },
        ref_id=ticket.id,
        priority=PRIORITY_INTERACTIVE,
    )
    # what the requester writes next is added to the ticket (they are told so, with a way out)
    await uow.support.start_writing(requester.staff_id, ticket.id, until=now + WRITING_FOR)
    if desk_chat_id is not None:  # the ticket's own topic in the desk group, its card first
        await post_card(uow, ticket, now=now)
        if context.shown_key is not None or context.score is not None:
            await uow.outbox.add(
                chat_id=desk_chat_id,
                kind="support.faq_context",
                locale=desk_locale,
                now=now,
                facts=facts,
                ref_id=ticket.id,
                priority=PRIORITY_NOTIFY,
                topic_key=ticket_topic(ticket.id),
            )
    else:
        await tell_staff(
            uow,
            await uow.people.staff_with_role("support"),
            "support.new_ticket",
            facts,
            ticket_id=ticket.id,
            now=now,
            dedupe=f"ticket-agent:{ticket.id}",
        )
    await uow.audit.append(
        actor_id=requester.staff_id,
        action="ticket.open",
        obj=f"ticket:{number}",
        details={
            "source": source,
            "faq_question": faq_question_id,
            "follows": related_to.number if related_to is not None else None,
        },
        now=now,
    )
    await check_soon(uow, ticket.id, now)  # its SLA clocks start
    return ticket
