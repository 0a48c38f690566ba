"""knowledge.stored: arrays read from a file with pread give exactly what numpy indexing would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.stored import FileHandle, StoredArray

OFFSET = 4096


def _stored(tmp_path: Path, array: np.ndarray, name: str = "a.bin") -> StoredArray:
    path = tmp_path / name
    path.write_bytes(b"\xee" * OFFSET + array.tobytes() + b"\xee" * 100)
    return StoredArray(FileHandle(path), OFFSET, array.dtype, array.shape)


def test_slices_positions_and_gathers_match_numpy(tmp_path: Path) -> None:
    rows = np.arange(40 * 6, dtype=np.int8).reshape(40, 6)
    stored = _stored(tmp_path, rows)
    assert (len(stored), stored.ndim, stored.nbytes, stored.shape) == (40, 2, 240, (40, 6))
    np.testing.assert_array_equal(stored[3:9], rows[3:9])
    np.testing.assert_array_equal(stored[38:100], rows[38:100])  # clipped like numpy
    assert stored[9:3].shape == (0, 6)
    np.testing.assert_array_equal(stored[-1], rows[-1])
    np.testing.assert_array_equal(stored[np.int64(5)], rows[5])
    picks = np.array([39, 0, 5, 5, 6, 20, 1], dtype=np.int64)
    np.testing.assert_array_equal(stored[picks], rows[picks])
    assert stored[np.zeros(0, dtype=np.int64)].shape == (0, 6)
    out = stored[2:4]
    out[:] = 0  # a fresh writable copy: the file is untouched
    np.testing.assert_array_equal(stored[2:4], rows[2:4])


def test_bad_keys_are_refused(tmp_path: Path) -> None:
    stored = _stored(tmp_path, np.arange(10, dtype=np.float32))
    with pytest.raises(IndexError):
        stored[10]
    with pytest.raises(IndexError):
        stored[np.array([3, 10])]
    with pytest.raises(IndexError):
        stored[np.array([-1])]
    with pytest.raises(TypeError):
        stored[::2]
    with pytest.raises(TypeError):
        stored[np.array([True, False])]


def test_a_file_shorter_than_the_array_is_an_error_not_garbage(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"\0" * (OFFSET + 10))
    stored = StoredArray(FileHandle(path), OFFSET, np.dtype(np.int32), (100,))
    np.testing.assert_array_equal(stored[:2], [0, 0])
    with pytest.raises(ValueError, match="shorter"):
        stored[:50]


def test_chunks_cover_the_array_in_order(tmp_path: Path) -> None:
    values = np.arange(1000, dtype=np.int64)
    stored = _stored(tmp_path, values)
    chunks = list(stored.chunks(800))  # 100 values each
    assert [len(c) for c in chunks] == [100] * 10
    np.testing.assert_array_equal(np.concatenate(chunks), values)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3000),
    st.sampled_from([np.int8, np.int32, np.float32]),
    st.integers(1, 9),
    st.data(),
)
def test_any_gather_equals_fancy_indexing(
    tmp_path_factory: pytest.TempPathFactory, n: int, dtype: type, width: int, data: st.DataObject
) -> None:
    rows = np.random.default_rng(n).integers(-100, 100, size=(n, width)).astype(dtype)
    stored = _stored(tmp_path_factory.mktemp("g"), rows)
    picks = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=80)), dtype=np.int64)
    np.testing.assert_array_equal(stored[picks], rows[picks])


def test_runs_are_read_and_concatenated_in_order(tmp_path: Path) -> None:
    values = np.arange(100, dtype=np.float32) * 1.5
    stored = _stored(tmp_path, values)
    starts = np.array([90, 0, 10, 10, 50], dtype=np.int64)
    ends = np.array([100, 3, 10, 12, 51], dtype=np.int64)  # an empty run, overlaps allowed
    want = np.concatenate([values[a:b] for a, b in zip(starts, ends, strict=True)])
    np.testing.assert_array_equal(stored.runs(starts, ends), want)
    with pytest.raises(IndexError):
        stored.runs(np.array([95]), np.array([101]))
