"""FAQ engine at scale: lookups/s, p99 latency, build and warm-start times, RSS, event-loop lag.

Synthetic knowledge bases of 1k, 10k and 100k entries are made from the dev set's vocabulary
(its jieba words, question endings, answer sentences and tags, recombined with a fixed seed);
the queries are the dev set's real queries. Entry vectors are random unit vectors standing in
for stored ones (embedding 100k × 4 texts with the real model takes minutes, so the real cost is
measured on a sample and projected); every query is encoded by the real model. Each size runs
in its own process so RSS is that size's alone. Figures are printed, not asserted.

    python -m bench.faq [--sizes 1000,10000,100000] [--queries 300] [--cold-upto 1000]
                        [--workers N]

The saved index is then loaded by a fresh process, as at a restart, which answers the same
queries: its RSS is the serving figure (heap and memory-mapped file pages shown apart).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import mmap
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from knowledge.analyse import Analyser
from knowledge.embed import UseEmbedder, default_workers
from knowledge.glossary import default_glossary
from knowledge.index import Entry, Index
from knowledge.search import search

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "faq"
if not DEV.exists():
    DEV = Path("/work/shared/eval/faq")
ENDINGS = (
    "怎么办？",
    "在哪里操作？",
    "需要审批吗？",
    "多久能办好？",
    "有什么要求？",
    "怎么申请？",
)


def _status_mb(field: str = "VmRSS") -> float:
    """VmRSS (resident), RssAnon (heap), RssFile (mapped files), VmHWM (peak) in MB."""
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _page_cache_mb(path: Path) -> float:
    """How much of a file the kernel's page cache holds (mincore over a mapping never read)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return 0.0
        region = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
        pages = -(-size // mmap.PAGESIZE)
        vec = (ctypes.c_ubyte * pages)()
        view = np.frombuffer(region, np.uint8)
        start = ctypes.c_void_p(view.__array_interface__["data"][0])
        failed = ctypes.CDLL("libc.so.6").mincore(start, ctypes.c_size_t(size), vec)
        resident = int((np.frombuffer(vec, np.uint8) & 1).sum())
        del view
        region.close()
        if failed:
            return float("nan")
    return resident * mmap.PAGESIZE / 2**20


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _trim() -> None:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed garbage back to the OS


class StoredVectors(Mapping[str, npt.NDArray[np.float32]]):
    """Stands in for the product's vector table: a deterministic unit vector for any key."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def __getitem__(self, key: str) -> npt.NDArray[np.float32]:
        rng = np.random.default_rng(int(key[:16], 16))
        row = rng.standard_normal(self.dim).astype(np.float32)
        out: npt.NDArray[np.float32] = row / np.linalg.norm(row)
        return out

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 1  # non-empty: "no stored vectors" would mean embedding everything


def synthetic_entries(n: int, seed: int = 7) -> list[Entry]:
    """n entries built from the dev set's words, endings, answer sentences and tags."""
    kb = yaml.safe_load((DEV / "dev_kb.yaml").read_text(encoding="utf-8"))
    analyser = Analyser(default_glossary())
    words = sorted(
        {
            word
            for row in kb
            for text in [row["question"], *row.get("alternatives", []), row["answer"]]
            for word in analyser.analyse(text).words
            if len(word) > 1
        }
    )
    sentences = [s for row in kb for s in row["answer"].replace("。", "。\n").split("\n") if s]
    tags = sorted({tag for row in kb for tag in row.get("tags", [])})
    rng = random.Random(seed)
    entries = []
    for i in range(n):

        def phrase() -> str:
            return "".join(rng.sample(words, rng.randint(3, 6))) + rng.choice(ENDINGS)

        entries.append(
            Entry(
                id=f"syn-{i}",
                question=phrase(),
                alternatives=(phrase(), phrase()),
                answer="".join(rng.sample(sentences, 3)),
                tags=tuple(rng.sample(tags, 2)),
            )
        )
    return entries


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _loop_lag(index: Index, queries: list[str], clients: int) -> tuple[float, float, float]:
    """Answer queries from worker threads while a 10 ms ticker measures how late it wakes."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = loop.time()
            await asyncio.sleep(0.01)
            lags.append(max(0.0, loop.time() - start - 0.01) * 1000)

    async def client(chunk: list[str]) -> None:
        for query in chunk:
            await asyncio.to_thread(search, index, query)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(client(queries[i::clients]) for i in range(clients)))
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    return max(lags), _percentile(lags, 0.99), len(queries) / elapsed


def _queries(n_queries: int) -> list[str]:
    queries_yaml = yaml.safe_load((DEV / "dev_queries.yaml").read_text(encoding="utf-8"))
    pool = [row["query"] for row in queries_yaml]
    return [pool[i % len(pool)] + ("" if i < len(pool) else f" {i}") for i in range(n_queries)]


def _latencies(index: Index, queries: list[str]) -> list[float]:
    search(index, "预热")
    latencies = []
    for query in queries:
        t0 = time.perf_counter()
        search(index, query)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def _lookups(latencies: list[float]) -> str:
    return (
        f"mean {statistics.fmean(latencies):.2f} ms, p50 {_percentile(latencies, 0.5):.2f} ms, "
        f"p99 {_percentile(latencies, 0.99):.2f} ms"
    )


def _memory() -> str:
    return (
        f"RSS {_status_mb('VmRSS'):.0f} MB (heap {_status_mb('RssAnon'):.0f}, mapped files "
        f"{_status_mb('RssFile'):.0f}), peak {_status_mb('VmHWM'):.0f} MB"
    )


def serve(path: Path, n_queries: int) -> None:
    """A restart: a fresh process loads the saved index and answers (the product's steady
    state; runs in its own process so RSS is serving's alone)."""
    embedder = UseEmbedder()
    embedder.encode(["预热"])
    print(f"    serving process with the model loaded: {_memory()}")
    t0 = time.perf_counter()
    index = Index(embedder)  # loads jieba and its dictionary
    made_s = time.perf_counter() - t0
    index.load(path)
    load_s = time.perf_counter() - t0
    _trim()
    print(
        f"    warm start: {load_s:.1f} s (of which jieba {made_s:.1f} s, the saved index "
        f"{load_s - made_s:.1f} s); {_memory()}"
    )
    queries = _queries(n_queries)
    latencies = _latencies(index, queries)
    lag4 = asyncio.run(_loop_lag(index, queries[:200], clients=4))
    lag1 = asyncio.run(_loop_lag(index, queries[:200], clients=1))
    _trim()
    print(f"    loaded index, lookups: {_lookups(latencies)}")
    for clients, (lag_max, lag_p99, qps) in ((1, lag1), (4, lag4)):
        print(
            f"    loaded index, from {clients} worker thread(s): {qps:.0f} lookups/s, "
            f"event-loop lag max {lag_max:.1f} ms, p99 {lag_p99:.1f} ms"
        )
    print(
        f"    after {len(queries) + 400} lookups: {_memory()}; the kernel's page cache holds "
        f"{_page_cache_mb(path):.0f} of the index file's {path.stat().st_size / 2**20:.0f} MB "
        "(read with pread, not in the process)"
    )
    with open(path, "rb") as fh:  # what lookups read: evict the file, then ask again
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    cold = _latencies(index, queries)
    print(
        f"    the same lookups with the file evicted from the page cache first: "
        f"{_lookups(cold)}; they read {_page_cache_mb(path):.0f} MB of it back; {_memory()}"
    )
    t0 = time.perf_counter()
    index.upsert([Entry("new-1", "新增的问题怎么提交？", (), "在OA里提交。")])
    upsert_s = time.perf_counter() - t0
    _trim()
    print(f"    upsert one entry on the loaded index {upsert_s * 1000:.0f} ms; {_memory()}")


def run_size(n: int, n_queries: int, cold_upto: int, workers: int | None) -> None:
    """Every figure for one knowledge-base size (runs in its own process)."""
    base_rss = _rss_mb()
    embedder = UseEmbedder()
    embedder.encode(["预热"])
    model_rss = _rss_mb()
    entries = synthetic_entries(n)
    index = Index(embedder)
    last = [0.0]

    def progress(done: int, total: int) -> None:  # only called when texts are embedded
        if time.perf_counter() - last[0] > 5 or done == total:
            print(f"    embedded {done}/{total}", flush=True)
            last[0] = time.perf_counter()

    _trim()
    before_build = _rss_mb()
    started = time.perf_counter()
    computed = index.build(entries, vectors=StoredVectors(embedder.dim), progress=progress)
    build_s = time.perf_counter() - started
    assert not computed
    rss = _rss_mb()
    peak = _status_mb("VmHWM")
    _trim()
    rss_trimmed = _rss_mb()
    snap = index.snapshot

    sample = [text for entry in entries[:500] for text in entry.embedding_texts()][:2000]
    started = time.perf_counter()
    embedder.encode(sample)
    per_text = (time.perf_counter() - started) / len(sample)
    texts = sum(len(entry.embedding_texts()) for entry in entries)

    queries = _queries(n_queries)
    latencies = _latencies(index, queries)
    encode_ms = []
    for query in queries[:100]:
        t0 = time.perf_counter()
        embedder.encode([query + "?"])
        encode_ms.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    index.upsert([Entry("new-1", "新增的问题怎么提交？", (), "在OA里提交。")])
    upsert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.remove([entries[0].id])
    remove_s = time.perf_counter() - t0
    lag4 = asyncio.run(_loop_lag(index, queries[:200], clients=4))
    lag1 = asyncio.run(_loop_lag(index, queries[:200], clients=1))

    print(
        f"  entries {n}: {texts} texts, {len(index.vocabulary)} tokens, "
        f"dense search {'exhaustive' if snap.dense is not None else 'candidates only'}"
    )
    print(
        f"    build from stored vectors (analysis + BM25): {build_s:.1f} s "
        f"(of which assembling the snapshot {snap.built_in:.2f} s)"
    )
    print(f"    real embedding: {per_text * 1000:.2f} ms/text in one process ({texts} texts)")
    print(
        f"    upsert one entry {upsert_s * 1000:.0f} ms, remove one {remove_s * 1000:.0f} ms "
        f"(delta matrix; a full rebuild, due every 2% of changes, {snap.built_in:.1f} s)"
    )
    print(
        f"    built index, lookups: {_lookups(latencies)}, "
        f"{1000 / statistics.fmean(latencies):.0f}/s on one thread; of which query encoding "
        f"mean {statistics.fmean(encode_ms):.2f} ms, p99 {_percentile(encode_ms, 0.99):.2f} ms"
    )
    for clients, (lag_max, lag_p99, qps) in ((1, lag1), (4, lag4)):
        print(
            f"    built index, from {clients} worker thread(s): {qps:.0f} lookups/s, event-loop "
            f"lag max {lag_max:.1f} ms, p99 {lag_p99:.1f} ms"
        )
    print(
        f"    build process: RSS {rss:.0f} MB after the build, peak {peak:.0f} MB (before the "
        f"build {before_build:.0f} MB), {rss_trimmed:.0f} MB once its garbage is returned "
        f"(interpreter {base_rss:.0f} MB, with model {model_rss:.0f} MB; index arrays "
        f"q {snap.q_field.nbytes / 2**20:.0f} MB, a {snap.a_field.nbytes / 2**20:.0f} MB, "
        f"vectors {snap.rows.nbytes / 2**20:.0f} MB)",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.bin"
        t0 = time.perf_counter()
        index.save(path)
        save_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20
        del snap
        _trim()
        print(
            f"    saved index file {size_mb:.0f} MB in {save_s:.1f} s; the build process now "
            f"serves from it: {_memory()}",
            flush=True,
        )
        command = [sys.executable, "-m", "bench.faq", "--serve", str(path)]
        subprocess.run([*command, "--queries", str(n_queries)], check=True)

    if n <= cold_upto:  # a real cold build: every text embedded by the model, with progress
        del index
        _trim()
        cold = Index(embedder)
        chosen = default_workers() if workers is None else workers
        t0 = time.perf_counter()
        cold.build(entries, progress=progress, workers=chosen)
        cold_s = time.perf_counter() - t0
        print(
            f"    cold build (all {texts} texts embedded, {chosen} embedding process(es)): "
            f"{cold_s:.0f} s; this process's peak {_status_mb('VmHWM'):.0f} MB",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.faq``: each size in a fresh process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--cold-upto", type=int, default=1000, help="also build with real embeddings up to N"
    )
    parser.add_argument(
        "--workers", type=int, help="embedding processes for the cold build (default: cores, ≤4)"
    )
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # one size, in this process
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # load and answer
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.queries)
        return 0
    if args.size:
        run_size(args.size, args.queries, args.cold_upto, args.workers)
        return 0
    print(f"FAQ engine bench (dev vocabulary from {DEV})", flush=True)
    for size in (int(value) for value in args.sizes.split(",")):
        command = [sys.executable, "-m", "bench.faq", "--size", str(size)]
        options = ["--queries", str(args.queries), "--cold-upto", str(args.cold_upto)]
        if args.workers:
            options += ["--workers", str(args.workers)]
        subprocess.run([*command, *options], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
