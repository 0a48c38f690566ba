"""Survey charts: one PNG per question, drawn from its results with Chinese labels.

Single and multiple choice and ratings are horizontal bars with each bar's count and share;
NPS is the 0–10 scores as columns coloured detractor (0–6), passive (7–8) and promoter
(9–10) with the score in the title; numbers are a histogram. Free text and dates get no
chart, nor does a question hidden for having fewer than five answers (anonymous surveys) or
with no answer at all.

The text is set in a CJK font found through ``matplotlib.font_manager`` (Noto Sans CJK from
the Debian package fonts-noto-cjk, which ``scripts/setup`` installs); without one the charts
are still drawn, Chinese as boxes, and a warning is logged once saying what to install.
No pyplot: each chart is its own ``Figure`` on an Agg canvas, so nothing global changes.
Drawing takes CPU time (some 50 ms a chart): callers on the event loop use a thread.
"""

from __future__ import annotations

import io
import logging
import textwrap
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, fontManager
from matplotlib.ticker import MaxNLocator

from bot.surveys.model import QuestionKind
from bot.surveys.results import QuestionResult, Results, charted

logger = logging.getLogger(__name__)

# Simplified Chinese faces first; any of them has every glyph a survey's labels use.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
FALLBACK_FAMILY = "DejaVu Sans"  # matplotlib's own: Latin only

DPI = 100
WIDTH_PX = 1000
TITLE_WIDTH = 34  # characters of the question per title line (CJK characters are wide)
TITLE_LINES = 3
LABEL_WIDTH = 14  # characters of a choice per label line
MAX_HISTOGRAM_BINS = 10

BAR = "#3b6ea5"
DETRACTOR = "#c8453b"
PASSIVE = "#b5b5b5"
PROMOTER = "#3f9b4f"

_DRAWING = threading.Lock()  # matplotlib shares its font objects between threads


# Where fonts-noto-cjk puts it: added by hand when matplotlib's font cache predates the font.
KNOWN_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


@cache
def cjk_family() -> str | None:
    """The first CJK family installed (None: none; logged once)."""
    installed = {f.name for f in fontManager.ttflist}
    if not installed & set(CJK_FAMILIES):
        for path in KNOWN_FILES:
            if Path(path).is_file():
                fontManager.addfont(path)
                installed = {f.name for f in fontManager.ttflist}
                logger.info("survey charts: added %s to matplotlib's font list", path)
                break
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    logger.warning(
        "no CJK font found for survey charts (install fonts-noto-cjk): Chinese labels will "
        "show as boxes"
    )
    return None


def font() -> FontProperties:
    """The font every chart's text is set in."""
    return FontProperties(family=[cjk_family() or FALLBACK_FAMILY])


def font_file() -> str:
    """The font file that ``font()`` resolves to (for the logs and the tests)."""
    return str(findfont(font(), fallback_to_default=True))


def _wrap(text: str, width: int, lines: int) -> str:
    wrapped = textwrap.wrap(text, width=width, break_long_words=True) or [""]
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], wrapped[lines - 1][: width - 1] + "…"]
    return "\n".join(wrapped)


def _bar_labels(question: QuestionResult) -> list[str]:
    if question.kind is QuestionKind.RATING:
        return [f"{label} 分" for label, _ in question.counts]
    return [_wrap(label, LABEL_WIDTH, 2) for label, _ in question.counts]


def size_px(question: QuestionResult) -> tuple[int, int]:
    """The chart's width and height in pixels: horizontal bars grow with their number."""
    if question.kind in (QuestionKind.NPS, QuestionKind.NUMBER):
        return WIDTH_PX, 560
    rows = sum(max(1, label.count("\n") + 1) for label in _bar_labels(question))
    return WIDTH_PX, max(360, 200 + 26 * rows + 22 * len(question.counts))


def _title(question: QuestionResult, extra: str) -> str:
    head = _wrap(question.text, TITLE_WIDTH, TITLE_LINES)
    return f"{head}\n{extra}" if extra else head


def _answered(question: QuestionResult) -> str:
    parts = [f"回答 {question.answered} 人"]
    if question.kind is QuestionKind.MULTIPLE:
        parts.append("可多选，比例按回答人数计")
    if question.mean is not None:
        parts.append(f"平均 {question.mean:g}")
    return " · ".join(parts)


def _horizontal(fig: Figure, question: QuestionResult, prop: FontProperties) -> None:
    ax = fig.add_subplot()
    labels = _bar_labels(question)
    counts = [n for _, n in question.counts]
    positions = list(range(len(counts)))
    ax.barh(positions, counts, color=BAR, height=0.6)
    ax.set_yticks(positions, labels, fontproperties=prop, fontsize=12)
    ax.invert_yaxis()  # the first choice on top
    top = max(counts) if counts else 0
    ax.set_xlim(0, max(1, top) * 1.3)
    for y, n in zip(positions, counts, strict=True):
        share = 100 * n / question.answered if question.answered else 0
        ax.text(
            n + max(1, top) * 0.02,
            y,
            f"{n}（{share:.0f}%）",
            va="center",
            fontproperties=prop,
            fontsize=11,
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("人数", fontproperties=prop, fontsize=11)
    ax.set_title(_title(question, _answered(question)), fontproperties=prop, fontsize=14)
    ax.spines[["top", "right"]].set_visible(False)


def _nps(fig: Figure, question: QuestionResult, prop: FontProperties) -> None:
    ax = fig.add_subplot()
    scores = [int(label) for label, _ in question.counts]
    counts = [n for _, n in question.counts]
    colours = [DETRACTOR if s <= 6 else PASSIVE if s <= 8 else PROMOTER for s in scores]
    ax.bar(scores, counts, color=colours, width=0.7)
    top = max(counts) if counts else 0
    ax.set_ylim(0, max(1, top) * 1.25)
    for x, n in zip(scores, counts, strict=True):
        if n:
            share = 100 * n / question.answered
            ax.text(
                x,
                n + max(1, top) * 0.02,
                f"{n}\n{share:.0f}%",
                ha="center",
                fontproperties=prop,
                fontsize=10,
            )
    ax.set_xticks(scores, [str(s) for s in scores])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(
        "贬损者 0–6（红）· 被动者 7–8（灰）· 推荐者 9–10（绿）", fontproperties=prop, fontsize=11
    )
    ax.set_ylabel("人数", fontproperties=prop, fontsize=11)
    score = f"NPS {question.nps:+d}" if question.nps is not None else "NPS —"
    ax.set_title(
        _title(question, f"{score} · {_answered(question)}"), fontproperties=prop, fontsize=14
    )
    ax.spines[["top", "right"]].set_visible(False)


def _histogram(fig: Figure, question: QuestionResult, prop: FontProperties) -> None:
    ax = fig.add_subplot()
    values = np.asarray(question.values, dtype=float)
    distinct = len(set(question.values))
    bins = max(1, min(MAX_HISTOGRAM_BINS, distinct))
    counts, edges, _ = ax.hist(values, bins=bins, color=BAR, edgecolor="white")
    ax.set_ylim(0, max(1.0, float(max(counts))) * 1.15)  # room for the labels
    for n, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if n:
            ax.text(
                (left + right) / 2,
                n,
                f"{int(n)}",
                ha="center",
                va="bottom",
                fontproperties=prop,
                fontsize=10,
            )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("人数", fontproperties=prop, fontsize=11)
    ax.set_title(_title(question, _answered(question)), fontproperties=prop, fontsize=14)
    ax.spines[["top", "right"]].set_visible(False)


def chart_png(question: QuestionResult) -> bytes | None:
    """The question's chart as PNG bytes (None: it gets none, see ``charted``)."""
    if not charted(question):
        return None
    width, height = size_px(question)
    prop = font()
    with _DRAWING:
        fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        if question.kind is QuestionKind.NPS:
            _nps(fig, question, prop)
        elif question.kind is QuestionKind.NUMBER:
            _histogram(fig, question, prop)
        else:
            _horizontal(fig, question, prop)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, facecolor="white")
    return out.getvalue()


def charts(results: Results | Sequence[QuestionResult]) -> list[tuple[QuestionResult, bytes]]:
    """Every chart of a survey's results, in question order."""
    questions = results.questions if isinstance(results, Results) else results
    drawn: list[tuple[QuestionResult, bytes]] = []
    for question in questions:
        png = chart_png(question)
        if png is not None:
            drawn.append((question, png))
    return drawn
