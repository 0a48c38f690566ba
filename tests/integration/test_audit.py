"""The audit chain: appends link up, tampering is found and located, concurrency stays gap-free."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text, update
from sqlmodel import col, select

from bot.audit import AuditService, AuditVerification
from bot.runtime import Runtime
from storage.crypto import KeyRing
from storage.db import Database
from storage.repos.audit import entry_digest_input
from storage.tables.audit import AuditEntry, AuditHead

N = 12


async def _append(runtime: Runtime, n: int, *, obj: str | None = None) -> None:
    async with runtime.detached_uow() as uow:
        for i in range(n):
            await uow.audit.append(
                actor_id=i % 3 + 1,
                action="approval.decide",
                obj=obj or f"task:{i % 2 + 1}",
                details={"i": i, "备注": "同意，请办理", "nested": {"b": 2, "a": [1, "公文"]}},
                now=runtime.clock() + timedelta(seconds=i),
            )
        await uow.commit()


async def _sql(db: Database, sql: str, **params: object) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def _entries(db: Database) -> list[AuditEntry]:
    async with db.sessions() as session:
        return list(await session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))))


def _digest_input(e: AuditEntry, **override: object) -> bytes:
    fields: dict[str, object] = {
        "seq": e.seq,
        "at": e.at,
        "actor_id": e.actor_id,
        "on_behalf_of_id": e.on_behalf_of_id,
        "action": e.action,
        "obj": e.object,
        "details": e.details,
        "prev_mac": e.prev_mac,
    }
    fields.update(override)
    return entry_digest_input(**fields)  # type: ignore[arg-type]


async def test_appended_chain_verifies(runtime: Runtime) -> None:
    await _append(runtime, N)
    assert await AuditService(runtime).verify() == AuditVerification(True, N, None, None)


async def test_empty_chain_verifies(runtime: Runtime) -> None:
    assert await AuditService(runtime).verify() == AuditVerification(True, 0, None, None)


async def test_altered_details_are_a_mac_mismatch_at_that_row(runtime: Runtime) -> None:
    await _append(runtime, N)
    async with runtime.db.engine.begin() as conn:
        # Core SQL on the table, not the repo: what someone with database access could do.
        await conn.execute(
            update(AuditEntry).where(col(AuditEntry.seq) == 7).values(details={"i": 999})
        )
    result = await AuditService(runtime).verify()
    assert result == AuditVerification(False, 6, 7, "mac_mismatch")


async def test_altered_action_is_a_mac_mismatch(runtime: Runtime) -> None:
    await _append(runtime, N)
    await _sql(runtime.db, "UPDATE audit_entry SET action = 'approval.undo' WHERE seq = 3")
    result = await AuditService(runtime).verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 3, "mac_mismatch")


async def test_deleted_middle_row_is_a_gap_at_its_seq(runtime: Runtime) -> None:
    await _append(runtime, N)
    await _sql(runtime.db, "DELETE FROM audit_entry WHERE seq = 5")
    result = await AuditService(runtime).verify()
    assert result == AuditVerification(False, 4, 5, "gap")


async def test_deleted_last_rows_are_a_head_mismatch(runtime: Runtime) -> None:
    await _append(runtime, N)
    await _sql(runtime.db, "DELETE FROM audit_entry WHERE seq = :seq", seq=N)
    result = await AuditService(runtime).verify()
    assert result == AuditVerification(False, N - 1, N, "head_mismatch")
    await _sql(runtime.db, "DELETE FROM audit_entry WHERE seq >= :seq", seq=N - 3)
    result = await AuditService(runtime).verify()
    assert result == AuditVerification(False, N - 4, N - 3, "head_mismatch")


async def test_rewound_head_is_a_head_mismatch(runtime: Runtime) -> None:
    await _append(runtime, N)
    entries = await _entries(runtime.db)
    # Hiding the last rows by pointing the head at an earlier, genuine row.
    await _sql(
        runtime.db, "UPDATE audit_head SET seq = 8, mac = :mac WHERE id = 1", mac=entries[7].mac
    )
    result = await AuditService(runtime).verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 9, "head_mismatch")


async def test_altered_prev_mac_is_a_chain_break(runtime: Runtime) -> None:
    await _append(runtime, N)
    await _sql(runtime.db, "UPDATE audit_entry SET prev_mac = :m WHERE seq = 4", m="0" * 64)
    result = await AuditService(runtime).verify()
    assert result == AuditVerification(False, 3, 4, "chain_break")


async def test_duplicate_seq_is_reported(runtime: Runtime) -> None:
    await _append(runtime, N)
    # The unique index normally forbids this; someone who can drop it can also do this.
    await _sql(runtime.db, "DROP INDEX ix_audit_entry_seq")
    await _sql(
        runtime.db,
        "INSERT INTO audit_entry (id, seq, at, actor_id, on_behalf_of_id, action, object,"
        " details, prev_mac, mac) SELECT 1000, seq, at, actor_id, on_behalf_of_id, action,"
        " object, details, prev_mac, mac FROM audit_entry WHERE seq = 3",
    )
    result = await AuditService(runtime).verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 3, "duplicate_seq")


async def test_forged_chain_without_the_key_still_fails(runtime: Runtime) -> None:
    await _append(runtime, N)
    entries = await _entries(runtime.db)
    # The forger rewrites row 6 and re-chains 6..N with the best they can do without the key.
    prev = entries[4].mac
    async with runtime.db.engine.begin() as conn:
        for e in entries[5:]:
            details = {"i": -1} if e.seq == 6 else e.details
            mac = hashlib.sha256(_digest_input(e, details=details, prev_mac=prev)).hexdigest()
            await conn.execute(
                update(AuditEntry)
                .where(col(AuditEntry.seq) == e.seq)
                .values(details=details, prev_mac=prev, mac=mac)
            )
            prev = mac
        await conn.execute(update(AuditHead).where(col(AuditHead.id) == 1).values(mac=prev))
    result = await AuditService(runtime).verify()
    assert result == AuditVerification(False, 5, 6, "mac_mismatch")


async def test_a_different_key_does_not_verify(runtime: Runtime, db: Database) -> None:
    await _append(runtime, 3)
    stranger = Runtime(db, KeyRing(os.urandom(32)), runtime.clock)
    result = await AuditService(stranger).verify()
    assert (result.first_broken_seq, result.problem) == (1, "mac_mismatch")


async def test_chain_spanning_a_key_rotation_verifies(runtime: Runtime, db: Database) -> None:
    await _append(runtime, 4)
    rotated = Runtime(db, KeyRing(os.urandom(32), previous=(runtime.keys.current,)), runtime.clock)
    await _append(rotated, 4)
    assert await AuditService(rotated).verify() == AuditVerification(True, 8, None, None)


async def test_concurrent_appends_make_one_unbroken_chain(runtime: Runtime, db: Database) -> None:
    async def writer(w: int) -> None:
        for i in range(10):
            async with runtime.detached_uow() as uow:
                await uow.audit.append(
                    actor_id=w,
                    action="test.append",
                    obj=f"w:{w}",
                    details={"i": i},
                    now=runtime.clock(),
                )
                await uow.commit()

    # On PostgreSQL the UPDATE of the head row is what serialises these.
    await asyncio.gather(*(writer(w) for w in range(20)))
    entries = await _entries(db)
    assert [e.seq for e in entries] == list(range(1, 201))
    assert sorted((e.actor_id, e.details["i"]) for e in entries) == [
        (w, i) for w in range(20) for i in range(10)
    ]
    assert await AuditService(runtime).verify() == AuditVerification(True, 200, None, None)


async def test_trail_lists_one_objects_entries_in_order(runtime: Runtime) -> None:
    await _append(runtime, 6)
    trail = await AuditService(runtime).trail("task:2")
    assert [r.seq for r in trail] == [2, 4, 6]
    assert {r.object for r in trail} == {"task:2"}
    assert trail[0].details["备注"] == "同意，请办理"
    assert trail[0].at.tzinfo is not None
    assert trail[0].at.utcoffset() == timedelta(0)
    assert await AuditService(runtime).trail("task:404") == []


def _digest(**override: object) -> bytes:
    fields: dict[str, object] = {
        "seq": 1,
        "at": datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC),
        "actor_id": 7,
        "on_behalf_of_id": None,
        "action": "approval.decide",
        "obj": "task:1",
        "details": {"备注": "同意", "金额": 1200, "list": ["公文", 1.5]},
        "prev_mac": "",
    }
    fields.update(override)
    return entry_digest_input(**fields)  # type: ignore[arg-type]


def test_entry_digest_input_is_stable_and_keeps_chinese() -> None:
    first = _digest()
    assert first == _digest()
    # Key order is not part of the meaning, and the same instant in another zone is the same.
    assert first == _digest(details={"list": ["公文", 1.5], "金额": 1200, "备注": "同意"})
    shanghai = timezone(timedelta(hours=8))
    assert first == _digest(at=datetime(2026, 12, 1, 17, 30, 0, 123456, tzinfo=shanghai))
    assert "同意".encode() in first
    assert b"\\u" not in first
    decoded = json.loads(first)
    assert decoded[1] == "2026-12-01T09:30:00.123456Z"
    assert decoded[6]["备注"] == "同意"
    assert first != _digest(details={"备注": "不同意", "金额": 1200, "list": ["公文", 1.5]})
    assert first != _digest(prev_mac="00")
