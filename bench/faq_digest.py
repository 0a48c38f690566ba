"""The trainers' digest: which cosine threshold groups paraphrases and keeps topics apart.

The dev set's labelled queries stand in for what staff ask: two queries expecting the same
entry ask the same question and should share a group; a query expecting no entry is a topic
of its own. For each threshold, the groups' B-cubed precision (how much of a question's
group asks the same thing) and recall (how much of what asks the same thing is in its group),
and the pairs grouped right and wrong. Then how often the engine's top hit is the right entry
when a query is not answered outright, by confidence: the evidence behind a group's suggested
entry. Real model (USE v3) and engine; figures are printed, not asserted.

    python -m bench.faq_digest [--dev ../shared/eval/faq]
"""

from __future__ import annotations

import argparse
import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.faq.digest import Asked, group_questions
from knowledge.embed import UseEmbedder, embedding_text
from knowledge.evaluate import load_kb, load_queries, run_queries
from knowledge.index import Index

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "faq"
ANSWER = 0.6  # the default GOVBOT_FAQ_ANSWER


def _b_cubed(topics: list[str], where: dict[int, int]) -> tuple[float, float]:
    n = len(topics)
    precision = recall = 0.0
    for i in range(n):
        mates = [j for j in range(n) if where[j] == where[i]]
        same = [j for j in range(n) if topics[j] == topics[i]]
        precision += sum(topics[j] == topics[i] for j in mates) / len(mates)
        recall += sum(where[j] == where[i] for j in same) / len(same)
    return precision / n, recall / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", type=Path, default=DEV)
    args = parser.parse_args()
    queries = load_queries(args.dev / "dev_queries.yaml")
    embedder = UseEmbedder()
    vectors = embedder.encode([embedding_text(q.text) for q in queries])
    now = datetime.now(UTC)
    asked = [Asked(i, q.text, f"p{i}", None, 0.0, now) for i, q in enumerate(queries)]
    topics = [q.expected or f"none-{i}" for i, q in enumerate(queries)]
    pairs = list(itertools.combinations(range(len(queries)), 2))
    same = [(a, b) for a, b in pairs if topics[a] == topics[b]]
    differ = [(a, b) for a, b in pairs if topics[a] != topics[b]]
    sims = vectors @ vectors.T
    print(f"{len(queries)} queries: {len(same)} same-question pairs, {len(differ)} others")
    for name, chosen, marks in (("same", same, [25, 50, 75]), ("other", differ, [90, 95, 99])):
        cuts = np.percentile([sims[a, b] for a, b in chosen], marks)
        print(f"  cosine of {name} pairs, percentiles {marks}: {np.round(cuts, 3).tolist()}")
    print("threshold  B3 precision  B3 recall  groups  same pairs joined  other pairs joined")
    for threshold in np.arange(0.45, 0.81, 0.05):
        groups = group_questions(asked, vectors, threshold=float(threshold))
        where = {m: g for g, group in enumerate(groups) for m in group.members}
        precision, recall = _b_cubed(topics, where)
        right = sum(where[a] == where[b] for a, b in same)
        wrong = sum(where[a] == where[b] for a, b in differ)
        print(
            f"  {threshold:.2f}      {precision:.3f}        {recall:.3f}     {len(groups):4d}"
            f"   {right:4d}/{len(same)}            {wrong:4d}"
        )
    index = Index(embedder)
    index.build(load_kb(args.dev / "dev_kb.yaml"))
    unsure = [o for o in run_queries(index, queries) if o.result.top is not None]
    unsure = [o for o in unsure if o.result.top and o.result.top.confidence < ANSWER]
    print(f"{len(unsure)} queries not answered outright: top hit right, by confidence")
    for low, high in itertools.pairwise([0.0, 0.1, 0.15, 0.2, 0.3, 0.45, ANSWER]):
        band = [o for o in unsure if o.result.top and low <= o.result.top.confidence < high]
        right = sum(1 for o in band if o.result.top and o.result.top.entry_id == o.query.expected)
        print(f"  [{low:.2f}, {high:.2f}): {right}/{len(band)}")


if __name__ == "__main__":
    main()
