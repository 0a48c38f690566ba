"""The engine and session factory, SQLite pragmas, and the schema-version check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (pysqlite's legacy
    # behaviour starts them late and runs SELECTs outside any transaction).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at the start: a transaction that read a row can never
    # fail to upgrade to writing it (SQLITE_BUSY_SNAPSHOT) because another process wrote first.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_timeout: float = 30.0) -> AsyncEngine:
    """An async engine; for SQLite one connection (one writer, the WAL bug mitigation)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=pool_timeout)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=pool_timeout
    )


class Database:
    """One engine and the sessions made from it."""

    def __init__(self, url: str, *, pool_timeout: float = 30.0) -> None:
        self.url = url
        self.engine = make_engine(url, pool_timeout=pool_timeout)
        self.sessions: Callable[[], AsyncSession] = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def current_revision(self) -> str | None:
        """The schema revision the database is at (None: empty database)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def upgrade(self, revision: str = "head") -> None:
        """Create or upgrade the schema with alembic."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_upgrade, revision)


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic config pointing at the shipped migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _run_upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def run_sync(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    return asyncio.run(coro)
