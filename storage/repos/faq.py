"""Queries over the knowledge base tables (#6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for
from storage.tables.faq import FaqEntry, FaqEntryVersion, FaqGlossaryTerm, FaqQuestion, FaqVector

_IN_CHUNK = 500  # bound parameters per IN (...) list


class FaqRepo:
    """Entries and their published versions, the embedding cache, the glossary, and the log of
    questions staff asked."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # entries ---------------------------------------------------------------------------
    async def add_entry(self, entry: FaqEntry) -> FaqEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def entry_by_key(self, key: str) -> FaqEntry | None:
        rows = await self.session.exec(select(FaqEntry).where(col(FaqEntry.key) == key))
        return rows.first()

    async def entry(self, entry_id: int) -> FaqEntry | None:
        return await self.session.get(FaqEntry, entry_id)

    async def save_entry(
        self, entry_id: int, *, seen_revision: int, now: datetime, **values: Any
    ) -> bool:
        """Compare-and-swap update of an entry: False if someone changed it meanwhile."""
        result = await self.session.exec(
            update(FaqEntry)
            .where(col(FaqEntry.id) == entry_id, col(FaqEntry.revision) == seen_revision)
            .values(revision=seen_revision + 1, updated_at=now, **values)
        )
        return bool(result.rowcount)

    async def add_version(self, version: FaqEntryVersion) -> FaqEntryVersion:
        self.session.add(version)
        await self.session.flush()
        return version

    async def version(self, entry_id: int, version: int) -> FaqEntryVersion | None:
        return await self.session.get(FaqEntryVersion, (entry_id, version))

    async def versions(self, entry_id: int) -> Sequence[FaqEntryVersion]:
        rows = await self.session.exec(
            select(FaqEntryVersion)
            .where(col(FaqEntryVersion.entry_id) == entry_id)
            .order_by(col(FaqEntryVersion.version))
        )
        return rows.all()

    async def latest_version_number(self, entry_id: int) -> int:
        rows = await self.session.exec(
            select(func.max(FaqEntryVersion.version)).where(
                col(FaqEntryVersion.entry_id) == entry_id
            )
        )
        return int(rows.first() or 0)

    async def with_published(
        self, *, statuses: Iterable[str]
    ) -> list[tuple[FaqEntry, FaqEntryVersion | None]]:
        """Entries of these statuses with the version staff see (None before the first
        publish), in key order: one query, however large the knowledge base."""
        rows = await self.session.exec(
            select(FaqEntry, FaqEntryVersion)
            .join(
                FaqEntryVersion,
                (col(FaqEntryVersion.entry_id) == col(FaqEntry.id))
                & (col(FaqEntryVersion.version) == col(FaqEntry.published_version)),
                isouter=True,
            )
            .where(col(FaqEntry.status).in_(list(statuses)))
            .order_by(col(FaqEntry.key))
        )
        return [(entry, version) for entry, version in rows.all()]

    async def published(self) -> list[tuple[FaqEntry, FaqEntryVersion]]:
        """Every published entry with the version staff see, in key order."""
        rows = await self.with_published(statuses=("published",))
        return [(entry, version) for entry, version in rows if version is not None]

    # what the search index follows ---------------------------------------------------------
    async def stamp(self) -> tuple[int, datetime | None, int, datetime | None]:
        """Changes to entries or the glossary change this: the newest id and the newest edit
        of each (entries are never deleted; the glossary is replaced with new rows). Two
        index lookups, whatever the size: the live index reads it before every question."""
        entries = (
            await self.session.exec(select(func.max(FaqEntry.id), func.max(FaqEntry.updated_at)))
        ).one()
        terms = (
            await self.session.exec(
                select(func.max(FaqGlossaryTerm.id), func.max(FaqGlossaryTerm.updated_at))
            )
        ).one()
        return int(entries[0] or 0), entries[1], int(terms[0] or 0), terms[1]

    async def published_versions(self) -> dict[str, tuple[int, int]]:
        """key → (entry id, published version) of every published entry: no content loaded."""
        rows = await self.session.exec(
            select(FaqEntry.key, FaqEntry.id, FaqEntry.published_version).where(
                col(FaqEntry.status) == "published",
                col(FaqEntry.published_version).is_not(None),
            )
        )
        return {key: (int(eid or 0), int(ver or 0)) for key, eid, ver in rows.all()}

    async def published_of(self, keys: Sequence[str]) -> list[tuple[FaqEntry, FaqEntryVersion]]:
        """The published entries among ``keys``, with the version staff see."""
        found: list[tuple[FaqEntry, FaqEntryVersion]] = []
        for start in range(0, len(keys), _IN_CHUNK):
            rows = await self.session.exec(
                select(FaqEntry, FaqEntryVersion)
                .join(
                    FaqEntryVersion,
                    (col(FaqEntryVersion.entry_id) == col(FaqEntry.id))
                    & (col(FaqEntryVersion.version) == col(FaqEntry.published_version)),
                )
                .where(
                    col(FaqEntry.status) == "published",
                    col(FaqEntry.key).in_(list(keys[start : start + _IN_CHUNK])),
                )
            )
            found.extend((entry, version) for entry, version in rows.all())
        return found

    # the embedding cache ---------------------------------------------------------------------
    async def vectors(self, model: str, hashes: Iterable[str] | None = None) -> dict[str, bytes]:
        """Stored vectors of one model (all of them, or those with these text hashes)."""
        base = select(FaqVector.text_hash, FaqVector.vector).where(col(FaqVector.model) == model)
        if hashes is None:
            return {h: bytes(v) for h, v in (await self.session.exec(base)).all()}
        wanted = list(hashes)
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            rows = await self.session.exec(base.where(col(FaqVector.text_hash).in_(chunk)))
            found.update((h, bytes(v)) for h, v in rows.all())
        return found

    async def add_vectors(self, model: str, vectors: dict[str, bytes], *, now: datetime) -> None:
        """Store new vectors (one already stored by another process is left as it is)."""
        items = list(vectors.items())
        for start in range(0, len(items), _IN_CHUNK):
            values = [
                {"model": model, "text_hash": h, "vector": v, "created_at": now}
                for h, v in items[start : start + _IN_CHUNK]
            ]
            await self.session.exec(
                insert_for(self.session)(FaqVector).values(values).on_conflict_do_nothing()
            )

    # the question log ------------------------------------------------------------------------
    async def add_question(self, question: FaqQuestion) -> FaqQuestion:
        self.session.add(question)
        await self.session.flush()
        return question

    async def question(self, question_id: int) -> FaqQuestion | None:
        return await self.session.get(FaqQuestion, question_id)

    # the trainers' glossary --------------------------------------------------------------------
    async def glossary_groups(self) -> list[list[str]]:
        """The trainers' synonym groups (canonical term first), in the order they were given."""
        rows = await self.session.exec(select(FaqGlossaryTerm).order_by(col(FaqGlossaryTerm.id)))
        return [list(row.terms) for row in rows.all()]

    async def replace_glossary(
        self, groups: Sequence[Sequence[str]], *, by: int | None, now: datetime
    ) -> None:
        """The trainers' glossary becomes exactly ``groups`` (a file replaces the whole list)."""
        await self.session.exec(delete(FaqGlossaryTerm))
        for start in range(0, len(groups), _IN_CHUNK):
            values = [
                {"terms": list(terms), "updated_at": now, "updated_by": by}
                for terms in groups[start : start + _IN_CHUNK]
            ]
            await self.session.exec(insert_for(self.session)(FaqGlossaryTerm).values(values))
