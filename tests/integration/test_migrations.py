"""The shipped alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.crypto import KeyRing
from storage.db import Database, head_revision


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[Any]:
    # The same options env.py uses, so this sees what `alembic revision --autogenerate` would.
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "render_as_batch": conn.dialect.name == "sqlite",
            "target_metadata": SQLModel.metadata,
        },
    )
    return list(compare_metadata(context, SQLModel.metadata))


async def test_upgrade_from_empty_creates_every_table(db_url: str, key_ring: KeyRing) -> None:
    db = Database(db_url)
    try:
        assert await db.current_revision() is None
        await db.upgrade()
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(_table_names)
        assert set(SQLModel.metadata.tables) <= tables
        assert tables - set(SQLModel.metadata.tables) == {"alembic_version"}
        assert await db.current_revision() == head_revision()
        assert head_revision() is not None
    finally:
        await db.dispose()


async def test_upgrade_twice_is_a_no_op(db_url: str, key_ring: KeyRing) -> None:
    db = Database(db_url)
    try:
        await db.upgrade()
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE audit_head SET seq = 7, mac = 'abc' WHERE id = 1"))
        await db.upgrade()
        assert await db.current_revision() == head_revision()
        async with db.engine.connect() as conn:
            # The seeded head row is neither duplicated nor reset by a second run.
            rows = (await conn.execute(text("SELECT id, seq, mac FROM audit_head"))).all()
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [tuple(r) for r in rows] == [(1, 7, "abc")]
        assert [v[0] for v in versions] == [head_revision()]
    finally:
        await db.dispose()


async def test_models_and_migrated_schema_do_not_differ(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
