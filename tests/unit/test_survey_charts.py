"""Survey charts: valid PNGs of the size promised, Chinese set in a CJK font (a missing glyph
fails the test), and no chart for what must not or cannot be charted."""

from __future__ import annotations

import struct
import warnings
import zlib

import pytest
from matplotlib.font_manager import FontProperties, get_font

from bot.surveys import charts
from bot.surveys.model import QuestionKind as K
from bot.surveys.results import QuestionResult, Results, charted

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

QUESTIONS = [
    QuestionResult(
        "usage",
        K.SINGLE,
        "您多久使用一次本系统？",
        12,
        counts=[("每天", 7), ("每周几次", 3), ("很少", 2)],
    ),
    QuestionResult(
        "problems",
        K.MULTIPLE,
        "使用中遇到过哪些问题？（可多选）",
        10,
        counts=[("登录或U-Key", 4), ("速度慢", 6), ("流程与实际不符", 1), ("没有遇到问题", 3)],
    ),
    QuestionResult(
        "ease",
        K.RATING,
        "系统是否容易上手？",
        9,
        counts=[(str(n), c) for n, c in zip(range(1, 6), [0, 1, 2, 4, 2], strict=True)],
        mean=3.78,
    ),
    QuestionResult(
        "recommend",
        K.NPS,
        "您有多大可能向同事推荐使用本系统？" * 4,  # a long title is wrapped and cut
        14,
        counts=[(str(n), c) for n, c in enumerate([0, 0, 1, 0, 1, 2, 1, 2, 2, 3, 2])],
        mean=6.9,
        nps=-7,
    ),
    QuestionResult(
        "docs", K.NUMBER, "您每天处理多少份公文？", 6, mean=9.5, values=[3, 5, 8, 12, 12, 17]
    ),
]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert chunk == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(data[12:29]) == crc  # the header chunk is intact
    assert data.endswith(b"IEND\xaeB`\x82")  # complete
    return width, height


def test_the_cjk_font_is_found_and_covers_chinese() -> None:
    if charts.cjk_family() is None:
        pytest.skip("no CJK font installed (scripts/setup installs fonts-noto-cjk)")
    path = charts.font_file()
    assert "CJK" in path or "Han" in path or "WenQuanYi" in path or "Droid" in path, path
    face = get_font(path)
    cmap = face.get_charmap()
    for ch in "试点反馈您多久使用一次本系统（）：，贬损者推荐人数回答平均可多选比例":
        assert ord(ch) in cmap, ch


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.key for q in QUESTIONS])
def test_each_chart_is_a_png_of_its_size_without_missing_glyphs(question: QuestionResult) -> None:
    if charts.cjk_family() is None:
        pytest.skip("no CJK font installed (scripts/setup installs fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*[Gg]lyph.*missing")
        png = charts.chart_png(question)
    assert png is not None
    assert _png_size(png) == charts.size_px(question)
    assert charts.size_px(question)[0] == charts.WIDTH_PX


def test_the_missing_glyph_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the Latin fallback font the same Chinese chart does warn: the check above is real."""
    monkeypatch.setattr(charts, "font", lambda: FontProperties(family=[charts.FALLBACK_FAMILY]))
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="missing"):
        warnings.filterwarnings("error", message=r".*[Gg]lyph.*missing")
        charts.chart_png(QUESTIONS[0])


def test_more_choices_make_a_taller_chart() -> None:
    few = QuestionResult("a", K.SINGLE, "题", 5, counts=[("甲", 3), ("乙", 2)])
    many = QuestionResult("a", K.SINGLE, "题", 5, counts=[(f"选项{i}", 1) for i in range(12)])
    assert charts.size_px(many)[1] > charts.size_px(few)[1]


@pytest.mark.parametrize(
    "question",
    [
        QuestionResult("t", K.TEXT, "意见", 7, texts=["好"] * 7),
        QuestionResult("d", K.DATE, "日期", 6, counts=[("2026-12-01", 6)]),
        QuestionResult("h", K.SINGLE, "部门", 3, hidden=True),  # fewer than 5, anonymous
        QuestionResult("z", K.RATING, "评分", 0, counts=[(str(n), 0) for n in range(1, 6)]),
        QuestionResult("n", K.NUMBER, "数量", 0),
    ],
    ids=["text", "date", "hidden", "unanswered", "no-numbers"],
)
def test_no_chart(question: QuestionResult) -> None:
    assert not charted(question)
    assert charts.chart_png(question) is None


def test_charts_of_results_in_question_order_skipping_hidden() -> None:
    hidden = QuestionResult("secret", K.SINGLE, "科室", 4, hidden=True)
    results = Results("试点", True, 12, 20, [QUESTIONS[0], hidden, QUESTIONS[3]], [])
    drawn = charts.charts(results)
    assert [q.key for q, _ in drawn] == ["usage", "recommend"]
    assert all(png.startswith(PNG_MAGIC) for _, png in drawn)


def test_results_survive_json() -> None:
    results = Results("试点", True, 12, 20, QUESTIONS, [])
    again = Results.from_json(results.as_json())
    assert again == results
