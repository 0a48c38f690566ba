"""Appending to and reading the audit chain."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm.attributes import set_committed_value
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


_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class AuditItem:
    """An entry waiting to be appended: what was done to which object, and the facts."""

    action: str
    obj: str
    details: Mapping[str, Any] = field(default_factory=dict)


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
        details: Mapping[str, Any] | None,
        now: datetime,
        on_behalf_of_id: int | None = None,
    ) -> None:
        """Append one entry to the chain (``append_many`` with one item)."""
        await self.append_many(
            [AuditItem(action, obj, details or {})],
            actor_id=actor_id,
            now=now,
            on_behalf_of_id=on_behalf_of_id,
        )

    async def append_many(
        self,
        entries: Sequence[AuditItem],
        *,
        actor_id: int | None,
        now: datetime,
        on_behalf_of_id: int | None = None,
    ) -> None:
        """Append entries to the chain in order: one head bump and one INSERT for all of them.

        The rows are written at once with a Core insert and are not loaded into the session.
        """
        if not entries:
            return
        # Bumping the head row first takes a row lock (PostgreSQL) or the write lock (SQLite),
        # so two writers can never both chain onto the same previous mac. The head updates
        # skip the ORM's scan of the identity map (slow with thousands of rows loaded); a head
        # this session holds is brought up to date by hand below instead.
        bumped = await self.session.exec(
            update(AuditHead)
            .where(col(AuditHead.id) == 1)
            .values(seq=col(AuditHead.seq) + len(entries))
            .returning(col(AuditHead.seq), col(AuditHead.mac)),
            execution_options=_NO_SYNC,
        )
        last_seq, mac = bumped.one()
        at = now.astimezone(UTC)
        values: list[dict[str, Any]] = []
        for seq, entry in enumerate(entries, start=last_seq - len(entries) + 1):
            # Round-trip through JSON so the mac covers what the database will give back.
            details = json.loads(json.dumps(dict(entry.details), ensure_ascii=False, default=str))
            digest = entry_digest_input(
                seq=seq,
                at=at,
                actor_id=actor_id,
                on_behalf_of_id=on_behalf_of_id,
                action=entry.action,
                obj=entry.obj,
                details=details,
                prev_mac=mac,
            )
            entry_mac = self.keys.mac(digest)
            values.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor_id": actor_id,
                    "on_behalf_of_id": on_behalf_of_id,
                    "action": entry.action,
                    "object": entry.obj,
                    "details": details,
                    "prev_mac": mac,
                    "mac": entry_mac,
                }
            )
            mac = entry_mac
        await self.session.exec(insert(AuditEntry), params=values)
        await self.session.exec(
            update(AuditHead).where(col(AuditHead.id) == 1).values(mac=mac),
            execution_options=_NO_SYNC,
        )
        cached = self.session.identity_map.get(self.session.identity_key(AuditHead, 1))
        if isinstance(cached, AuditHead):
            set_committed_value(cached, "seq", last_seq)
            set_committed_value(cached, "mac", mac)

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
