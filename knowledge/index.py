"""The searchable form of the published FAQ entries, replaced copy-on-write on every change.

An :class:`Index` holds one immutable :class:`Snapshot`; readers take the current snapshot and
never lock. A change analyses and embeds only the entries it touches and publishes the next
snapshot on top of the current one: the BM25 matrices are kept, a removed or replaced entry is
marked dead, and new entries are weighted into a small delta matrix (milliseconds at 100k);
once changes reach 2% of the index the next one rebuilds everything.

Entry vectors can be supplied precomputed (the product stores them), keyed by
:func:`knowledge.embed.text_key`, so a rebuild embeds only new texts; :meth:`Index.save` writes
the whole analysed index for a restart that analyses, embeds and builds nothing, and
:meth:`Index.load` opens it without reading it: the big arrays are read a run at a time with
``pread`` (:mod:`knowledge.stored`: what a search reads stays in the kernel's page cache, not
in the process), the small ones are memory-mapped. Per-document arrays are :class:`Ragged` (a
head plus a small tail changes append to), so a change never copies the stored head. Vectors
are kept as int8 rows with a scale (a quarter of float32's memory, cosine error about 0.003);
small indexes also keep a float32 copy for exhaustive semantic search.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.analyse import BIGRAM, PINYIN, WORD, Analyser
from knowledge.embed import (
    Embedder,
    Vectors,
    default_workers,
    embedding_text,
    start_encoding,
    text_key,
)
from knowledge.glossary import Glossary, default_glossary
from knowledge.lexical import Bm25Field, Scores, TokenIds
from knowledge.normalise import cjk_share
from knowledge.stored import Column, FileHandle, StoredArray

Progress = Callable[[int, int], None]
PUBLISHED = "published"
# Below this many vector rows a float32 copy allows exhaustive semantic search (≈ 40 MB).
DENSE_LIMIT = 20_000
_EMBED_BATCH = 256
# The question+answer text stops after this much answer: USE's cost grows with the length, and
# cutting at 60 or 120 characters cost English queries 8 points of top-1 on the dev set.
QA_ANSWER_CHARS = 1000
_FORMAT = "knowledge-index-4"
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
    """Token → id, append-only and shared by every snapshot of an index.

    Once frozen (after a build, or as loaded) the tokens are a sorted array of their UTF-8
    bytes plus their ids, looked up by binary search: a few dozen bytes a token instead of a
    dict's hundred and more (100k entries have about a million distinct tokens). Tokens
    added later go to a small dict until the next freeze.
    """

    def __init__(self) -> None:
        empty = np.zeros(0, dtype="S1")
        # (sorted token bytes, their ids, tokens added since): swapped whole, read lock-free
        self._state: tuple[npt.NDArray[np.bytes_], TokenIds, dict[str, int]] = (
            empty,
            np.zeros(0, dtype=np.int32),
            {},
        )
        self._n = 0
        self._lock = threading.Lock()

    @classmethod
    def from_arrays(cls, tokens: npt.NDArray[np.bytes_], ids: TokenIds) -> Vocabulary:
        """A frozen vocabulary from :meth:`arrays` (the arrays may be memory-mapped)."""
        out = cls()
        out._state = (tokens, ids, {})
        out._n = int(ids.max()) + 1 if len(ids) else 0
        return out

    def __len__(self) -> int:
        return self._n

    def arrays(self) -> tuple[npt.NDArray[np.bytes_], TokenIds]:
        """Every token's UTF-8 bytes, sorted, and its id."""
        tokens, ids, extra = self._state
        if not extra:
            return tokens, ids
        more = np.array([token.encode() for token in extra])
        merged = np.concatenate((tokens, more))
        merged_ids = np.concatenate((ids, np.fromiter(extra.values(), np.int32, len(extra))))
        order = np.argsort(merged, kind="stable")
        return merged[order], merged_ids[order]

    def freeze(self) -> None:
        """Move the tokens added since the last freeze into the compact sorted arrays."""
        with self._lock:
            if self._state[2]:
                tokens, ids = self.arrays()
                self._state = (tokens, ids, {})

    def add(self, tokens: Iterable[str]) -> TokenIds:
        """Ids of the tokens, adding new ones."""
        with self._lock:
            frozen, frozen_ids, extra = self._state
            tokens = list(tokens)
            out = _find(frozen, frozen_ids, tokens)
            for i in np.flatnonzero(out < 0).tolist():
                token_id = extra.setdefault(tokens[i], self._n)
                if token_id == self._n:
                    self._n += 1
                out[i] = token_id
        return out

    def lookup(self, tokens: Iterable[str]) -> TokenIds:
        """Ids of the tokens, -1 for a token no entry has ever had."""
        frozen, frozen_ids, extra = self._state
        tokens = list(tokens)
        out = _find(frozen, frozen_ids, tokens)
        if extra:
            get = extra.get
            for i in np.flatnonzero(out < 0).tolist():
                out[i] = get(tokens[i], -1)
        return out


def _find(sorted_tokens: npt.NDArray[np.bytes_], ids: TokenIds, tokens: list[str]) -> TokenIds:
    """Ids of the tokens in a sorted token array, -1 where absent."""
    out = np.full(len(tokens), -1, dtype=np.int32)
    if not len(sorted_tokens) or not tokens:
        return out
    encoded = [token.encode() for token in tokens]
    keys = np.array(encoded, dtype=sorted_tokens.dtype)  # a longer token is cut: checked below
    where = np.minimum(np.searchsorted(sorted_tokens, keys), len(sorted_tokens) - 1)
    hit = sorted_tokens[where] == keys
    width = sorted_tokens.dtype.itemsize
    hit &= np.fromiter((len(e) <= width for e in encoded), dtype=np.bool_, count=len(encoded))
    out[hit] = ids[where[hit]]
    return out


def _quantise(vectors: Vectors) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    scale = np.maximum(np.abs(vectors).max(axis=1), np.float32(1e-12)) / np.float32(127)
    rows = np.rint(vectors / scale[:, None]).astype(np.int8)
    return rows, scale.astype(np.float32)


def _concat(
    parts: Sequence[npt.NDArray[Any]], dtype: type[np.generic], width: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Ragged parts as one array plus offsets (part i is data[ptr[i]:ptr[i + 1]])."""
    lengths = np.fromiter((len(part) for part in parts), dtype=np.int64, count=len(parts))
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    shape: tuple[int, ...] = (0, width) if width else (0,)
    data = np.concatenate(list(parts)) if parts else np.zeros(shape, dtype=dtype)
    return ptr, data.astype(dtype, copy=False)


@dataclass(frozen=True)
class Ragged:
    """A run of values per document: the first documents' in one big head array, later ones'
    in a small tail. A change appends to the tail and shares the head, never copying it, so
    a loaded index's head stays in its file (at 100k entries the vectors alone are 200 MB).
    """

    ptr: npt.NDArray[np.int64]  # head document i: data[ptr[i]:ptr[i + 1]]
    data: Column  # a saved index's is read from its file on demand
    tail_ptr: npt.NDArray[np.int64]  # later document len(ptr) - 1 + j: tail[tail_ptr[j]:...]
    tail: npt.NDArray[Any]

    @classmethod
    def of(
        cls, parts: Sequence[npt.NDArray[Any]], dtype: type[np.generic], width: int = 0
    ) -> Ragged:
        """All parts in the head."""
        ptr, data = _concat(parts, dtype, width)
        return cls(ptr, data, np.zeros(1, dtype=np.int64), data[:0])

    @classmethod
    def whole(cls, ptr: npt.NDArray[np.int64], data: Column) -> Ragged:
        """A head as stored (e.g. in a saved file), no tail."""
        return cls(ptr, data, np.zeros(1, dtype=np.int64), data[:0])

    def __len__(self) -> int:
        return len(self.ptr) + len(self.tail_ptr) - 2

    @property
    def nbytes(self) -> int:
        """Memory the values take (head and tail)."""
        return int(self.data.nbytes + self.tail.nbytes)

    def run(self, doc: int) -> npt.NDArray[Any]:
        """Document ``doc``'s values (a view)."""
        head = len(self.ptr) - 1
        if doc < head:
            return self.data[self.ptr[doc] : self.ptr[doc + 1]]
        j = doc - head
        return self.tail[self.tail_ptr[j] : self.tail_ptr[j + 1]]

    def extend(self, parts: Sequence[npt.NDArray[Any]]) -> Ragged:
        """These runs appended, as further documents (only the tail is copied)."""
        if not parts:
            return self
        width = self.data.shape[1] if self.data.ndim > 1 else 0
        more_ptr, more = _concat(parts, self.data.dtype.type, width)
        tail_ptr = np.concatenate((self.tail_ptr, self.tail_ptr[-1] + more_ptr[1:]))
        return Ragged(self.ptr, self.data, tail_ptr, np.concatenate((self.tail, more)))

    def full_ptr(self) -> npt.NDArray[np.int64]:
        """Offsets of every document into head and tail read as one array."""
        return np.concatenate((self.ptr, self.ptr[-1] + self.tail_ptr[1:]))

    def positions(
        self, docs: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The documents' value positions (head and tail read as one array), in order, and
        how many each document has."""
        head = len(self.ptr) - 1
        if len(self.tail_ptr) == 1:  # no later documents
            starts, ends = self.ptr[docs], self.ptr[docs + 1]
        else:
            in_head = docs < head
            j = np.clip(docs - head, 0, len(self.tail_ptr) - 2)
            h = np.minimum(docs, head - 1) if head else np.zeros_like(docs)
            base = self.ptr[-1]
            starts = np.where(in_head, self.ptr[h], base + self.tail_ptr[j])
            ends = np.where(in_head, self.ptr[h + 1] if head else 0, base + self.tail_ptr[j + 1])
        counts = ends - starts
        offsets = np.cumsum(counts) - counts
        return np.arange(int(counts.sum())) + np.repeat(starts - offsets, counts), counts

    def values(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """The values at positions from :meth:`positions`."""
        if not len(self.tail):
            return self.data[positions]
        in_head = positions < len(self.data)
        out = np.empty((len(positions), *self.data.shape[1:]), dtype=self.data.dtype)
        out[in_head] = self.data[positions[in_head]]
        out[~in_head] = self.tail[positions[~in_head] - len(self.data)]
        return out

    def take(self, docs: npt.NDArray[np.int64]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
        """The documents' values, concatenated in order, and how many each has."""
        positions, counts = self.positions(docs)
        return self.values(positions), counts


class Texts:
    """Each document's short texts, as UTF-8 in one byte array, decoded when read.

    Phrasings are read only for a query's few dozen candidates; as Python tuples of strings,
    100k entries' would cost about 40 MB of objects.
    """

    _SEP = "\x1f"

    def __init__(self, bytes_: Ragged) -> None:
        self.bytes = bytes_

    @classmethod
    def of(cls, groups: Iterable[Sequence[str]]) -> Texts:
        """Texts from each document's (non-empty) tuple of strings."""
        return cls(Ragged.of(cls._encode(groups), np.uint8))

    @classmethod
    def _encode(cls, groups: Iterable[Sequence[str]]) -> list[npt.NDArray[np.uint8]]:
        return [np.frombuffer(cls._SEP.join(group).encode(), np.uint8) for group in groups]

    def __len__(self) -> int:
        return len(self.bytes)

    def __getitem__(self, doc: int) -> tuple[str, ...]:
        return tuple(self.bytes.run(doc).tobytes().decode().split(self._SEP))

    def take(self, docs: npt.NDArray[np.int64]) -> list[tuple[str, ...]]:
        """Several documents' texts, read at once."""
        values, counts = self.bytes.take(docs)
        raw, ends = values.tobytes(), np.cumsum(counts).tolist()
        starts = [0, *ends[:-1]]
        return [
            tuple(raw[a:b].decode().split(self._SEP)) for a, b in zip(starts, ends, strict=True)
        ]

    def extend(self, groups: Iterable[Sequence[str]]) -> Texts:
        """These documents' texts appended (the head is shared)."""
        return Texts(self.bytes.extend(self._encode(groups)))


@dataclass(frozen=True)
class Snapshot:
    """Everything one search reads, immutable; arrays are indexed by document position.

    Positions below ``base_n`` are scored by ``q_field``/``a_field`` (built in full), later
    ones by ``q_delta``/``a_delta`` (weighted with the base's statistics). A removed or
    replaced entry keeps its position, marked dead, until the next full rebuild.
    """

    ids: tuple[str, ...]
    alive: npt.NDArray[np.bool_]
    position: Mapping[str, int]  # live entries only
    vocabulary: Vocabulary  # shared and append-only; ids at or past len(idf) are newer
    phrasings: Texts  # content words of each phrasing, space-separated, for rapidfuzz
    latin: npt.NDArray[np.bool_]
    q_tok: Ragged  # token ids of each document's questions, alternatives and tags
    a_tok: Ragged  # ... of its answer
    rows: Ragged  # int8 vector rows of each document: phrasings, then question+answer
    scales: Ragged  # float32 scale of each row
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
        index, counts = self.rows.positions(docs)
        offsets = np.cumsum(counts) - counts
        if self.dense is not None:
            cos = self.dense[index] @ query
        else:
            rows = self.rows.values(index).astype(np.float32)
            cos = (rows @ query) * self.scales.values(index)
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
        row_ptr = self.rows.full_ptr()
        last = row_ptr[1:] - 1
        qa = np.where(self.alive, cos[last], -1.0)
        cos[last] = -1.0  # the question+answer row is not a phrasing
        best = np.where(self.alive, np.maximum.reduceat(cos, row_ptr[:-1]), -1.0)
        return best.astype(np.float32), qa.astype(np.float32)

    def pieces(self, docs: npt.NDArray[np.int64]) -> list[_Pieces]:
        """The given documents' pieces (views), to assemble another snapshot from."""
        return [
            _Pieces(
                self.ids[doc],
                self.phrasings[doc],
                self.q_tok.run(doc),
                self.a_tok.run(doc),
                self.rows.run(doc),
                self.scales.run(doc),
                bool(self.latin[doc]),
            )
            for doc in docs.tolist()
        ]


def _assemble(
    pieces: Sequence[_Pieces],
    vocabulary: Vocabulary,
    dim: int,
    dense_limit: int,
    *,
    base: Snapshot | None = None,
    dead: Iterable[int] = (),
    vectors: tuple[Ragged, Ragged] | None = None,
) -> Snapshot:
    """A snapshot of ``pieces``, or of ``base`` (less ``dead`` positions) followed by them.

    Without a base, everything is indexed anew (``vectors``, if given, are the pieces' rows
    and scales, already in place). With one, the base's matrices are reused and only its
    later documents plus the new ones are weighted into the small delta matrices.
    """
    started = time.perf_counter()
    n_vocab = len(vocabulary)
    if base is None:
        q_ptr, q_data = _concat([p.q_tokens for p in pieces], np.int32)
        a_ptr, a_data = _concat([p.a_tokens for p in pieces], np.int32)
        q_tok, a_tok = Ragged.whole(q_ptr, q_data), Ragged.whole(a_ptr, a_data)
        if vectors is not None:
            rows, scales = vectors
        else:
            rows = Ragged.of([p.rows for p in pieces], np.int8, dim)
            scales = Ragged.of([p.scales for p in pieces], np.float32)
        ids = tuple(p.entry_id for p in pieces)
        phrasings = Texts.of(p.phrasings for p in pieces)
        latin = np.fromiter((p.latin for p in pieces), dtype=np.bool_, count=len(pieces))
        alive = np.ones(len(pieces), dtype=np.bool_)
        base_n = len(pieces)
        # views, not lists: 100k entries' tokens as Python ints would be a gigabyte
        q_field = Bm25Field.from_runs(q_ptr, q_data, n_vocab)
        a_field = Bm25Field.from_runs(a_ptr, a_data, n_vocab)
    else:
        q_tok = base.q_tok.extend([p.q_tokens for p in pieces])
        a_tok = base.a_tok.extend([p.a_tokens for p in pieces])
        rows = base.rows.extend([p.rows for p in pieces])
        scales = base.scales.extend([p.scales for p in pieces])
        ids = base.ids + tuple(p.entry_id for p in pieces)
        phrasings = base.phrasings.extend(p.phrasings for p in pieces)
        latin = np.concatenate((base.latin, np.array([p.latin for p in pieces], dtype=np.bool_)))
        alive = np.concatenate((base.alive, np.ones(len(pieces), dtype=np.bool_)))
        alive[list(dead)] = False
        base_n, q_field, a_field = base.base_n, base.q_field, base.a_field
    later = range(base_n, len(ids))
    q_delta = q_field.extension([q_tok.run(i) for i in later], n_vocab)
    a_delta = a_field.extension([a_tok.run(i) for i in later], n_vocab)
    dense = None
    if rows.ptr[-1] + rows.tail_ptr[-1] <= dense_limit:
        every = rows.values(np.arange(rows.ptr[-1] + rows.tail_ptr[-1]))
        dense = (every.astype(np.float32) * scales.values(np.arange(len(every)))[:, None]).astype(
            np.float32
        )
    return Snapshot(
        ids=ids,
        alive=alive,
        position={entry_id: i for i, entry_id in enumerate(ids) if alive[i]},
        vocabulary=vocabulary,
        phrasings=phrasings,
        latin=latin,
        q_tok=q_tok,
        a_tok=a_tok,
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


_RAGGED = ("q_tok", "a_tok", "rows", "scales")
# The arrays a saved index reads with pread (knowledge.stored); the rest are memory-mapped.
_STORED = frozenset(
    [f"{name}.data" for name in ("phrasings", *_RAGGED)]
    + [f"{field}.{part}" for field in ("q_field", "a_field") for part in ("data", "indices")]
)
_MAGIC = b"knowledge-index\n"
_ALIGN = 4096  # a page: each mapped array is its own mapping, each stored one starts on a page
_COPY_BYTES = 16 << 20  # a stored array is copied into a new file this much at a time


def _write_arrays(
    path: Path,
    header: dict[str, Any],
    arrays: Mapping[str, Column | list[Column]],
) -> None:
    """One file: magic, header length, JSON header (names, dtypes, shapes, offsets), then each
    array's bytes at a page-aligned offset, so :func:`_open_arrays` can map or read each one
    alone. An array given as a list of chunks (same dtype and row shape) is written as their
    concatenation, without making it; a stored array is copied a few megabytes at a time."""
    layout: dict[str, list[Any]] = {}
    chunks: dict[str, list[Column]] = {}
    offset = 0
    for name, value in arrays.items():
        parts = [
            part if isinstance(part, StoredArray) else np.ascontiguousarray(part)
            for part in (value if isinstance(value, list) else [value])
        ]
        first = parts[0]
        shape = [sum(len(part) for part in parts), *first.shape[1:]]
        nbytes = sum(part.nbytes for part in parts)
        layout[name] = [first.dtype.str, shape, offset]
        chunks[name] = parts
        offset += -(-nbytes // _ALIGN) * _ALIGN
    encoded = json.dumps({**header, "arrays": layout}).encode()
    start = -(-(len(_MAGIC) + 8 + len(encoded)) // _ALIGN) * _ALIGN
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as fh:
            fh.write(_MAGIC + len(encoded).to_bytes(8, "little") + encoded)
            fh.write(b"\0" * (start - fh.tell()))
            for parts in chunks.values():
                nbytes = 0
                for part in parts:
                    pieces = [part] if isinstance(part, np.ndarray) else part.chunks(_COPY_BYTES)
                    for piece in pieces:
                        fh.write(piece.reshape(-1).view(np.uint8).data)
                    nbytes += part.nbytes
                fh.write(b"\0" * (-nbytes % _ALIGN))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _open_arrays(
    path: Path,
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]], dict[str, StoredArray]]:
    """The header and arrays of a file from :func:`_write_arrays`: the small ones
    memory-mapped read-only, each in its own mapping (so a touched page never maps its
    neighbours'), and the big ones (:data:`_STORED`) as :class:`StoredArray`, read on demand."""
    handle = FileHandle(path)
    size_of_file = handle.size()
    magic = os.pread(handle.fd, len(_MAGIC) + 8, 0)
    if magic[: len(_MAGIC)] != _MAGIC:
        raise ValueError(f"{path} is not a saved index (or one of an older format)")
    size = int.from_bytes(magic[len(_MAGIC) :], "little")
    if len(_MAGIC) + 8 + size > size_of_file:
        raise ValueError(f"{path} is truncated")
    try:
        header = json.loads(os.pread(handle.fd, size, len(_MAGIC) + 8))
        layout = header.pop("arrays")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path} has a damaged header") from exc
    start = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
    mapped: dict[str, npt.NDArray[Any]] = {}
    stored: dict[str, StoredArray] = {}
    end = start
    try:
        for name, (dtype, shape, offset) in dict(layout).items():
            kind = np.dtype(dtype)
            shape = tuple(int(n) for n in shape)
            count = int(np.prod(shape)) * kind.itemsize
            at = start + int(offset)
            if at % _ALIGN or at + count > size_of_file:
                raise ValueError(f"{path} is truncated or misaligned at {name}")
            end = max(end, at - (-count // _ALIGN) * _ALIGN)
            if name in _STORED:
                stored[name] = StoredArray(handle, at, kind, shape)
            elif count == 0:
                mapped[name] = np.zeros(shape, dtype=kind)
            else:
                region = mmap.mmap(handle.fd, count, access=mmap.ACCESS_READ, offset=at)
                mapped[name] = np.frombuffer(region, kind).reshape(shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} has a damaged layout: {exc}") from exc
    if end != size_of_file:  # the last array's padding cut off, or bytes added
        raise ValueError(f"{path} is {size_of_file} bytes, its layout says {end}")
    return header, mapped, stored


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
        workers: int | None = None,
    ) -> dict[str, Vectors]:
        """Replace the whole index; returns the vectors it had to compute (key → vector).

        Missing texts are embedded in ``workers`` processes (default: one per core, at most
        four) while this thread analyses the entries; ``progress(done, total)`` follows the
        embedding (from a pool thread when there are workers).
        """
        published = [entry for entry in entries if entry.status == PUBLISHED]
        known = vectors or {}
        todo = self.texts_to_embed(published, known)
        wait = start_encoding(
            self.embedder,
            list(todo.values()),
            workers=default_workers() if workers is None else workers,
            progress=progress,
            batch=_EMBED_BATCH,
        )
        analysed = [self._analyse(entry) for entry in published]
        computed: dict[str, Vectors] = dict(zip(todo, wait(), strict=True))
        vectors_in_place = self._rows(published, _Overlay(computed, known))
        with self._write:
            self._snapshot = _assemble(
                analysed,
                self.vocabulary,
                self.embedder.dim,
                self._dense_limit,
                vectors=vectors_in_place,
            )
            self.vocabulary.freeze()
        return computed

    def _rows(
        self, entries: Sequence[Entry], vectors: Mapping[str, npt.NDArray[np.floating]]
    ) -> tuple[Ragged, Ragged]:
        """The entries' int8 rows and scales, quantised straight into one array (not a
        small array per entry, then a copy of them all)."""
        name = self.embedder.name
        keys = [[text_key(name, text) for text in entry.embedding_texts()] for entry in entries]
        ptr = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(group) for group in keys], out=ptr[1:])
        rows = np.empty((int(ptr[-1]), self.embedder.dim), dtype=np.int8)
        scales = np.empty(int(ptr[-1]), dtype=np.float32)
        for i, group in enumerate(keys):
            matrix = np.stack([np.asarray(vectors[key], dtype=np.float32) for key in group])
            rows[ptr[i] : ptr[i + 1]], scales[ptr[i] : ptr[i + 1]] = _quantise(matrix)
        return Ragged.whole(ptr, rows), Ragged.whole(ptr, scales)

    def upsert(
        self,
        entries: Iterable[Entry],
        vectors: Mapping[str, npt.NDArray[np.floating]] | None = None,
    ) -> dict[str, Vectors]:
        """Add or replace entries (an unpublished one is removed); only they are embedded."""
        entries = list(entries)
        published = [entry for entry in entries if entry.status == PUBLISHED]
        computed = self._embed_missing(published, vectors or {})
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
            self.vocabulary.freeze()
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
        one written with another embedder, glossary or format (rebuild from the entries).

        The file is written beside ``path`` and renamed over it, so an index that has the
        old file open keeps reading the old one.
        """
        snap = self._snapshot
        tokens, token_ids = snap.vocabulary.arrays()
        ids = Ragged.of([np.frombuffer(i.encode(), np.uint8) for i in snap.ids], np.uint8)
        arrays: dict[str, Column | list[Column]] = {
            "vocabulary": tokens,
            "vocabulary_ids": token_ids,
            "alive": snap.alive,
            "latin": snap.latin,
        }
        ragged = {"ids": ids, "phrasings": snap.phrasings.bytes}
        ragged.update((name, getattr(snap, name)) for name in _RAGGED)
        for name, values in ragged.items():
            arrays[f"{name}.ptr"] = values.full_ptr()
            arrays[f"{name}.data"] = [values.data, values.tail]  # written one after the other
        stats: dict[str, Any] = {"base_n": snap.base_n}
        for name in ("q_field", "a_field"):
            bm25: Bm25Field = getattr(snap, name)
            for part in ("data", "indices", "indptr", "idf"):
                arrays[f"{name}.{part}"] = getattr(bm25, part)
            stats[name] = [bm25.n_docs, bm25.avgdl]
        meta = [_FORMAT, self.embedder.name, self._fingerprint()]
        _write_arrays(Path(path), {"meta": meta, "stats": stats}, arrays)
        with self._write:  # serve from the file from now on, unless a change came meanwhile
            if self._snapshot is snap and len(self.vocabulary) == len(token_ids):
                self._snapshot = self._read(Path(path), self.vocabulary)

    def load(self, path: str | Path) -> None:
        """Replace the index with one written by :meth:`save` (ValueError if it does not fit).

        Nothing big is read: the big arrays are read a run at a time as searches need them
        (:class:`knowledge.stored.StoredArray`), the small ones memory-mapped read-only, and a
        change appends to small tails instead of copying them. :meth:`save` likewise switches the
        index to the file it wrote. Such a file must be replaced (as :meth:`save` does), never
        rewritten in place.
        """
        with self._write:
            self._snapshot = self._read(Path(path))
            self.vocabulary = self._snapshot.vocabulary

    def _read(self, path: Path, vocabulary: Vocabulary | None = None) -> Snapshot:
        """The snapshot saved in a file, opened (its vocabulary unless one is given:
        the index's own, whose ids the file's are a prefix of)."""
        header, data, stored = _open_arrays(path)
        meta = header.get("meta")
        if meta != [_FORMAT, self.embedder.name, self._fingerprint()]:
            raise ValueError(f"index file {path} was written for {meta}")
        try:
            stats = header["stats"]
            if vocabulary is None:
                vocabulary = Vocabulary.from_arrays(data["vocabulary"], data["vocabulary_ids"])
            fields = {}
            for name in ("q_field", "a_field"):
                n_docs, avgdl = stats[name]
                fields[name] = Bm25Field(
                    data=stored[f"{name}.data"],
                    indices=stored[f"{name}.indices"],
                    indptr=data[f"{name}.indptr"],
                    n_docs=int(n_docs),
                    idf=data[f"{name}.idf"],
                    avgdl=float(avgdl),
                )
            columns: dict[str, Column] = {**data, **stored}
            ragged = {
                name: Ragged.whole(data[f"{name}.ptr"], columns[f"{name}.data"])
                for name in ("ids", "phrasings", *_RAGGED)
            }
            ids = ragged["ids"]
            base = Snapshot(
                ids=tuple(ids.run(i).tobytes().decode() for i in range(len(ids))),
                alive=data["alive"],
                position={},
                vocabulary=vocabulary,
                phrasings=Texts(ragged["phrasings"]),
                latin=data["latin"],
                q_tok=ragged["q_tok"],
                a_tok=ragged["a_tok"],
                rows=ragged["rows"],
                scales=ragged["scales"],
                dense=None,
                base_n=int(stats["base_n"]),
                dead=0,  # recounted by _assemble below
                q_field=fields["q_field"],
                a_field=fields["a_field"],
                q_delta=fields["q_field"],  # replaced by _assemble below
                a_delta=fields["a_field"],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"index file {path} is incomplete: {exc}") from exc
        sizes = {len(base.ids), len(base.alive), len(base.latin), len(base.phrasings)}
        sizes.update(len(getattr(base, name)) for name in _RAGGED)
        if len(sizes) != 1 or len(base.rows.data) != len(base.scales.data):
            raise ValueError(f"index file {path} is inconsistent")
        dead = np.flatnonzero(~base.alive).tolist()
        return _assemble(
            [], vocabulary, self.embedder.dim, self._dense_limit, base=base, dead=dead
        )

    def _fingerprint(self) -> str:
        groups = "\n".join(",".join(group) for group in self.analyser.glossary.groups)
        return hashlib.sha256(groups.encode()).hexdigest()[:16]

    def _embed_missing(
        self, entries: Sequence[Entry], known: Mapping[str, object]
    ) -> dict[str, Vectors]:
        todo = self.texts_to_embed(entries, known)
        return dict(zip(todo, start_encoding(self.embedder, list(todo.values()))(), strict=True))

    def _analyse(self, entry: Entry) -> _Pieces:
        """An entry's pieces without its vectors (filled in by :meth:`_pieces`)."""
        analyse = self.analyser.analyse_once
        asked = [analyse(text) for text in entry.phrasings()]
        q_tokens = [token for analysis in asked for token in analysis.tokens]
        for tag in entry.tags:
            q_tokens.extend(analyse(tag).tokens)
        # The answer contributes words, character and pinyin bigrams, not English trigrams.
        keep = (WORD, BIGRAM, PINYIN)
        a_tokens = [token for token in analyse(entry.answer).tokens if token.startswith(keep)]
        written = " ".join((*entry.phrasings(), entry.answer))
        return _Pieces(
            entry_id=entry.id,
            phrasings=tuple(" ".join(analysis.words) for analysis in asked),
            q_tokens=self.vocabulary.add(q_tokens),
            a_tokens=self.vocabulary.add(a_tokens),
            rows=np.zeros((0, self.embedder.dim), dtype=np.int8),
            scales=np.zeros(0, dtype=np.float32),
            latin=cjk_share(written) < 0.5,
        )

    def _pieces(
        self,
        entry: Entry,
        vectors: Mapping[str, npt.NDArray[np.floating]],
        analysed: _Pieces | None = None,
    ) -> _Pieces:
        name = self.embedder.name
        matrix = np.stack(
            [
                np.asarray(vectors[text_key(name, text)], dtype=np.float32)
                for text in entry.embedding_texts()
            ]
        )
        rows, scales = _quantise(matrix)
        return dataclasses.replace(
            analysed if analysed is not None else self._analyse(entry), rows=rows, scales=scales
        )
