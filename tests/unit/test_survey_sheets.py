"""Survey definitions in XLSX (#8): the workbook form of every shipped template reads back to
the same survey, the shipped example workbook to its YAML, and each mistake is reported with
its sheet and cell."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from bot.surveys.definitions import SurveyError, load_shipped, shipped_dir
from bot.surveys.model import QuestionKind
from bot.surveys.sheets import (
    MAX_BYTES,
    SheetError,
    is_xlsx,
    parse_workbook,
    survey_workbook,
    workbook_to_yaml,
)

SURVEY_ROWS: list[list[Any]] = [
    ["field", "value"],
    ["key", "canteen"],
    ["version", 1],
    ["title", "食堂满意度"],
    ["title_en", "Canteen"],
    ["welcome", "请花一分钟"],
    ["closing", "谢谢"],
    ["anonymous", "是"],
]
HEADER = ["key", "kind", "text", "text_en", "required", "choices", "choices_en", "show_if"]


def _book(
    questions: list[list[Any]],
    survey: list[list[Any]] | None = None,
    header: list[str] | None = None,
) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    for row in SURVEY_ROWS if survey is None else survey:
        sheet.append(row)
    qs = book.create_sheet("questions")
    qs.append(HEADER if header is None else header)
    for row in questions:
        qs.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _error(data: bytes) -> SheetError:
    with pytest.raises(SheetError) as caught:
        parse_workbook(data, source="t.xlsx")
    return caught.value


GOOD = [
    ["score", "评分", "饭菜质量如何？", "How is the food?", "是", None, None, None],
    [
        "dish",
        "单选",
        "最常吃什么？",
        None,
        None,
        "rice=米饭｜noodles=面条|粥",
        "Rice|Noodles|Porridge",
        None,
    ],
    ["why", "text", "为什么？", "Why?", "否", None, None, "score<=2 & dish!=rice"],
]


@pytest.mark.parametrize("key", sorted(load_shipped()))
def test_every_shipped_template_round_trips_through_a_workbook(key: str) -> None:
    survey = load_shipped()[key]
    assert parse_workbook(survey_workbook(survey), source=f"{key}.xlsx") == survey


def test_the_shipped_example_workbook_is_the_pilot_feedback_template() -> None:
    data = (shipped_dir() / "pilot_feedback.xlsx").read_bytes()
    assert parse_workbook(data, source="pilot_feedback.xlsx") == load_shipped()["pilot_feedback"]


def test_a_hand_written_workbook() -> None:
    survey = parse_workbook(_book(GOOD), source="t.xlsx")
    assert survey.key == "canteen" and survey.anonymous
    assert survey.title.en == "Canteen"
    assert survey.welcome.en == "请花一分钟"  # no English given: the Chinese
    score, dish, why = survey.questions
    assert score.kind is QuestionKind.RATING and score.required
    assert [(c.key, c.label.zh_CN, c.label.en) for c in dish.choices] == [
        ("rice", "米饭", "Rice"),
        ("noodles", "面条", "Noodles"),
        ("c3", "粥", "Porridge"),
    ]
    assert not why.required
    assert len(why.show_if) == 2
    assert why.asked({"score": 1, "dish": "noodles"})
    assert not why.asked({"score": 1, "dish": "rice"})
    assert not why.asked({"score": 4, "dish": "noodles"})
    # The stored definition is YAML the survey reader reads on its own.
    assert 'key: "canteen"' in workbook_to_yaml(_book(GOOD), source="t.xlsx")


@pytest.mark.parametrize(
    ("questions", "cell", "words"),
    [
        ([[*GOOD[0][:1], "stars", *GOOD[0][2:]]], "questions!B2", "Unknown question type"),
        ([GOOD[0], ["Bad Key", "text", "题"]], "questions!A3", "lowercase"),
        ([GOOD[0], GOOD[1], ["x", "text", "题", None, "也许"]], "questions!E4", "true or false"),
        ([GOOD[0], ["d", "single", "选", None, None, "只有一个"]], "questions!F3", "2 to 20"),
        ([GOOD[0], ["d", "single", "选", None, None, "a|b|c", "A|B"]], "questions!G3", "English"),
        (
            [GOOD[0], ["w", "text", "为何", None, None, None, None, "nope<=3"]],
            "questions!H3",
            "earlier",
        ),
        (
            [GOOD[0], ["w", "text", "为何", None, None, None, None, "score<>3"]],
            "questions!H3",
            "condition",
        ),
        (
            [GOOD[0], ["w", "text", "为何", None, None, None, None, "score<=9"]],
            "questions!H3",
            "1–5",
        ),
        ([GOOD[0], GOOD[0]], "questions!A3", "twice"),
        ([["a", "text", ""]], "questions!C2", "empty"),
    ],
    ids=[
        "kind",
        "key",
        "required",
        "one-choice",
        "choices_en",
        "show_if-ref",
        "show_if-syntax",
        "show_if-range",
        "duplicate",
        "no-text",
    ],
)
def test_mistakes_name_the_cell(questions: list[list[Any]], cell: str, words: str) -> None:
    error = _error(_book(questions))
    assert error.cell == cell, str(error)
    assert words in error.reason
    assert str(error).startswith(f"t.xlsx {cell}: ")
    assert isinstance(error, SurveyError)


def test_mistakes_in_the_survey_sheet() -> None:
    rows = [r for r in SURVEY_ROWS if r[0] != "version"] + [["version", "一"]]
    assert _error(_book(GOOD, rows)).cell == f"survey!B{len(rows)}"
    rows = [*SURVEY_ROWS, ["colour", "red"]]
    error = _error(_book(GOOD, rows))
    assert error.cell == f"survey!A{len(rows)}" and "Unknown field" in error.reason
    rows = [r for r in SURVEY_ROWS if r[0] != "closing"]
    assert "closing" in _error(_book(GOOD, rows)).reason
    rows = [r for r in SURVEY_ROWS if r[0] != "anonymous"] + [["anonymous", "x"]]
    assert _error(_book(GOOD, rows)).cell == f"survey!B{len(rows)}"


def test_a_header_without_text_or_an_unknown_column() -> None:
    error = _error(_book([["a", "text"]], header=["key", "kind"]))
    assert "text" in error.reason and error.cell == "questions!1:1"
    error = _error(_book([["a", "text", "题", "x"]], header=["key", "kind", "text", "colour"]))
    assert error.cell == "questions!D1"


def test_broken_oversized_and_incomplete_files() -> None:
    assert "not an XLSX" in _error(b"PK\x03\x04 not really a zip").reason
    assert "not an XLSX" in _error(b"key: 1").reason
    assert "MB" in _error(b"PK\x03\x04" + b"\0" * (MAX_BYTES + 1)).reason
    book = Workbook()
    out = io.BytesIO()
    book.save(out)
    assert "no sheet" in _error(out.getvalue()).reason
    assert "no questions" in _error(_book([])).reason


def test_is_xlsx() -> None:
    assert is_xlsx(b"", "Survey.XLSX")
    assert is_xlsx(b"PK\x03\x04...", "survey")
    assert not is_xlsx(b"key: x", "survey.yaml")
