"""Renderers for support tickets: the requester's confirmation and the desk's notice."""

from __future__ import annotations

import html

from bot.i18n import Translator
from bot.messaging.outgoing import Outgoing
from handlers.render import Rendered, renders

QUOTE_CHARS = 1000  # of the question, quoted back in a confirmation or a desk notice


def _quote(text: object) -> str:
    value = str(text or "")
    if len(value) > QUOTE_CHARS:
        value = value[: QUOTE_CHARS - 1] + "…"
    return f"<blockquote>{html.escape(value)}</blockquote>"


@renders("support.opened")
def opened(out: Outgoing, tr: Translator) -> Rendered:
    text = tr.gettext(
        "🛟 Ticket <b>{number}</b> is open. The support desk has your question and will reply "
        "in this chat.",
        number=html.escape(str(out.facts.get("number", ""))),
    )
    return Rendered("send", text + "\n" + _quote(out.facts.get("question")))


@renders("support.already_open")
def already_open(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "This question is already with the support desk as ticket <b>{number}</b>.",
            number=html.escape(str(out.facts.get("number", ""))),
        ),
    )


@renders("support.new_ticket")
def new_ticket(out: Outgoing, tr: Translator) -> Rendered:
    facts = out.facts
    lines = [
        tr.gettext(
            "🆕 Ticket <b>{number}</b> from {name} ({department})",
            number=html.escape(str(facts.get("number", ""))),
            name=html.escape(str(facts.get("name", ""))),
            department=html.escape(str(facts.get("department", ""))),
        ),
        _quote(facts.get("question")),
    ]
    score = facts.get("score")
    percent = f"{float(score or 0.0):.0%}"
    if facts.get("shown_question"):
        lines.append(
            tr.gettext(
                "The knowledge base showed “{question}” ({key}, confidence {score}); "
                "it did not solve the problem.",
                question=html.escape(str(facts["shown_question"])),
                key=html.escape(str(facts.get("shown_key", ""))),
                score=percent,
            )
        )
    elif facts.get("source") == "faq":
        lines.append(
            tr.gettext(
                "The knowledge base had no answer (best confidence {score}).", score=percent
            )
        )
    return Rendered("send", "\n".join(lines))
