"""Renderers for quizzes (#8): invitations and reminders, the list, the quiz card, the score,
the certificate, and for the security officer the campaign's results.

The card lists the options in its text (A．…, B．…) and the buttons carry only the letters, in
one row: an option may be 100 characters, which a phone would cut short on a button.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from bot.quizzes.taking import OPTION_SPAN
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders
from handlers.render.surveys import AUDIENCE_PROBLEMS

LETTERS = "ABCDEFGHIJ"
CAMPAIGN_PROBLEMS = {
    "quiz": N_("There is no quiz “{what}”."),
    "every": N_("“{what}” is not a repetition: use quarter or month."),
    "window": N_("The campaign would close ({what}) before it opens."),
    "date": N_("“{what}” is not a date (YYYY-MM-DD)."),
    "usage": N_("Write /quiz campaign QUIZ AUDIENCE [CLOSES] [quarter|month]."),
}


def _local(text: object, tr: Translator) -> str:
    """A {zh_CN, en} text in the reader's language, escaped."""
    if not isinstance(text, dict):
        return ""
    value = text.get("en") if tr.locale == "en" else text.get("zh_CN")
    return html.escape(str(value or text.get("zh_CN") or ""))


def _button(label: str, action: str, obj_id: int, version: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, obj_id, version)))


def _until(value: object, tr: Translator) -> str:
    return tr.when(datetime.fromisoformat(str(value)), "short") if value else ""


@renders("quiz.invite")
def invite(out: Outgoing, tr: Translator) -> Rendered:
    """A quiz for this person: what, how many questions, the pass mark; the start button."""
    facts = out.facts
    lines = [tr.gettext("🛡 <b>Security quiz: {title}</b>", title=_local(facts.get("title"), tr))]
    if facts.get("description"):
        lines.append(_local(facts.get("description"), tr))
    details = [
        tr.ngettext("{n} question", "{n} questions", int(facts.get("questions", 0) or 0)),
        tr.gettext("pass mark {mark}%", mark=str(facts.get("pass_mark", ""))),
    ]
    if facts.get("attempts"):
        details.append(
            tr.ngettext("{n} attempt", "at most {n} attempts", int(facts.get("attempts") or 0))
        )
    if facts.get("closes_at"):
        details.append(tr.gettext("until {when}", when=_until(facts.get("closes_at"), tr)))
    lines.append(" · ".join(details))
    lines.append(tr.gettext("Your name and score are recorded: this is not anonymous."))
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("▶️ Start the quiz"), "qz.go", int(facts.get("campaign_id", 0)))]]
        ),
    )


@renders("quiz.remind")
def remind(out: Outgoing, tr: Translator) -> Rendered:
    """A reminder to somebody who has not passed yet."""
    facts = out.facts
    lines = [
        tr.gettext(
            "⏰ You have not passed the quiz <b>{title}</b> yet.",
            title=_local(facts.get("title"), tr),
        )
    ]
    if facts.get("closes_at"):
        lines.append(tr.gettext("It closes {when}.", when=_until(facts.get("closes_at"), tr)))
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("▶️ Take the quiz"), "qz.go", int(facts.get("campaign_id", 0)))]]
        ),
    )


@renders("quiz.opened")
def opened(out: Outgoing, tr: Translator) -> Rendered:
    """To the author: the campaign is open, and how many were invited."""
    facts = out.facts
    lines = [
        tr.gettext(
            "✅ Quiz campaign #{id} “{title}” is open: {invited} invited, {messaged} sent an "
            "invitation.",
            id=str(facts.get("id", "")),
            title=_local(facts.get("title"), tr),
            invited=str(facts.get("invited", 0)),
            messaged=str(facts.get("messaged", 0)),
        )
    ]
    if facts.get("every") == "quarter":
        lines.append(tr.gettext("A new round opens every quarter."))
    elif facts.get("every") == "month":
        lines.append(tr.gettext("A new round opens every month."))
    missing = [html.escape(str(n)) for n in facts.get("unreachable") or []]
    if missing:
        lines.append(
            tr.gettext("Not on Telegram yet (no invitation): {names}", names="、".join(missing))
        )
    lines.append(tr.gettext("Results: /quiz results {id}", id=str(facts.get("id", ""))))
    return Rendered("send", "\n".join(lines))


@renders("quiz.refused")
def refused(out: Outgoing, tr: Translator) -> Rendered:
    """To the author: no campaign was opened, and why."""
    lines = [tr.gettext("❌ No campaign was opened.")]
    for item in out.facts.get("problems") or []:
        if not (isinstance(item, list) and len(item) == 2):
            continue
        code, what = str(item[0]), html.escape(str(item[1]))
        if code.startswith("audience:") and code[9:] in AUDIENCE_PROBLEMS:
            lines.append("• " + tr.gettext(AUDIENCE_PROBLEMS[code[9:]], what=what))
        elif code in CAMPAIGN_PROBLEMS:
            lines.append("• " + tr.gettext(CAMPAIGN_PROBLEMS[code], what=what))
    quizzes = [html.escape(str(q)) for q in out.facts.get("quizzes") or []]
    lines.append(
        tr.gettext(
            "For example /quiz campaign security_basics all 2026-12-31 quarter. Quizzes: "
            "{quizzes}",
            quizzes=", ".join(quizzes),
        )
    )
    return Rendered("send", "\n".join(lines))


@renders("quiz.list")
def quiz_list(out: Outgoing, tr: Translator) -> Rendered:
    """/quiz and the menu item: the open quizzes and where this person stands in each."""
    quizzes = [q for q in out.facts.get("quizzes") or [] if isinstance(q, dict)]
    if not quizzes:
        return Rendered("send", tr.gettext("🛡 No quiz is waiting for you."))
    lines = [tr.gettext("🛡 <b>Quizzes for you</b>")]
    rows: list[list[InlineKeyboardButton]] = []
    for quiz in quizzes:
        title = _local(quiz.get("title"), tr)
        campaign = int(quiz.get("id", 0))
        notes = []
        if quiz.get("passed"):
            notes.append(tr.gettext("passed ({score}%)", score=str(quiz.get("best", ""))))
        elif quiz.get("best") is not None:
            notes.append(tr.gettext("best so far {score}%", score=str(quiz.get("best"))))
        if quiz.get("closes_at"):
            notes.append(tr.gettext("until {when}", when=_until(quiz.get("closes_at"), tr)))
        refusal = quiz.get("refusal")
        if not quiz.get("passed") and refusal == "no_attempts_left" and not quiz.get("begun"):
            notes.append(tr.gettext("no attempts left"))
        elif refusal == "cooldown" and not quiz.get("begun"):
            notes.append(tr.gettext("again from {when}", when=_until(quiz.get("until"), tr)))
        elif not quiz.get("passed") and quiz.get("left") is not None:
            notes.append(
                tr.ngettext("{n} attempt left", "{n} attempts left", int(quiz.get("left") or 0))
            )
        lines.append(" · ".join([f"• {title}", *notes]))
        if quiz.get("begun"):
            rows.append(
                [
                    _button(
                        tr.gettext("▶️ Continue the quiz: {title}", title=title), "qz.go", campaign
                    )
                ]
            )
        elif refusal is None:
            label = (
                tr.gettext("🔄 Try again: {title}", title=title)
                if quiz.get("best") is not None
                else tr.gettext("▶️ Start the quiz: {title}", title=title)
            )
            rows.append([_button(label, "qz.go", campaign)])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


@renders("quiz.question")
def question_card(out: Outgoing, tr: Translator) -> Rendered:
    """One question ("Question 3/10"), its options, the letter buttons; once answered, right
    or wrong, the explanation and "Next"; after the last, the score."""
    facts = out.facts
    attempt = int(facts.get("attempt_id", 0))
    position = int(facts.get("position", 0))
    total = int(facts.get("total", 1))
    options = list(facts.get("options") or [])
    answered = facts.get("answered")
    lines = [
        f"🛡 <b>{_local(facts.get('title'), tr)}</b>",
        tr.gettext("Question {position}/{total}", position=str(position + 1), total=str(total)),
        f"<b>{_local(facts.get('text'), tr)}</b>",
        "",
    ]
    for i, option in enumerate(options):
        mark = ""
        if isinstance(answered, dict):
            if i == answered.get("correct"):
                mark = " ✅"
            elif i == answered.get("picked"):
                mark = " ❌"
        lines.append(f"{LETTERS[i]}．{_local(option, tr)}{mark}")
    if not isinstance(answered, dict):
        buttons = [
            _button(LETTERS[i], "qz.ans", attempt, position * OPTION_SPAN + i)
            for i in range(len(options))
        ]
        rows = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
        return living_card(out, "\n".join(lines), rows)
    lines.append("")
    if answered.get("right"):
        lines.append(tr.gettext("✅ Right."))
    else:
        correct = answered.get("correct")
        letter = LETTERS[correct] if isinstance(correct, int) and 0 <= correct < 10 else "?"
        lines.append(tr.gettext("❌ Wrong: the right answer is {letter}.", letter=letter))
    lines.append(
        tr.gettext("💡 {explanation}", explanation=_local(answered.get("explanation"), tr))
    )
    finished = facts.get("finished")
    if isinstance(finished, dict):
        lines.append("")
        lines.append(
            tr.gettext(
                "Finished: {correct} of {total} right, {score}%.",
                correct=str(finished.get("correct", 0)),
                total=str(finished.get("total", 0)),
                score=str(finished.get("score", 0)),
            )
        )
        return living_card(out, "\n".join(lines))
    label = tr.gettext("Next question ▶️")  # the last answer finishes at once
    return living_card(out, "\n".join(lines), [[_button(label, "qz.next", attempt, position)]])


@renders("quiz.result")
def result(out: Outgoing, tr: Translator) -> Rendered:
    """The score of a finished attempt; a failed one says whether and when to try again."""
    facts = out.facts
    title = _local(facts.get("title"), tr)
    values = {
        "title": title,
        "score": str(facts.get("score", 0)),
        "correct": str(facts.get("correct", 0)),
        "total": str(facts.get("total", 0)),
        "mark": str(facts.get("pass_mark", 0)),
    }
    if facts.get("passed"):
        text = tr.gettext(
            "🎉 <b>{title}</b>: {score}% ({correct}/{total}), pass mark {mark}%. Passed.",
            **values,
        )
        return Rendered("send", text)
    lines = [
        tr.gettext(
            "📝 <b>{title}</b>: {score}% ({correct}/{total}), pass mark {mark}%. Not passed "
            "this time.",
            **values,
        )
    ]
    refusal = facts.get("refusal")
    markup = None
    if refusal == "no_attempts_left":
        lines.append(tr.gettext("You have no attempts left. Please contact the security officer."))
    elif refusal == "cooldown":
        lines.append(
            tr.gettext("You may try again from {when}.", when=_until(facts.get("until"), tr))
        )
    else:
        left = facts.get("left")
        if left is not None:
            lines.append(tr.ngettext("{n} attempt left.", "{n} attempts left.", int(left)))
        markup = InlineKeyboardMarkup(
            [[_button(tr.gettext("🔄 Try again"), "qz.go", int(facts.get("campaign_id", 0)))]]
        )
    return Rendered("send", "\n".join(lines), markup)


@renders("quiz.certificate")
def certificate(out: Outgoing, tr: Translator) -> Rendered:
    """The certificate of a pass: name, department, quiz, score, date, number."""
    facts = out.facts
    day = facts.get("date")
    lines = [
        tr.gettext("🏅 <b>Certificate of passing</b>"),
        tr.gettext("No.: {number}", number=html.escape(str(facts.get("number", "")))),
        tr.gettext("Name: {name}", name=html.escape(str(facts.get("name", "")))),
        tr.gettext(
            "Department: {department}", department=html.escape(str(facts.get("department", "")))
        ),
        tr.gettext("Quiz: {title}", title=_local(facts.get("title"), tr)),
        tr.gettext("Score: {score}%", score=str(facts.get("score", ""))),
        tr.gettext(
            "Date: {date}",
            date=tr.day(date.fromisoformat(str(day))) if isinstance(day, str) else "",
        ),
    ]
    return Rendered("send", "\n".join(lines))


@renders("quiz.results")
def results(out: Outgoing, tr: Translator) -> Rendered:
    """/quiz results ID: pass rates by department and the questions missed most."""
    facts: dict[str, Any] = out.facts
    if "missing" in facts:
        return Rendered(
            "send",
            tr.gettext("There is no quiz campaign {id}.", id=str(facts.get("missing", ""))),
        )
    lines = [
        tr.gettext(
            "📊 <b>#{id} {title}</b>: {passed} passed, {participants} took part, {invited} "
            "invited.",
            id=str(facts.get("id", "")),
            title=html.escape(str(facts.get("title", ""))),
            passed=str(facts.get("passed", 0)),
            participants=str(facts.get("participants", 0)),
            invited=str(facts.get("invited", 0)),
        ),
        tr.gettext("<b>By department</b> (passed / took part / invited, pass rate)"),
    ]
    for row in facts.get("departments") or []:
        name, invited, participants, passed, rate = row
        lines.append(f"• {html.escape(str(name))}: {passed}/{participants}/{invited}, {rate}%")
    missed = facts.get("missed") or []
    if missed:
        lines.append(tr.gettext("<b>Missed most</b>"))
        for text, wrong, asked, rate in missed:
            lines.append(
                tr.gettext(
                    "• {rate}% wrong ({missed}/{asked}): {text}",
                    rate=str(rate),
                    missed=str(wrong),
                    asked=str(asked),
                    text=html.escape(str(text)),
                )
            )
    return Rendered("send", "\n".join(lines))
