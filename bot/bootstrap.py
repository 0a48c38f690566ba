"""Opening what a process needs from its settings: keys, the database, its schema.

The Telegram edge (the composition root, the CLI, the demo) calls these instead of reaching
into storage/ itself.
"""

from __future__ import annotations

from bot.config import Settings, ensure_secret_key
from storage.crypto import KeyRing, install_key_ring
from storage.db import Database, head_revision

__all__ = [
    "Database",
    "KeyRing",
    "SchemaOutdatedError",
    "check_schema",
    "head_revision",
    "open_database",
    "open_keys",
    "upgrade_schema",
]


class SchemaOutdatedError(Exception):
    """The database schema is not the one this code needs."""


def open_keys(settings: Settings) -> KeyRing:
    """The master key (created on first run) as the process-wide key ring."""
    keys = KeyRing(ensure_secret_key(settings))
    install_key_ring(keys)
    return keys


def open_database(settings: Settings) -> Database:
    """The configured database (a SQLite file in the data directory by default)."""
    return Database(settings.effective_database_url)


async def check_schema(db: Database) -> None:
    """Refuse a database that is not at the shipped head revision."""
    current, head = await db.current_revision(), head_revision()
    if current != head:
        raise SchemaOutdatedError(
            f"the database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `govbot db upgrade`"
        )


async def upgrade_schema(settings: Settings) -> str | None:
    """`govbot db upgrade`: create or upgrade the schema; returns the revision reached."""
    open_keys(settings)
    db = open_database(settings)
    try:
        await db.upgrade()
        return await db.current_revision()
    finally:
        await db.dispose()
