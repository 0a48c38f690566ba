"""Checking the HMAC-chained audit log, and reading one object's trail from it."""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from bot.runtime import Runtime
from storage.crypto import KeyRing
from storage.repos.audit import entry_digest_input
from storage.tables.audit import AuditEntry

# Stable problem codes (operators and alerts match on them, so they never change).
MAC_MISMATCH: Final = "mac_mismatch"
CHAIN_BREAK: Final = "chain_break"
GAP: Final = "gap"
HEAD_MISMATCH: Final = "head_mismatch"
DUPLICATE_SEQ: Final = "duplicate_seq"


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking the chain: where it first breaks, and how."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry as a value: who did what to which object, when."""

    seq: int
    at: datetime
    actor_id: int | None
    on_behalf_of_id: int | None
    action: str
    object: str
    details: Mapping[str, Any]


def _record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=entry.seq,
        at=entry.at,
        actor_id=entry.actor_id,
        on_behalf_of_id=entry.on_behalf_of_id,
        action=entry.action,
        object=entry.object,
        details=MappingProxyType(dict(entry.details)),
    )


class AuditService:
    """Use cases on the audit log that only read it."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        keys = runtime.keys
        # A rotated master key stays in the ring for reading, and rows written before the
        # rotation carry a mac under the old key: each row may match any key the ring holds.
        self._rings = (keys, *(KeyRing(old) for old in keys.previous))

    def _mac_ok(self, entry: AuditEntry) -> bool:
        data = entry_digest_input(
            seq=entry.seq,
            at=entry.at,
            actor_id=entry.actor_id,
            on_behalf_of_id=entry.on_behalf_of_id,
            action=entry.action,
            obj=entry.object,
            details=entry.details,
            prev_mac=entry.prev_mac,
        )
        return any(hmac.compare_digest(ring.mac(data), entry.mac) for ring in self._rings)

    async def verify(self) -> AuditVerification:
        """Walk the whole chain in seq order, streaming, and report the first broken link."""
        checked = 0
        last_seq = 0
        last_mac = ""  # the migration seeds the head with an empty mac, so seq 1 chains onto ""
        async with self._rt.detached_uow() as uow:
            # The head is read first: on PostgreSQL every entry up to it committed with it, and
            # entries past it were appended while we read (they are left for the next check).
            head = await uow.audit.head()
            if head is None:
                return AuditVerification(False, 0, 1, HEAD_MISMATCH)
            beyond: int | None = None
            entries = uow.audit.iterate()
            try:
                async for entry in entries:
                    if entry.seq > head.seq:
                        beyond = entry.seq
                        break
                    broken = self._problem(entry, last_seq, last_mac)
                    if broken is not None:
                        return AuditVerification(False, checked, broken[0], broken[1])
                    checked += 1
                    last_seq, last_mac = entry.seq, entry.mac
            finally:
                # Leaving the loop early must not leave the repo's generator half-run.
                if isinstance(entries, AsyncGenerator):
                    await entries.aclose()
            if last_seq != head.seq or not hmac.compare_digest(last_mac, head.mac):
                # Trailing rows removed (the head still counts them) or the head rewritten.
                first = last_seq + 1 if last_seq < head.seq else max(head.seq, 1)
                return AuditVerification(False, checked, first, HEAD_MISMATCH)
            if beyond is not None:
                # A concurrent append moves the head past that row; a rewound head does not.
                uow.session.expire(head)  # else get() answers from the identity map
                now_head = await uow.audit.head()
                if now_head is None or now_head.seq < beyond:
                    return AuditVerification(False, checked, beyond, HEAD_MISMATCH)
        return AuditVerification(True, checked)

    def _problem(self, entry: AuditEntry, last_seq: int, last_mac: str) -> tuple[int, str] | None:
        if entry.seq == last_seq:
            return entry.seq, DUPLICATE_SEQ
        if entry.seq != last_seq + 1:
            return last_seq + 1, GAP  # the first seq that is missing
        if not hmac.compare_digest(entry.prev_mac, last_mac):
            return entry.seq, CHAIN_BREAK
        if not self._mac_ok(entry):
            return entry.seq, MAC_MISMATCH
        return None

    async def trail(self, obj: str) -> list[AuditRecord]:
        """Every entry about one object (``task:12``), oldest first."""
        async with self._rt.detached_uow() as uow:
            return [_record(e) for e in await uow.audit.for_object(obj)]
