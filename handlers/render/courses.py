"""Renderers for training courses (#8): the invitation, the list, the lesson card (text, or a
photo/document/video with the text as its caption), the buttons taken off a left lesson, the
congratulations, the quiz due, reminders, the trainer's completion report."""

from __future__ import annotations

import base64
import binascii
import html
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from handlers.callbacks import Press, encode
from handlers.render import Rendered, renders
from handlers.render.surveys import AUDIENCE_PROBLEMS

COURSE_PROBLEMS = {
    **AUDIENCE_PROBLEMS,
    "past": N_("The due date {what} has already come; choose a later day."),
    "usage": N_("Write the caption as /course publish AUDIENCE DUE_DATE."),
}
MEDIA_METHODS = ("photo", "document", "video")


def _local(text: object, tr: Translator, *, escape: bool = True) -> str:
    """A {zh_CN, en} text in the reader's language (escaped unless it is lesson HTML)."""
    if not isinstance(text, dict):
        return ""
    value = str((text.get("en") if tr.locale == "en" else text.get("zh_CN")) or "")
    value = value or str(text.get("zh_CN") or "")
    return html.escape(value) if escape else value


def _button(label: str, action: str, course_id: int, lesson: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, course_id, lesson)))


def _due(value: object, tr: Translator) -> str | None:
    return tr.day(datetime.fromisoformat(value), "medium") if isinstance(value, str) else None


@renders("course.invite")
def invite(out: Outgoing, tr: Translator) -> Rendered:
    """A course assigned to this person: what it is, how many lessons, until when."""
    facts = out.facts
    lines = [tr.gettext("🎓 <b>New course: {title}</b>", title=_local(facts.get("title"), tr))]
    if facts.get("description"):
        lines.append(_local(facts.get("description"), tr))
    details = [tr.ngettext("{n} lesson", "{n} lessons", int(facts.get("lessons", 0) or 0))]
    if facts.get("quiz"):
        details.append(tr.gettext("a quiz at the end"))
    due = _due(facts.get("due_at"), tr)
    if due:
        details.append(tr.gettext("due {day}", day=due))
    lines.append(" · ".join(details))
    lines.append(tr.gettext("Go at your own pace: /course continues where you stopped."))
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("▶️ Start the course"), "cr.open", int(facts["course_id"]))]]
        ),
    )


@renders("course.remind")
def remind(out: Outgoing, tr: Translator) -> Rendered:
    """A reminder to somebody who has not completed a course before its due date."""
    facts = out.facts
    title = _local(facts.get("title"), tr)
    due = _due(facts.get("due_at"), tr) or ""
    if int(facts.get("days", 0) or 0) == 0:
        text = tr.gettext(
            "⏰ The course <b>{title}</b> is due today ({day}).", title=title, day=due
        )
    else:
        text = tr.ngettext(
            "⏰ The course <b>{title}</b> is due in {n} day ({day}).",
            "⏰ The course <b>{title}</b> is due in {n} days ({day}).",
            int(facts.get("days", 0) or 0),
            title=title,
            day=due,
        )
    return Rendered(
        "send",
        text,
        InlineKeyboardMarkup(
            [[_button(tr.gettext("▶️ Continue the course"), "cr.open", int(facts["course_id"]))]]
        ),
    )


@renders("course.published")
def published(out: Outgoing, tr: Translator) -> Rendered:
    """To the author: the course is assigned, and to how many."""
    facts = out.facts
    lines = [
        tr.gettext(
            "✅ Course #{id} “{title}” is assigned: {assigned} people, {messaged} sent an "
            "invitation. /course progress {id} shows completion by department.",
            id=str(facts.get("id", "")),
            title=html.escape(str(facts.get("title", ""))),
            assigned=str(facts.get("assigned", 0)),
            messaged=str(facts.get("messaged", 0)),
        )
    ]
    missing = [html.escape(str(n)) for n in facts.get("unreachable") or []]
    if missing:
        lines.append(
            tr.gettext("Not on Telegram yet (no invitation): {names}", names="、".join(missing))
        )
    return Rendered("send", "\n".join(lines))


@renders("course.refused")
def refused(out: Outgoing, tr: Translator) -> Rendered:
    """To the author: no course was assigned, and why."""
    facts = out.facts
    lines = [tr.gettext("❌ The course was not assigned.")]
    code = facts.get("code")
    if code == "definition":
        lines.append(html.escape(str(facts.get("where", ""))))
    elif code == "encoding":
        lines.append(tr.gettext("The file must be YAML in UTF-8."))
    else:
        for item in facts.get("problems") or []:
            if isinstance(item, list) and len(item) == 2 and item[0] in COURSE_PROBLEMS:
                lines.append(
                    "• " + tr.gettext(COURSE_PROBLEMS[item[0]], what=html.escape(str(item[1])))
                )
        lines.append(
            tr.gettext(
                "Send the file captioned /course publish AUDIENCE DUE_DATE, for example "
                "/course publish dept:办公室,role:staff 2026-12-31."
            )
        )
    return Rendered("send", "\n".join(lines))


@renders("course.list")
def course_list(out: Outgoing, tr: Translator) -> Rendered:
    """/course and 🎓 in the menu: this person's courses with their progress."""
    courses = [c for c in out.facts.get("courses") or [] if isinstance(c, dict)]
    if not courses:
        return Rendered("send", tr.gettext("🎓 No course is assigned to you."))
    lines = [tr.gettext("🎓 <b>My courses</b>")]
    rows: list[list[InlineKeyboardButton]] = []
    for course in courses:
        title = _local(course.get("title"), tr)
        notes = [
            tr.gettext(
                "{read}/{total} lessons",
                read=str(course.get("read", 0)),
                total=str(course.get("total", 0)),
            )
        ]
        due = _due(course.get("due_at"), tr)
        if due:
            notes.append(tr.gettext("due {day}", day=due))
        if course.get("completed"):
            notes.append(tr.gettext("✅ completed"))
        elif course.get("quiz_due"):
            notes.append(tr.gettext("📝 quiz to take"))
        if course.get("overdue"):
            notes.append(tr.gettext("⚠️ overdue"))
        lines.append(" · ".join([f"• {title}", *notes]))
        if course.get("completed"):
            label = tr.gettext("🔁 Review: {title}", title=title)
        elif course.get("begun"):
            label = tr.gettext("▶️ Continue learning: {title}", title=title)
        else:
            label = tr.gettext("▶️ Start learning: {title}", title=title)
        rows.append([_button(label, "cr.open", int(course.get("id", 0)))])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows))


def _media(media: Any) -> dict[str, Any] | None:
    if not isinstance(media, dict) or media.get("kind") not in MEDIA_METHODS:
        return None
    if isinstance(media.get("file_id"), str):
        return {"file_id": media["file_id"]}
    try:
        data = base64.b64decode(str(media.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data:
        return None
    return {
        "file_bytes": data,
        "file_name": str(media.get("file_name") or "file"),
        "file_key": str(media.get("file_key") or "") or None,
    }


@renders("course.lesson")
def lesson_card(out: Outgoing, tr: Translator) -> Rendered:
    """One lesson: "Lesson 2/6 title", the body (the author's checked HTML), its media, and
    ◀️ previous / next ▶️ (finish on the last)."""
    facts = out.facts
    course_id = int(facts.get("course_id", 0))
    index = int(facts.get("lesson", 0))
    total = int(facts.get("total", 1))
    lines = [
        f"🎓 {_local(facts.get('course'), tr)}",
        tr.gettext(
            "<b>Lesson {n}/{total}: {title}</b>",
            n=str(index + 1),
            total=str(total),
            title=_local(facts.get("title"), tr),
        ),
        "",
        _local(facts.get("body"), tr, escape=False),
    ]
    buttons: list[InlineKeyboardButton] = []
    if index > 0:
        buttons.append(_button(tr.gettext("◀️ Previous lesson"), "cr.prev", course_id, index))
    if facts.get("waiting_quiz"):
        lines.append("")
        lines.append(
            tr.gettext(
                "📝 All lessons are read. Pass the quiz “{quiz}” (/quiz) to complete the course.",
                quiz=html.escape(str(facts.get("quiz") or "")),
            )
        )
    else:
        if index + 1 < total:
            buttons.append(_button(tr.gettext("Next lesson ▶️"), "cr.next", course_id, index))
        elif not facts.get("review"):
            buttons.append(
                _button(tr.gettext("✅ Finish the course"), "cr.next", course_id, index)
            )
    markup = InlineKeyboardMarkup([buttons]) if buttons else None
    text = "\n".join(lines)
    media = _media(facts.get("media"))
    kind = (facts.get("media") or {}).get("kind") if media else None
    if media is None:
        return Rendered("send", text, markup)
    if kind == "photo":
        return Rendered("photo", text, markup, **media)
    if kind == "video":
        return Rendered("video", text, markup, **media)
    return Rendered("document", text, markup, **media)


@renders("course.closed")
def closed(out: Outgoing, tr: Translator) -> Rendered:
    """The lesson the person moved on from: its buttons come off (it is not pressable)."""
    if out.card_message_id is None:
        return Rendered("none")
    return Rendered("markup", message_id=out.card_message_id)


@renders("course.done")
def done(out: Outgoing, tr: Translator) -> Rendered:
    return Rendered(
        "send",
        tr.gettext(
            "🎉 Course completed: <b>{title}</b>. Thank you! /course lists your courses.",
            title=_local(out.facts.get("title"), tr),
        ),
    )


@renders("course.quiz_due")
def quiz_due(out: Outgoing, tr: Translator) -> Rendered:
    """Every lesson is read; the course completes when its quiz is passed (started here)."""
    facts = out.facts
    title = _local(facts.get("title"), tr)
    campaign = facts.get("campaign_id")
    if isinstance(campaign, int):
        return Rendered(
            "send",
            tr.gettext(
                "📝 You have read every lesson of <b>{title}</b>. To complete the course, pass "
                "its quiz “{quiz}”.",
                title=title,
                quiz=html.escape(str(facts.get("quiz_title") or facts.get("quiz_key") or "")),
            ),
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            tr.gettext("📝 Take the quiz"),
                            callback_data=encode(Press("qz.go", campaign, 0)),
                        )
                    ]
                ]
            ),
        )
    return Rendered(
        "send",
        tr.gettext(
            "📝 You have read every lesson of <b>{title}</b>. To complete the course, take "
            "the quiz “{quiz}”: send /quiz.",
            title=title,
            quiz=html.escape(str(facts.get("quiz_key") or "")),
        ),
    )


def _percent(row: dict[str, Any]) -> str:
    return f"{int(row.get('percent', 0))}%"


@renders("course.report")
def report(out: Outgoing, tr: Translator) -> Rendered:
    """The trainer's view: per department assigned, started, completed, overdue, percent."""
    facts = out.facts
    lines = [
        tr.gettext(
            "📊 <b>Course #{id} “{title}”: completion by department</b>",
            id=str(facts.get("id", "")),
            title=html.escape(str(facts.get("title", ""))),
        )
    ]
    due = _due(facts.get("due_at"), tr)
    if due:
        lines.append(tr.gettext("Due {day}", day=due))
    rows = [r for r in facts.get("rows") or [] if isinstance(r, dict)]
    total = facts.get("total") if isinstance(facts.get("total"), dict) else {}
    for row in [*rows, {**(total or {}), "department": tr.gettext("Total")}]:
        lines.append(
            tr.gettext(
                "• {department}: {completed}/{assigned} completed ({percent}), {started} "
                "started, {overdue} overdue",
                department=html.escape(str(row.get("department", ""))),
                completed=str(row.get("completed", 0)),
                assigned=str(row.get("assigned", 0)),
                percent=_percent(row),
                started=str(row.get("started", 0)),
                overdue=str(row.get("overdue", 0)),
            )
        )
    return Rendered("send", "\n".join(lines))
