"""``govbot faq eval``: the knowledge base (a file, or what staff are answered from) measured
on a labelled query file with the deployment's thresholds, or with thresholds calibrated on
the file itself (marked as such: in-sample figures flatter)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.faq.content import EntryContent
from knowledge.embed import UseEmbedder
from knowledge.evaluate import calibrate as fit_thresholds
from knowledge.evaluate import load_queries, report, run_queries
from knowledge.index import Entry, Index
from knowledge.search import Thresholds, search


def to_entry(content: EntryContent, version: int = 1) -> Entry:
    """The engine's view of an entry's words."""
    return Entry(
        id=content.key,
        question=content.question,
        alternatives=content.alternatives,
        answer=content.answer,
        locale=content.locale,
        category=content.category,
        tags=content.tags,
        version=version,
    )


def evaluate(
    contents: Sequence[EntryContent],
    queries_path: Path,
    *,
    answer: float,
    suggest: float,
    calibrate: bool = False,
) -> dict[str, Any]:
    """Top-1, top-3, overall with abstention, abstain precision/recall, per style, latency."""
    queries = load_queries(queries_path)
    index = Index(UseEmbedder())
    entries = [to_entry(c) for c in contents]
    index.build(entries)
    search(index, "预热")  # load the model before anything is timed
    outcomes = run_queries(index, queries)
    thresholds = fit_thresholds(outcomes) if calibrate else Thresholds(suggest, answer)
    result = report(outcomes, thresholds, {e.id: e.locale for e in entries})
    result["queries"] = len(queries)
    result["calibrated"] = calibrate
    result["thresholds"] = {"answer": thresholds.upper, "suggest": thresholds.lower}
    return result
