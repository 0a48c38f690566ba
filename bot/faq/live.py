"""The search index staff are answered from, kept in step with the published entries.

One :class:`LiveIndex` per process. Before each search it reads a cheap stamp of the
knowledge-base tables (entry count and newest edit, glossary count and newest edit); when the
stamp moved, it loads only which entries are published at which version and re-indexes the
ones that changed, so a publish in any process (or in the CLI) reaches every bot process at
the next question, and nothing is rebuilt on a question when nothing changed. Entry vectors
are stored in ``faq_vector`` keyed by model and text hash: a text is embedded once, ever.

Searching and embedding are CPU work: they run in one worker thread, never on the event loop.
The analysed index is also saved under the data directory, so a restart loads it instead of
analysing every entry again, then applies whatever changed meanwhile.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from bot.emulator.html import HtmlParseError, parse_html
from bot.faq.content import EntryContent
from bot.runtime import Runtime
from knowledge import (
    Embedder,
    Entry,
    Glossary,
    HashEmbedder,
    Index,
    SearchResult,
    UseEmbedder,
    default_glossary,
    search,
)
from storage.tables.faq import FaqEntry, FaqEntryVersion

logger = logging.getLogger(__name__)

T = TypeVar("T")
Stamp = tuple[int, Any, int, Any]
INDEX_FILE = "faq-index.bin"
STATE_FILE = "faq-index.json"
STORE_BATCH = 5000  # vectors per transaction when storing a build's new vectors


class EmbedderError(ValueError):
    """The configured embedder cannot be loaded or does not look like one."""


@cache
def shared_embedder(name: str) -> Embedder:
    """One embedder per process and kind (the sentence encoder's weights load once).

    ``use`` and ``hash`` are built in; ``package.module:Class`` plugs in another local model
    (a class with ``name``, ``dim`` and ``encode(texts) -> L2-normalised float32 rows``).
    """
    if name == "hash":
        return HashEmbedder()
    if name == "use":
        return UseEmbedder()
    module_name, _, attr = name.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attr)()
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise EmbedderError(f"cannot load the embedder {name!r}: {exc}") from exc
    if not (
        isinstance(getattr(found, "name", None), str)
        and isinstance(getattr(found, "dim", None), int)
        and callable(getattr(found, "encode", None))
    ):
        raise EmbedderError(f"{name!r} has no name, dim and encode(texts)")
    embedder: Embedder = found
    return embedder


@dataclass(frozen=True)
class Published:
    """An entry staff can be answered with, as the index knows it."""

    entry_id: int
    version: int


def plain_text(answer_html: str) -> str:
    """An answer's words without its formatting (what the index reads)."""
    try:
        return parse_html(answer_html, strict_ampersand=False).text
    except HtmlParseError:
        return answer_html


def to_entry(content: EntryContent, version: int) -> Entry:
    """The engine's view of a published entry."""
    return Entry(
        id=content.key,
        question=content.question,
        alternatives=content.alternatives,
        answer=plain_text(content.answer),
        locale=content.locale,
        category=content.category,
        tags=content.tags,
        version=version,
    )


def _to_bytes(vector: npt.NDArray[np.floating[Any]]) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _from_bytes(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype=np.float32)


class LiveIndex:
    """Published entries, searchable; re-synchronised with the database when they change."""

    def __init__(self, rt: Runtime, embedder: Embedder, *, cache_dir: Path | None = None) -> None:
        self._rt = rt
        self.embedder = embedder
        self._cache_dir = cache_dir
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faq-search")
        self._lock = asyncio.Lock()
        self._index: Index | None = None
        self._glossary: tuple[tuple[str, ...], ...] | None = None
        self._published: dict[str, Published] = {}
        self._stamp: Stamp | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def __len__(self) -> int:
        return len(self._published)

    def entry_id(self, key: str) -> int | None:
        """The database id of a published entry (None if it is not published)."""
        found = self._published.get(key)
        return found.entry_id if found is not None else None

    # --- following the database ------------------------------------------------------------
    async def refresh(self) -> None:
        """Bring the index up to date (one small query when nothing changed)."""
        async with self._rt.detached_uow() as uow:
            stamp = await uow.faq.stamp()
        if stamp == self._stamp and self._index is not None:
            return
        async with self._lock:
            if stamp == self._stamp and self._index is not None:
                return
            await self._sync()
            self._stamp = stamp

    async def _sync(self) -> None:
        async with self._rt.detached_uow() as uow:
            groups = await uow.faq.glossary_groups()
            versions = await uow.faq.published_versions()
        glossary = tuple(tuple(group) for group in groups)
        if self._index is None or glossary != self._glossary:
            index = Index(self.embedder, default_glossary().extended(Glossary.from_rows(glossary)))
            self._published = {}
            if not await self._load_saved(index):
                await self._build(index)
            self._index, self._glossary = index, glossary
        changed = [
            key
            for key, (entry_id, version) in versions.items()
            if self._published.get(key) != Published(entry_id, version)
        ]
        gone = [key for key in self._published if key not in versions]
        if changed or gone:
            await self._apply(changed, gone)
            await self._save()

    async def _build(self, index: Index) -> None:
        """Index every published entry, embedding only texts with no stored vector."""
        async with self._rt.detached_uow() as uow:
            rows = await uow.faq.published()
            stored = await uow.faq.vectors(self.embedder.name)
        entries, published = self._entries_of(rows)
        vectors = {key: _from_bytes(blob) for key, blob in stored.items()}
        logger.info(
            "building the FAQ index: %s entries, %s stored vectors", len(entries), len(vectors)
        )
        computed = await self._run(lambda: index.build(entries, vectors, progress=_log_progress))
        await self._store(computed)
        self._published = published
        self._index = index
        await self._save(index)  # the diff after the build picks up anything published since

    async def _apply(self, changed: Sequence[str], gone: Sequence[str]) -> None:
        index = self._index
        assert index is not None
        async with self._rt.detached_uow() as uow:
            rows = await uow.faq.published_of(list(changed))
            entries, published = self._entries_of(rows)
            needed = index.texts_to_embed(entries)
            stored = await uow.faq.vectors(self.embedder.name, needed)
        vectors = {key: _from_bytes(blob) for key, blob in stored.items()}
        missing = [key for key in changed if key not in published]  # unpublished meanwhile
        computed = await self._run(lambda: index.upsert(entries, vectors))
        if gone or missing:
            await self._run(lambda: index.remove([*gone, *missing]))
        await self._store(computed)
        for key in (*gone, *missing):
            self._published.pop(key, None)
        self._published.update(published)

    @staticmethod
    def _entries_of(
        rows: Iterable[tuple[FaqEntry, FaqEntryVersion]],
    ) -> tuple[list[Entry], dict[str, Published]]:
        entries: list[Entry] = []
        published: dict[str, Published] = {}
        for row, version in rows:
            content = EntryContent.from_json(version.content)
            entries.append(to_entry(content, version.version))
            published[row.key] = Published(int(row.id or 0), version.version)
        return entries, published

    async def _store(self, computed: dict[str, npt.NDArray[np.float32]]) -> None:
        """Keep new vectors for the next build; in batches, so a cold build at 100k entries
        never holds all of them twice (as arrays and as bytes)."""
        items = list(computed.items())
        for start in range(0, len(items), STORE_BATCH):
            batch = items[start : start + STORE_BATCH]
            async with self._rt.detached_uow() as uow:
                await uow.faq.add_vectors(
                    self.embedder.name,
                    {key: _to_bytes(vector) for key, vector in batch},
                    now=self._rt.clock(),
                )
                await uow.commit()

    # --- the saved index (warm start) ------------------------------------------------------
    async def _save(self, index: Index | None = None) -> None:
        """Write the index and which versions it holds (in the worker thread: over a second
        at 100k entries); each file is written beside its name and renamed over it."""
        index = index or self._index
        if self._cache_dir is None or index is None:
            return
        state = json.dumps({k: [p.entry_id, p.version] for k, p in self._published.items()})
        await self._run(self._write_saved, index, self._cache_dir, state)

    @staticmethod
    def _write_saved(index: Index, directory: Path, state: str) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Index.save writes beside the path and renames; a loaded index keeps reading the
            # file it opened, which a rename leaves intact.
            index.save(directory / INDEX_FILE)
            (directory / (STATE_FILE + ".tmp")).write_text(state)
            (directory / (STATE_FILE + ".tmp")).replace(directory / STATE_FILE)
        except OSError:
            logger.warning("could not save the FAQ index under %s", directory, exc_info=True)

    async def _load_saved(self, index: Index) -> bool:
        """Load the saved index if it was written for this embedder and glossary."""
        if self._cache_dir is None:
            return False
        path, state = self._cache_dir / INDEX_FILE, self._cache_dir / STATE_FILE
        if not path.is_file() or not state.is_file():
            return False
        try:
            await self._run(index.load, path)
            saved = json.loads(state.read_text())
            self._published = {k: Published(int(v[0]), int(v[1])) for k, v in saved.items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            logger.info("the saved FAQ index does not fit; rebuilding it", exc_info=True)
            self._published = {}
            return False
        self._index = index
        logger.info("loaded the saved FAQ index (%s entries)", len(self._published))
        return True

    # --- questions ---------------------------------------------------------------------------
    async def search(self, text: str, *, k: int = 3) -> SearchResult:
        """Ranked hits for a question (in the worker thread)."""
        await self.refresh()
        index = self._index
        assert index is not None
        return await self._run(lambda: search(index, text, k=k))

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """L2-normalised sentence vectors, one row per text (in the worker thread)."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return await self._run(self.embedder.encode, list(texts))

    def close(self) -> None:
        """Let the worker thread go (searches in flight finish first)."""
        self._executor.shutdown(wait=True)


def _log_progress(done: int, total: int) -> None:
    if done == total or done % 5120 == 0:
        logger.info("embedding FAQ texts: %s / %s", done, total)
