"""Queries over the knowledge base tables (#6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables.faq import FaqEntry, FaqEntryVersion, FaqGlossaryTerm, FaqQuestion, FaqVector

_BATCH = 500


class FaqRepo:
    """Entries and their versions, the embedding cache, the glossary, the question log."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # entries ---------------------------------------------------------------------------
    async def add_entry(self, entry: FaqEntry) -> FaqEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def entry(self, entry_id: int) -> FaqEntry | None:
        return await self.session.get(FaqEntry, entry_id)

    async def entry_by_key(self, key: str) -> FaqEntry | None:
        rows = await self.session.exec(select(FaqEntry).where(col(FaqEntry.key) == key))
        return rows.first()

    async def entries(self, *, statuses: Iterable[str] | None = None) -> Sequence[FaqEntry]:
        """Entries in key order (optionally only these statuses)."""
        query = select(FaqEntry).order_by(col(FaqEntry.key))
        if statuses is not None:
            query = query.where(col(FaqEntry.status).in_(list(statuses)))
        return (await self.session.exec(query)).all()

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

    async def published(self) -> list[tuple[FaqEntry, FaqEntryVersion]]:
        """Every published entry with the version staff see, in key order."""
        rows = await self.session.exec(
            select(FaqEntry, FaqEntryVersion)
            .join(
                FaqEntryVersion,
                (col(FaqEntryVersion.entry_id) == col(FaqEntry.id))
                & (col(FaqEntryVersion.version) == col(FaqEntry.published_version)),
            )
            .where(col(FaqEntry.status) == "published")
            .order_by(col(FaqEntry.key))
        )
        return [(entry, version) for entry, version in rows.all()]

    # embeddings ------------------------------------------------------------------------
    async def vectors(self, model: str, hashes: Iterable[str]) -> dict[str, bytes]:
        wanted = list(set(hashes))
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), _BATCH):
            rows = await self.session.exec(
                select(FaqVector.text_hash, FaqVector.vector).where(
                    col(FaqVector.model) == model,
                    col(FaqVector.text_hash).in_(wanted[start : start + _BATCH]),
                )
            )
            found.update({h: v for h, v in rows.all()})
        return found

    async def add_vectors(self, model: str, vectors: dict[str, bytes], now: datetime) -> None:
        for text_hash, data in vectors.items():
            self.session.add(
                FaqVector(model=model, text_hash=text_hash, vector=data, created_at=now)
            )
        await self.session.flush()

    # glossary --------------------------------------------------------------------------
    async def glossary(self) -> Sequence[FaqGlossaryTerm]:
        rows = await self.session.exec(select(FaqGlossaryTerm).order_by(col(FaqGlossaryTerm.id)))
        return rows.all()

    async def replace_glossary(
        self, groups: Sequence[Sequence[str]], *, now: datetime, by: int | None
    ) -> None:
        await self.session.exec(delete(FaqGlossaryTerm))
        for terms in groups:
            self.session.add(FaqGlossaryTerm(terms=list(terms), updated_at=now, updated_by=by))
        await self.session.flush()

    # what staff asked ------------------------------------------------------------------
    async def log_question(self, question: FaqQuestion) -> FaqQuestion:
        self.session.add(question)
        await self.session.flush()
        return question

    async def question(self, question_id: int) -> FaqQuestion | None:
        return await self.session.get(FaqQuestion, question_id)

    async def set_question(self, question_id: int, **values: Any) -> None:
        await self.session.exec(
            update(FaqQuestion).where(col(FaqQuestion.id) == question_id).values(**values)
        )

    async def untriaged(self, *, since: datetime) -> Sequence[FaqQuestion]:
        """Questions not answered (or answered and then 👎) that no trainer has handled."""
        rows = await self.session.exec(
            select(FaqQuestion)
            .where(
                col(FaqQuestion.asked_at) >= since,
                col(FaqQuestion.triage) == "new",
                (col(FaqQuestion.band) != "answer") | (col(FaqQuestion.feedback) == "down"),
            )
            .order_by(col(FaqQuestion.asked_at))
        )
        return rows.all()
