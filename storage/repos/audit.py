"""Appending to and reading the audit chain."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.crypto import KeyRing
from storage.tables.audit import AuditEntry, AuditHead


def entry_digest_input(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    on_behalf_of_id: int | None,
    action: str,
    obj: str,
    details: dict[str, Any],
    prev_mac: str,
) -> bytes:
    """The canonical bytes a row's mac covers (stable across databases)."""
    return json.dumps(
        [
            seq,
            at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor_id,
            on_behalf_of_id,
            action,
            obj,
            details,
            prev_mac,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


class AuditRepo:
    """The append-only log: rows are added, never updated or removed by the application."""

    def __init__(self, session: AsyncSession, keys: KeyRing) -> None:
        self.session = session
        self.keys = keys

    async def append(
        self,
        *,
        actor_id: int | None,
        action: str,
        obj: str,
        details: dict[str, Any] | None,
        now: datetime,
        on_behalf_of_id: int | None = None,
    ) -> AuditEntry:
        # Bumping the head row first takes a row lock (PostgreSQL) or the write lock (SQLite),
        # so two writers can never both chain onto the same previous mac.
        bumped = await self.session.exec(
            update(AuditHead)
            .where(col(AuditHead.id) == 1)
            .values(seq=col(AuditHead.seq) + 1)
            .returning(col(AuditHead.seq), col(AuditHead.mac))
        )
        seq, prev_mac = bumped.one()
        details = dict(details or {})
        # Round-trip through JSON so the mac covers what the database will give back.
        details = json.loads(json.dumps(details, ensure_ascii=False, default=str))
        now = now.astimezone(UTC)
        mac = self.keys.mac(
            entry_digest_input(
                seq=seq,
                at=now,
                actor_id=actor_id,
                on_behalf_of_id=on_behalf_of_id,
                action=action,
                obj=obj,
                details=details,
                prev_mac=prev_mac,
            )
        )
        entry = AuditEntry(
            seq=seq,
            at=now,
            actor_id=actor_id,
            on_behalf_of_id=on_behalf_of_id,
            action=action,
            object=obj,
            details=details,
            prev_mac=prev_mac,
            mac=mac,
        )
        self.session.add(entry)
        await self.session.exec(update(AuditHead).where(col(AuditHead.id) == 1).values(mac=mac))
        return entry

    async def head(self) -> AuditHead | None:
        return await self.session.get(AuditHead, 1)

    async def iterate(self, batch: int = 1000) -> AsyncIterator[AuditEntry]:
        """Every entry in chain order, in batches so memory stays flat."""
        last = 0
        while True:
            rows = (
                await self.session.exec(
                    select(AuditEntry)
                    .where(col(AuditEntry.seq) > last)
                    .order_by(col(AuditEntry.seq))
                    .limit(batch)
                )
            ).all()
            if not rows:
                return
            for row in rows:
                yield row
            last = rows[-1].seq

    async def for_object(self, obj: str) -> list[AuditEntry]:
        rows = await self.session.exec(
            select(AuditEntry).where(col(AuditEntry.object) == obj).order_by(col(AuditEntry.seq))
        )
        return list(rows)
