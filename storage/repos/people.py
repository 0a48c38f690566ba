"""Queries on departments, staff, roles, invites, consents and sign-in attempts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables.people import (
    Consent,
    Department,
    Invite,
    SignInAttempt,
    Staff,
    StaffRole,
)


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
        for start in range(0, len(nos), 500):  # stay under bind-parameter limits
            rows = await self.session.exec(
                select(Staff).where(col(Staff.employee_no).in_(nos[start : start + 500]))
            )
            found.update({s.employee_no: s for s in rows})
        return found

    async def by_telegram_id(self, tg_id: int) -> Staff | None:
        rows = await self.session.exec(select(Staff).where(col(Staff.telegram_id) == tg_id))
        return rows.first()

    async def get(self, staff_id: int) -> Staff | None:
        return await self.session.get(Staff, staff_id)

    async def add(self, staff: Staff) -> Staff:
        self.session.add(staff)
        await self.session.flush()
        return staff

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
        for start in range(0, len(ids), 500):
            rows = await self.session.exec(
                select(StaffRole).where(col(StaffRole.staff_id).in_(ids[start : start + 500]))
            )
            for r in rows:
                found[r.staff_id].add(r.role)
        return found

    async def set_roles(self, staff_id: int, roles: Iterable[str]) -> None:
        await self.session.exec(delete(StaffRole).where(col(StaffRole.staff_id) == staff_id))
        for role in sorted(set(roles)):
            self.session.add(StaffRole(staff_id=staff_id, role=role))

    async def staff_with_role(self, role: str) -> Sequence[Staff]:
        rows = await self.session.exec(
            select(Staff)
            .join(StaffRole, col(StaffRole.staff_id) == col(Staff.id))
            .where(col(StaffRole.role) == role, col(Staff.active).is_(True))
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
