"""Queries over the knowledge base tables (#6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables.faq import FaqEntry, FaqEntryVersion


class FaqRepo:
    """Entries and their published versions (the embedding cache, glossary and question log
    get their queries with the features that use them)."""

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
