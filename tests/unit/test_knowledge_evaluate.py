"""Evaluation arithmetic on hand-made outcomes: abstention counting, bands, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.embed import HashEmbedder
from knowledge.evaluate import (
    Outcome,
    Query,
    calibrate,
    cross_validate,
    fit_confidence,
    load_kb,
    load_queries,
    recalibrated,
    report,
)
from knowledge.search import Hit, SearchResult, Thresholds


def outcome(
    expected: str | None, ranked: list[str], confidence: float, style: str = "s"
) -> Outcome:
    hits = tuple(Hit(entry_id, 1.0 - i / 10, confidence) for i, entry_id in enumerate(ranked))
    features = {"score": confidence, "margin": 0.1, "missing": 0.0, "matched": 1.0}
    return Outcome(Query("q", expected, style), SearchResult("q", hits, features), 0.002)


# Four answerable queries, two no-answer ones.
OUTCOMES = [
    outcome("a", ["a", "b", "c"], 0.9, "short"),  # confident and right
    outcome("b", ["a", "b", "c"], 0.8, "short"),  # confident and wrong (right one 2nd)
    outcome("c", ["c", "a", "b"], 0.5, "long"),  # right, but only suggested
    outcome("d", ["a", "b", "c"], 0.1, "long"),  # abstained: wrong, not even in top 3
    outcome(None, ["a", "b", "c"], 0.2, "near_miss"),  # abstained: right
    outcome(None, ["b", "a", "c"], 0.75, "near_miss"),  # answered a no-answer query: wrong
]


def test_report_counts_abstention_honestly() -> None:
    rep = report(OUTCOMES, Thresholds(lower=0.3, upper=0.7))
    assert rep["top1"] == pytest.approx(2 / 4)  # a and c rank first
    assert rep["top3"] == pytest.approx(3 / 4)
    # correct: the first (answered right) and the fifth (abstained on a no-answer query);
    # the suggestion on "c" does not count, the answer on the last no-answer query is wrong
    assert rep["overall"] == pytest.approx(2 / 6)
    # abstained: c (suggested), d, the first no-answer query; of those one is truly no-answer
    assert rep["abstain_precision"] == pytest.approx(1 / 3)
    assert rep["abstain_recall"] == pytest.approx(1 / 2)
    assert rep["near_miss_abstained"] == pytest.approx(1 / 2)
    assert rep["suggest_rate"] == pytest.approx(1 / 6)
    assert rep["suggest_hit"] == pytest.approx(1.0)
    assert rep["per_style"]["short"] == {"n": 2, "top1": 0.5, "overall": 0.5}
    assert rep["per_style"]["near_miss"] == {"n": 2, "top1": None, "overall": 0.5}
    assert rep["latency_ms"]["mean"] == pytest.approx(2.0)
    assert set(rep) >= {"top1", "top3", "overall", "abstain_precision", "abstain_recall"}


def test_a_suggestion_band_never_raises_overall() -> None:
    narrow = report(OUTCOMES, Thresholds(lower=0.7, upper=0.7))["overall"]
    wide = report(OUTCOMES, Thresholds(lower=0.0, upper=0.7))["overall"]
    assert wide == narrow


def test_calibrate_picks_the_upper_threshold_that_maximises_overall() -> None:
    thresholds = calibrate(OUTCOMES)
    best = report(OUTCOMES, thresholds)["overall"]
    for upper in (0.0, 0.15, 0.3, 0.6, 0.78, 0.85, 0.95, 1.0):
        assert report(OUTCOMES, Thresholds(0.0, upper))["overall"] <= best
    assert thresholds.lower <= thresholds.upper


def test_fit_confidence_orders_right_answers_above_wrong_ones() -> None:
    weights = fit_confidence(OUTCOMES)
    rescored = recalibrated(OUTCOMES, weights)
    confidences = [o.result.hits[0].confidence for o in rescored]
    assert confidences[0] > confidences[3]
    assert all(0.0 <= c <= 1.0 for c in confidences)


def test_fit_confidence_learns_which_way_each_feature_points() -> None:
    # right answers: entries that lack little of the query and match several of its words;
    # wrong ones (no-answer queries among them) lack much and match one word; score and
    # margin carry no information here.
    rng = np.random.default_rng(7)
    outcomes = []
    for i in range(200):
        right = i % 2 == 0
        features = {
            "score": float(rng.uniform(0.4, 0.7)),
            "margin": float(rng.uniform(0.0, 0.3)),
            "missing": float(rng.uniform(0.0, 0.5) if right else rng.uniform(0.3, 0.9)),
            "matched": float(np.log1p(rng.integers(2, 6) if right else rng.integers(0, 3))),
        }
        hits = (Hit("a", features["score"], 0.5), Hit("b", 0.1, 0.1))
        query = Query("q", "a" if right else None, "s")
        outcomes.append(Outcome(query, SearchResult("q", hits, features), 0.001))
    weights = fit_confidence(outcomes)
    assert weights.w_missing < -1.0
    assert weights.w_matched > 1.0
    assert abs(weights.w_score) < abs(weights.w_missing)
    rescored = recalibrated(outcomes, weights)
    right = [o.result.hits[0].confidence for o in rescored if o.query.expected]
    wrong = [o.result.hits[0].confidence for o in rescored if not o.query.expected]
    assert np.mean(right) > 0.7 > 0.3 > np.mean(wrong)
    for outcome in rescored:
        assert outcome.result.hits[1].confidence <= outcome.result.hits[0].confidence


def test_loaders_read_the_dev_format(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yaml"
    kb.write_text(
        "- id: x\n  locale: zh\n  question: 问？\n  alternatives: [问法二]\n  answer: 答。\n"
        "  tags: [标签]\n",
        encoding="utf-8",
    )
    queries = tmp_path / "q.yaml"
    queries.write_text(
        "- query: 问\n  expected: x\n  style: short\n- query: 无关\n  expected: null\n",
        encoding="utf-8",
    )
    (entry,) = load_kb(kb)
    assert (entry.id, entry.alternatives, entry.tags) == ("x", ("问法二",), ("标签",))
    assert load_queries(queries) == [Query("问", "x", "short"), Query("无关", None, "")]


def _dev_set() -> Path:
    """The labelled dev set: shared/ beside the repository (CI), or the workplace copy."""
    beside = Path(__file__).resolve().parents[3] / "shared" / "eval" / "faq"
    return beside if beside.exists() else Path("/work/shared/eval/faq")


DEV = _dev_set()


@pytest.mark.skipif(not DEV.exists(), reason="the shared dev set is not on this machine")
def test_cross_validation_fits_only_on_the_training_side() -> None:
    kb = load_kb(DEV / "dev_kb.yaml")
    queries = load_queries(DEV / "dev_queries.yaml")
    cv = cross_validate(kb, queries, HashEmbedder(dim=64), seeds=(1,))
    runs = cv["split_half"]["runs"]
    assert len(runs) == 2
    assert sum(run["n"] for run in runs) == len(queries)
    assert 0.0 <= cv["leave_one_style_out"]["overall"] <= 1.0
