"""BM25 over token ids, built by bm25s and scored on its sparse matrix.

bm25s precomputes every (token, document) BM25 weight into a CSC matrix, so a query costs one
slice per query token, never a loop over documents. Scoring adds each column slice with plain
fancy indexing (a column lists each document once), which is several times faster than the
``np.add.at`` bm25s uses and matters at 100k entries.

Entries added after a build are weighted with the built index's statistics (IDF, average
length; the same Lucene formula bm25s uses) into a small second matrix, so a change costs
milliseconds instead of a full bm25s rebuild; the index rebuilds once such entries pile up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]
TokenIds = npt.NDArray[np.int32]
K1, B = 1.2, 0.75


def _idf(df: npt.NDArray[np.int64], n_docs: int) -> npt.NDArray[np.float32]:
    """Lucene's IDF, as bm25s computes it."""
    out: npt.NDArray[np.float32] = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Bm25Field:
    """One BM25 index: a document per entry, columns are the shared vocabulary's token ids."""

    data: npt.NDArray[np.float32]  # CSC: weights of column t are data[indptr[t]:indptr[t+1]]
    indices: npt.NDArray[np.int32]  # ... and their documents
    indptr: npt.NDArray[np.int64]
    n_docs: int
    idf: npt.NDArray[np.float32]  # per token id, of the documents this field was built from
    avgdl: float

    @classmethod
    def build(cls, docs: Sequence[TokenIds], n_vocab: int) -> Bm25Field:
        """bm25s's index over the documents (token id arrays, repeats are term frequency)."""
        lengths = np.fromiter((len(doc) for doc in docs), dtype=np.int64, count=len(docs))
        if len(docs) == 0 or n_vocab == 0 or not lengths.any():
            return cls.empty(len(docs), n_vocab)
        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        # The (ids, vocabulary) form keeps our token ids as the matrix columns.
        vocab = {i: i for i in range(n_vocab)}
        retriever.index((list(docs), vocab), create_empty_token=False, show_progress=False)
        indptr = np.asarray(retriever.scores["indptr"], dtype=np.int64)
        return cls(
            data=np.asarray(retriever.scores["data"], dtype=np.float32),
            indices=np.asarray(retriever.scores["indices"], dtype=np.int32),
            indptr=indptr,
            n_docs=len(docs),
            idf=_idf(np.diff(indptr), len(docs)),
            avgdl=float(lengths.mean()),
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
