"""BM25 over token ids, precomputed into a sparse matrix and scored column by column.

Every (token, document) BM25 weight is precomputed into a CSC matrix (bm25s's design and its
Lucene weights), so a query costs one slice per query token, never a loop over documents.
Scoring adds each column slice with plain fancy indexing (a column lists each document once),
which is several times faster than the ``np.add.at`` bm25s uses and matters at 100k entries.
The matrix is built here, vectorised and a block of documents at a time, rather than by
bm25s, whose per-document Python counting and scipy conversion held several copies of it.

Entries added after a build are weighted with the built index's statistics (IDF, average
length; the same formula) into a small second matrix, so a change costs milliseconds instead
of a full rebuild; the index rebuilds once such entries pile up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from knowledge.stored import Column

Scores = npt.NDArray[np.float32]
TokenIds = npt.NDArray[np.int32]
K1, B = 1.2, 0.75
_BLOCK = 8192  # documents per block while building a matrix


def _idf(df: npt.NDArray[np.int64], n_docs: int) -> npt.NDArray[np.float32]:
    """Lucene's IDF, as bm25s computes it."""
    out: npt.NDArray[np.float32] = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Bm25Field:
    """One BM25 index: a document per entry, columns are the shared vocabulary's token ids."""

    # CSC: weights of column t are data[indptr[t]:indptr[t+1]] (float32), indices (int32) their
    # documents; a saved index's two are read from its file, a column at a time
    data: Column
    indices: Column
    indptr: npt.NDArray[np.int64]
    n_docs: int
    idf: npt.NDArray[np.float32]  # per token id, of the documents this field was built from
    avgdl: float

    @classmethod
    def build(cls, docs: Sequence[TokenIds], n_vocab: int) -> Bm25Field:
        """The index over the documents (token id arrays, repeats are term frequency)."""
        lengths = np.fromiter((len(doc) for doc in docs), dtype=np.int64, count=len(docs))
        ptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        data = np.concatenate(list(docs)) if docs else np.zeros(0, dtype=np.int32)
        return cls.from_runs(ptr, data.astype(np.int32, copy=False), n_vocab)

    @classmethod
    def from_runs(
        cls,
        ptr: npt.NDArray[np.int64],
        data: TokenIds,
        n_vocab: int,
        *,
        block: int = _BLOCK,
    ) -> Bm25Field:
        """The index over documents given as runs (document i is data[ptr[i]:ptr[i + 1]]).

        The weights are bm25s's (Lucene's formula, the same float32 arithmetic as
        :meth:`extension`), but the matrix is filled a block of documents at a time straight
        into its final arrays: bm25s counts each document's tokens in Python and builds its
        matrix through scipy, holding several copies of it (about 600 MB at 100k entries).
        """
        n_docs = len(ptr) - 1
        lengths = np.diff(ptr)
        if n_docs == 0 or n_vocab == 0 or not lengths.any():
            return cls.empty(n_docs, n_vocab)
        blocks = [(first, min(first + block, n_docs)) for first in range(0, n_docs, block)]

        def pairs(first: int, last: int) -> tuple[TokenIds, TokenIds, npt.NDArray[np.int64]]:
            """(token, document, term frequency) of these documents, by token then document."""
            tokens = data[ptr[first] : ptr[last]].astype(np.int64)
            owner = np.repeat(np.arange(first, last, dtype=np.int64), lengths[first:last])
            keys, tf = np.unique(tokens * n_docs + owner, return_counts=True)
            token, doc = np.divmod(keys, n_docs)
            return token.astype(np.int32), doc.astype(np.int32), tf

        df = np.zeros(n_vocab, dtype=np.int64)
        for first, last in blocks:
            df += np.bincount(pairs(first, last)[0], minlength=n_vocab)
        idf = _idf(df, n_docs)
        avgdl = float(lengths.mean())
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        weights = np.empty(int(indptr[-1]), dtype=np.float32)
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        fill = indptr[:-1].copy()  # next free slot of each column
        doc_len = lengths.astype(np.float32)
        for first, last in blocks:
            token, doc, tf = pairs(first, last)
            counts = np.bincount(token, minlength=n_vocab)
            rank = np.arange(len(token)) - (np.cumsum(counts) - counts)[token]
            where = fill[token] + rank
            freq = tf.astype(np.float32)
            norm = K1 * ((1 - B) + B * doc_len[doc] / np.float32(avgdl))
            weights[where] = idf[token] * freq / (norm + freq)
            indices[where] = doc
            fill += counts
        return cls(
            data=weights,
            indices=indices,
            indptr=indptr,
            n_docs=n_docs,
            idf=idf,
            avgdl=avgdl,
        )

    @classmethod
    def empty(cls, n_docs: int, n_vocab: int) -> Bm25Field:
        """A field that scores every document 0."""
        return cls(
            data=np.zeros(0, dtype=np.float32),
            indices=np.zeros(0, dtype=np.int32),
            indptr=np.zeros(n_vocab + 1, dtype=np.int64),
            n_docs=n_docs,
            idf=np.full(n_vocab, _idf(np.zeros(1, np.int64), max(n_docs, 1))[0], np.float32),
            avgdl=1.0,
        )

    def extension(self, docs: Sequence[TokenIds], n_vocab: int) -> Bm25Field:
        """A field for further documents, weighted with this field's IDF and average length.

        A token this field has never seen gets the IDF of a token in no document.
        """
        if not docs and n_vocab == len(self.idf):  # nothing changed: share, allocate nothing
            return Bm25Field(
                data=np.zeros(0, dtype=np.float32),
                indices=np.zeros(0, dtype=np.int32),
                indptr=np.broadcast_to(np.zeros(1, dtype=np.int64), (n_vocab + 1,)),
                n_docs=0,
                idf=self.idf,
                avgdl=self.avgdl,
            )
        counts = [np.unique(doc, return_counts=True) for doc in docs]
        owner = np.concatenate(
            [np.full(len(ids), i, dtype=np.int32) for i, (ids, _) in enumerate(counts)]
            or [np.zeros(0, np.int32)]
        )
        tokens = np.concatenate([ids for ids, _ in counts] or [np.zeros(0, np.int32)])
        tf = np.concatenate([c for _, c in counts] or [np.zeros(0, np.int64)]).astype(np.float32)
        lengths = np.array([len(doc) for doc in docs], dtype=np.float32)
        unseen = _idf(np.zeros(1, np.int64), max(self.n_docs, 1))[0]
        idf = np.full(n_vocab, unseen, dtype=np.float32)
        idf[: len(self.idf)] = self.idf
        norm = K1 * ((1 - B) + B * lengths[owner] / np.float32(self.avgdl))
        weights = idf[tokens] * tf / (norm + tf)
        order = np.argsort(tokens, kind="stable")
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(np.bincount(tokens, minlength=n_vocab), out=indptr[1:])
        return Bm25Field(
            data=weights[order].astype(np.float32),
            indices=owner[order],
            indptr=indptr,
            n_docs=len(docs),
            idf=idf,
            avgdl=self.avgdl,
        )

    def scores(self, token_ids: TokenIds) -> Scores:
        """BM25 score of every document; a token repeated in the query counts that often."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        n_vocab = len(self.indptr) - 1
        if self.n_docs == 0 or token_ids.size == 0:
            return out
        ids, counts = np.unique(token_ids[token_ids < n_vocab], return_counts=True)
        # a column at a time, added in place: no temporary larger than one column (a saved
        # index reads each slice with one pread)
        for token, count in zip(ids.tolist(), counts.tolist(), strict=True):
            start, end = self.indptr[token], self.indptr[token + 1]
            if start == end:
                continue
            weights = self.data[start:end]
            out[self.indices[start:end]] += weights if count == 1 else weights * count
        return out

    @property
    def nbytes(self) -> int:
        """Memory held by the matrix."""
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)
