"""Renderers for surveys (#8): the list of open ones, the question card, the thanks."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.approvals.forms import INPUT_ERRORS
from bot.i18n import N_, Translator
from bot.messaging.outgoing import Outgoing
from bot.surveys.chat import VALUE_SPAN
from handlers.callbacks import Press, encode
from handlers.render import Rendered, living_card, renders

AUDIENCE_PROBLEMS = {
    "syntax": N_(
        "“{what}” is not a part of an audience: write all, or dept:NAME, role:ROLE, "
        "staff:EMPLOYEE_NO, group:NAME, separated by commas."
    ),
    "department": N_("There is no department called “{what}”."),
    "group": N_("There is no group called “{what}” (govbot group list)."),
    "role": N_("There is no role “{what}”."),
    "staff": N_("No active staff member has the employee number “{what}”."),
    "empty": N_("Nobody is in this audience."),
    "window": N_("The survey would close ({what}) before it opens."),
    "date": N_("“{what}” is not a date (YYYY-MM-DD)."),
}
TYPED_PROMPTS = {
    "text": N_("✍️ Send your answer as a message."),
    "number": N_("✍️ Send a number as a message."),
    "date": N_("✍️ Send a date as a message, for example 2026-12-20 or 12月20日."),
}


def _local(text: object, tr: Translator) -> str:
    """A {zh_CN, en} text in the reader's language, escaped."""
    if not isinstance(text, dict):
        return ""
    value = text.get("en") if tr.locale == "en" else text.get("zh_CN")
    return html.escape(str(value or text.get("zh_CN") or ""))


def _button(label: str, action: str, survey_id: int, code: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode(Press(action, survey_id, code)))


@renders("survey.invite")
def invite(out: Outgoing, tr: Translator) -> Rendered:
    """A new survey for this person: what it is, how long, until when; the start button."""
    facts = out.facts
    lines = [tr.gettext("📋 <b>New survey: {title}</b>", title=_local(facts.get("title"), tr))]
    if facts.get("description"):
        lines.append(_local(facts.get("description"), tr))
    details = [tr.ngettext("{n} question", "{n} questions", int(facts.get("questions", 0) or 0))]
    if facts.get("anonymous"):
        details.append(tr.gettext("anonymous: nobody can see who answered what"))
    closes = facts.get("closes_at")
    if isinstance(closes, str):
        details.append(
            tr.gettext("until {when}", when=tr.when(datetime.fromisoformat(closes), "short"))
        )
    lines.append(" · ".join(details))
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("▶️ Start"), "sv.go", int(facts.get("survey_id", 0)))]]
        ),
    )


@renders("survey.remind")
def remind(out: Outgoing, tr: Translator) -> Rendered:
    """A reminder to somebody who has not finished a survey."""
    facts = out.facts
    lines = [
        tr.gettext(
            "⏰ You have not finished the survey <b>{title}</b> yet.",
            title=_local(facts.get("title"), tr),
        )
    ]
    closes = facts.get("closes_at")
    if isinstance(closes, str):
        lines.append(
            tr.gettext("It closes {when}.", when=tr.when(datetime.fromisoformat(closes), "short"))
        )
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup(
            [[_button(tr.gettext("▶️ Continue"), "sv.go", int(facts.get("survey_id", 0)))]]
        ),
    )


@renders("survey.published")
def published(out: Outgoing, tr: Translator) -> Rendered:
    """To the author: the survey is open, and how many were invited."""
    facts = out.facts
    lines = [
        tr.gettext(
            "✅ Survey #{id} “{title}” is open: {invited} invited, {messaged} sent an invitation.",
            id=str(facts.get("id", "")),
            title=html.escape(str(facts.get("title", ""))),
            invited=str(facts.get("invited", 0)),
            messaged=str(facts.get("messaged", 0)),
        )
    ]
    missing = [html.escape(str(n)) for n in facts.get("unreachable") or []]
    if missing:
        lines.append(
            tr.gettext("Not on Telegram yet (no invitation): {names}", names="、".join(missing))
        )
    survey_id = int(facts.get("id", 0) or 0)
    return Rendered(
        "send",
        "\n".join(lines),
        InlineKeyboardMarkup([[results_button(tr.gettext("📊 Results"), survey_id)]])
        if survey_id
        else None,
    )


@renders("survey.refused")
def refused(out: Outgoing, tr: Translator) -> Rendered:
    """To the author: nothing was published, and why."""
    facts = out.facts
    lines = [tr.gettext("❌ Nothing was published.")]
    code = facts.get("code")
    if code == "definition":
        lines.append(html.escape(str(facts.get("where", ""))))
    elif code == "encoding":
        lines.append(tr.gettext("The file must be a YAML survey in UTF-8 or an XLSX workbook."))
    else:
        for item in facts.get("problems") or []:
            if isinstance(item, list) and len(item) == 2 and item[0] in AUDIENCE_PROBLEMS:
                lines.append(
                    "• " + tr.gettext(AUDIENCE_PROBLEMS[item[0]], what=html.escape(str(item[1])))
                )
        lines.append(
            tr.gettext(
                "Send the file captioned /publish AUDIENCE [CLOSES], for example "
                "/publish dept:办公室,role:trainer 2026-12-31."
            )
        )
    return Rendered("send", "\n".join(lines))


@renders("survey.list")
def survey_list(out: Outgoing, tr: Translator) -> Rendered:
    """/survey and 📋 in the menu: the open surveys this person is asked to answer."""
    surveys = [s for s in out.facts.get("surveys") or [] if isinstance(s, dict)]
    authored = [s for s in out.facts.get("authored") or [] if isinstance(s, dict)]
    mine = _results_rows(authored, tr)
    if not surveys:
        return Rendered(
            "send",
            tr.gettext("📋 No survey is waiting for you."),
            InlineKeyboardMarkup(mine) if mine else None,
        )
    lines = [tr.gettext("📋 <b>Surveys for you</b>")]
    rows: list[list[InlineKeyboardButton]] = []
    for survey in surveys:
        title = _local(survey.get("title"), tr)
        notes = []
        if survey.get("anonymous"):
            notes.append(tr.gettext("anonymous"))
        closes = survey.get("closes_at")
        if isinstance(closes, str):
            notes.append(
                tr.gettext("until {when}", when=tr.when(datetime.fromisoformat(closes), "short"))
            )
        lines.append(" · ".join([f"• {title}", *notes]))
        if survey.get("done"):
            label = tr.gettext("✏️ Answer again: {title}", title=title)
        elif survey.get("begun"):
            label = tr.gettext("▶️ Continue: {title}", title=title)
        else:
            label = tr.gettext("▶️ Start: {title}", title=title)
        rows.append([_button(label, "sv.go", int(survey.get("id", 0)))])
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(rows + mine))


def _keyboard(question: dict[str, Any], survey_id: int, tr: Translator) -> list[list[Any]]:
    kind = str(question.get("kind"))
    base = int(question.get("index", 0)) * VALUE_SPAN
    rows: list[list[InlineKeyboardButton]] = []
    choices = question.get("choices") or []
    if kind == "single":
        rows = [
            [_button(_local(c, tr), "sv.opt", survey_id, base + i)] for i, c in enumerate(choices)
        ]
    elif kind == "multiple":
        picked = set(question.get("picked") or [])
        rows = [
            [
                _button(
                    ("☑️ " if i in picked else "⬜ ") + _local(c, tr), "sv.opt", survey_id, base + i
                )
            ]
            for i, c in enumerate(choices)
        ]
        rows.append([_button(tr.gettext("✅ Done choosing"), "sv.done", survey_id, base)])
    elif kind == "rating":
        rows = [[_button(f"{n}⭐", "sv.opt", survey_id, base + n) for n in range(1, 6)]]
    elif kind == "nps":
        rows = [
            [_button(str(n), "sv.opt", survey_id, base + n) for n in range(0, 6)],
            [_button(str(n), "sv.opt", survey_id, base + n) for n in range(6, 11)],
        ]
    if not question.get("required"):
        rows.append([_button(tr.gettext("⏭ Skip"), "sv.skip", survey_id, base)])
    return rows


@renders("survey.question")
def question_card(out: Outgoing, tr: Translator) -> Rendered:
    """One question, its place ("3/8"), the buttons for its answer; then the submit step."""
    facts = out.facts
    survey_id = int(facts.get("survey_id", 0))
    title = _local(facts.get("title"), tr)
    if facts.get("submitted"):
        return living_card(out, tr.gettext("📋 <b>{title}</b>: submitted.", title=title))
    lines = [f"📋 <b>{title}</b>"]
    if facts.get("welcome"):
        lines.append(_local(facts.get("welcome"), tr))
    error = facts.get("error")
    if isinstance(error, dict) and error.get("code") in INPUT_ERRORS:
        values = {k: html.escape(str(v)) for k, v in error.items() if k != "code"}
        lines.append("⚠️ " + tr.gettext(INPUT_ERRORS[str(error["code"])], **values))
    if facts.get("ready"):
        lines.append(
            tr.gettext(
                "All {total} questions are answered. Submit your answers?",
                total=str(facts.get("total", 0)),
            )
        )
        return living_card(
            out, "\n".join(lines), [[_button(tr.gettext("✅ Submit"), "sv.send", survey_id)]]
        )
    question = facts.get("question")
    if not isinstance(question, dict):
        return living_card(out, "\n".join(lines))
    lines.append(
        tr.gettext(
            "Question {position}/{total}",
            position=str(facts.get("position", 1)),
            total=str(facts.get("total", 1)),
        )
        + ("" if question.get("required") else tr.gettext(" (optional)"))
    )
    lines.append(f"<b>{_local(question.get('text'), tr)}</b>")
    if question.get("hint"):
        lines.append(f"<i>{_local(question.get('hint'), tr)}</i>")
    kind = str(question.get("kind"))
    if kind in TYPED_PROMPTS:
        lines.append(tr.gettext(TYPED_PROMPTS[kind]))
    elif kind == "multiple":
        limit = question.get("max")
        lines.append(
            tr.gettext(
                "Pick all that apply, then ✅ Done choosing (at most {max}).", max=str(limit)
            )
            if limit
            else tr.gettext("Pick all that apply, then ✅ Done choosing.")
        )
    return living_card(out, "\n".join(lines), _keyboard(question, survey_id, tr))


@renders("survey.done")
def done(out: Outgoing, tr: Translator) -> Rendered:
    lines = ["✅ " + _local(out.facts.get("closing"), tr)]
    if out.facts.get("anonymous"):
        lines.append(tr.gettext("Your answers were stored without your name."))
    return Rendered("send", "\n".join(lines))


# --- results (bot/surveys/reporting.py) --------------------------------------------------------
SUMMARY_BUDGET = 3600  # characters of the summary (Telegram allows 4096)
RESULT_FORMATS = ("summary", "csv", "xlsx")  # a results button's version


def results_button(label: str, survey_id: int, what: str = "summary") -> InlineKeyboardButton:
    return _button(label, "sv.res", survey_id, RESULT_FORMATS.index(what))


def _share(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


def _question_lines(index: int, q: dict[str, Any], tr: Translator) -> list[str]:
    """One question of the summary: its text, how many answered, and its figures."""
    raw = str(q.get("text", ""))
    text = html.escape(raw if len(raw) <= 120 else raw[:119] + "…")  # cut, then escape
    answered = int(q.get("answered", 0))
    head = f"<b>{index}. {text}</b> " + tr.ngettext("({n} answered)", "({n} answered)", answered)
    if q.get("hidden"):
        return [head, "  " + html.escape(tr.gettext("<5, hidden"))]
    lines = [head]
    kind = str(q.get("kind"))
    counts = [c for c in q.get("counts") or [] if isinstance(c, list) and len(c) == 2]
    figures: list[str] = []
    if q.get("nps") is not None:
        figures.append(f"NPS {int(q['nps']):+d}")
    if q.get("mean") is not None:
        figures.append(tr.gettext("mean {value}", value=format(float(q["mean"]), "g")))
    if figures:
        lines.append("  " + " · ".join(figures))
    if counts and kind != "nps":
        lines.append(
            "  "
            + "；".join(
                f"{html.escape(str(label))} {int(n)}（{_share(int(n), answered)}）"
                for label, n in counts
            )
        )
    elif counts:  # NPS: the three groups, the chart has the scores
        scores = {int(label): int(n) for label, n in counts}
        groups = (
            (tr.gettext("detractors"), sum(n for s, n in scores.items() if s <= 6)),
            (tr.gettext("passives"), sum(n for s, n in scores.items() if 7 <= s <= 8)),
            (tr.gettext("promoters"), sum(n for s, n in scores.items() if s >= 9)),
        )
        lines.append(
            "  " + "；".join(f"{name} {n}（{_share(n, answered)}）" for name, n in groups)
        )
    free = q.get("free")
    if isinstance(free, dict):
        for writer, answer in free.get("shown") or []:
            who = f"{html.escape(str(writer))}：" if writer else ""
            lines.append(f"  · {who}{html.escape(str(answer))}")
        more = int(free.get("total", 0)) - len(free.get("shown") or [])
        if more > 0:
            lines.append(
                "  "
                + tr.ngettext("… and {n} more in the files", "… and {n} more in the files", more)
            )
    return lines


def _file_buttons(survey_id: int, tr: Translator) -> list[list[InlineKeyboardButton]]:
    return [
        [
            results_button(tr.gettext("📄 CSV file"), survey_id, "csv"),
            results_button(tr.gettext("📗 XLSX file"), survey_id, "xlsx"),
        ]
    ]


@renders("survey.results")
def results_summary(out: Outgoing, tr: Translator) -> Rendered:
    """A survey's results: responses, each department's rate, each question's figures."""
    f = out.facts
    survey_id = int(f.get("id", 0))
    responses, invited = int(f.get("responses", 0)), int(f.get("invited", 0))
    lines = [
        tr.gettext(
            "📊 <b>Results of survey #{id} “{title}”</b>",
            id=str(survey_id),
            title=html.escape(str(f.get("title", ""))),
        ),
        tr.gettext(
            "{responses} responses of {invited} invited ({share})",
            responses=str(responses),
            invited=str(invited),
            share=_share(responses, invited),
        )
        + (" · " + tr.gettext("anonymous") if f.get("anonymous") else ""),
    ]
    departments = [d for d in f.get("departments") or [] if isinstance(d, list) and len(d) == 3]
    if departments:
        lines.append(tr.gettext("<b>By department</b> (finished/invited)"))
        for name, done, total in departments:
            shown = html.escape(tr.gettext("<5, hidden")) if done is None else f"{int(done)}"
            share = "" if done is None else f"（{_share(int(done), int(total))}）"
            lines.append(f"• {html.escape(str(name))} {shown}/{int(total)}{share}")
    used = sum(len(line) + 1 for line in lines)
    questions = [q for q in f.get("questions") or [] if isinstance(q, dict)]
    for index, question in enumerate(questions, start=1):
        block = _question_lines(index, question, tr)
        size = sum(len(line) + 1 for line in block)
        if used + size > SUMMARY_BUDGET:
            lines.append(
                tr.ngettext(
                    "… {n} more question: see the files.",
                    "… {n} more questions: see the files.",
                    len(questions) - index + 1,
                )
            )
            break
        lines.extend(block)
        used += size
    charts_count = int(f.get("charts", 0))
    if charts_count:
        lines.append(tr.ngettext("{n} chart follows.", "{n} charts follow.", charts_count))
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(_file_buttons(survey_id, tr)))


@renders("survey.charts", offload=True)
def results_charts(out: Outgoing, tr: Translator) -> Rendered:
    """The charts of up to ten questions, drawn now (in a worker thread), as one album."""
    from bot.surveys.charts import chart_png  # matplotlib: loaded when first needed
    from bot.surveys.results import QuestionResult

    f = out.facts
    photos: list[tuple[bytes, str]] = []
    for data in f.get("questions") or []:
        if not isinstance(data, dict):
            continue
        question = QuestionResult.from_json(data)
        png = chart_png(question)
        if png is None:
            continue
        text = question.text if len(question.text) <= 150 else question.text[:149] + "…"
        photos.append((png, f"📊 #{int(f.get('id', 0))} {html.escape(text)}"))
    if not photos:
        return Rendered("send", tr.gettext("No chart to draw."))
    return Rendered("photos", photos=tuple(photos))


@renders("survey.results_file", offload=True)
def results_file(out: Outgoing, tr: Translator) -> Rendered:
    """Every response as a CSV or XLSX document, built now (in a worker thread)."""
    from bot.surveys.results import to_csv, to_xlsx

    f = out.facts
    fmt = "csv" if f.get("format") == "csv" else "xlsx"
    rows = [[str(c) for c in row] for row in f.get("rows") or [] if isinstance(row, list)]
    if not rows:
        rows = [[]]
    data = to_csv(rows) if fmt == "csv" else to_xlsx(rows)
    total = int(f.get("total", len(rows) - 1))
    survey_id = int(f.get("id", 0))
    caption = tr.ngettext(
        "Survey #{id} “{title}”: {n} response.",
        "Survey #{id} “{title}”: {n} responses.",
        total,
        id=str(survey_id),
        title=html.escape(str(f.get("title", ""))),
    )
    if total > len(rows) - 1:
        caption += "\n" + tr.gettext(
            "Only the first {shown} are in this file; run <code>govbot survey results</code> "
            "on the server for all of them.",
            shown=str(len(rows) - 1),
        )
    stem = "survey" if tr.locale == "en" else "问卷结果"
    return Rendered("document", caption, file_bytes=data, file_name=f"{stem}-{survey_id}.{fmt}")


def _results_rows(
    surveys: list[dict[str, Any]], tr: Translator
) -> list[list[InlineKeyboardButton]]:
    return [
        [
            results_button(
                tr.gettext(
                    "📊 Results: #{id} {title}",
                    id=str(s.get("id", "")),
                    title=str(s.get("title", ""))[:40],
                ),
                int(s.get("id", 0)),
            )
        ]
        for s in surveys
    ]


@renders("survey.results_list")
def results_list(out: Outgoing, tr: Translator) -> Rendered:
    """``/results`` alone: the surveys whose results this person may see."""
    surveys = [s for s in out.facts.get("surveys") or [] if isinstance(s, dict)]
    if not surveys:
        return Rendered(
            "send",
            tr.gettext(
                "📊 There are no survey results for you to see. A survey's author, the office "
                "and administrators see its results: /results ID."
            ),
        )
    lines = [tr.gettext("📊 <b>Survey results</b>: choose a survey, or send /results ID.")]
    return Rendered("send", "\n".join(lines), InlineKeyboardMarkup(_results_rows(surveys, tr)))
