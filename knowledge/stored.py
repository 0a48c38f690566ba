"""Read-only arrays kept in a file and read with ``pread`` when indexed, never mapped.

A saved index's big per-document arrays (vectors, token runs, BM25 columns) are read a few
kilobytes at a time: a query needs its tokens' columns and its few dozen candidates' rows.
Memory-mapping them made every page a search touched part of the process (and with the
large page-cache folios of a file just written, far more than the page touched: one byte
mapped up to 2 MB), so after a few hundred queries the process held most of a 0.5 GB file.
Read with ``pread`` the bytes are copied into small short-lived buffers; the kernel's page
cache keeps what was read (shared by every process reading the file and dropped under memory
pressure), and the process holds only its own heap.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

# Positions closer than this many bytes are read in one call, the gap read and dropped.
_GAP_BYTES = 4096


class FileHandle:
    """A read-only file descriptor, closed when the last array reading it is gone."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._closer = weakref.finalize(self, os.close, self.fd)
        if hasattr(os, "posix_fadvise"):  # Linux: small scattered reads, no readahead window
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def _pread(self, view: memoryview, offset: int) -> int:
        if hasattr(os, "preadv"):  # straight into the buffer
            return os.preadv(self.fd, [view], offset)
        data = os.pread(self.fd, len(view), offset)
        view[: len(data)] = data
        return len(data)

    def read_into(self, out: npt.NDArray[Any], offset: int) -> None:
        """Fill ``out`` (contiguous) with the bytes at ``offset``."""
        self.read_bytes(out.reshape(-1).view(np.uint8).data, offset)

    def read_bytes(self, view: memoryview, offset: int) -> None:
        """Fill a writable byte view with the bytes at ``offset``."""
        got = self._pread(view, offset)
        while got < len(view):  # a short read: only at the end of the file
            more = self._pread(view[got:], offset + got)
            if more == 0:
                raise ValueError("the saved index file is shorter than its header says")
            got += more


class StoredArray:
    """A 1-D or 2-D C-ordered array of ``dtype`` at ``offset`` in a file.

    Supports what the index does with its big arrays: ``len``, ``shape``/``ndim``/``dtype``/
    ``nbytes``, a contiguous slice, one position, or a gather by an array of positions (rows
    close together are read in one call). Every read returns a fresh writable ndarray.
    """

    __slots__ = ("_handle", "_offset", "_row_bytes", "dtype", "shape")

    def __init__(
        self, handle: FileHandle, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...]
    ) -> None:
        if len(shape) not in (1, 2):
            raise ValueError(f"a stored array has 1 or 2 dimensions, not {len(shape)}")
        self._handle = handle
        self._offset = offset
        self.dtype = dtype
        self.shape = shape
        self._row_bytes = dtype.itemsize * (shape[1] if len(shape) == 2 else 1)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self._row_bytes

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, first: int, last: int) -> npt.NDArray[Any]:
        out = np.empty((max(last - first, 0), *self.shape[1:]), dtype=self.dtype)
        if len(out):
            self._handle.read_into(out, self._offset + first * self._row_bytes)
        return out

    def __getitem__(self, key: slice | int | np.integer[Any] | npt.NDArray[Any]) -> Any:
        n = self.shape[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                raise TypeError("a stored array is sliced with step 1 only")
            return self._rows(start, max(stop, start))
        if isinstance(key, int | np.integer):
            at = int(key) + n if key < 0 else int(key)
            if not 0 <= at < n:
                raise IndexError(f"position {int(key)} is out of range for {n}")
            return self._rows(at, at + 1)[0]
        return self.gather(np.asarray(key))

    def gather(self, positions: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The rows at ``positions`` (any order, repeats allowed), one read per cluster."""
        if positions.dtype.kind not in "iu" or positions.ndim != 1:
            raise TypeError("positions must be a 1-D array of integers")
        out = np.empty((len(positions), *self.shape[1:]), dtype=self.dtype)
        if not len(positions):
            return out
        order = np.argsort(positions, kind="stable")
        ranked = positions[order].astype(np.int64)
        if ranked[0] < 0 or ranked[-1] >= self.shape[0]:
            raise IndexError(f"positions out of range for {self.shape[0]}")
        gap = max(1, _GAP_BYTES // self._row_bytes)
        breaks = np.flatnonzero(np.diff(ranked) > gap) + 1
        starts = ranked[np.concatenate(([0], breaks))]
        ends = ranked[np.concatenate((breaks - 1, [len(ranked) - 1]))] + 1
        lengths = ends - starts
        block = self.runs(starts, ends)
        at = np.cumsum(lengths) - lengths
        run = np.searchsorted(starts, ranked, side="right") - 1
        out[order] = block[at[run] + ranked - starts[run]]
        return out

    def runs(self, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """Rows ``starts[i]:ends[i]`` for each i, concatenated (one read per run)."""
        lengths = (ends - starts).tolist()
        out = np.empty((sum(lengths), *self.shape[1:]), dtype=self.dtype)
        if starts.size and (starts.min() < 0 or ends.max() > self.shape[0]):
            raise IndexError(f"runs out of range for {self.shape[0]}")
        at = 0
        for first, length in zip(starts.tolist(), lengths, strict=True):
            if length > 0:
                self._handle.read_into(
                    out[at : at + length], self._offset + first * self._row_bytes
                )
                at += length
        return out

    def chunks(self, budget: int) -> Iterator[npt.NDArray[Any]]:
        """The whole array, about ``budget`` bytes at a time (to copy it without holding it)."""
        rows = max(1, budget // self._row_bytes)
        for first in range(0, self.shape[0], rows):
            yield self._rows(first, min(first + rows, self.shape[0]))


Column = npt.NDArray[Any] | StoredArray
