"""发文字号: formatting and parsing ``{机关代字}〔{YYYY}〕{n}号``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.approvals.numbering import MAX_PREFIX, format_doc_number, parse_doc_number


@pytest.mark.parametrize(
    ("prefix", "year", "n", "expected"),
    [
        ("市政办", 2026, 7, "市政办〔2026〕7号"),
        ("市政办", 2026, 1, "市政办〔2026〕1号"),
        ("国办发", 2025, 120, "国办发〔2025〕120号"),
        ("A", 1999, 10000, "A〔1999〕10000号"),
        ("区政办发2", 2026, 3, "区政办发2〔2026〕3号"),
    ],
)
def test_format(prefix: str, year: int, n: int, expected: str) -> None:
    assert format_doc_number(prefix, year, n) == expected


@pytest.mark.parametrize(
    ("prefix", "year", "n"),
    [
        ("", 2026, 1),  # no prefix
        ("市" * (MAX_PREFIX + 1), 2026, 1),  # too long
        ("市〔政", 2026, 1),  # brackets in the prefix
        ("市[政", 2026, 1),
        ("市【政", 2026, 1),
        ("2026", 2026, 1),  # digits only
        (" 市政办", 2026, 1),  # surrounding spaces
        ("市政办", 2026, 0),  # numbers start at 1
        ("市政办", 2026, -3),
        ("市政办", 999, 1),  # not four digits
        ("市政办", 10000, 1),
    ],
)
def test_format_rejects(prefix: str, year: int, n: int) -> None:
    with pytest.raises(ValueError):
        format_doc_number(prefix, year, n)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("市政办〔2026〕7号", ("市政办", 2026, 7)),
        ("市政办[2026]7号", ("市政办", 2026, 7)),
        ("市政办(2026)7号", ("市政办", 2026, 7)),
        ("市政办（2026）7号", ("市政办", 2026, 7)),
        ("市政办【2026】7号", ("市政办", 2026, 7)),
        ("市政办〔2026)12号", ("市政办", 2026, 12)),  # mismatched but both brackets
        ("  国办发〔2025〕120号 ", ("国办发", 2025, 120)),
        ("区政办发2〔2026〕3号", ("区政办发2", 2026, 3)),
    ],
)
def test_parse(text: str, expected: tuple[str, int, int]) -> None:
    assert parse_doc_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "市政办〔2026〕07号",  # leading zero
        "市政办〔2026〕0号",
        "市政办〔2026〕7",  # no 号
        "市政办2026〕7号",  # no opening bracket
        "〔2026〕7号",  # no prefix
        "市政办〔26〕7号",  # two-digit year
        "市政办〔20260〕7号",
        "市政办〔2026〕号",  # no number
        "市政办〔2026〕7号附件",  # trailing text
        "2026〔2026〕7号",  # digits-only prefix
        "市" * (MAX_PREFIX + 1) + "〔2026〕7号",
        "",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_doc_number(text)


_PREFIX_CHARS = st.sampled_from("市区县政府办发函字号文教卫党委ABCxyz0123456789")
prefixes = st.text(_PREFIX_CHARS, min_size=1, max_size=MAX_PREFIX).filter(
    lambda p: not p.isdigit()
)


@given(prefixes, st.integers(1000, 9999), st.integers(1, 10**6))
def test_format_then_parse_round_trips(prefix: str, year: int, n: int) -> None:
    text = format_doc_number(prefix, year, n)
    assert parse_doc_number(text) == (prefix, year, n)
    assert format_doc_number(*parse_doc_number(text)) == text


@given(prefixes, st.integers(1000, 9999), st.integers(1, 10**6), st.sampled_from("[(（【〔"))
def test_mistyped_brackets_normalise_to_full_width(
    prefix: str, year: int, n: int, opener: str
) -> None:
    closer = {"[": "]", "(": ")", "（": "）", "【": "】", "〔": "〕"}[opener]
    typed = f"{prefix}{opener}{year}{closer}{n}号"
    assert format_doc_number(*parse_doc_number(typed)) == f"{prefix}〔{year}〕{n}号"
