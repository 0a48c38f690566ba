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

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.people.domain import RowError, StaffRow, validate_rows
from bot.runtime import Runtime
from storage.repos.audit import AuditItem
from storage.tables.people import Staff
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # rows per flush, and per progress report

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
            directory = await uow.people.directory()
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
    people = uow.people
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
            # One statement for the chunk; ids come back matched by employee number.
            inserted = await people.insert_staff_many(
                [_new_staff(r, department_ids[r.department], ids, now) for r in fresh]
            )
            ids.update({no: staff_id for staff_id, no in inserted})
            created += len(fresh)

        roles: dict[int, frozenset[str]] = {}
        audit: list[AuditItem] = []
        for row in fresh:
            staff_id = ids[row.employee_no]
            roles[staff_id] = row.roles
            details = {"employee_no": row.employee_no, "roles": sorted(row.roles)}
            audit.append(AuditItem("staff.created", f"staff:{staff_id}", details))
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
            audit.append(AuditItem("staff.roles_changed", f"staff:{_id(old)}", details))
        # One bulk statement each for the whole chunk, not one per staff member.
        await people.replace_roles(roles, had_roles=replaced)
        await uow.audit.append_many(audit, actor_id=actor_id, now=now)
        await people.flush()
        if progress is not None:
            progress(start + len(chunk), len(rows))

    # Second pass, now that every row has an id: a superior may be on a later line.
    await people.set_superiors(
        (ids[r.employee_no], ids[r.superior]) for r in waiting if r.superior is not None
    )
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
    await people.flush()
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
