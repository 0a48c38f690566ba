"""发文字号 counters: numbers taken inside the caller's transaction, so none is lost."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for
from storage.tables.approvals import DocNumberCounter


class DocNumberRepo:
    """Gap-free, duplicate-free sequence numbers per (prefix, year)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def allocate(self, prefix: str, year: int, *, now: datetime) -> int:
        """Take the next number in the current transaction (a rollback gives it back).

        The UPDATE locks the counter row (PostgreSQL) or holds the write lock (SQLite) until
        the caller commits or rolls back, so concurrent allocators queue one behind another.
        """
        await self.session.exec(
            insert_for(self.session)(DocNumberCounter)
            .values(prefix=prefix, year=year, last=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["prefix", "year"])
        )
        taken = await self.session.exec(
            update(DocNumberCounter)
            .where(col(DocNumberCounter.prefix) == prefix, col(DocNumberCounter.year) == year)
            .values(last=col(DocNumberCounter.last) + 1, updated_at=now)
            .returning(col(DocNumberCounter.last))
        )
        return int(taken.scalar_one())

    async def current(self, prefix: str, year: int) -> int:
        """The last number taken (0: none yet)."""
        found = await self.session.exec(
            select(col(DocNumberCounter.last)).where(
                col(DocNumberCounter.prefix) == prefix, col(DocNumberCounter.year) == year
            )
        )
        return found.first() or 0
