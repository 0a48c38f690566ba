"""Fixtures every suite shares: a database per test on SQLite and PostgreSQL, keys, clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The same PTB behaviour in every test, whatever is imported first (handlers/ opts in too).
os.environ.setdefault("PTB_TIMEDELTA", "1")

import storage.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from bot.clock import FakeClock
from bot.runtime import Runtime
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database
from tests.pg import (
    NO_BINARIES,
    LocalCluster,
    PgServer,
    PostgresUnavailableError,
    find_bindir,
    server_from_env,
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session: GOVBOT_TEST_PG_URL, or a throwaway cluster."""
    from_env = server_from_env()
    if from_env is not None:
        yield from_env
        return
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(NO_BINARIES)
    try:
        cluster = LocalCluster(bindir)
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        try:
            server = cluster.start()
        except PostgresUnavailableError as exc:
            pytest.skip(str(exc))
        yield server
    finally:
        cluster.stop()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a file for SQLite, a fresh ``t_<random>`` database on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    # Asked for lazily, so a run that selects only SQLite never starts PostgreSQL.
    server: PgServer = request.getfixturevalue("pg_server")
    name = await server.create_database()
    try:
        yield server.url_for(name)
    finally:
        await server.drop_database(name)


@pytest.fixture
def key_ring() -> KeyRing:
    """A fresh master key, installed for the encrypted column type."""
    ring = KeyRing(os.urandom(32))
    install_key_ring(ring)
    return ring


@pytest.fixture
async def db(db_url: str, key_ring: KeyRing) -> AsyncIterator[Database]:
    """A migrated database (alembic upgrade to head), disposed afterwards."""
    database = Database(db_url)
    try:
        await database.upgrade()
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand."""
    return FakeClock()


@pytest.fixture
def runtime(db: Database, key_ring: KeyRing, clock: FakeClock) -> Runtime:
    """What services are constructed with."""
    return Runtime(db, key_ring, clock)
