"""Repositories: the only place SQL is written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT (both support ON CONFLICT DO NOTHING, which core insert lacks)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def insert_many_ignoring(
    session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING of many rows (10,000 people's), as one executemany
    of one compiled statement: a multi-row VALUES list is compiled anew for every size and
    took seconds for 10,000 rows, and breaks the databases' bind-parameter limits beyond
    (SQLite 32,766, PostgreSQL 65,535). Every row must have the same keys. Returns how many
    were inserted where the driver says so, else how many were given."""
    if not rows:
        return 0
    connection = await session.connection()
    result = await connection.execute(
        insert_for(session)(table).on_conflict_do_nothing(), list(rows)
    )
    count = result.rowcount
    return int(count) if count is not None and count >= 0 else len(rows)
