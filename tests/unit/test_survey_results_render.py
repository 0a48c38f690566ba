"""Survey results as messages (#8): the summary stays within one Telegram message and valid
HTML whatever the survey's size, in both languages; the charts row becomes an album of PNGs;
the file row a CSV with a BOM or an XLSX."""

from __future__ import annotations

import pytest

from bot.emulator.html import parse_html, utf16_len
from bot.i18n import translator
from bot.messaging.outgoing import Outgoing
from bot.surveys.model import QuestionKind as K
from bot.surveys.reporting import summary_facts
from bot.surveys.results import DepartmentRate, QuestionResult, Results
from handlers.render.surveys import results_charts, results_file, results_summary

LONG = "很长的<意见>&" * 40


def _big() -> tuple[Results, list[list[str]]]:
    questions = []
    for i in range(50):
        if i % 2:
            questions.append(
                QuestionResult(
                    f"q{i}",
                    K.SINGLE,
                    f"第{i}题" + "<b>&" * 60,
                    30,
                    counts=[(f"选项{c}&", c) for c in range(20)],
                )
            )
        else:
            questions.append(QuestionResult(f"q{i}", K.TEXT, f"意见{i}", 30, texts=[LONG] * 30))
    departments = [DepartmentRate(f"科室{i}", None if i % 3 else i, 10) for i in range(30)]
    results = Results("大问卷<&>", True, 30, 300, questions, departments)
    return results, [[q.text for q in questions]]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_a_huge_summary_fits_one_message(locale: str) -> None:
    results, table = _big()
    out = Outgoing(1, 1, "survey.results", locale, facts=summary_facts(7, results, table))
    rendered = results_summary(out, translator(locale))
    parsed = parse_html(rendered.text, strict_ampersand=True)
    assert 0 < utf16_len(parsed.text) <= 4096
    assert "大问卷<&>" in parsed.text
    assert ("see the files" in parsed.text) if locale == "en" else ("详见导出文件" in parsed.text)
    assert rendered.reply_markup is not None


def test_the_charts_row_is_an_album_and_the_file_row_a_document() -> None:
    rating = QuestionResult("r", K.RATING, "评分", 6, counts=[(str(n), 1) for n in range(1, 6)])
    single = QuestionResult("s", K.SINGLE, "单选", 6, counts=[("甲", 4), ("乙", 2)])
    facts = {"id": 3, "questions": [rating.as_json(), single.as_json()], "weight": 2}
    album = results_charts(
        Outgoing(1, 1, "survey.charts", "zh_CN", facts=facts), translator("zh_CN")
    )
    assert album.method == "photos" and len(album.photos) == 2
    assert all(png.startswith(b"\x89PNG") for png, _ in album.photos)
    assert "评分" in album.photos[0][1]
    rows = [["题一", "题二"], ["=1+1", "好"]]
    for fmt, magic in (("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK\x03\x04")):
        facts = {"id": 3, "title": "问卷", "format": fmt, "rows": rows, "total": 1}
        doc = results_file(
            Outgoing(1, 1, "survey.results_file", "en", facts=facts), translator("en")
        )
        assert doc.method == "document" and doc.file_bytes is not None
        assert doc.file_bytes.startswith(magic) and doc.file_name == f"survey-3.{fmt}"
    csv_text = results_file(
        Outgoing(1, 1, "survey.results_file", "zh_CN", facts={**facts, "format": "csv"}),
        translator("zh_CN"),
    ).file_bytes
    assert csv_text is not None and "'=1+1" in csv_text.decode("utf-8-sig")  # formula-safe
