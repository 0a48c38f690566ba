"""Survey definitions in XLSX: a workbook read into the same YAML (and so the same
``model.Survey``) as a survey file, and a survey written back as a workbook (the template).

The workbook has two sheets (a row whose first cell starts with ``#`` is a comment):

``survey``: one field per row, its name in column A, its value in column B (row 1 the header)::

    key        pilot_feedback            [a-z][a-z0-9_]*
    version    1
    title      试点使用反馈     title_en: Pilot feedback (each *_en falls back to the Chinese)
    description / description_en        optional
    welcome / welcome_en                 shown before the first question
    closing / closing_en                 shown after the last
    anonymous  是 / 否 (true/false, yes/no, 1/0)
    resubmit   refuse | replace

``questions``: one question per row under a header naming the columns (any order)::

    key | kind | text | text_en | hint | hint_en | required | choices | choices_en
    | min | max | show_if

``kind`` is single, multiple, rating, nps, text, date or number (单选 多选 评分 推荐 文本 日期 数字
too). ``choices`` are separated by ``|`` or ``；``, each ``key=标签`` or just ``标签`` (its key
then c1, c2, …); ``choices_en`` the English labels in the same order. ``show_if`` is one or
more conditions joined by ``&``: ``recommend<=6``, ``recommend>=9``, ``usage=daily,weekly``
(any of), ``problems!=none`` (none of), ``liked answered`` / ``liked skipped``.

Every error names the sheet and the cell (``questions!C7``): the workbook is turned into YAML
whose every line remembers the cell it came from, so the YAML reader's own checks (and its
messages) apply unchanged and point back into the workbook.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot.definitions import KEY
from bot.surveys.definitions import MAX_CHOICES, MAX_QUESTIONS, SurveyError, parse_survey
from bot.surveys.model import Question, QuestionKind, ShowIf, Survey

MAX_BYTES = 2 * 1024 * 1024  # a survey is a few kilobytes; anything near this is not one
MAX_UNZIPPED_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200  # rows read from a sheet (comments and blank rows included)
MAX_COLUMNS = 30
XLSX_MAGIC = b"PK\x03\x04"

SURVEY_SHEET = "survey"
QUESTIONS_SHEET = "questions"
SHEET_ALIASES = {SURVEY_SHEET: ("survey", "问卷"), QUESTIONS_SHEET: ("questions", "题目")}

TEXT_FIELDS = ("title", "description", "welcome", "closing")
SURVEY_FIELDS = ("key", "version", *TEXT_FIELDS, *(f"{f}_en" for f in TEXT_FIELDS))
SURVEY_FIELDS += ("anonymous", "resubmit")
COLUMNS = (
    "key",
    "kind",
    "text",
    "text_en",
    "hint",
    "hint_en",
    "required",
    "choices",
    "choices_en",
    "min",
    "max",
    "show_if",
)
COLUMN_ALIASES = {"type": "kind"}
KIND_ALIASES = {
    "单选": "single",
    "多选": "multiple",
    "评分": "rating",
    "推荐": "nps",
    "文本": "text",
    "日期": "date",
    "数字": "number",
}
_TRUE = frozenset({"true", "yes", "y", "1", "是", "对", "√"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "不"})
_CHOICE_SPLIT = re.compile(r"[|｜；;]")
_CONDITION = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(<=|>=|!=|=|\s+answered|\s+skipped)\s*(.*?)\s*$")


class SheetError(SurveyError):
    """A workbook that is not a usable survey: the file, the cell (``questions!C7``, or the
    sheet, or None for the file as a whole) and why."""

    def __init__(self, source: str, cell: str | None, reason: str) -> None:
        super().__init__(source, None, reason)
        self.cell = cell

    def __str__(self) -> str:
        where = f"{self.source} {self.cell}" if self.cell else self.source
        return f"{where}: {self.reason}"


def is_xlsx(data: bytes, file_name: str = "") -> bool:
    """Whether a file is meant as a workbook (its name or its first bytes say so)."""
    return file_name.lower().endswith(".xlsx") or data.startswith(XLSX_MAGIC)


# --- reading --------------------------------------------------------------------------------


@dataclass
class _Yaml:
    """YAML being written, each line with the cell it came from."""

    lines: list[str] = field(default_factory=list)
    cells: list[str | None] = field(default_factory=list)

    def add(self, line: str, cell: str | None) -> None:
        self.lines.append(line)
        self.cells.append(cell)

    def scalar(self, indent: str, name: str, value: str, cell: str | None) -> None:
        self.add(f"{indent}{name}: {value}", cell)

    def text(self, indent: str, name: str, value: str, cell: str | None) -> None:
        self.scalar(indent, name, json.dumps(value, ensure_ascii=False), cell)

    def label(
        self,
        indent: str,
        name: str,
        zh: tuple[str, str | None],
        en: tuple[str, str | None],
    ) -> None:
        self.add(f"{indent}{name}:", zh[1])
        self.text(indent + "  ", "zh_CN", zh[0], zh[1])
        self.text(indent + "  ", "en", en[0] or zh[0], en[1] if en[0] else zh[1])

    def cell_of(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.cells):
            return None
        return self.cells[line - 1]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _boolean(value: Any) -> str:
    """A YAML true/false, or the text quoted (the reader then says what is wrong)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = _text(value).casefold()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    return json.dumps(_text(value), ensure_ascii=False)


def _number(value: Any) -> str:
    """A YAML number, or the text quoted (the reader then says it is not a number)."""
    text = _text(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return json.dumps(text, ensure_ascii=False)
    return text if number.is_finite() else json.dumps(text, ensure_ascii=False)


def _cell(sheet: str, row: int, column: int) -> str:
    return f"{sheet}!{get_column_letter(column)}{row}"


def _open(data: bytes, source: str) -> Any:
    if len(data) > MAX_BYTES:
        raise SheetError(source, None, f"The workbook is over {MAX_BYTES // 1024 // 1024} MB.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise SheetError(source, None, "The workbook unpacks to too much data.")
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except SheetError:
        raise
    except Exception:
        # zipfile, XML, KeyError, ValueError... from deep inside openpyxl: all mean the same.
        raise SheetError(
            source, None, "This is not an XLSX workbook that can be read (save it again as .xlsx)."
        ) from None


def _rows(workbook: Any, name: str, source: str) -> Iterator[tuple[int, list[Any]]]:
    """The non-blank, non-comment rows of a sheet as (row number, values)."""
    by_name = {ws.title.strip().casefold(): ws for ws in workbook.worksheets}
    sheet = next((by_name[a] for a in SHEET_ALIASES[name] if a in by_name), None)
    if sheet is None:
        raise SheetError(
            source, None, f"The workbook has no sheet “{name}” (it has: {', '.join(by_name)})."
        )
    sheet.reset_dimensions()
    for number, values in enumerate(
        sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1
    ):
        if number > MAX_ROWS:
            raise SheetError(source, name, f"The sheet has more than {MAX_ROWS} rows.")
        cells = list(values)
        if not any(_text(v) for v in cells):
            continue
        if _text(cells[0]).startswith("#"):
            continue
        yield number, cells


def _survey_fields(workbook: Any, source: str) -> dict[str, tuple[Any, str]]:
    fields: dict[str, tuple[Any, str]] = {}
    for number, cells in _rows(workbook, SURVEY_SHEET, source):
        name = _text(cells[0]).casefold()
        if name in ("field", "字段", "name"):
            continue  # the header row
        if name not in SURVEY_FIELDS:
            raise SheetError(
                source,
                _cell(SURVEY_SHEET, number, 1),
                f"Unknown field “{_text(cells[0])}”; use: {', '.join(SURVEY_FIELDS)}.",
            )
        if name in fields:
            raise SheetError(source, _cell(SURVEY_SHEET, number, 1), f"“{name}” appears twice.")
        value = cells[1] if len(cells) > 1 else None
        fields[name] = (value, _cell(SURVEY_SHEET, number, 2))
    return fields


def _header(cells: Sequence[Any], number: int, source: str) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, value in enumerate(cells, start=1):
        name = _text(value).casefold().replace(" ", "_")
        if not name:
            continue
        name = COLUMN_ALIASES.get(name, name)
        where = _cell(QUESTIONS_SHEET, number, index)
        if name not in COLUMNS:
            raise SheetError(
                source, where, f"Unknown column “{_text(value)}”; use: {', '.join(COLUMNS)}."
            )
        if name in columns:
            raise SheetError(source, where, f"Column “{name}” appears twice.")
        columns[name] = index
    for needed in ("key", "kind", "text"):
        if needed not in columns:
            raise SheetError(
                source, f"{QUESTIONS_SHEET}!{number}:{number}", f"The header has no “{needed}”."
            )
    return columns


def _choices(
    zh: str, en: str, zh_cell: str, en_cell: str, source: str
) -> list[tuple[str, str, str]]:
    """(key, Chinese label, English label) of each choice."""
    items = [p.strip() for p in _CHOICE_SPLIT.split(zh) if p.strip()]
    english = [p.strip() for p in _CHOICE_SPLIT.split(en) if p.strip()] if en else []
    if english and len(english) != len(items):
        raise SheetError(
            source,
            en_cell,
            f"{len(english)} English labels for {len(items)} choices: give one for each, "
            "in the same order, or none.",
        )
    if len(items) > MAX_CHOICES:
        raise SheetError(
            source, zh_cell, f"At most {MAX_CHOICES} choices (there are {len(items)})."
        )
    out: list[tuple[str, str, str]] = []
    for position, item in enumerate(items, start=1):
        key, sep, label = item.partition("=")
        if not sep or not KEY.fullmatch(key.strip()):
            key, label = f"c{position}", item
        label_en = english[position - 1] if english else label
        if english:
            en_key, en_sep, en_label = label_en.partition("=")
            if en_sep and KEY.fullmatch(en_key.strip()):
                label_en = en_label
        out.append((key.strip(), label.strip(), label_en.strip() or label.strip()))
    return out


def _show_if(text: str, where: str, source: str) -> list[tuple[str, str, str]]:
    """(question, YAML key, YAML value) of each condition."""
    out: list[tuple[str, str, str]] = []
    for part in (p for p in text.replace("＆", "&").split("&") if p.strip()):
        found = _CONDITION.match(part.replace("＝", "=").replace("≤", "<=").replace("≥", ">="))
        if found is None:
            raise SheetError(
                source,
                where,
                f"“{part.strip()}” is not a condition: write question<=6, question>=9, "
                "question=a,b, question!=a or “question answered” / “question skipped”, "
                "joined by &.",
            )
        question, operator, value = found.group(1), found.group(2).strip(), found.group(3)
        if operator in ("answered", "skipped"):
            if value:
                raise SheetError(source, where, f"Nothing may follow “{operator}” in “{part}”.")
            out.append((question, "answered", "true" if operator == "answered" else "false"))
        elif operator in ("<=", ">="):
            key = "at_most" if operator == "<=" else "at_least"
            out.append((question, key, _number(value)))
        else:
            keys = [k.strip() for k in re.split(r"[,，、]", value) if k.strip()]
            if not keys:
                raise SheetError(source, where, f"“{part.strip()}” names no choice.")
            listed = ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)
            out.append((question, "any_of" if operator == "=" else "none_of", f"[{listed}]"))
    return out


def _question(
    y: _Yaml, number: int, cells: Sequence[Any], columns: dict[str, int], source: str
) -> None:
    def get(name: str) -> tuple[str, str]:
        index = columns.get(name)
        where = _cell(QUESTIONS_SHEET, number, index or 1)
        value = cells[index - 1] if index is not None and index <= len(cells) else None
        return _text(value), where

    def raw(name: str) -> Any:
        index = columns.get(name)
        return cells[index - 1] if index is not None and index <= len(cells) else None

    key, key_cell = get("key")
    y.add("  -", _cell(QUESTIONS_SHEET, number, 1))
    y.text("    ", "key", key, key_cell)
    kind, kind_cell = get("kind")
    y.text("    ", "type", KIND_ALIASES.get(kind, kind.casefold()), kind_cell)
    y.label("    ", "text", get("text"), get("text_en"))
    hint = get("hint")
    if hint[0]:
        y.label("    ", "hint", hint, get("hint_en"))
    required = get("required")
    if required[0]:
        y.scalar("    ", "required", _boolean(raw("required")), required[1])
    choices, choices_cell = get("choices")
    if choices:
        choices_en, en_cell = get("choices_en")
        y.add("    choices:", choices_cell)
        for choice_key, zh, en in _choices(choices, choices_en, choices_cell, en_cell, source):
            y.add("      -", choices_cell)
            y.text("        ", "key", choice_key, choices_cell)
            y.label("        ", "label", (zh, choices_cell), (en, en_cell if en != zh else None))
    for bound in ("min", "max"):
        value, where = get(bound)
        if value:
            y.scalar("    ", bound, _number(raw(bound)), where)
    show_if, show_cell = get("show_if")
    if show_if:
        y.add("    show_if:", show_cell)
        merged: dict[str, list[tuple[str, str]]] = {}
        for question, name, value in _show_if(show_if, show_cell, source):
            merged.setdefault(question, []).append((name, value))
        for question, parts in merged.items():
            y.add("      -", show_cell)
            y.text("        ", "question", question, show_cell)
            for name, value in parts:
                y.scalar("        ", name, value, show_cell)


def workbook_to_yaml(data: bytes, *, source: str) -> str:
    """The YAML survey definition a workbook declares, checked: SheetError (with the cell)
    if the workbook or the survey in it is not valid."""
    workbook = _open(data, source)
    try:
        fields = _survey_fields(workbook, source)
        question_rows = list(_rows(workbook, QUESTIONS_SHEET, source))
    finally:
        workbook.close()
    y = _Yaml()
    y.add(f"# from {source}", None)
    for name in ("key", "version"):
        if name not in fields:
            raise SheetError(source, SURVEY_SHEET, f"The sheet has no “{name}” row.")
    value, where = fields["key"]
    y.text("", "key", _text(value), where)
    value, where = fields["version"]
    y.scalar("", "version", _number(value), where)
    for name in TEXT_FIELDS:
        if name not in fields or not _text(fields[name][0]):
            if name != "description":
                raise SheetError(source, SURVEY_SHEET, f"The sheet has no “{name}” row.")
            continue
        zh_value, zh_cell = fields[name]
        en_value, en_cell = fields.get(f"{name}_en", (None, None))
        y.label("", name, (_text(zh_value), zh_cell), (_text(en_value), en_cell))
    if "anonymous" in fields:
        value, where = fields["anonymous"]
        y.scalar("", "anonymous", _boolean(value), where)
    if "resubmit" in fields:
        value, where = fields["resubmit"]
        y.text("", "resubmit", _text(value).casefold(), where)
    if not question_rows:
        raise SheetError(source, QUESTIONS_SHEET, "The sheet has no header and no questions.")
    (header_row, header), *rows = question_rows
    columns = _header(header, header_row, source)
    if not rows:
        raise SheetError(source, QUESTIONS_SHEET, "The sheet has no questions under its header.")
    if len(rows) > MAX_QUESTIONS:
        raise SheetError(
            source, QUESTIONS_SHEET, f"A survey has at most {MAX_QUESTIONS} questions."
        )
    y.add("questions:", f"{QUESTIONS_SHEET}!A{header_row}")
    for number, cells in rows:
        _question(y, number, cells, columns, source)
    text = "\n".join(y.lines) + "\n"
    try:
        parse_survey(text, source=source)
    except SheetError:
        raise
    except SurveyError as error:
        raise SheetError(source, y.cell_of(error.line), error.reason) from None
    return text


def parse_workbook(data: bytes, *, source: str) -> Survey:
    """The survey a workbook declares (SheetError with the cell if it is not valid)."""
    return parse_survey(workbook_to_yaml(data, source=source), source=source)


# --- writing --------------------------------------------------------------------------------


def _conditions(conditions: Sequence[ShowIf]) -> str:
    parts: list[str] = []
    for c in conditions:
        if c.answered is not None:
            parts.append(f"{c.question} {'answered' if c.answered else 'skipped'}")
        if c.any_of:
            parts.append(f"{c.question}={','.join(sorted(c.any_of))}")
        if c.none_of:
            parts.append(f"{c.question}!={','.join(sorted(c.none_of))}")
        if c.at_least is not None:
            parts.append(f"{c.question}>={c.at_least}")
        if c.at_most is not None:
            parts.append(f"{c.question}<={c.at_most}")
    return " & ".join(parts)


def _bound(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _row(question: Question, text_max_default: Decimal) -> list[Any]:
    maximum = question.max
    if question.kind is QuestionKind.TEXT and maximum == text_max_default:
        maximum = None  # the default: left blank
    return [
        question.key,
        question.kind.value,
        question.text.zh_CN,
        question.text.en,
        question.hint.zh_CN if question.hint else None,
        question.hint.en if question.hint else None,
        "true" if question.required else "false",
        " | ".join(f"{c.key}={c.label.zh_CN}" for c in question.choices) or None,
        " | ".join(c.label.en for c in question.choices) or None,
        _bound(question.min),
        _bound(maximum),
        _conditions(question.show_if) or None,
    ]


def survey_workbook(survey: Survey) -> bytes:
    """A survey as the workbook ``parse_workbook`` reads back to the same survey."""
    from bot.surveys.definitions import TEXT_ANSWER_MAX

    book = Workbook()
    bold = Font(bold=True)
    sheet = book.active
    assert sheet is not None
    sheet.title = SURVEY_SHEET
    sheet.append(["field", "value", "说明 / note"])
    rows: list[tuple[str, Any, str]] = [
        ("key", survey.key, "问卷代码：小写字母、数字、下划线 / lowercase letters, digits, _"),
        ("version", survey.version, "版本号 / version (1, 2, …)"),
        ("title", survey.title.zh_CN, "标题 / title"),
        ("title_en", survey.title.en, "英文标题（可空，默认用中文） / English (optional)"),
    ]
    if survey.description is not None:
        rows += [
            ("description", survey.description.zh_CN, "说明（可空） / description (optional)"),
            ("description_en", survey.description.en, ""),
        ]
    rows += [
        ("welcome", survey.welcome.zh_CN, "开始前显示 / shown before the first question"),
        ("welcome_en", survey.welcome.en, ""),
        ("closing", survey.closing.zh_CN, "提交后显示 / shown after submitting"),
        ("closing_en", survey.closing.en, ""),
        ("anonymous", "true" if survey.anonymous else "false", "匿名 / anonymous: true/false"),
        ("resubmit", survey.resubmit.value, "再次提交 / a second submission: refuse | replace"),
    ]
    for row in rows:
        sheet.append(list(row))
    for cell in sheet[1]:
        cell.font = bold
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 60
    sheet.column_dimensions["C"].width = 50
    questions = book.create_sheet(QUESTIONS_SHEET)
    questions.append(list(COLUMNS))
    for cell in questions[1]:
        cell.font = bold
    for question in survey.questions:
        questions.append(_row(question, Decimal(TEXT_ANSWER_MAX)))
    widths = (14, 10, 50, 40, 20, 20, 9, 50, 40, 6, 6, 24)
    for index, width in enumerate(widths, start=1):
        questions.column_dimensions[get_column_letter(index)].width = width
    questions.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
