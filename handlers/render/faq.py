"""Renderers for answering staff from the knowledge base (and the trainers' preview)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardButton

from bot.emulator.html import HtmlParseError, parse_html
from bot.i18n import Translator
from bot.messaging.outgoing import Outgoing
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders

MAX_TEXT = 4096  # Telegram counts the text after parsing the HTML
BUTTON_CHARS = 60  # a button label longer than this is cut (phones show about 30)


def _button(label: str, action: str, obj: int, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj, version)))


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BUTTON_CHARS else text[: BUTTON_CHARS - 1] + "…"


def _fits(text: str) -> bool:
    try:
        return len(parse_html(text, strict_ampersand=False).text) <= MAX_TEXT
    except HtmlParseError:
        return False


def answer_text(facts: Mapping[str, Any], tr: Translator) -> str:
    """The answer as staff read it: the question in bold, the answer, then what to do next.

    The answer alone may use all of Telegram's 4096 characters; the heading and the footer are
    dropped, in that order, rather than ever sending a message Telegram would refuse.
    """
    answer = str(facts.get("answer", ""))
    heading = f"<b>{html.escape(str(facts.get('question', '')))}</b>"
    if facts.get("preview"):
        heading = tr.gettext("👀 Preview: staff will see exactly this.") + "\n\n" + heading
    footer = _answer_footer(facts, tr)
    files = "\n".join("📎 " + html.escape(str(name)) for name in facts.get("attachments") or ())
    for parts in (
        (heading, answer, files, footer),
        (answer, files, footer),
        (answer, files),
        (answer,),
    ):
        text = "\n\n".join(part for part in parts if part)
        if _fits(text):
            return text
    return answer


def _answer_footer(facts: Mapping[str, Any], tr: Translator) -> str:
    if facts.get("preview"):
        return ""
    if facts.get("ticket"):
        return tr.gettext(
            "🛟 Handed to the support desk as ticket {number}: they will reply in this chat.",
            number=html.escape(str(facts["ticket"])),
        )
    feedback = facts.get("feedback")
    if feedback == "up":
        return tr.gettext("✅ Glad it helped. Thank you for telling us.")
    if feedback == "down":
        return tr.gettext(
            "Sorry this did not solve it. Try asking in other words, or hand it to a person."
        )
    return tr.gettext("Did this answer your question?")


def answer_rows(facts: Mapping[str, Any], tr: Translator) -> list[list[InlineKeyboardButton]]:
    """Feedback (once), "ask a person" after 👎, and one row per follow-up entry."""
    rows: list[list[InlineKeyboardButton]] = []
    question_id = int(facts.get("question_id") or 0)
    live = not facts.get("preview") and question_id > 0
    if live and not facts.get("ticket"):
        feedback = facts.get("feedback")
        if feedback is None:
            rows.append(
                [
                    _button(tr.gettext("👍 Solved"), "kb.up", question_id),
                    _button(tr.gettext("👎 Not solved"), "kb.down", question_id),
                ]
            )
        elif feedback == "down":
            rows.append([_button(tr.gettext("🛟 Ask a person"), "kb.ask", question_id)])
    for entry_id, question in facts.get("follow_ups") or ():
        # A follow-up is logged as a question of its own (version 0), even from a preview.
        rows.append([_button("➡️ " + _label(str(question)), "kb.open", int(entry_id), 0)])
    return rows


@renders("faq.answer")
def answer(out: Outgoing, tr: Translator) -> Rendered:
    return living_card(out, answer_text(out.facts, tr), answer_rows(out.facts, tr))


@renders("faq.prompt")
def prompt(out: Outgoing, tr: Translator) -> Rendered:
    if not int(out.facts.get("entries") or 0):
        return Rendered(
            "send",
            tr.gettext(
                "The knowledge base has no answers published yet. Type your question anyway: "
                "if I cannot answer it, you can hand it to the support desk."
            ),
        )
    return Rendered(
        "send",
        tr.gettext(
            "📚 Ask me about the new office system in your own words, in Chinese or "
            "English. For example:\n"
            "• OA 密码忘了怎么办\n"
            "• How do I reimburse a business trip?\n"
            "• U盾被锁了\n\n"
            "Just type the question and send it."
        ),
    )


@renders("faq.suggest")
def suggest(out: Outgoing, tr: Translator) -> Rendered:
    question_id = int(out.facts.get("question_id") or 0)
    rows = [
        [_button(_label(str(question)), "kb.open", int(entry_id), question_id)]
        for entry_id, question in out.facts.get("options") or ()
    ]
    rows.append([_button(tr.gettext("None of these: ask a person"), "kb.ask", question_id)])
    return living_card(
        out,
        tr.gettext(
            "I am not sure I understood. Did you mean one of these? (Or ask again in other words.)"
        ),
        rows,
    )


@renders("faq.unknown")
def unknown(out: Outgoing, tr: Translator) -> Rendered:
    question_id = int(out.facts.get("question_id") or 0)
    if out.facts.get("ticket"):
        text = tr.gettext(
            "I could not answer this, so it went to the support desk as ticket {number}. "
            "They will reply in this chat.",
            number=html.escape(str(out.facts["ticket"])),
        )
        return living_card(out, text)
    text = tr.gettext(
        "I don't know the answer to that yet. I have noted the question so that the trainers "
        "can add it. A person at the support desk can help you now."
    )
    return living_card(
        out, text, [[_button(tr.gettext("🛟 Ask a person"), "kb.ask", question_id)]]
    )


@renders("faq.small_talk")
def small_talk(out: Outgoing, tr: Translator) -> Rendered:
    if out.facts.get("kind") == "thanks":
        return Rendered("send", tr.gettext("You're welcome! Ask me any time."))
    return Rendered(
        "send",
        tr.gettext(
            "Hello! Type a question about the office system in your own words and I will "
            "answer it, or use /menu to see everything I can do."
        ),
    )


@renders("faq.attachment")
def attachment(out: Outgoing, tr: Translator) -> Rendered:
    name = str(out.facts.get("name", ""))
    return Rendered("document", "📎 " + html.escape(name), file_id=str(out.facts["file_id"]))


@renders("faq.entry_gone")
def entry_gone(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send", tr.gettext("That answer is no longer available. Please ask your question again.")
    )
