"""The searchable form of the published FAQ entries, replaced copy-on-write on every change.

An :class:`Index` holds one immutable :class:`Snapshot`; readers take the current snapshot and
never lock. A change analyses and embeds only the entries it touches and publishes the next
snapshot on top of the current one: bm25s's matrices are kept, a removed or replaced entry is
marked dead, and new entries are weighted into a small delta matrix (milliseconds at 100k);
once changes reach 2% of the index the next one rebuilds everything with bm25s.

Entry vectors can be supplied precomputed (the product stores them), keyed by
:func:`knowledge.embed.text_key`, so a rebuild embeds only new texts; :meth:`Index.save` writes
the whole analysed index for a restart that analyses, embeds and builds nothing. Vectors are
kept as int8 rows with a scale (a quarter of float32's memory, cosine error about 0.003); small
indexes also keep a float32 copy for exhaustive semantic search.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.analyse import BIGRAM, PINYIN, WORD, Analyser
from knowledge.embed import Embedder, Vectors, embedding_text, text_key
from knowledge.glossary import Glossary, default_glossary
from knowledge.lexical import Bm25Field, Scores, TokenIds
from knowledge.normalise import cjk_share

Progress = Callable[[int, int], None]
PUBLISHED = "published"
# Below this many vector rows a float32 copy allows exhaustive semantic search (≈ 40 MB).
DENSE_LIMIT = 20_000
_EMBED_BATCH = 256
# The question+answer text stops after this much answer: USE's cost grows with the length, and
# cutting at 60 or 120 characters cost English queries 8 points of top-1 on the dev set.
QA_ANSWER_CHARS = 1000
_FORMAT = "knowledge-index-2"
# Changes since the last full build are scored from a small delta matrix; past this many
# (added or removed) entries, or this share of the index, the next change rebuilds it all.
_DELTA_MIN = 500
_DELTA_SHARE = 0.02


@dataclass(frozen=True)
class Entry:
    """An FAQ entry as the trainers wrote it; only ``published`` ones are searchable."""

    id: str
    question: str
    alternatives: tuple[str, ...] = ()
    answer: str = ""
    locale: str = "zh"
    category: str = ""
    tags: tuple[str, ...] = ()
    status: str = PUBLISHED
    version: int = 1

    def phrasings(self) -> tuple[str, ...]:
        """The question and its alternatives: the ways this entry is asked."""
        return (self.question, *self.alternatives)

    def embedding_texts(self) -> tuple[str, ...]:
        """What is embedded: each phrasing, then the question with its answer."""
        texts = [embedding_text(text) for text in self.phrasings()]
        texts.append(embedding_text(f"{self.question}\n{self.answer[:QA_ANSWER_CHARS]}"))
        return tuple(texts)


@dataclass(frozen=True)
class _Pieces:
    """One entry analysed and embedded: what a snapshot is assembled from."""

    entry_id: str
    phrasings: tuple[str, ...]  # content words of each phrasing, space-separated, for rapidfuzz
    q_tokens: TokenIds  # question, alternatives and tags
    a_tokens: TokenIds  # the answer
    rows: npt.NDArray[np.int8]  # phrasings, then question+answer
    scales: npt.NDArray[np.float32]
    latin: bool  # written mostly in English


class _Overlay(Mapping[str, Any]):
    """Two mappings read as one, the first winning, without copying either (100k vectors)."""

    def __init__(self, first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
        self._first, self._second = first, second

    def __getitem__(self, key: str) -> Any:
        return self._first[key] if key in self._first else self._second[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._first
        yield from (key for key in self._second if key not in self._first)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Vocabulary:
    """Token → id, append-only and shared by every snapshot of an index."""

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self._ids: dict[str, int] = {token: i for i, token in enumerate(tokens)}
        self._lock = threading.Lock()

    def tokens(self) -> list[str]:
        """Every token, in id order."""
        with self._lock:
            return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, tokens: Iterable[str]) -> TokenIds:
        """Ids of the tokens, adding new ones."""
        with self._lock:
            ids = [self._ids.setdefault(token, len(self._ids)) for token in tokens]
        return np.asarray(ids, dtype=np.int32)

    def lookup(self, tokens: Iterable[str]) -> TokenIds:
        """Ids of the tokens, -1 for a token no entry has ever had."""
        get = self._ids.get
        return np.asarray([get(token, -1) for token in tokens], dtype=np.int32)


def _quantise(vectors: Vectors) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    scale = np.maximum(np.abs(vectors).max(axis=1), np.float32(1e-12)) / np.float32(127)
    rows = np.rint(vectors / scale[:, None]).astype(np.int8)
    return rows, scale.astype(np.float32)


def _concat_ragged(
    parts: Sequence[npt.NDArray[Any]], dtype: type[np.generic], width: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Ragged parts as one array plus offsets (part i is data[ptr[i]:ptr[i + 1]])."""
    lengths = np.fromiter((len(part) for part in parts), dtype=np.int64, count=len(parts))
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    shape: tuple[int, ...] = (0, width) if width else (0,)
    data = np.concatenate(list(parts)) if parts else np.zeros(shape, dtype=dtype)
    return ptr, data.astype(dtype, copy=False)


def _gather(
    ptr: npt.NDArray[np.int64], data: npt.NDArray[Any], docs: npt.NDArray[np.int64]
) -> list[npt.NDArray[Any]]:
    """The parts of the given documents, as views."""
    return [data[ptr[doc] : ptr[doc + 1]] for doc in docs.tolist()]


@dataclass(frozen=True)
class Snapshot:
    """Everything one search reads, immutable; arrays are indexed by document position.

    Positions below ``base_n`` are scored by ``q_field``/``a_field`` (built by bm25s), later
    ones by ``q_delta``/``a_delta`` (weighted with the base's statistics). A removed or
    replaced entry keeps its position, marked dead, until the next full rebuild.
    """

    ids: tuple[str, ...]
    alive: npt.NDArray[np.bool_]
    position: Mapping[str, int]  # live entries only
    vocabulary: Vocabulary  # shared and append-only; ids at or past len(idf) are newer
    phrasings: tuple[tuple[str, ...], ...]
    latin: npt.NDArray[np.bool_]
    q_ptr: npt.NDArray[np.int64]
    q_tok: TokenIds
    a_ptr: npt.NDArray[np.int64]
    a_tok: TokenIds
    row_ptr: npt.NDArray[np.int64]  # vector rows of document i: row_ptr[i] .. row_ptr[i+1]
    rows: npt.NDArray[np.int8]
    scales: npt.NDArray[np.float32]
    dense: Vectors | None  # float32 rows, when small enough for exhaustive search
    base_n: int
    dead: int  # how many positions are dead
    q_field: Bm25Field
    a_field: Bm25Field
    q_delta: Bm25Field
    a_delta: Bm25Field
    built_in: float = field(default=0.0, compare=False)

    def __len__(self) -> int:
        return len(self.position)

    @property
    def idf(self) -> npt.NDArray[np.float32]:
        """IDF per token id of the question field (tokens newer than the snapshot excluded)."""
        return self.q_delta.idf

    def lexical(self, token_ids: TokenIds, answer_weight: float) -> Scores:
        """BM25 of every position (questions plus weighted answers); dead ones score 0."""
        out = self.q_field.scores(token_ids)
        out += np.float32(answer_weight) * self.a_field.scores(token_ids)
        if self.q_delta.n_docs:
            delta = self.q_delta.scores(token_ids)
            delta += np.float32(answer_weight) * self.a_delta.scores(token_ids)
            out = np.concatenate((out, delta))
        if self.dead:
            out *= self.alive
        return out

    def similarities(self, query: Vectors, docs: npt.NDArray[np.int64]) -> tuple[Vectors, Vectors]:
        """For each document: best cosine over its phrasings, and cosine with question+answer."""
        if len(docs) == 0:
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty
        starts, ends = self.row_ptr[docs], self.row_ptr[docs + 1]
        counts = ends - starts
        offsets = np.cumsum(counts) - counts
        index = np.arange(int(counts.sum())) + np.repeat(starts - offsets, counts)
        if self.dense is not None:
            cos = self.dense[index] @ query
        else:
            cos = (self.rows[index].astype(np.float32) @ query) * self.scales[index]
        last = offsets + counts - 1
        qa = cos[last]
        cos[last] = -1.0  # the question+answer row is not a phrasing
        best = np.maximum.reduceat(cos, offsets)
        return best.astype(np.float32), qa.astype(np.float32)

    def all_similarities(self, query: Vectors) -> tuple[Vectors, Vectors] | None:
        """best and qa cosines for every position (dead ones -1), if a float32 copy exists."""
        if self.dense is None or len(self.ids) == 0:
            return None
        cos = self.dense @ query
        last = self.row_ptr[1:] - 1
        qa = np.where(self.alive, cos[last], -1.0)
        cos[last] = -1.0  # the question+answer row is not a phrasing
        best = np.where(self.alive, np.maximum.reduceat(cos, self.row_ptr[:-1]), -1.0)
        return best.astype(np.float32), qa.astype(np.float32)

    def pieces(self, docs: npt.NDArray[np.int64]) -> list[_Pieces]:
        """The given documents' pieces (views), to assemble another snapshot from."""
        q = _gather(self.q_ptr, self.q_tok, docs)
        a = _gather(self.a_ptr, self.a_tok, docs)
        rows = _gather(self.row_ptr, self.rows, docs)
        scales = _gather(self.row_ptr, self.scales, docs)
        return [
            _Pieces(
                self.ids[doc],
                self.phrasings[doc],
                q[i],
                a[i],
                rows[i],
                scales[i],
                bool(self.latin[doc]),
            )
            for i, doc in enumerate(docs.tolist())
        ]


def _assemble(
    pieces: Sequence[_Pieces],
    vocabulary: Vocabulary,
    dim: int,
    dense_limit: int,
    *,
    base: Snapshot | None = None,
    dead: Iterable[int] = (),
) -> Snapshot:
    """A snapshot of ``pieces``, or of ``base`` (less ``dead`` positions) followed by them.

    Without a base, bm25s indexes everything. With one, the base's matrices are reused and
    only its later documents plus the new ones are weighted into the small delta matrices.
    """
    started = time.perf_counter()
    n_vocab = len(vocabulary)
    if base is None:
        q_ptr, q_tok = _concat_ragged([p.q_tokens for p in pieces], np.int32)
        a_ptr, a_tok = _concat_ragged([p.a_tokens for p in pieces], np.int32)
        row_ptr, rows = _concat_ragged([p.rows for p in pieces], np.int8, dim)
        _, scales = _concat_ragged([p.scales for p in pieces], np.float32)
        ids = tuple(p.entry_id for p in pieces)
        phrasings = tuple(p.phrasings for p in pieces)
        latin = np.fromiter((p.latin for p in pieces), dtype=np.bool_, count=len(pieces))
        alive = np.ones(len(pieces), dtype=np.bool_)
        base_n = len(pieces)
        # views, not lists: 100k entries' tokens as Python ints would be a gigabyte
        q_field = Bm25Field.build([q_tok[q_ptr[i] : q_ptr[i + 1]] for i in range(base_n)], n_vocab)
        a_field = Bm25Field.build([a_tok[a_ptr[i] : a_ptr[i + 1]] for i in range(base_n)], n_vocab)
    else:

        def extend(
            ptr: npt.NDArray[np.int64], data: npt.NDArray[Any], parts: list[npt.NDArray[Any]]
        ) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
            more_ptr, more = _concat_ragged(
                parts, data.dtype.type, data.shape[1] if data.ndim > 1 else 0
            )
            return np.concatenate((ptr, ptr[-1] + more_ptr[1:])), np.concatenate((data, more))

        q_ptr, q_tok = extend(base.q_ptr, base.q_tok, [p.q_tokens for p in pieces])
        a_ptr, a_tok = extend(base.a_ptr, base.a_tok, [p.a_tokens for p in pieces])
        row_ptr, rows = extend(base.row_ptr, base.rows, [p.rows for p in pieces])
        _, scales = extend(base.row_ptr, base.scales, [p.scales for p in pieces])
        ids = base.ids + tuple(p.entry_id for p in pieces)
        phrasings = base.phrasings + tuple(p.phrasings for p in pieces)
        latin = np.concatenate((base.latin, np.array([p.latin for p in pieces], dtype=np.bool_)))
        alive = np.concatenate((base.alive, np.ones(len(pieces), dtype=np.bool_)))
        alive[list(dead)] = False
        base_n, q_field, a_field = base.base_n, base.q_field, base.a_field
    later = range(base_n, len(ids))
    q_delta = q_field.extension([q_tok[q_ptr[i] : q_ptr[i + 1]] for i in later], n_vocab)
    a_delta = a_field.extension([a_tok[a_ptr[i] : a_ptr[i + 1]] for i in later], n_vocab)
    dense = None
    if len(rows) <= dense_limit:
        dense = (rows.astype(np.float32) * scales[:, None]).astype(np.float32)
    return Snapshot(
        ids=ids,
        alive=alive,
        position={entry_id: i for i, entry_id in enumerate(ids) if alive[i]},
        vocabulary=vocabulary,
        phrasings=phrasings,
        latin=latin,
        q_ptr=q_ptr,
        q_tok=q_tok,
        a_ptr=a_ptr,
        a_tok=a_tok,
        row_ptr=row_ptr,
        rows=rows,
        scales=scales,
        dense=dense,
        base_n=base_n,
        dead=int((~alive).sum()),
        q_field=q_field,
        a_field=a_field,
        q_delta=q_delta,
        a_delta=a_delta,
        built_in=time.perf_counter() - started,
    )


class Index:
    """Published entries, searchable from any thread; changes are serialised and copy-on-write.

    ``glossary`` is fixed for the index's life: a changed glossary means a new index.
    """

    def __init__(
        self,
        embedder: Embedder,
        glossary: Glossary | None = None,
        *,
        dense_limit: int = DENSE_LIMIT,
    ) -> None:
        self.embedder = embedder
        self.analyser = Analyser(glossary if glossary is not None else default_glossary())
        self.vocabulary = Vocabulary()
        self._dense_limit = dense_limit
        self._write = threading.Lock()
        self._snapshot = _assemble([], self.vocabulary, embedder.dim, dense_limit)

    @property
    def snapshot(self) -> Snapshot:
        """The current immutable view (take it once per search)."""
        return self._snapshot

    def __len__(self) -> int:
        return len(self._snapshot)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._snapshot.position

    def texts_to_embed(
        self, entries: Iterable[Entry], known: Mapping[str, object] | None = None
    ) -> dict[str, str]:
        """key → text for every text of these entries that has no vector in ``known``."""
        known = known or {}
        name = self.embedder.name
        out: dict[str, str] = {}
        for entry in entries:
            for text in entry.embedding_texts():
                key = text_key(name, text)
                if key not in known:
                    out[key] = text
        return out

    def build(
        self,
        entries: Iterable[Entry],
        vectors: Mapping[str, npt.NDArray[np.floating]] | None = None,
        *,
        progress: Progress | None = None,
    ) -> dict[str, Vectors]:
        """Replace the whole index; returns the vectors it had to compute (key → vector)."""
        published = [entry for entry in entries if entry.status == PUBLISHED]
        computed = self._embed_missing(published, vectors or {}, progress)
        merged = _Overlay(computed, vectors or {})
        pieces = [self._pieces(entry, merged) for entry in published]
        with self._write:
            self._snapshot = _assemble(
                pieces, self.vocabulary, self.embedder.dim, self._dense_limit
            )
        return computed

    def upsert(
        self,
        entries: Iterable[Entry],
        vectors: Mapping[str, npt.NDArray[np.floating]] | None = None,
    ) -> dict[str, Vectors]:
        """Add or replace entries (an unpublished one is removed); only they are embedded."""
        entries = list(entries)
        published = [entry for entry in entries if entry.status == PUBLISHED]
        computed = self._embed_missing(published, vectors or {}, None)
        merged = _Overlay(computed, vectors or {})
        pieces = [self._pieces(entry, merged) for entry in published]
        with self._write:
            self._change(pieces, [entry.id for entry in entries])
        return computed

    def remove(self, entry_ids: Iterable[str]) -> None:
        """Drop entries by id (unknown ids are ignored)."""
        with self._write:
            self._change([], list(entry_ids))

    def _change(self, pieces: Sequence[_Pieces], replaced: Sequence[str]) -> None:
        """Publish the next snapshot: cheaply on top of this one, or rebuilt when due."""
        current = self._snapshot
        dead = [current.position[i] for i in replaced if i in current.position]
        later = len(current.ids) - current.base_n + len(pieces)
        dead_total = int((~current.alive).sum()) + len(dead)
        if later + dead_total > max(_DELTA_MIN, _DELTA_SHARE * current.base_n):
            keep = np.flatnonzero(current.alive)
            keep = keep[~np.isin(keep, dead)]
            everything = [*current.pieces(keep), *pieces]
            self._snapshot = _assemble(
                everything, self.vocabulary, self.embedder.dim, self._dense_limit
            )
        else:
            self._snapshot = _assemble(
                pieces,
                self.vocabulary,
                self.embedder.dim,
                self._dense_limit,
                base=current,
                dead=dead,
            )

    def save(self, path: str | Path) -> None:
        """Write the whole index, matrices included: a restart then analyses, embeds and
        builds nothing. The file is a cache derived from the entries: :meth:`load` refuses
        one written with another embedder, glossary or format (rebuild from the entries)."""
        snap = self._snapshot
        vocabulary = snap.vocabulary.tokens()
        arrays: dict[str, npt.NDArray[Any]] = {
            "meta": np.array([_FORMAT, self.embedder.name, self._fingerprint()]),
            "vocabulary": np.array(vocabulary, dtype=np.str_),
            "ids": np.array(snap.ids, dtype=np.str_),
            "phrasings": np.array(["\x1f".join(p) for p in snap.phrasings], dtype=np.str_),
            "base_n": np.array(snap.base_n),
        }
        for name in (
            "alive",
            "latin",
            "q_ptr",
            "q_tok",
            "a_ptr",
            "a_tok",
            "row_ptr",
            "rows",
            "scales",
        ):
            arrays[name] = getattr(snap, name)
        for name in ("q_field", "a_field"):
            bm25: Bm25Field = getattr(snap, name)
            for part in ("data", "indices", "indptr", "idf"):
                arrays[f"{name}.{part}"] = getattr(bm25, part)
            arrays[f"{name}.stats"] = np.array([bm25.n_docs, bm25.avgdl])
        with open(path, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)

    def load(self, path: str | Path) -> None:
        """Replace the index with one written by :meth:`save` (ValueError if it does not fit)."""
        with np.load(path, allow_pickle=False) as data:
            meta = [str(value) for value in data["meta"]]
            if meta != [_FORMAT, self.embedder.name, self._fingerprint()]:
                raise ValueError(f"index file {path} was written for {meta}")
            vocabulary = Vocabulary(data["vocabulary"].tolist())
            fields = {}
            for name in ("q_field", "a_field"):
                n_docs, avgdl = data[f"{name}.stats"].tolist()
                fields[name] = Bm25Field(
                    data=data[f"{name}.data"],
                    indices=data[f"{name}.indices"],
                    indptr=data[f"{name}.indptr"],
                    n_docs=int(n_docs),
                    idf=data[f"{name}.idf"],
                    avgdl=float(avgdl),
                )
            base = Snapshot(
                ids=tuple(data["ids"].tolist()),
                alive=data["alive"],
                position={},
                vocabulary=vocabulary,
                phrasings=tuple(tuple(p.split("\x1f")) for p in data["phrasings"].tolist()),
                latin=data["latin"],
                q_ptr=data["q_ptr"],
                q_tok=data["q_tok"],
                a_ptr=data["a_ptr"],
                a_tok=data["a_tok"],
                row_ptr=data["row_ptr"],
                rows=data["rows"],
                scales=data["scales"],
                dense=None,
                base_n=int(data["base_n"]),
                dead=0,  # recounted by _assemble below
                q_field=fields["q_field"],
                a_field=fields["a_field"],
                q_delta=fields["q_field"],  # replaced by _assemble below
                a_delta=fields["a_field"],
            )
        dead = np.flatnonzero(~base.alive).tolist()
        with self._write:
            self.vocabulary = vocabulary
            self._snapshot = _assemble(
                [], vocabulary, self.embedder.dim, self._dense_limit, base=base, dead=dead
            )

    def _fingerprint(self) -> str:
        groups = "\n".join(",".join(group) for group in self.analyser.glossary.groups)
        return hashlib.sha256(groups.encode()).hexdigest()[:16]

    def _embed_missing(
        self,
        entries: Sequence[Entry],
        known: Mapping[str, object],
        progress: Progress | None,
    ) -> dict[str, Vectors]:
        todo = self.texts_to_embed(entries, known)
        keys, texts = list(todo), list(todo.values())
        out: dict[str, Vectors] = {}
        for start in range(0, len(texts), _EMBED_BATCH):
            batch = self.embedder.encode(texts[start : start + _EMBED_BATCH])
            for key, row in zip(keys[start : start + _EMBED_BATCH], batch, strict=True):
                out[key] = row
            if progress is not None:
                progress(min(start + _EMBED_BATCH, len(texts)), len(texts))
        return out

    def _pieces(self, entry: Entry, vectors: Mapping[str, npt.NDArray[np.floating]]) -> _Pieces:
        analyse = self.analyser.analyse_once
        asked = [analyse(text) for text in entry.phrasings()]
        q_tokens = [token for analysis in asked for token in analysis.tokens]
        for tag in entry.tags:
            q_tokens.extend(analyse(tag).tokens)
        # The answer contributes words, character and pinyin bigrams, not English trigrams.
        keep = (WORD, BIGRAM, PINYIN)
        a_tokens = [token for token in analyse(entry.answer).tokens if token.startswith(keep)]
        name = self.embedder.name
        matrix = np.stack(
            [
                np.asarray(vectors[text_key(name, text)], dtype=np.float32)
                for text in entry.embedding_texts()
            ]
        )
        rows, scales = _quantise(matrix)
        written = " ".join((*entry.phrasings(), entry.answer))
        return _Pieces(
            entry_id=entry.id,
            phrasings=tuple(" ".join(analysis.words) for analysis in asked),
            q_tokens=self.vocabulary.add(q_tokens),
            a_tokens=self.vocabulary.add(a_tokens),
            rows=rows,
            scales=scales,
            latin=cjk_share(written) < 0.5,
        )
