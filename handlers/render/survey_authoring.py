"""Renderers for writing a survey in the chat (/newsurvey, bot/surveys/authoring.py)."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton

from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from bot.surveys.authoring import KINDS
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders
from handlers.render.surveys import AUDIENCE_PROBLEMS

KIND_LABELS = {
    "single": N_("Single choice"),
    "multiple": N_("Multiple choice"),
    "rating": N_("Rating 1–5"),
    "nps": N_("NPS 0–10"),
    "text": N_("Free text"),
    "date": N_("Date"),
    "number": N_("Number"),
}
PROMPTS = {
    "title": N_(
        "Send the survey's title. An English version may follow a “|”, for example: "
        "试点反馈 | Pilot feedback"
    ),
    "anonymous": N_(
        "Anonymous or named? In an anonymous survey nobody, administrators included, can see "
        "who answered what."
    ),
    "welcome": N_("Send the welcome text shown before the first question, or skip."),
    "menu": N_("Question {n}: choose its type."),
    "q_text": N_("Send the text of question {n} ({kind})."),
    "q_choices": N_("Send the choices, one a line (2 to 20)."),
    "q_required": N_("Must everyone answer this question?"),
    "closing": N_("Send the closing text shown after submitting, or skip."),
    "audience": N_(
        "Who is it for? Send all, or dept:NAME, role:ROLE, staff:EMPLOYEE_NO, group:NAME "
        "separated by commas, for example: dept:办公室,role:trainer"
    ),
    "closes": N_("Send the closing date (YYYY-MM-DD), or publish without one."),
}
ERRORS = {
    "empty": N_("That was empty."),
    "too_long": N_("That is {length} characters; at most {limit}."),
    "choices": N_("A question needs 2 to {most} choices; that was {count}."),
    "choice_twice": N_("Two choices are the same."),
    "date": N_("“{what}” is not a date (YYYY-MM-DD)."),
    "past": N_("{what} has passed already."),
    "tap_a_button": N_("Please use the buttons of this step."),
    "definition": N_("The survey could not be read back: {where}"),
}


def _b(label: str, verb: str, code: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(f"sa.{verb}", 0, code)))


def _pair(value: object, tr: Translator) -> str:
    if isinstance(value, list) and len(value) == 2:
        return html.escape(str(value[1] if tr.locale == "en" else value[0]))
    return ""


def _error(error: dict[str, Any], tr: Translator) -> list[str]:
    code = str(error.get("code"))
    if code == "audience":
        out = []
        for item in error.get("problems") or []:
            if isinstance(item, list) and len(item) == 2 and item[0] in AUDIENCE_PROBLEMS:
                what = html.escape(str(item[1]))
                out.append("⚠️ " + tr.gettext(AUDIENCE_PROBLEMS[item[0]], what=what))
        return out
    if code not in ERRORS:
        return []
    values = {k: html.escape(str(v)) for k, v in error.items() if k != "code"}
    return ["⚠️ " + tr.gettext(ERRORS[code], **values)]


@renders("survey.author")
def author_card(out: Outgoing, tr: Translator) -> Rendered:
    """The draft so far, what this step asks, and its buttons."""
    facts = out.facts
    step = str(facts.get("step"))
    title = _pair(facts.get("title"), tr)
    if step == "published":
        return living_card(out, tr.gettext("✅ The survey “{title}” is published.", title=title))
    if step == "cancelled":
        return living_card(out, tr.gettext("Writing the survey was cancelled; nothing was sent."))
    lines = [tr.gettext("📝 <b>New survey</b>")]
    if title:
        kind = (
            tr.gettext("anonymous")
            if facts.get("anonymous")
            else (tr.gettext("named") if facts.get("anonymous") is not None else "")
        )
        lines.append(f"<b>{title}</b>" + (f" · {kind}" if kind else ""))
    questions = facts.get("questions") or []
    for number, q in enumerate(questions, start=1):
        notes = [tr.gettext(KIND_LABELS.get(str(q.get("kind")), "?"))]
        if q.get("choices"):
            notes.append(tr.ngettext("{n} choice", "{n} choices", int(q["choices"])))
        if not q.get("required", True):
            notes.append(tr.gettext("optional"))
        lines.append(f"{number}. {_pair(q.get('text'), tr)} <i>({', '.join(notes)})</i>")
    n = len(questions) + 1
    pending = facts.get("pending") or {}
    kind_label = tr.gettext(KIND_LABELS.get(str(pending.get("kind")), "?"))
    lines.append("")
    lines.append(
        tr.gettext(PROMPTS.get(step, ""), n=n, kind=kind_label) if step in PROMPTS else ""
    )
    error = facts.get("error")
    if isinstance(error, dict):
        lines.extend(_error(error, tr))
    rows: list[list[InlineKeyboardButton]] = []
    if step == "anonymous":
        rows.append(
            [_b(tr.gettext("🕶 Anonymous"), "anon", 1), _b(tr.gettext("👤 Named"), "anon", 0)]
        )
    elif step in ("welcome", "closing"):
        rows.append([_b(tr.gettext("Skip"), "skip")])
    elif step == "closes":
        rows.append([_b(tr.gettext("Publish without a closing date"), "skip")])
    elif step == "menu":
        labels = [_b(tr.gettext(KIND_LABELS[k.value]), "kind", i) for i, k in enumerate(KINDS)]
        rows.extend(labels[i : i + 2] for i in range(0, len(labels), 2))
        if questions:
            rows.append(
                [
                    _b(tr.gettext("↩️ Remove the last"), "undo"),
                    _b(tr.gettext("📄 YAML"), "export"),
                ]
            )
            rows.append([_b(tr.gettext("✅ No more questions"), "finish")])
    elif step == "q_required":
        rows.append([_b(tr.gettext("Required"), "req", 1), _b(tr.gettext("Optional"), "req", 0)])
    if step in ("q_text", "q_choices", "q_required"):
        rows.append([_b(tr.gettext("◀️ Drop this question"), "back")])
    rows.append([_b(tr.gettext("✖️ Cancel"), "cancel")])
    return living_card(out, "\n".join(lines), rows)


@renders("survey.author_file")
def author_file(out: Outgoing, tr: Translator) -> Rendered:
    """The draft as YAML: edit it (skip logic, hints) and send it back captioned /publish."""
    return Rendered(
        "document",
        tr.gettext("📄 The survey so far. Edit it and send it back captioned /publish AUDIENCE."),
        file_bytes=str(out.facts.get("yaml", "")).encode("utf-8"),
        file_name="survey.yaml",
    )
