"""The work calendar's days and loaded years."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_for
from storage.tables.calendar import WorkCalendarDay, WorkCalendarYear

# (day, is_workday, name)
DayValues = tuple[date, bool, str | None]


class CalendarRepo:
    """Exceptional days are written a year at a time, with the row saying the year is loaded."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_year(
        self, year: int, days: Iterable[DayValues], *, source: str, now: datetime
    ) -> bool:
        """Load a year unless it is loaded already (then nothing is written): True if loaded.

        Two processes seeding at once are harmless: the second finds the year row and skips.
        """
        claimed = await self.session.exec(
            insert_for(self.session)(WorkCalendarYear)
            .values(year=year, source=source, loaded_at=now)
            .on_conflict_do_nothing(index_elements=["year"])
        )
        if claimed.rowcount != 1:
            return False
        await self._insert_days(days, source=source, now=now, skip_existing=True)
        return True

    async def replace_year(
        self, year: int, days: Iterable[DayValues], *, source: str, now: datetime
    ) -> bool:
        """Replace every day of a year and mark it loaded: True if it was loaded before."""
        found = await self.session.exec(
            select(col(WorkCalendarYear.year)).where(col(WorkCalendarYear.year) == year)
        )
        existed = found.first() is not None
        await self.session.exec(
            delete(WorkCalendarDay).where(
                col(WorkCalendarDay.day) >= date(year, 1, 1),
                col(WorkCalendarDay.day) <= date(year, 12, 31),
            )
        )
        await self.session.exec(delete(WorkCalendarYear).where(col(WorkCalendarYear.year) == year))
        await self.session.exec(
            insert_for(self.session)(WorkCalendarYear).values(
                year=year, source=source, loaded_at=now
            )
        )
        await self._insert_days(days, source=source, now=now, skip_existing=False)
        return existed

    async def _insert_days(
        self, days: Iterable[DayValues], *, source: str, now: datetime, skip_existing: bool
    ) -> None:
        params = [
            {"day": d, "is_workday": w, "name": n, "source": source, "updated_at": now}
            for d, w, n in days
        ]
        if not params:
            return
        statement = insert_for(self.session)(WorkCalendarDay)
        if skip_existing:
            statement = statement.on_conflict_do_nothing(index_elements=["day"])
        await self.session.exec(statement, params=params)

    async def days(
        self, start: date | None = None, end: date | None = None
    ) -> list[WorkCalendarDay]:
        """Exceptional days from ``start`` to ``end`` inclusive (open-ended if None), in order."""
        query = select(WorkCalendarDay)
        if start is not None:
            query = query.where(col(WorkCalendarDay.day) >= start)
        if end is not None:
            query = query.where(col(WorkCalendarDay.day) <= end)
        rows = await self.session.exec(query.order_by(col(WorkCalendarDay.day)))
        return list(rows)

    async def years(self) -> list[WorkCalendarYear]:
        """Every loaded year, in order."""
        rows = await self.session.exec(
            select(WorkCalendarYear).order_by(col(WorkCalendarYear.year))
        )
        return list(rows)

    async def year(self, year: int) -> WorkCalendarYear | None:
        return await self.session.get(WorkCalendarYear, year)
