"""Offline evaluation on a labelled set, threshold calibration and cross-validation.

How a query counts (``overall``, accuracy with abstention):

* an answerable query is correct only if the bot answers it confidently (top confidence ≥
  ``upper``) with the expected entry; a "did you mean" or an "I don't know" on it is wrong,
  even when the right entry is among the suggestions (that is reported as ``suggest_hit``);
* a no-answer query is correct if the bot gives no confident answer (it says it does not
  know, or offers suggestions the user can decline); a confident answer on it is wrong.

So ``overall`` depends on ``upper`` only; ``lower`` splits the non-answers into suggestions and
"I don't know" and is reported through ``suggest_rate`` and ``suggest_hit``. "Abstain" means no
confident answer. ``top1``/``top3`` ignore confidence (ranking quality alone).

    python -m knowledge.evaluate --kb dev_kb.yaml --queries dev_queries.yaml [--json] [--cv]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from knowledge.embed import Embedder, UseEmbedder, Vectors
from knowledge.index import Entry, Index
from knowledge.search import (
    CONFIDENCE_FEATURES,
    DEFAULT_WEIGHTS,
    Band,
    SearchResult,
    Thresholds,
    Weights,
    decide,
    search,
)

NO_ANSWER_STYLES = ("out_of_domain", "near_miss")


@dataclass(frozen=True)
class Query:
    """A labelled query: the entry it should get, or None if the bot must say it doesn't know."""

    text: str
    expected: str | None
    style: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the engine returned for one labelled query, and how long it took."""

    query: Query
    result: SearchResult
    seconds: float


def load_kb(path: str | Path) -> list[Entry]:
    """Entries from a YAML list in the dev-set format."""
    rows = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    return [
        Entry(
            id=str(row["id"]),
            question=str(row["question"]),
            alternatives=tuple(str(text) for text in row.get("alternatives") or ()),
            answer=str(row.get("answer") or ""),
            locale=str(row.get("locale") or "zh"),
            category=str(row.get("category") or ""),
            tags=tuple(str(tag) for tag in row.get("tags") or ()),
        )
        for row in rows
    ]


def load_queries(path: str | Path) -> list[Query]:
    """Labelled queries from a YAML list in the dev-set format."""
    rows = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    return [
        Query(str(row["query"]), row.get("expected"), str(row.get("style") or "")) for row in rows
    ]


def run_queries(
    index: Index, queries: Iterable[Query], weights: Weights = DEFAULT_WEIGHTS
) -> list[Outcome]:
    """Search every query once, timing each search (query embedding included)."""
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        result = search(index, query.text, weights=weights)
        outcomes.append(Outcome(query, result, time.perf_counter() - started))
    return outcomes


# --- confidence calibration ------------------------------------------------------------------


def _confidence_features(result: SearchResult) -> list[float]:
    return [result.features[name] for name in CONFIDENCE_FEATURES]


def _logistic(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    return out


def _logistic_regression(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], l2: float
) -> npt.NDArray[np.float64]:
    """y ~ sigmoid(b0 + x·b) by Newton's method from zero; ridge penalty l2·n on b, not b0."""
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.eye(design.shape[1]) * l2 * len(x)
    penalty[0, 0] = 0.0
    for _ in range(100):
        p = _logistic(design @ beta)
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = (design.T * (p * (1 - p))) @ design + penalty + np.eye(len(beta)) * 1e-9
        step = np.clip(np.linalg.solve(hessian, gradient), -5.0, 5.0)
        beta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return beta


def fit_confidence(
    outcomes: Sequence[Outcome], base: Weights = DEFAULT_WEIGHTS, *, l2: float = 0.001
) -> Weights:
    """Fit the confidence on labelled outcomes: P(top hit is right) = sigmoid(bias + w·evidence).

    A logistic regression on the top hit's evidence (:data:`search.CONFIDENCE_FEATURES`) with a
    small ridge penalty, so the confidence reads as a probability and a threshold means the
    same on another set. The label is 1 when the top hit is the expected entry, 0 otherwise
    (every no-answer query is 0). (This used to pick the direction by a grid search
    maximising ``overall``, then Platt-scale it; with four features that overfits: on the dev
    set the logistic regression cross-validates about a point of ``overall`` better split-half
    and two leaving one style out.)
    """
    usable = [o for o in outcomes if o.result.hits]
    if not usable:
        return base
    features = np.array([_confidence_features(o.result) for o in usable])
    right = np.array([_top_id(o) == o.query.expected for o in usable])
    if right.all() or not right.any():
        return base
    beta = _logistic_regression(features, right.astype(np.float64), l2)
    fitted: dict[str, Any] = {"bias": float(beta[0])}
    for name, value in zip(CONFIDENCE_FEATURES, beta[1:].tolist(), strict=True):
        fitted[f"w_{name}"] = value
    return replace(base, **fitted)


def recalibrated(outcomes: Sequence[Outcome], weights: Weights) -> list[Outcome]:
    """The same outcomes with confidences recomputed under other calibration weights."""
    out = []
    for outcome in outcomes:
        result = outcome.result
        if not result.hits:
            out.append(outcome)
            continue
        top = weights.confidence(result.features)
        hits = [replace(result.hits[0], confidence=top)]
        for hit in result.hits[1:]:
            lower = weights.confidence({**result.features, "score": hit.score, "margin": 0.0})
            hits.append(replace(hit, confidence=min(top, lower)))
        out.append(replace(outcome, result=replace(result, hits=tuple(hits))))
    return out


# --- metrics -----------------------------------------------------------------------------------


def _top_id(outcome: Outcome) -> str | None:
    top = outcome.result.top
    return top.entry_id if top else None


def _correct(outcome: Outcome, thresholds: Thresholds) -> bool:
    decision = decide(outcome.result, thresholds)
    if outcome.query.expected is None:
        return decision.band is not Band.ANSWER
    return decision.band is Band.ANSWER and decision.hits[0].entry_id == outcome.query.expected


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def report(
    outcomes: Sequence[Outcome],
    thresholds: Thresholds,
    locales: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The metrics as a plain dict (fractions 0–1; None where a set is empty)."""
    answerable = [o for o in outcomes if o.query.expected is not None]
    unanswerable = [o for o in outcomes if o.query.expected is None]
    decisions = [decide(o.result, thresholds) for o in outcomes]
    abstained = [d.band is not Band.ANSWER for d in decisions]
    truly_none = [o.query.expected is None for o in outcomes]
    abstain_hits = sum(a and n for a, n in zip(abstained, truly_none, strict=True))
    suggested = [
        (o, d) for o, d in zip(outcomes, decisions, strict=True) if d.band is Band.SUGGEST
    ]
    latencies = sorted(o.seconds * 1000 for o in outcomes) or [0.0]
    styles: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        styles.setdefault(outcome.query.style, []).append(outcome)
    per_style = {
        style: {
            "n": len(group),
            "top1": _share([_top_id(o) == o.query.expected for o in group if o.query.expected]),
            "overall": _share([_correct(o, thresholds) for o in group]),
        }
        for style, group in sorted(styles.items())
    }
    locales = locales or {}
    english_to_zh = [
        _top_id(o) == o.query.expected
        for o in answerable
        if o.query.style == "english" and locales.get(o.query.expected or "", "zh") != "en"
    ]
    near_miss = [o for o in unanswerable if o.query.style == "near_miss"]
    return {
        "n": len(outcomes),
        "thresholds": {"lower": thresholds.lower, "upper": thresholds.upper},
        "top1": _share([_top_id(o) == o.query.expected for o in answerable]),
        "top3": _share(
            [o.query.expected in [h.entry_id for h in o.result.hits[:3]] for o in answerable]
        ),
        "overall": _share([_correct(o, thresholds) for o in outcomes]),
        "abstain_precision": abstain_hits / sum(abstained) if sum(abstained) else None,
        "abstain_recall": abstain_hits / sum(truly_none) if sum(truly_none) else None,
        "answered_wrong": _share(
            [
                not a and not _correct(o, thresholds)
                for o, a in zip(outcomes, abstained, strict=True)
            ]
        ),
        "suggest_rate": len(suggested) / len(outcomes) if outcomes else None,
        "suggest_hit": _share(
            [
                o.query.expected in [h.entry_id for h in d.hits]
                for o, d in suggested
                if o.query.expected is not None
            ]
        ),
        "english_to_zh_top1": _share(english_to_zh),
        "near_miss_abstained": _share(
            [decide(o.result, thresholds).band is not Band.ANSWER for o in near_miss]
        ),
        "per_style": per_style,
        "latency_ms": {
            "mean": statistics.fmean(latencies),
            "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        },
    }


def calibrate(outcomes: Sequence[Outcome]) -> Thresholds:
    """Thresholds from a labelled set (the trainers' "calibrate" feature).

    ``upper`` maximises ``overall`` (ties: the lowest such value, answering more). ``lower``
    then keeps a query in the "did you mean" band only while that is useful: it is the value
    below ``upper`` maximising (answerable queries whose entry is among the 3 suggestions) −
    (no-answer queries that would be offered suggestions).
    """
    confidences = sorted({o.result.hits[0].confidence for o in outcomes if o.result.hits})
    candidates = [0.0, *confidences, 1.0]
    best_upper, best_overall = 1.0, -1.0
    for value in candidates:
        overall = sum(_correct(o, Thresholds(0.0, value)) for o in outcomes)
        if overall > best_overall:
            best_upper, best_overall = value, overall
    best_lower, best_gain = best_upper, 0
    for value in candidates:
        if value > best_upper:
            break
        gain = 0
        for outcome in outcomes:
            if not outcome.result.hits:
                continue
            confidence = outcome.result.hits[0].confidence
            if value <= confidence < best_upper:
                ids = [hit.entry_id for hit in outcome.result.hits[:3]]
                if outcome.query.expected is None:
                    gain -= 1
                elif outcome.query.expected in ids:
                    gain += 1
        if gain > best_gain:
            best_lower, best_gain = value, gain
    return Thresholds(min(best_lower, best_upper), best_upper)


# --- cross-validation --------------------------------------------------------------------------


class CachedEmbedder:
    """Wraps an embedder with a text → vector cache (cross-validation builds many indexes)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._cache: dict[str, Vectors] = {}

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed texts, computing only those not seen before."""
        todo = [text for text in dict.fromkeys(texts) if text not in self._cache]
        if todo:
            for text, row in zip(todo, self.inner.encode(todo), strict=True):
                self._cache[text] = row
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[text] for text in texts])


def _evaluate_split(
    make_index: Callable[[Sequence[Entry]], Index],
    train: tuple[Sequence[Entry], Sequence[Query]],
    test: tuple[Sequence[Entry], Sequence[Query]],
) -> tuple[list[Outcome], Thresholds]:
    """Fit calibration and thresholds on ``train``; return ``test``'s outcomes under them."""
    train_outcomes = run_queries(make_index(train[0]), train[1])
    weights = fit_confidence(train_outcomes)
    thresholds = calibrate(recalibrated(train_outcomes, weights))
    test_outcomes = recalibrated(run_queries(make_index(test[0]), test[1]), weights)
    return test_outcomes, thresholds


def cross_validate(
    kb: Sequence[Entry],
    queries: Sequence[Query],
    embedder: Embedder,
    *,
    seeds: Sequence[int] = (1, 2, 3, 4, 5),
) -> dict[str, Any]:
    """Split-half by entry (queries follow their entry, no-answer queries split at random),
    and leave-one-style-out; everything fitted (calibration, thresholds) only on the train side.
    """
    cached = CachedEmbedder(embedder)

    def make_index(entries: Sequence[Entry]) -> Index:
        index = Index(cached)
        index.build(entries)
        return index

    locales = {entry.id: entry.locale for entry in kb}
    halves: list[dict[str, Any]] = []
    pooled: list[tuple[Outcome, Thresholds]] = []
    for seed in seeds:
        rng = random.Random(seed)
        ids = [entry.id for entry in kb]
        rng.shuffle(ids)
        side = {entry_id: i % 2 for i, entry_id in enumerate(ids)}
        nulls = [q for q in queries if q.expected is None]
        rng.shuffle(nulls)
        null_side = {id(q): i % 2 for i, q in enumerate(nulls)}

        def part(
            n: int, side: dict[str, int] = side, null_side: dict[int, int] = null_side
        ) -> tuple[list[Entry], list[Query]]:
            entries = [e for e in kb if side[e.id] == n]
            qs = [
                q
                for q in queries
                if (q.expected is None and null_side[id(q)] == n)
                or (q.expected is not None and side.get(q.expected) == n)
            ]
            return entries, qs

        for train, test in ((0, 1), (1, 0)):
            outcomes, thresholds = _evaluate_split(make_index, part(train), part(test))
            rep = report(outcomes, thresholds, locales)
            halves.append({"seed": seed, "test_half": test, **_headline(rep)})
            pooled.extend((o, thresholds) for o in outcomes)

    full = run_queries(make_index(kb), queries)
    loso: dict[str, Any] = {}
    loso_correct: list[bool] = []
    for style in sorted({q.style for q in queries}):
        train_o = [o for o in full if o.query.style != style]
        test_o = [o for o in full if o.query.style == style]
        weights = fit_confidence(train_o)
        thresholds = calibrate(recalibrated(train_o, weights))
        test_o = recalibrated(test_o, weights)
        flags = [_correct(o, thresholds) for o in test_o]
        loso_correct.extend(flags)
        loso[style] = {"n": len(test_o), "overall": _share(flags), "upper": thresholds.upper}
    answerable = [(o, t) for o, t in pooled if o.query.expected is not None]
    near = [(o, t) for o, t in pooled if o.query.style == "near_miss"]
    return {
        "split_half": {
            "runs": halves,
            "mean": {
                key: statistics.fmean(run[key] for run in halves if run[key] is not None)
                for key in ("top1", "top3", "overall", "abstain_precision", "abstain_recall")
            },
            "pooled_overall": _share([_correct(o, t) for o, t in pooled]),
            "pooled_top1": _share([_top_id(o) == o.query.expected for o, _ in answerable]),
            "pooled_near_miss_abstained": _share(
                [decide(o.result, t).band is not Band.ANSWER for o, t in near]
            ),
        },
        "leave_one_style_out": {"per_style": loso, "overall": _share(loso_correct)},
    }


def _headline(rep: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("n", "top1", "top3", "overall", "abstain_precision", "abstain_recall", "thresholds")
    return {key: rep[key] for key in keys}


# --- command line ------------------------------------------------------------------------------


def evaluate_files(
    kb_path: str | Path, queries_path: str | Path, embedder: Embedder | None = None
) -> dict[str, Any]:
    """Build an index from a KB file, calibrate on the queries and report (in-sample)."""
    kb = load_kb(kb_path)
    queries = load_queries(queries_path)
    index = Index(embedder or UseEmbedder())
    index.build(kb)
    search(index, "预热")  # load the model before timing anything
    outcomes = run_queries(index, queries)
    thresholds = calibrate(outcomes)
    return report(outcomes, thresholds, {entry.id: entry.locale for entry in kb})


def _say(*parts: object) -> None:
    """One line on stdout (this module's command line; not a log)."""
    sys.stdout.write(" ".join(str(part) for part in parts) + "\n")


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:5.1f}%"


def _print_report(rep: Mapping[str, Any]) -> None:
    pct = _pct

    _say(
        f"queries {rep['n']}, thresholds lower {rep['thresholds']['lower']:.3f} "
        f"upper {rep['thresholds']['upper']:.3f}"
    )
    for key in (
        "top1",
        "top3",
        "overall",
        "abstain_precision",
        "abstain_recall",
        "english_to_zh_top1",
        "near_miss_abstained",
        "suggest_rate",
        "suggest_hit",
    ):
        _say(f"  {key:22s} {pct(rep[key])}")
    _say(
        f"  latency mean {rep['latency_ms']['mean']:.2f} ms, p99 {rep['latency_ms']['p99']:.2f} ms"
    )
    for style, row in rep["per_style"].items():
        _say(
            f"  {style:14s} n={row['n']:3d} top1 {pct(row['top1'])} overall {pct(row['overall'])}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m knowledge.evaluate --kb KB.yaml --queries Q.yaml [--json] [--cv]``."""
    parser = argparse.ArgumentParser(description="Evaluate FAQ retrieval on a labelled set.")
    parser.add_argument("--kb", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--cv", action="store_true", help="also cross-validate (slower)")
    args = parser.parse_args(argv)
    embedder = CachedEmbedder(UseEmbedder())
    rep = evaluate_files(args.kb, args.queries, embedder)
    if args.cv:
        rep["cross_validation"] = cross_validate(
            load_kb(args.kb), load_queries(args.queries), embedder
        )
    if args.json:
        json.dump(rep, sys.stdout, ensure_ascii=False, indent=2)
        _say()
    else:
        _print_report(rep)
        if args.cv:
            cv = rep["cross_validation"]
            _say("cross-validation (split-half by entry, 5 seeds × 2):")
            _say("  mean", {k: round(v, 3) for k, v in cv["split_half"]["mean"].items()})
            _say(
                "  pooled overall",
                round(cv["split_half"]["pooled_overall"], 3),
                "pooled top1",
                round(cv["split_half"]["pooled_top1"], 3),
                "near-miss abstained",
                round(cv["split_half"]["pooled_near_miss_abstained"], 3),
            )
            _say("  leave-one-style-out overall", round(cv["leave_one_style_out"]["overall"], 3))
            for style, row in cv["leave_one_style_out"]["per_style"].items():
                _say(f"    {style:14s} n={row['n']:3d} overall {_pct(row['overall'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
