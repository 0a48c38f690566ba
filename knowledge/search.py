"""Ranked hits for a question: lexical candidates, re-scored lexically and semantically.

1. Candidates: BM25 over question/alternatives/tags plus (weaker) answer text, and, when the index
   is small enough, the nearest entries by embedding, so a paraphrase sharing no word is found.
2. Each candidate gets a lexical hybrid (BM25 relative to the best, IDF-weighted coverage of the
   query's tokens, rapidfuzz word-set similarity) and a semantic score (best cosine over its
   phrasings, cosine with question+answer); they are fused with a weight that follows the share of
   Chinese in the query (measured on the dev set: with the glossary mapping English terms to
   Chinese ones, an English query does best with a little *more* lexical weight, not less).
3. The top hit's confidence is a logistic calibration of absolute evidence (fused score, margin to
   the runner-up, how much of the query's salient content the entry does not cover, and how many
   of the query's salient words it does), so the same thresholds mean the same thing on another
   knowledge base.

Thresholds are the caller's (the bot's FAQ settings); :func:`decide` applies them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from knowledge import segment
from knowledge.analyse import BIGRAM, PINYIN, TRIGRAM, WORD, Analysis
from knowledge.embed import embedding_text, single_threaded_blas
from knowledge.index import Index, Snapshot
from knowledge.normalise import cjk_share, is_cjk

# The evidence the confidence is computed from, in the order of Weights' w_* fields.
CONFIDENCE_FEATURES = ("score", "margin", "missing", "matched")


@dataclass(frozen=True)
class Weights:
    """Fusion and calibration constants (fitted on the dev set, checked by cross-validation)."""

    candidates: int = 30  # per source (lexical, semantic) before re-scoring
    answer_bm25: float = 0.3  # answer-text BM25 relative to the question field's
    coverage: float = 0.5  # within the lexical hybrid, next to BM25 (weight 1)
    fuzzy: float = 0.5
    embedding_zh: float = 0.75  # embedding share of the fused score, Chinese query
    embedding_latin: float = 0.65  # ... query with no Chinese (the glossary maps its terms)
    # Confidence = sigmoid(bias + w_score·score + w_margin·margin + w_missing·missing +
    # w_matched·matched), as fitted by evaluate.fit_confidence on the dev set (see its
    # cross-validated figures).
    bias: float = -3.044
    w_score: float = 1.978
    w_margin: float = 5.679
    w_missing: float = -2.669
    w_matched: float = 3.021

    def confidence(self, evidence: Mapping[str, float]) -> float:
        """The calibrated confidence for evidence holding every CONFIDENCE_FEATURES key."""
        z = self.bias
        for name in CONFIDENCE_FEATURES:
            z += getattr(self, f"w_{name}") * evidence[name]
        return _sigmoid(z)


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class Hit:
    """One ranked entry: the fused ranking score and a calibrated confidence (0–1)."""

    entry_id: str
    score: float
    confidence: float


@dataclass(frozen=True)
class SearchResult:
    """Hits best first, with the evidence behind the top one (for calibration and logs)."""

    query: str
    hits: tuple[Hit, ...]
    features: dict[str, float] = field(default_factory=dict)

    @property
    def top(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None


class Band(StrEnum):
    """What the bot does with a result."""

    ANSWER = "answer"  # confident: answer directly
    SUGGEST = "suggest"  # unsure: "did you mean" with the top hits as buttons
    UNKNOWN = "unknown"  # say it does not know and offer a person


@dataclass(frozen=True)
class Thresholds:
    """Confidence bands: answer at or above ``upper``, suggest from ``lower``, else unknown."""

    lower: float
    upper: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.lower <= self.upper <= 1.0:
            raise ValueError(f"need 0 <= lower <= upper <= 1, got {self.lower}, {self.upper}")


@dataclass(frozen=True)
class Decision:
    """The band and the hits to show in it (one to answer, up to three to suggest, none)."""

    band: Band
    hits: tuple[Hit, ...]


def decide(result: SearchResult, thresholds: Thresholds, *, suggestions: int = 3) -> Decision:
    """Apply the bands to the top hit's confidence; never answers below ``lower``."""
    top = result.top
    if top is None or top.confidence < thresholds.lower:
        return Decision(Band.UNKNOWN, ())
    if top.confidence >= thresholds.upper:
        return Decision(Band.ANSWER, (top,))
    return Decision(Band.SUGGEST, result.hits[:suggestions])


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


def _top(
    scores: npt.NDArray[np.float32], n: int, *, positive: bool = False
) -> npt.NDArray[np.int64]:
    """Positions of the n highest scores, unordered (only scores > 0 if ``positive``)."""
    if positive:  # BM25: most documents score 0, partition only the others
        nonzero = np.flatnonzero(scores > 0)
        if len(nonzero) <= n:
            return nonzero.astype(np.int64)
        return nonzero[np.argpartition(-scores[nonzero], n)[:n]].astype(np.int64)
    if len(scores) <= n:
        return np.arange(len(scores), dtype=np.int64)
    return np.argpartition(-scores, n)[:n].astype(np.int64)


def search(
    index: Index, query: str, *, k: int = 3, weights: Weights = DEFAULT_WEIGHTS
) -> SearchResult:
    """Rank the index's entries for a query (CPU-bound: call it from a worker thread)."""
    snap = index.snapshot
    analysis = index.analyser.analyse(query)
    if len(snap) == 0 or not analysis.normalised:
        return SearchResult(query, ())
    vector = index.embedder.encode([embedding_text(query)])[0]
    with single_threaded_blas():
        return _rank(snap, index, analysis, vector, k, weights, query)


def _rank(
    snap: Snapshot,
    index: Index,
    analysis: Analysis,
    vector: npt.NDArray[np.float32],
    k: int,
    weights: Weights,
    query: str,
) -> SearchResult:
    token_ids = snap.vocabulary.lookup(analysis.tokens)
    # a token added by a later change is unknown to this snapshot
    token_ids[token_ids >= len(snap.idf)] = -1
    known = token_ids[token_ids >= 0]
    lexical = snap.lexical(known, weights.answer_bm25)
    pools = [_top(lexical, weights.candidates, positive=True)] if known.size else []
    everything = snap.all_similarities(vector)
    if everything is not None:
        pools.append(_top(everything[0] + everything[1], weights.candidates))
    docs = np.unique(np.concatenate(pools)) if pools else np.zeros(0, dtype=np.int64)
    docs = docs[snap.alive[docs]]
    if len(docs) == 0:
        return SearchResult(query, ())
    if everything is not None:
        best, qa = everything[0][docs], everything[1][docs]
    else:
        best, qa = snap.similarities(vector, docs)

    top_lexical = float(lexical.max()) if known.size else 0.0
    bm_rel = lexical[docs] / top_lexical if top_lexical > 0 else np.zeros(len(docs), np.float32)
    ceiling = float(snap.idf.max()) if snap.idf.size else 1.0  # a token in no question
    coverage = _coverage(snap, token_ids, docs, ceiling)
    fuzzy = _fuzzy(snap, analysis, docs)
    hybrid = (bm_rel + weights.coverage * coverage + weights.fuzzy * fuzzy) / (
        1.0 + weights.coverage + weights.fuzzy
    )
    semantic = (best + qa) / 2.0
    share = cjk_share(analysis.normalised)
    w_emb = weights.embedding_latin + (weights.embedding_zh - weights.embedding_latin) * share
    fused = (1.0 - w_emb) * hybrid + w_emb * semantic

    order = np.argsort(-fused, kind="stable")[: max(k, 2)]
    ranked = docs[order]
    missing, matched = _evidence(snap, index, analysis, int(ranked[0]), ceiling)
    top_score = float(fused[order[0]])
    runner_up = float(fused[order[1]]) if len(order) > 1 else 0.0
    features = {
        "score": top_score,
        "margin": top_score - runner_up,
        "missing": missing,
        "matched": matched,
        "coverage": float(coverage[order[0]]),
        "fuzzy": float(fuzzy[order[0]]),
        "embedding": float(best[order[0]]),
        "embedding_qa": float(qa[order[0]]),
        "bm25": float(lexical[ranked[0]]),
        "cjk_share": share,
    }
    hits: list[Hit] = []
    for rank, position in enumerate(order[:k].tolist()):
        score = float(fused[position])
        if rank == 0:
            confidence = weights.confidence(features)
        else:  # a lower hit is as sure as the top one at most
            lower = weights.confidence({**features, "score": score, "margin": 0.0})
            confidence = min(hits[0].confidence, lower)
        hits.append(Hit(snap.ids[int(docs[position])], score, confidence))
    return SearchResult(query, tuple(hits), features)


def _coverage(
    snap: Snapshot, token_ids: npt.NDArray[np.int32], docs: npt.NDArray[np.int64], ceiling: float
) -> npt.NDArray[np.float32]:
    """IDF-weighted share of the query's distinct tokens that a candidate's questions contain."""
    unique = np.unique(token_ids)
    if unique.size == 0 or len(docs) == 0:
        return np.zeros(len(docs), dtype=np.float32)
    known = unique[unique >= 0]
    total = float(snap.idf[known].sum()) + ceiling * int((unique < 0).sum()) or 1.0
    # all candidates' tokens in one array, each tagged with its candidate, matched at once
    tokens, counts = snap.q_tok.take(docs)
    owners = np.repeat(np.arange(len(docs)), counts)
    hit = np.isin(tokens, known)
    pairs = np.unique(owners[hit].astype(np.int64) * (len(snap.idf) + 1) + tokens[hit])
    owner, token = np.divmod(pairs, len(snap.idf) + 1)
    sums = np.bincount(owner, weights=snap.idf[token], minlength=len(docs))
    return (sums / total).astype(np.float32)


def _fuzzy(
    snap: Snapshot, analysis: Analysis, docs: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Best rapidfuzz token-set similarity between the query and a candidate's phrasings."""
    texts: list[str] = []
    owners: list[int] = []
    for i, phrasings in enumerate(snap.phrasings.take(docs)):
        texts.extend(phrasings)
        owners.extend([i] * len(phrasings))
    query = " ".join(analysis.words) or analysis.canonical
    matrix = process.cdist([query], texts, scorer=fuzz.token_set_ratio, dtype=np.float32)[0]
    out = np.zeros(len(docs), dtype=np.float32)
    np.maximum.at(out, np.asarray(owners, dtype=np.int64), matrix / np.float32(100))
    return out


def _evidence(
    snap: Snapshot, index: Index, analysis: Analysis, doc: int, ceiling: float
) -> tuple[float, float]:
    """How much of the query's salient content the entry lacks, and how much it has.

    ``missing`` (0–1) is the weighted share of the query's salient words that have no match
    anywhere in the entry, not as a word, its characters, its sound or its spelling. A near
    miss asks about a known topic but a point the entry does not make ("U盾丢了去哪挂失"
    against the PIN-unlock entry): the topical word is missing. A word weighs its rarity in
    general Chinese (:func:`segment.background_idf`: a colloquial filler weighs little) times
    its rarity among this index's questions (a word no question has, like "视频会议" in a
    knowledge base without video meetings, weighs the most; a word half the entries share
    says little about which one is meant). The questions are mostly Chinese and the glossary
    maps English terms onto Chinese ones, so their statistics say little about an English
    word: it takes the mean rarity of the query's Chinese words (all the same in an English
    query, which leaves the background weights alone).

    ``matched`` is log(1 + the number of salient words the entry does have): the same missing
    share is weaker evidence in a long question, whose circumstances ("我家里老人突然住院")
    no entry mentions, when many of its words do match.

    A word jieba only joined by its HMM ("导吗", "我用") counts as its dictionary pieces less
    stop words, and a one-character word is present if a word of the entry's phrasings
    contains it ("锁" in "锁定"). (Checking the missing words' meaning with word embeddings
    was tried: USE is no judge of single words, and it cost a second encode per query.)
    """
    present = set(snap.q_tok.run(doc).tolist())
    present.update(snap.a_tok.run(doc).tolist())
    written = " ".join(snap.phrasings[doc])
    idf = snap.idf
    words: list[tuple[float, float | None, bool]] = []  # (background IDF, rarity, in the entry)
    for unit in dict.fromkeys(u for word in analysis.words for u in index.analyser.units(word)):
        groups = _groups(index, snap, unit)
        if not groups:
            continue
        rarity: float | None = None  # a Latin word's is the Chinese words' mean, below
        if is_cjk(unit[0]):
            ids = groups.get(WORD, [])
            rarity = float(idf[ids[0]]) if ids and 0 <= ids[0] < len(idf) else ceiling
        found = (len(unit) == 1 and is_cjk(unit) and unit in written) or _covered(groups, present)
        words.append((segment.background_idf(unit), rarity, found))
    chinese = [rarity for _, rarity, _ in words if rarity is not None]
    latin = sum(chinese) / len(chinese) if chinese else ceiling
    total = missing = 0.0
    for background, rarity, found in words:
        weight = background * (latin if rarity is None else rarity)
        total += weight
        if not found:
            missing += weight
    matched = sum(found for _, _, found in words)
    return (missing / total if total else 0.0), math.log1p(matched)


def _groups(index: Index, snap: Snapshot, word: str) -> dict[str, list[int]]:
    """A word's lexical token ids by family (-1 for a token no entry has)."""
    parts = index.analyser.analyse(word).tokens
    ids = snap.vocabulary.lookup(parts).tolist()
    groups: dict[str, list[int]] = {}
    for token, token_id in zip(parts, ids, strict=True):
        groups.setdefault(token[:2], []).append(token_id)
    return groups


def _covered(groups: Mapping[str, list[int]], present: set[int]) -> bool:
    """Whether a word is in an entry's tokens: as a word, by all its character or sound
    bigrams, or by most of its Latin trigrams (a typo)."""
    if any(token_id in present for token_id in groups.get(WORD, [])):
        return True
    for family in (BIGRAM, PINYIN):
        members = groups.get(family, [])
        if members and all(token_id in present for token_id in members):
            return True
    trigrams = groups.get(TRIGRAM, [])
    return bool(trigrams) and sum(t in present for t in trigrams) >= 0.6 * len(trigrams)
