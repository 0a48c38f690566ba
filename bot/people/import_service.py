"""Importing a staff file into the directory: check every row, then upsert by employee number.

What a file changes, per column:

* ``name``, ``department`` (created by name as needed): always set from the file.
* ``roles``: replaced by the file's set (a blank cell means ``staff``). A file without a
  roles column leaves the roles of people already in the directory alone, so importing a
  plain roster cannot strip every administrator of their role.
* ``superior``: set from the file, a blank cell meaning none; a file without the column
  leaves superiors alone.
* ``telegram_id``, ``language``: set when the cell is filled, left alone when blank. An
  import never moves or removes a Telegram binding: an id bound to someone else is the row
  error ``telegram_id_taken``; a person bound to a different id is ``telegram_id_changes``.

People missing from the file are left as they are (disabling is its own action).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, insert, update
from sqlmodel import col, select

from bot.people.domain import RowError, StaffRow, validate_rows
from bot.runtime import Runtime
from storage.repos.audit import entry_digest_input
from storage.tables.audit import AuditEntry, AuditHead
from storage.tables.people import Staff, StaffRole
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # rows per flush, and per progress report
_STAFF: Table = Staff.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped

Progress = Callable[[int, int], None]
# Called inside the import's unit of work just before it commits, so a reply written to the
# outbox (or a flow step) commits together with the import, or not at all.
OnReport = Callable[[UnitOfWork, "ImportReport"], Awaitable[None]]


@dataclass(frozen=True)
class ImportReport:
    """What an import did; the counts are zero when nothing was written."""

    total: int
    created: int
    updated: int
    unchanged: int
    errors: tuple[RowError, ...]
    written: bool


@dataclass(frozen=True)
class _Entry:
    """One stored staff member, as little as the cross-row checks need."""

    staff_id: int
    employee_no: str
    superior_id: int | None
    telegram_id: int | None


# Storage helper: belongs in PeopleRepo as ``directory()``; here until the lead moves it.
async def _directory(uow: UnitOfWork) -> list[_Entry]:
    """Every staff member's id, employee number, superior and binding, in one query."""
    rows = await uow.session.exec(
        select(Staff.id, Staff.employee_no, Staff.superior_id, Staff.telegram_id)
    )
    return [_Entry(int(i), no, sup, tg) for i, no, sup, tg in rows if i is not None]


class StaffImportService:
    """``govbot staff import`` and an admin's upload of a staff file."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def import_staff(
        self,
        rows: list[tuple[int, dict[str, str]]],
        *,
        actor_id: int | None,
        partial: bool,
        progress: Progress | None = None,
        on_report: OnReport | None = None,
    ) -> ImportReport:
        """Check every row; unless some fail and ``partial`` is off, write the valid ones."""
        present = {column for _, cells in rows for column in cells}
        async with self._rt.uow() as uow:
            now = self._rt.clock()
            directory = await _directory(uow)
            no_of = {e.staff_id: e.employee_no for e in directory}
            valid, errors = validate_rows(
                rows,
                known_employee_nos=no_of.values(),
                known_superiors={
                    e.employee_no: no_of[e.superior_id]
                    for e in directory
                    if e.superior_id is not None and e.superior_id in no_of
                },
                known_telegram_ids={
                    e.telegram_id: e.employee_no for e in directory if e.telegram_id is not None
                },
            )
            if errors and not partial:
                report = ImportReport(len(rows), 0, 0, 0, tuple(errors), written=False)
                if on_report is not None:
                    await on_report(uow, report)
                # Nothing changes, but the upload was handled: commit marks its update done.
                await uow.commit()
                return report
            created, updated = await _upsert(
                uow,
                valid,
                ids={e.employee_no: e.staff_id for e in directory},
                replace_roles="roles" in present,
                replace_superiors="superior" in present,
                actor_id=actor_id,
                now=now,
                progress=progress,
            )
            report = ImportReport(
                total=len(rows),
                created=created,
                updated=updated,
                unchanged=len(valid) - created - updated,
                errors=tuple(errors),
                written=True,
            )
            await uow.audit.append(
                actor_id=actor_id,
                action="staff.import",
                obj="staff:*",
                details={
                    "total": report.total,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "errors": len(report.errors),
                    "partial": partial,
                },
                now=now,
            )
            if on_report is not None:
                await on_report(uow, report)
            await uow.commit()
        logger.info(
            "staff import by %s: %s created, %s updated, %s unchanged, %s errors",
            actor_id,
            report.created,
            report.updated,
            report.unchanged,
            len(report.errors),
        )
        return report


async def _upsert(
    uow: UnitOfWork,
    rows: list[StaffRow],
    *,
    ids: Mapping[str, int],
    replace_roles: bool,
    replace_superiors: bool,
    actor_id: int | None,
    now: datetime,
    progress: Progress | None,
) -> tuple[int, int]:
    """Create or update every row; return how many were created and how many updated."""
    people, session = uow.people, uow.session
    departments = await people.departments_by_name()
    for name in sorted({r.department for r in rows} - departments.keys()):
        departments[name] = await people.add_department(name, now=now)
    department_ids = {name: d.id for name, d in departments.items() if d.id is not None}
    existing = await people.by_employee_nos(r.employee_no for r in rows)
    roles_before = await people.roles_by_staff(_id(s) for s in existing.values())
    changed: set[str] = set()
    ids = dict(ids)
    created = 0
    waiting: list[StaffRow] = []  # new rows whose superior had no id yet when inserted

    for start in range(0, len(rows), PROGRESS_EVERY):
        chunk = rows[start : start + PROGRESS_EVERY]
        fresh = [row for row in chunk if row.employee_no not in existing]
        for row in chunk:
            old = existing.get(row.employee_no)
            if old is not None and _apply(old, row, department_ids[row.department]):
                changed.add(row.employee_no)
        waiting.extend(r for r in fresh if r.superior is not None and r.superior not in ids)
        if fresh:
            # A Core insert: the ORM, to hand ids back in order, inserts SQLite rows one by
            # one; matching ids by employee number lets all 500 go in one statement.
            inserted = await session.exec(
                insert(_STAFF).returning(_STAFF.c.id, _STAFF.c.employee_no),
                params=[_new_staff(r, department_ids[r.department], ids, now) for r in fresh],
            )
            ids.update({no: staff_id for staff_id, no in inserted})
            created += len(fresh)

        roles: dict[int, frozenset[str]] = {}
        audit: list[_Audit] = []
        for row in fresh:
            staff_id = ids[row.employee_no]
            roles[staff_id] = row.roles
            details = {"employee_no": row.employee_no, "roles": sorted(row.roles)}
            audit.append(_Audit("staff.created", f"staff:{staff_id}", details))
        replaced: list[int] = []
        for row in chunk if replace_roles else ():
            old = existing.get(row.employee_no)
            before = set() if old is None else roles_before.get(_id(old), set())
            if old is None or before == row.roles:
                continue
            changed.add(row.employee_no)
            replaced.append(_id(old))
            roles[_id(old)] = row.roles
            details = {"before": sorted(before), "after": sorted(row.roles)}
            audit.append(_Audit("staff.roles_changed", f"staff:{_id(old)}", details))
        await _delete_roles(uow, replaced)
        await _insert_roles(uow, roles)
        await _append_audit(uow, audit, actor_id=actor_id, now=now)
        await session.flush()
        if progress is not None:
            progress(start + len(chunk), len(rows))

    # Second pass, now that every row has an id: a superior may be on a later line.
    later = [
        {"id": ids[r.employee_no], "superior_id": ids[r.superior]}
        for r in waiting
        if r.superior is not None
    ]
    for start in range(0, len(later), PROGRESS_EVERY):
        await session.exec(update(Staff), params=later[start : start + PROGRESS_EVERY])
    for row in rows:
        old = existing.get(row.employee_no)
        if old is None or (row.superior is None and not replace_superiors):
            continue
        superior_id = None if row.superior is None else ids[row.superior]
        if old.superior_id != superior_id:
            old.superior_id = superior_id
            changed.add(row.employee_no)
    for no in changed:
        old = existing[no]
        old.updated_at = now
        old.version += 1  # cards drawn from the old record are stale now
    await session.flush()
    return created, len(changed)


def _new_staff(
    row: StaffRow, department_id: int, ids: Mapping[str, int], now: datetime
) -> dict[str, Any]:
    """The column values of a new staff row; the superior if it already has an id."""
    return {
        "employee_no": row.employee_no,
        "name": row.name,
        "department_id": department_id,
        "superior_id": None if row.superior is None else ids.get(row.superior),
        "telegram_id": row.telegram_id,
        "language": row.language,
        "active": True,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


@dataclass(frozen=True)
class _Audit:
    """An audit entry waiting to be appended."""

    action: str
    obj: str
    details: dict[str, Any]


# Storage helpers: they belong in PeopleRepo (replace_roles) and AuditRepo (append_many).
# PeopleRepo.set_roles and AuditRepo.append issue statements per staff member, and each ORM
# UPDATE/DELETE scans the whole identity map: 20,000 new staff took minutes with them.
# Skips that scan: this unit of work never reads its copies of the touched rows again.
_NO_SYNC = {"synchronize_session": False}


async def _delete_roles(uow: UnitOfWork, staff_ids: list[int]) -> None:
    for start in range(0, len(staff_ids), PROGRESS_EVERY):
        await uow.session.exec(
            delete(StaffRole).where(
                col(StaffRole.staff_id).in_(staff_ids[start : start + PROGRESS_EVERY])
            ),
            execution_options=_NO_SYNC,
        )


async def _insert_roles(uow: UnitOfWork, roles: Mapping[int, frozenset[str]]) -> None:
    values = [{"staff_id": i, "role": r} for i, held in roles.items() for r in sorted(held)]
    if values:
        await uow.session.exec(insert(StaffRole), params=values)


async def _append_audit(
    uow: UnitOfWork, entries: list[_Audit], *, actor_id: int | None, now: datetime
) -> None:
    """AuditRepo.append for many entries: the same chain, one head bump for all of them."""
    if not entries:
        return
    bumped = await uow.session.exec(
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
        details = json.loads(json.dumps(entry.details, ensure_ascii=False, default=str))
        digest = entry_digest_input(
            seq=seq,
            at=at,
            actor_id=actor_id,
            on_behalf_of_id=None,
            action=entry.action,
            obj=entry.obj,
            details=details,
            prev_mac=mac,
        )
        values.append(
            {
                "seq": seq,
                "at": at,
                "actor_id": actor_id,
                "on_behalf_of_id": None,
                "action": entry.action,
                "object": entry.obj,
                "details": details,
                "prev_mac": mac,
                "mac": uow.audit.keys.mac(digest),
            }
        )
        mac = values[-1]["mac"]
    await uow.session.exec(insert(AuditEntry), params=values)
    await uow.session.exec(
        update(AuditHead).where(col(AuditHead.id) == 1).values(mac=mac),
        execution_options=_NO_SYNC,
    )


def _apply(staff: Staff, row: StaffRow, department_id: int) -> bool:
    """Copy the row's fields onto a stored record; True if anything differed."""
    wanted: dict[str, object] = {"name": row.name, "department_id": department_id}
    if row.telegram_id is not None:  # validate_rows refused any other binding
        wanted["telegram_id"] = row.telegram_id
    if row.language is not None:
        wanted["language"] = row.language
    differs = {field: value for field, value in wanted.items() if getattr(staff, field) != value}
    for field, value in differs.items():
        setattr(staff, field, value)
    return bool(differs)


def _id(staff: Staff) -> int:
    if staff.id is None:
        raise RuntimeError("staff row used before it was flushed")
    return staff.id
