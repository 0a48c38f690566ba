"""The index's compact storage: the frozen vocabulary, phrasings as one array, the memory-mapped
saved file, and embedding in worker processes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from knowledge.embed import HashEmbedder, Vectors, start_encoding
from knowledge.index import Entry, Index, Ragged, Texts, Vocabulary
from knowledge.lexical import Bm25Field
from knowledge.search import search
from knowledge.stored import StoredArray

ENTRIES = [
    Entry("pwd", "忘记OA密码怎么重置？", ("OA密码忘了怎么办",), "用手机验证码重设。"),
    Entry("room", "怎么预约会议室？", ("会议室在哪里订",), "在OA会务管理中提交。"),
    Entry("leave", "How do I apply for leave?", ("Request days off",), "Use HR in OA.", "en"),
]


def test_a_frozen_vocabulary_keeps_its_ids_and_takes_new_tokens() -> None:
    vocabulary = Vocabulary()
    first = vocabulary.add(["w:密码", "c:密码", "w:密码", "t:#oa"]).tolist()
    assert first == [0, 1, 0, 2]
    vocabulary.freeze()
    assert vocabulary.lookup(["c:密码", "w:没有", "t:#oa", "w:密码很长很长的词"]).tolist() == [
        1,
        -1,
        2,
        -1,
    ]
    assert vocabulary.add(["w:新词", "w:密码"]).tolist() == [3, 0]  # after a freeze
    assert vocabulary.lookup(["w:新词"]).tolist() == [3]
    tokens, ids = vocabulary.arrays()
    again = Vocabulary.from_arrays(tokens, ids)
    assert len(again) == 4
    assert again.lookup(["w:新词", "c:密码", "w:密"]).tolist() == [3, 1, -1]


def test_texts_decode_each_documents_phrasings() -> None:
    texts = Texts.of([("忘记 密码", "oa 密码"), ("",), ("会议室",)])
    more = texts.extend([("leave",)])
    assert [more[i] for i in range(len(more))] == [
        ("忘记 密码", "oa 密码"),
        ("",),
        ("会议室",),
        ("leave",),
    ]


def test_a_loaded_index_reads_its_file_and_still_changes(tmp_path: Path) -> None:
    index = Index(HashEmbedder(dim=32))
    index.build(ENTRIES, workers=1)
    path = tmp_path / "index.bin"
    index.save(path)
    assert isinstance(index.snapshot.rows.data, StoredArray)  # now read from the file it wrote
    index.save(path)  # replaced, not rewritten in place
    loaded = Index(HashEmbedder(dim=32))
    loaded.load(path)
    snap = loaded.snapshot
    assert isinstance(snap.rows.data, StoredArray)  # read on demand, not loaded
    assert isinstance(snap.q_field.data, StoredArray)
    assert not snap.q_field.indptr.flags.writeable  # the small arrays are mapped read-only
    for query in ("OA密码忘了", "会议室怎么订", "apply for leave"):
        assert search(loaded, query).hits == search(index, query).hits
    loaded.upsert([Entry("vpn", "VPN怎么开通？", (), "在IT服务里申请。")])
    loaded.remove(["room"])
    top = search(loaded, "VPN怎么开通").top
    assert top is not None and top.entry_id == "vpn"
    assert "room" not in loaded and len(loaded) == 3
    loaded.save(path)  # over the file it has mapped
    again = Index(HashEmbedder(dim=32))
    again.load(path)
    assert search(again, "VPN怎么开通").hits == search(loaded, "VPN怎么开通").hits


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.bin"
    index = Index(HashEmbedder(dim=32))
    for damaged in (b"", b"not an index", b"knowledge-index\n\xff\xff\xff\xff\xff\xff\xff\x7f{"):
        path.write_bytes(damaged)
        with pytest.raises(ValueError):
            index.load(path)
    index.build(ENTRIES, workers=1)
    index.save(path)
    whole = path.read_bytes()
    for damaged in (whole[:-100], whole + b"\0" * 4096):  # truncated, or grown
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="bytes, its layout says"):
            Index(HashEmbedder(dim=32)).load(path)


def test_worker_processes_embed_like_this_one() -> None:
    texts = [f"第{i}个问题怎么办" for i in range(1500)]
    seen: list[tuple[int, int]] = []
    parallel = start_encoding(
        HashEmbedder(dim=32), texts, workers=2, progress=lambda *a: seen.append(a)
    )()
    alone = start_encoding(HashEmbedder(dim=32), texts, workers=1)()
    np.testing.assert_allclose(parallel, alone, atol=1e-6)
    assert seen[-1] == (1500, 1500)


class BrokenEmbedder(HashEmbedder):
    """Fails in the worker process."""

    def encode(self, texts: Sequence[str]) -> Vectors:
        raise RuntimeError("no model")


def test_a_failure_in_a_worker_process_reaches_the_caller() -> None:
    wait = start_encoding(BrokenEmbedder(dim=8), ["问题"] * 1500, workers=2)
    with pytest.raises(RuntimeError, match="no model"):
        wait()


def test_a_build_with_workers_returns_every_computed_vector() -> None:
    entries = [
        Entry(f"e{i}", f"第{i}个会议通知在哪里看", (), f"在通知公告{i}里。") for i in range(300)
    ]
    index = Index(HashEmbedder(dim=32))
    computed = index.build(entries, workers=2)
    assert len(computed) == 600  # 300 questions and 300 question+answer texts
    assert len(index) == 300
    top = search(index, "第7个会议通知在哪里看").top
    assert top is not None and top.entry_id == "e7"


def test_ragged_runs_read_alike_from_head_and_tail() -> None:
    parts = [np.arange(n, dtype=np.int32) + 10 * n for n in (2, 0, 3)]
    ragged = Ragged.of(parts, np.int32).extend(
        [np.array([7], np.int32), np.array([8, 9], np.int32)]
    )
    assert len(ragged) == 5
    assert [ragged.run(i).tolist() for i in range(5)] == [[20, 21], [], [30, 31, 32], [7], [8, 9]]
    values, counts = ragged.take(np.array([4, 0, 3, 1, 2]))
    assert values.tolist() == [8, 9, 20, 21, 7, 30, 31, 32]
    assert counts.tolist() == [2, 2, 1, 0, 3]
    assert ragged.full_ptr().tolist() == [0, 2, 2, 5, 6, 8]
    empty = Ragged.of([], np.int32).extend([np.array([1], np.int32)])
    assert empty.take(np.array([0]))[0].tolist() == [1]
    nothing_later = Ragged.of(parts, np.int32).extend([np.zeros(0, np.int32)])
    values, counts = nothing_later.take(np.array([3, 2]))
    assert values.tolist() == [30, 31, 32] and counts.tolist() == [0, 3]


def test_changes_on_a_loaded_index_without_a_dense_copy_rank_like_a_rebuild(
    tmp_path: Path,
) -> None:
    extra = [Entry("vpn", "在家办公怎么申请VPN？", ("VPN账号怎么开通",), "在IT服务里申请。")]
    index = Index(HashEmbedder(dim=32), dense_limit=0)
    index.build(ENTRIES, workers=1)
    index.save(tmp_path / "index.bin")
    loaded = Index(HashEmbedder(dim=32), dense_limit=0)
    loaded.load(tmp_path / "index.bin")
    loaded.upsert(extra)
    assert len(loaded.snapshot.rows.tail)  # the new entry's rows went to the tail
    rebuilt = Index(HashEmbedder(dim=32), dense_limit=0)
    rebuilt.build([*ENTRIES, *extra], workers=1)
    for query in ("怎么开通VPN", "OA密码忘了", "会议室怎么预约", "apply for leave"):
        got, want = search(loaded, query), search(rebuilt, query)
        assert [h.entry_id for h in got.hits] == [h.entry_id for h in want.hits]
        assert got.features["embedding"] == pytest.approx(want.features["embedding"])
        assert got.features["coverage"] == pytest.approx(want.features["coverage"])


def test_the_bm25_matrix_is_bm25s_s() -> None:
    import bm25s

    rng = np.random.default_rng(3)
    docs = [rng.integers(0, 40, size=rng.integers(0, 30)).astype(np.int32) for _ in range(300)]
    ours = Bm25Field.from_runs(*_runs(docs), n_vocab=50, block=64)  # several blocks
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(([d.tolist() for d in docs], {i: i for i in range(50)}), show_progress=False)
    np.testing.assert_array_equal(ours.indptr, retriever.scores["indptr"])
    np.testing.assert_array_equal(ours.indices, retriever.scores["indices"])
    np.testing.assert_allclose(ours.data, retriever.scores["data"], rtol=1e-5)
    assert Bm25Field.build(docs, n_vocab=50).data.tolist() == ours.data.tolist()
    # scoring: each query token's column summed, a repeated token counted that often
    dense = np.zeros((50, 300), dtype=np.float64)
    for token in range(50):
        start, end = ours.indptr[token], ours.indptr[token + 1]
        dense[token, ours.indices[start:end]] = ours.data[start:end]
    query = np.array([3, 7, 7, 49, 12, 3, 3, 45], dtype=np.int32)  # 45 and 49 are in no document
    want = sum(dense[t] for t in query.tolist())
    np.testing.assert_allclose(ours.scores(query), want, rtol=1e-6)
    assert not ours.scores(np.zeros(0, dtype=np.int32)).any()


def _runs(docs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=ptr[1:])
    return ptr, np.concatenate(docs).astype(np.int32)
