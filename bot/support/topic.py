"""A ticket's topic in the desk group and the card at its top: what opening a ticket and
working it both post (bot/support/intake.py, bot/support/desk.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import access
from bot.errors import PermissionDeniedError
from bot.i18n import N_
from bot.messaging.services import PRIORITY_NOTIFY
from bot.people.domain import Role
from storage.tables.people import Staff
from storage.tables.support import SupportMessage, SupportTicket
from storage.uow import UnitOfWork

OPEN = ("new", "claimed", "waiting")
# What a ticket is about: the requester picks one when opening it from /support.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("account", N_("Account and login")),
    ("documents", N_("Documents and approvals")),
    ("expenses", N_("Reimbursement")),
    ("devices", N_("Devices and network")),
    ("other", N_("Something else")),
)
WRITING_FOR = timedelta(minutes=30)  # how long "writing to a ticket" lasts after a message
REOPEN_WITHIN = timedelta(hours=72)  # a message this soon after resolution reopens the ticket
SUMMARY_MESSAGES = 3  # on the card: the last few messages, for a topic re-created after deletion
NOTE_PREFIXES = ("#", "!note")
_QUOTE = 300  # characters of a message quoted on the card


@dataclass(frozen=True)
class Claim:
    """What an agent's button did to a ticket (for the toast): claimed | mine | taken | stale
    | closed | resolved | waiting | resumed | priority | moved | recategorized | merged |
    assigned | picked | same | other_requester | not_found."""

    outcome: str
    number: str
    by: str | None = None  # who owns it (taken, assigned), the priority (priority), ...


async def load_agent(uow: UnitOfWork, tg_id: int, *, default_locale: str) -> access.Actor:
    """The member of the desk pressing a button or writing in a topic (support or admin)."""
    actor = await access.load_actor(uow, tg_id, default_locale=default_locale)
    if not (actor.has_role(Role.SUPPORT) or actor.has_role(Role.ADMIN)):
        raise PermissionDeniedError("support.work")
    return actor


def ticket_topic(ticket_id: int) -> str:
    """The forum topic (and living card) key of a ticket."""
    return f"ticket:{ticket_id}"


def is_note(text: str | None) -> bool:
    """An internal note: never relayed to the requester."""
    return (text or "").lstrip().lower().startswith(NOTE_PREFIXES)


# The topic title starts with the ticket's state, so the group's topic list shows it.
STATUS_MARKS = {"new": "🟢", "claimed": "🟡", "waiting": "⏳", "resolved": "✅", "closed": "⚪"}


def topic_name(number: str, name: str, subject: str, status: str = "new") -> str:
    """The topic's title: state, number, requester, subject (Telegram allows 128 characters)."""
    mark = STATUS_MARKS.get(status, STATUS_MARKS["new"])
    title = f"{mark} {number} {name} · {subject}".strip()
    return title if len(title) <= 128 else title[:127] + "…"


async def card_facts(uow: UnitOfWork, ticket: SupportTicket, now: datetime) -> dict[str, Any]:
    """Everything the desk card shows, as facts for its renderer."""
    assert ticket.id is not None
    requester = await uow.people.get(ticket.requester_id)
    department = (
        await uow.people.department(requester.department_id) if requester is not None else None
    )
    roles = sorted(await uow.people.roles_of(ticket.requester_id)) if requester else []
    assignee = await uow.people.get(ticket.assignee_id) if ticket.assignee_id else None
    recent = await uow.support.last_messages(ticket.id, SUMMARY_MESSAGES)
    related = await uow.support.ticket(ticket.related_to) if ticket.related_to else None
    return {
        "ticket_id": ticket.id,
        "number": ticket.number,
        "version": ticket.version,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "subject": ticket.subject,
        "name": requester.name if requester is not None else "",
        "department": department.name if department is not None else "",
        "roles": roles,
        "assignee": assignee.name if assignee is not None else None,
        "unreachable": ticket.unreachable,
        "rating": ticket.rating,
        "created_at": ticket.created_at.isoformat(),
        "follows": related.number if related is not None else None,
        "sla": [dict(d) for d in ticket.sla_due or []],
        "breached": ticket.breached_at is not None,
        "merged": ticket.merged_into is not None,
        "drawn_at": now.isoformat(),
        "recent": [
            {"author": m.author, "text": m.body[:_QUOTE]}
            for m in recent
            if m.author in ("user", "agent")
        ],
    }


async def post_card(uow: UnitOfWork, ticket: SupportTicket, *, now: datetime) -> None:
    """Declare the ticket's topic (first call) and queue its card, new or edited in place."""
    assert ticket.id is not None and ticket.desk_chat_id is not None
    key = ticket_topic(ticket.id)
    facts = await card_facts(uow, ticket, now)
    name = topic_name(ticket.number, str(facts["name"]), ticket.subject, ticket.status)
    known = (await uow.outbox.topics([key])).get(key)
    if known is None:
        await uow.outbox.ensure_topic(
            key, chat_id=ticket.desk_chat_id, name=name, now=now, card_key=key
        )
    elif known.name != name:  # the state changed: so does the title (one more call)
        await uow.outbox.rename_topic(key, name=name, now=now)
        if known.thread_id is not None:  # not created yet: it will be, under the new name
            await uow.outbox.add(
                chat_id=ticket.desk_chat_id,
                kind="support.topic_title",
                now=now,
                facts={"name": name},
                ref_id=ticket.id,
                priority=PRIORITY_NOTIFY,
                topic_key=key,
            )
    await uow.outbox.add(
        chat_id=ticket.desk_chat_id,
        kind="support.card",
        now=now,
        facts=facts,
        ref_id=ticket.id,
        priority=PRIORITY_NOTIFY,
        card_key=key,
        topic_key=key,
    )


# A burst from the requester goes to the topic as one relay: consecutive messages still queued
# join the row before them (bot/support/desk.py), up to these bounds.
BURST_MESSAGES = 10  # an album has at most 10 items; copyMessages takes up to 100
BURST_CHARS = 3500  # texts joined into one message (Telegram allows 4096)
ALBUM_HOLD = timedelta(seconds=2)  # an album's first item waits for the rest to join it


def relay_items(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages one relay row carries, oldest first: ``message_id``, ``text`` (a text
    message's words, None for media) and ``media`` (its kind, None for text)."""
    first = {
        key: facts.get(key) for key in ("message_id", "text", "caption", "file_id", "file_name")
    }
    # a row queued before bursts were merged says nothing: copy it as it is
    first["media"] = facts.get("media", "message") if "text" in facts else "message"
    more = [m for m in facts.get("more") or [] if isinstance(m, dict)]
    return [first, *more]


def burst_fits(items: list[dict[str, Any]]) -> bool:
    """Whether these messages can go as one relay."""
    if len(items) > BURST_MESSAGES:
        return False
    if all(item.get("media") is None for item in items):
        return sum(len(str(item.get("text") or "")) for item in items) <= BURST_CHARS
    return True


async def move_to_desk(
    uow: UnitOfWork,
    ticket: SupportTicket,
    chat_id: int,
    *,
    now: datetime,
    facts: dict[str, Any],
    farewell: bool = True,
) -> None:
    """The ticket goes to another desk group: a last word in its old topic (``facts`` say
    where it went; none when the bot left that group), its topic created anew in the new one
    with its card. Caller commits."""
    assert ticket.id is not None
    old_chat = ticket.desk_chat_id
    if old_chat == chat_id:
        return
    key = ticket_topic(ticket.id)
    retired = await uow.outbox.move_topic(
        key, chat_id=chat_id, retired_prefix=f"moved:{ticket.id}", now=now
    )
    await uow.support.set_desk_chat(ticket.id, chat_id)
    if farewell and retired is not None and old_chat is not None:
        await uow.outbox.add(
            chat_id=old_chat,
            kind="support.moved",
            now=now,
            facts=facts,
            ref_id=ticket.id,
            priority=PRIORITY_NOTIFY,
            topic_key=retired,
        )
    await post_card(uow, ticket, now=now)


async def in_topic(
    uow: UnitOfWork,
    ticket: SupportTicket,
    kind: str,
    facts: dict[str, Any],
    *,
    now: datetime,
    priority: int = PRIORITY_NOTIFY,
    dedupe_key: str | None = None,
    not_before: datetime | None = None,
) -> None:
    """A message from the bot in the ticket's topic (nothing when it has no desk group)."""
    if ticket.desk_chat_id is None or ticket.id is None:
        return
    await uow.outbox.add(
        chat_id=ticket.desk_chat_id,
        kind=kind,
        now=now,
        facts=facts,
        ref_id=ticket.id,
        priority=priority,
        dedupe_key=dedupe_key,
        not_before=not_before,
        topic_key=ticket_topic(ticket.id),
    )


async def record(
    uow: UnitOfWork,
    ticket_id: int,
    author: str,
    body: str,
    *,
    now: datetime,
    staff_id: int | None = None,
) -> None:
    """One line of a ticket's history (user, agent, note or bot; encrypted at rest)."""
    await uow.support.add_message(
        SupportMessage(ticket_id=ticket_id, at=now, author=author, staff_id=staff_id, body=body)
    )


async def audit_ticket(
    uow: UnitOfWork,
    actor_id: int | None,
    action: str,
    number: str,
    details: dict[str, Any],
    *,
    now: datetime,
) -> None:
    """The audit trail's entry for something done to a ticket (actor None: the bot did it)."""
    await uow.audit.append(
        actor_id=actor_id, action=action, obj=f"ticket:{number}", details=details, now=now
    )


async def tell_requester(
    uow: UnitOfWork,
    ticket: SupportTicket,
    kind: str,
    facts: dict[str, Any],
    *,
    now: datetime,
    priority: int = PRIORITY_NOTIFY,
) -> Staff | None:
    """A private message to the ticket's requester, if they have Telegram; who they are."""
    requester = await uow.people.get(ticket.requester_id)
    if requester is None or requester.telegram_id is None or requester.id is None:
        return None
    await uow.outbox.add(
        chat_id=requester.telegram_id,
        kind=kind,
        staff_id=requester.id,
        now=now,
        facts=facts,
        ref_id=ticket.id,
        priority=priority,
    )
    return requester


async def tell_staff(
    uow: UnitOfWork,
    people: Iterable[Staff],
    kind: str,
    facts: dict[str, Any],
    *,
    ticket_id: int | None,
    now: datetime,
    dedupe: str | None = None,
    priority: int = PRIORITY_NOTIFY,
) -> list[Staff]:
    """A private message about a ticket (None: about the desk) to each of these staff who has
    Telegram (``dedupe``: a key prefix, completed by each recipient's id, so a repeat sends
    nothing twice); those it went to."""
    told: list[Staff] = []
    for person in people:
        if person.telegram_id is None or person.id is None:
            continue
        await uow.outbox.add(
            chat_id=person.telegram_id,
            kind=kind,
            staff_id=person.id,
            now=now,
            facts=facts,
            ref_id=ticket_id,
            priority=priority,
            dedupe_key=f"{dedupe}:{person.id}" if dedupe else None,
        )
        told.append(person)
    return told
