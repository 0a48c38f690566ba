"""Queries over announcements: recipients, delivery, acknowledgement, counts per department."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_many_ignoring
from storage.tables.announcements import Announcement, AnnouncementRecipient
from storage.tables.people import Staff

_BATCH = 500  # rows per INSERT, under bind-parameter limits


class AnnouncementRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: Announcement) -> Announcement:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, announcement_id: int) -> Announcement | None:
        return await self.session.get(Announcement, announcement_id)

    async def all(
        self, *, created_by: int | None = None, limit: int = 200
    ) -> Sequence[Announcement]:
        """Sent announcements, newest first (``created_by``: only this author's)."""
        query = select(Announcement).where(col(Announcement.status) == "sent")
        if created_by is not None:
            query = query.where(col(Announcement.created_by) == created_by)
        rows = await self.session.exec(query.order_by(col(Announcement.id).desc()).limit(limit))
        return rows.all()

    async def move(self, announcement_id: int, *, from_status: str, to_status: str) -> bool:
        """Compare-and-set the status: two taps on Send send once."""
        result = await self.session.exec(
            update(Announcement)
            .where(
                col(Announcement.id) == announcement_id,
                col(Announcement.status) == from_status,
            )
            .values(status=to_status)
        )
        return result.rowcount == 1

    async def add_recipients(self, announcement_id: int, staff_ids: Iterable[int]) -> int:
        """The people it is for (those already there stay as they are); how many are new."""
        ids = sorted(set(staff_ids))
        return await insert_many_ignoring(
            self.session,
            AnnouncementRecipient,
            [{"announcement_id": announcement_id, "staff_id": i, "reminders": 0} for i in ids],
        )

    async def recipient(self, announcement_id: int, staff_id: int) -> AnnouncementRecipient | None:
        return await self.session.get(AnnouncementRecipient, (announcement_id, staff_id))

    async def delivered(self, announcement_id: int, staff_id: int, *, now: datetime) -> None:
        """Telegram accepted the message for this person (the first time counts)."""
        await self.session.exec(
            update(AnnouncementRecipient)
            .where(
                col(AnnouncementRecipient.announcement_id) == announcement_id,
                col(AnnouncementRecipient.staff_id) == staff_id,
                col(AnnouncementRecipient.delivered_at).is_(None),
            )
            .values(delivered_at=now)
        )

    async def acknowledge(self, announcement_id: int, staff_id: int, *, now: datetime) -> bool:
        """Record 已阅 once: False if it was recorded already (or there is no such recipient).
        The compare-and-set makes two taps at once count once."""
        result = await self.session.exec(
            update(AnnouncementRecipient)
            .where(
                col(AnnouncementRecipient.announcement_id) == announcement_id,
                col(AnnouncementRecipient.staff_id) == staff_id,
                col(AnnouncementRecipient.acked_at).is_(None),
            )
            .values(acked_at=now)
        )
        if result.rowcount != 1:
            return False
        await self.delivered(announcement_id, staff_id, now=now)  # a tap proves delivery
        return True

    async def not_acknowledged(self, announcement_id: int) -> Sequence[Staff]:
        """Active staff it was for who have not tapped 已阅 (whom a reminder is for)."""
        rows = await self.session.exec(
            select(Staff)
            .join(AnnouncementRecipient, col(AnnouncementRecipient.staff_id) == col(Staff.id))
            .where(
                col(AnnouncementRecipient.announcement_id) == announcement_id,
                col(AnnouncementRecipient.acked_at).is_(None),
                col(Staff.active).is_(True),
            )
            .order_by(col(Staff.id))
        )
        return rows.all()

    async def note_reminded(
        self, announcement_id: int, staff_ids: Iterable[int], *, now: datetime
    ) -> None:
        ids = list(staff_ids)
        for start in range(0, len(ids), _BATCH):
            await self.session.exec(
                update(AnnouncementRecipient)
                .where(
                    col(AnnouncementRecipient.announcement_id) == announcement_id,
                    col(AnnouncementRecipient.staff_id).in_(ids[start : start + _BATCH]),
                )
                .values(reminders=col(AnnouncementRecipient.reminders) + 1, reminded_at=now)
            )

    async def counts_by_department(
        self, announcement_id: int
    ) -> dict[int | None, tuple[int, int, int]]:
        """Department id -> (recipients, delivered, acknowledged)."""
        r = AnnouncementRecipient
        rows = await self.session.exec(
            select(
                Staff.department_id,
                func.count(),
                func.count(case((col(r.delivered_at).is_not(None), 1))),
                func.count(case((col(r.acked_at).is_not(None), 1))),
            )
            .select_from(r)
            .join(Staff, col(Staff.id) == col(r.staff_id))
            .where(col(r.announcement_id) == announcement_id)
            .group_by(col(Staff.department_id))
        )
        return {dept: (int(n), int(d), int(a)) for dept, n, d, a in rows.all()}

    async def recipients(
        self, announcement_id: int
    ) -> Sequence[tuple[Staff, AnnouncementRecipient]]:
        """Every recipient with their staff row, in record order (the export)."""
        rows = await self.session.exec(
            select(Staff, AnnouncementRecipient)
            .join(AnnouncementRecipient, col(AnnouncementRecipient.staff_id) == col(Staff.id))
            .where(col(AnnouncementRecipient.announcement_id) == announcement_id)
            .order_by(col(Staff.department_id), col(Staff.employee_no))
        )
        return rows.all()
