"""Queries on departments, staff, roles, invites, consents and sign-in attempts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_many_ignoring
from storage.tables.people import (
    Consent,
    Department,
    Invite,
    SignInAttempt,
    Staff,
    StaffGroup,
    StaffGroupMember,
    StaffRole,
)

_BATCH = 500  # ids per IN (...) or rows per statement: stay under bind-parameter limits
_STAFF: Table = Staff.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped
# Bulk UPDATE/DELETE without the ORM's scan of the whole identity map for matching objects,
# which with 20,000 freshly imported staff in the session took minutes. Only for statements
# whose callers never read their session's copies of the touched rows again.
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class DirectoryEntry:
    """One stored staff member, as little as cross-row checks need."""

    staff_id: int
    employee_no: str
    superior_id: int | None
    telegram_id: int | None


class PeopleRepo:
    """Staff directory persistence."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # departments
    async def departments_by_name(self) -> dict[str, Department]:
        rows = await self.session.exec(select(Department))
        return {d.name: d for d in rows}

    async def add_department(self, name: str, *, now: datetime) -> Department:
        dept = Department(name=name, created_at=now)
        self.session.add(dept)
        await self.session.flush()
        return dept

    async def department(self, dept_id: int) -> Department | None:
        return await self.session.get(Department, dept_id)

    # staff
    async def by_employee_no(self, employee_no: str) -> Staff | None:
        rows = await self.session.exec(select(Staff).where(col(Staff.employee_no) == employee_no))
        return rows.first()

    async def by_employee_nos(self, employee_nos: Iterable[str]) -> dict[str, Staff]:
        nos = list(set(employee_nos))
        found: dict[str, Staff] = {}
        for start in range(0, len(nos), _BATCH):
            rows = await self.session.exec(
                select(Staff).where(col(Staff.employee_no).in_(nos[start : start + _BATCH]))
            )
            found.update({s.employee_no: s for s in rows})
        return found

    async def by_telegram_id(self, tg_id: int) -> Staff | None:
        rows = await self.session.exec(select(Staff).where(col(Staff.telegram_id) == tg_id))
        return rows.first()

    async def directory(self) -> list[DirectoryEntry]:
        """Every staff member's id, employee number, superior and binding, in one query."""
        rows = await self.session.exec(
            select(Staff.id, Staff.employee_no, Staff.superior_id, Staff.telegram_id)
        )
        return [DirectoryEntry(int(i), no, sup, tg) for i, no, sup, tg in rows if i is not None]

    async def get(self, staff_id: int) -> Staff | None:
        return await self.session.get(Staff, staff_id)

    async def active_by_name(self, name: str) -> Sequence[Staff]:
        """Active staff with exactly this name (names are not unique: callers check)."""
        rows = await self.session.exec(
            select(Staff).where(col(Staff.name) == name, col(Staff.active).is_(True)).limit(5)
        )
        return rows.all()

    async def many(self, staff_ids: Iterable[int]) -> dict[int, Staff]:
        """Staff rows by id (missing ids are left out)."""
        ids = list(set(staff_ids))
        if not ids:
            return {}
        rows = await self.session.exec(select(Staff).where(col(Staff.id).in_(ids)))
        return {row.id: row for row in rows if row.id is not None}

    async def department_names(self) -> dict[int, str]:
        rows = await self.session.exec(select(Department.id, Department.name))
        return {int(i): str(n) for i, n in rows if i is not None}

    async def add(self, staff: Staff) -> Staff:
        self.session.add(staff)
        await self.session.flush()
        return staff

    async def insert_staff_many(
        self, values: Sequence[Mapping[str, Any]]
    ) -> list[tuple[int, str]]:
        """Insert staff rows (column values) in one statement; return (id, employee_no) pairs.

        A Core insert: the ORM, to hand ids back in order, inserts SQLite rows one by one;
        matching ids by employee number lets a whole batch go in one statement. The rows are
        not loaded into the session.
        """
        if not values:
            return []
        inserted = await self.session.exec(
            insert(_STAFF).returning(_STAFF.c.id, _STAFF.c.employee_no), params=list(values)
        )
        return [(int(staff_id), no) for staff_id, no in inserted]

    async def set_superiors(self, pairs: Iterable[tuple[int, int | None]]) -> None:
        """Set ``superior_id`` for each (staff id, superior id) pair, in bulk by primary key.

        Only the column: neither ``updated_at`` nor ``version`` moves.
        """
        params = [{"id": staff_id, "superior_id": sup} for staff_id, sup in pairs]
        for start in range(0, len(params), _BATCH):
            await self.session.exec(update(Staff), params=params[start : start + _BATCH])

    async def flush(self) -> None:
        """Write pending changes to loaded staff rows (and anything else pending) now."""
        await self.session.flush()

    async def languages_of(self, staff_ids: Iterable[int]) -> dict[int, str]:
        """Each staff member's language: the chosen one, else their Telegram app's."""
        ids = list(set(staff_ids))
        found: dict[int, str] = {}
        for start in range(0, len(ids), _BATCH):
            rows = await self.session.exec(
                select(Staff.id, Staff.language, Staff.client_language).where(
                    col(Staff.id).in_(ids[start : start + _BATCH]),
                    or_(col(Staff.language).is_not(None), col(Staff.client_language).is_not(None)),
                )
            )
            for staff_id, chosen, app in rows:
                language = chosen or app
                if staff_id and language:
                    found[staff_id] = language
        return found

    async def note_client_languages(self, languages: Mapping[int, str]) -> None:
        """Record the app language seen for these Telegram ids; rows already saying so stay
        untouched (no write, no lock)."""
        for tg_id, locale in languages.items():
            await self.session.exec(
                update(Staff)
                .where(
                    col(Staff.telegram_id) == tg_id,
                    or_(
                        col(Staff.client_language).is_(None),
                        col(Staff.client_language) != locale,
                    ),
                )
                .values(client_language=locale)
            )

    async def telegram_ids_taken(self, tg_ids: Iterable[int]) -> dict[int, str]:
        ids = list(set(tg_ids))
        if not ids:
            return {}
        rows = await self.session.exec(
            select(Staff.telegram_id, Staff.employee_no).where(col(Staff.telegram_id).in_(ids))
        )
        return {int(tg): no for tg, no in rows if tg is not None}

    async def count(self) -> int:
        result = await self.session.exec(select(func.count()).select_from(Staff))
        return int(result.one())

    async def list_staff(self, *, active_only: bool = True) -> Sequence[Staff]:
        query = select(Staff).order_by(col(Staff.employee_no))
        if active_only:
            query = query.where(col(Staff.active).is_(True))
        return (await self.session.exec(query)).all()

    async def bind_telegram(
        self, staff_id: int, *, tg_id: int, seen_version: int, language: str | None, now: datetime
    ) -> bool:
        """Bind only if the row is unchanged and still unbound (compare-and-swap)."""
        result = await self.session.exec(
            update(Staff)
            .where(
                col(Staff.id) == staff_id,
                col(Staff.version) == seen_version,
                col(Staff.telegram_id).is_(None),
                col(Staff.active).is_(True),
            )
            .values(
                telegram_id=tg_id,
                language=language,
                registered_at=now,
                updated_at=now,
                version=seen_version + 1,
            )
        )
        return result.rowcount == 1

    async def set_language(self, staff_id: int, language: str, *, now: datetime) -> None:
        await self.session.exec(
            update(Staff)
            .where(col(Staff.id) == staff_id)
            .values(language=language, updated_at=now, version=col(Staff.version) + 1)
        )

    async def disable(self, staff_id: int, *, now: datetime) -> bool:
        result = await self.session.exec(
            update(Staff)
            .where(col(Staff.id) == staff_id, col(Staff.active).is_(True))
            .values(active=False, disabled_at=now, updated_at=now, version=col(Staff.version) + 1)
        )
        return result.rowcount == 1

    async def enable(self, staff_id: int, *, now: datetime) -> bool:
        result = await self.session.exec(
            update(Staff)
            .where(col(Staff.id) == staff_id, col(Staff.active).is_(False))
            .values(active=True, disabled_at=None, updated_at=now, version=col(Staff.version) + 1)
        )
        return result.rowcount == 1

    # roles
    async def roles_of(self, staff_id: int) -> set[str]:
        rows = await self.session.exec(
            select(StaffRole.role).where(col(StaffRole.staff_id) == staff_id)
        )
        return set(rows)

    async def roles_by_staff(self, staff_ids: Iterable[int]) -> dict[int, set[str]]:
        ids = list(set(staff_ids))
        found: dict[int, set[str]] = {i: set() for i in ids}
        for start in range(0, len(ids), _BATCH):
            rows = await self.session.exec(
                select(StaffRole).where(col(StaffRole.staff_id).in_(ids[start : start + _BATCH]))
            )
            for r in rows:
                found[r.staff_id].add(r.role)
        return found

    async def set_roles(self, staff_id: int, roles: Iterable[str]) -> None:
        await self.replace_roles({staff_id: frozenset(roles)}, had_roles=(staff_id,))

    async def replace_roles(
        self, roles: Mapping[int, frozenset[str]], *, had_roles: Collection[int]
    ) -> None:
        """Make each staff member's roles exactly the given set, in bulk.

        ``had_roles`` names the members whose existing role rows must go first; the others
        are known to hold none (just created), so no DELETE is issued for them. The DELETE
        skips the identity-map sync: StaffRole rows loaded in this session are not updated.
        """
        had = set(had_roles)
        stale = [staff_id for staff_id in roles if staff_id in had]
        for start in range(0, len(stale), _BATCH):
            await self.session.exec(
                delete(StaffRole).where(
                    col(StaffRole.staff_id).in_(stale[start : start + _BATCH])
                ),
                execution_options=_NO_SYNC,
            )
        values = [{"staff_id": i, "role": r} for i, held in roles.items() for r in sorted(held)]
        if values:
            await self.session.exec(insert(StaffRole), params=values)

    async def staff_with_role(self, role: str) -> Sequence[Staff]:
        """Active holders of a role, oldest record first: a route is planned from this list,
        so its order must not depend on where the database happens to keep the rows (on
        PostgreSQL an UPDATE moves a row, and an unordered scan then returns it last)."""
        rows = await self.session.exec(
            select(Staff)
            .join(StaffRole, col(StaffRole.staff_id) == col(Staff.id))
            .where(col(StaffRole.role) == role, col(Staff.active).is_(True))
            .order_by(col(Staff.id))
        )
        return rows.all()

    # invites
    async def add_invite(self, invite: Invite) -> Invite:
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def invite_by_hash(self, code_hash: str) -> Invite | None:
        rows = await self.session.exec(select(Invite).where(col(Invite.code_hash) == code_hash))
        return rows.first()

    async def invite(self, invite_id: int) -> Invite | None:
        return await self.session.get(Invite, invite_id)

    async def use_invite(self, invite_id: int, *, tg_id: int, now: datetime) -> bool:
        """Mark used only if still unused (two phones racing with one code: one wins)."""
        result = await self.session.exec(
            update(Invite)
            .where(
                col(Invite.id) == invite_id,
                col(Invite.used_at).is_(None),
                col(Invite.revoked_at).is_(None),
            )
            .values(used_at=now, used_by_tg_id=tg_id)
        )
        return result.rowcount == 1

    async def revoke_open_invites(self, staff_id: int, *, now: datetime) -> int:
        result = await self.session.exec(
            update(Invite)
            .where(
                col(Invite.staff_id) == staff_id,
                col(Invite.used_at).is_(None),
                col(Invite.revoked_at).is_(None),
            )
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    # consent
    async def add_consent(self, consent: Consent) -> None:
        self.session.add(consent)

    async def consents_of(self, staff_id: int) -> Sequence[Consent]:
        rows = await self.session.exec(select(Consent).where(col(Consent.staff_id) == staff_id))
        return rows.all()

    # sign-in attempts
    async def record_attempt(self, tg_id: int, *, ok: bool, now: datetime) -> None:
        self.session.add(SignInAttempt(telegram_id=tg_id, at=now, ok=ok))

    async def failed_attempts_since(self, tg_id: int, since: datetime) -> list[datetime]:
        rows = await self.session.exec(
            select(SignInAttempt.at)
            .where(
                col(SignInAttempt.telegram_id) == tg_id,
                col(SignInAttempt.at) >= since,
                col(SignInAttempt.ok).is_(False),
            )
            .order_by(col(SignInAttempt.at))
        )
        return list(rows)

    # --- groups (named lists of staff an audience can name) -----------------------------

    async def group(self, name: str) -> StaffGroup | None:
        rows = await self.session.exec(select(StaffGroup).where(col(StaffGroup.name) == name))
        return rows.first()

    async def group_members(self, group_id: int) -> list[int]:
        rows = await self.session.exec(
            select(col(StaffGroupMember.staff_id))
            .where(col(StaffGroupMember.group_id) == group_id)
            .order_by(col(StaffGroupMember.staff_id))
        )
        return list(rows)

    async def set_group(self, name: str, staff_ids: Iterable[int], *, now: datetime) -> StaffGroup:
        """Create the group or replace its members with exactly these people."""
        group = await self.group(name)
        if group is None:
            group = StaffGroup(name=name, updated_at=now)
        else:
            group.updated_at = now
            await self.session.exec(
                delete(StaffGroupMember).where(col(StaffGroupMember.group_id) == group.id)
            )
        self.session.add(group)
        await self.session.flush()
        assert group.id is not None
        await insert_many_ignoring(
            self.session,
            StaffGroupMember,
            [{"group_id": group.id, "staff_id": i} for i in sorted(set(staff_ids))],
        )
        return group

    async def groups(self) -> list[tuple[StaffGroup, int]]:
        """Every group with how many people it lists, by name."""
        rows = await self.session.exec(
            select(StaffGroup, func.count(col(StaffGroupMember.staff_id)))
            .join(
                StaffGroupMember,
                col(StaffGroupMember.group_id) == col(StaffGroup.id),
                isouter=True,
            )
            .group_by(col(StaffGroup.id))
            .order_by(col(StaffGroup.name))
        )
        return [(group, int(n)) for group, n in rows]

    async def remove_group(self, name: str) -> bool:
        group = await self.group(name)
        if group is None:
            return False
        await self.session.exec(
            delete(StaffGroupMember).where(col(StaffGroupMember.group_id) == group.id)
        )
        await self.session.delete(group)
        return True
