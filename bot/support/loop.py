"""Closing the loop: a resolved ticket becomes a draft knowledge-base entry.

"📚 Turn into FAQ" on a resolved ticket's card drafts an entry from the requester's question
(their first message, with the ticket's subject) and the desk's answer (what the agents wrote
to the requester, notes left out). The draft lands in the trainers' review queue (the
editor's list of drafts) and each trainer is told, with a button to open it; nothing is
published until a trainer checks and publishes it.
"""

from __future__ import annotations

from bot.errors import BadCallbackError
from bot.faq.content import MAX_ANSWER, MAX_QUESTION, EntryContent
from bot.faq.library import DRAFT
from bot.runtime import Runtime
from bot.support.topic import Claim, audit_ticket, load_agent, record, tell_staff
from knowledge.normalise import has_cjk
from storage.tables.faq import FaqEntry
from storage.tables.support import SupportTicket
from storage.uow import UnitOfWork

DRAFTED_KIND = "support.faq_drafted"


def draft_key(ticket: SupportTicket) -> str:
    """The draft's key: one per ticket (``ticket-t2026-000123``)."""
    return f"ticket-{ticket.number.lower()}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FaqDraftService:
    """Drafts knowledge-base entries from resolved tickets."""

    def __init__(self, runtime: Runtime, *, default_locale: str) -> None:
        self._rt = runtime
        self._default_locale = default_locale

    async def draft(self, *, tg_id: int, ticket_id: int) -> Claim:
        """drafted | already (a draft or entry exists) | not_resolved | no_answer."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await load_agent(uow, tg_id, default_locale=self._default_locale)
            ticket = await uow.support.ticket(ticket_id)
            if ticket is None or ticket.id is None:
                raise BadCallbackError()
            if ticket.status not in ("resolved", "closed") or ticket.merged_into is not None:
                return Claim("not_resolved", ticket.number)
            key = draft_key(ticket)
            if await uow.faq.entry_by_key(key) is not None:
                return Claim("already", ticket.number, key)
            content = await self._content(uow, ticket, key)
            if content is None:
                return Claim("no_answer", ticket.number)
            entry = await uow.faq.add_entry(
                FaqEntry(
                    key=key,
                    locale=content.locale,
                    status=DRAFT,
                    draft=content.to_json(),
                    created_at=now,
                    updated_at=now,
                )
            )
            assert entry.id is not None
            await record(uow, ticket.id, "bot", f"drafted FAQ entry {key}", now=now)
            await tell_staff(
                uow,
                await uow.people.staff_with_role("trainer"),
                DRAFTED_KIND,
                {
                    "number": ticket.number,
                    "key": key,
                    "entry_id": entry.id,
                    "question": content.question,
                    "by": actor.name,
                },
                ticket_id=ticket.id,
                now=now,
                dedupe=f"faq-draft:{ticket.id}",
            )
            await audit_ticket(
                uow, actor.staff_id, "ticket.faq_draft", ticket.number, {"entry": key}, now=now
            )
            await uow.commit()
        return Claim("drafted", ticket.number, key)

    async def _content(
        self, uow: UnitOfWork, ticket: SupportTicket, key: str
    ) -> EntryContent | None:
        """The question (the requester's first words) and the desk's answer; None without
        an answer to the requester."""
        assert ticket.id is not None
        lines = await uow.support.messages(ticket.id)
        asked = next((m.body for m in lines if m.author == "user"), ticket.subject)
        answers = [m.body for m in lines if m.author == "agent"]
        if not answers:
            return None
        question = _cut(" ".join(asked.split()), MAX_QUESTION)
        alternatives = (ticket.subject,) if ticket.subject and ticket.subject != question else ()
        return EntryContent(
            key=key,
            question=question,
            answer=_cut("\n\n".join(answers), MAX_ANSWER - 100),
            alternatives=tuple(_cut(a, MAX_QUESTION) for a in alternatives),
            locale="zh" if has_cjk(question) else "en",
        )
