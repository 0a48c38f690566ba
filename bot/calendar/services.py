"""Loading and importing the work calendar, and handing out a cached ``WorkCalendar``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from bot.calendar import seed
from bot.calendar.domain import (
    CalendarDay,
    CalendarImportError,
    DayCounts,
    NoticeProblem,
    Source,
    WorkCalendar,
    parse_notice,
    split_csv,
)
from bot.runtime import Runtime
from storage.tables.calendar import WorkCalendarDay
from storage.uow import UnitOfWork

IMPORTED = "calendar.imported"


@dataclass(frozen=True)
class ImportedYear:
    """What an import loaded: one year, with its counts, and whether it replaced earlier data."""

    year: int
    holidays: int
    workdays: int
    replaced: bool


@dataclass(frozen=True)
class YearStatus(DayCounts):
    """One year's calendar: official or not, from where, and its exceptional days."""

    year: int
    official: bool
    source: str | None
    loaded_at: datetime | None
    days: tuple[CalendarDay, ...]


def read_notice_file(path: Path) -> list[list[str]]:
    """The rows of a ``date,type,name`` CSV file (UTF-8, with or without a BOM).

    Raises CalendarImportError (line 0, code ``unreadable``) if it cannot be read as text.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarImportError([NoticeProblem(0, "unreadable", type(exc).__name__)]) from exc
    return split_csv(text)


def _day(row: WorkCalendarDay) -> CalendarDay:
    return CalendarDay(row.day, row.is_workday, row.name, row.source)


class CalendarService:
    """The calendar is the project's own data: seeded from the package, extended by imports."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._cached: WorkCalendar | None = None
        self._lock = asyncio.Lock()

    async def seed_from_package(self) -> list[int]:
        """Load every year the package covers that is not loaded yet; the years loaded.

        Idempotent, and never overwrites an imported year.
        """
        years = seed.package_years()
        now = self._rt.clock()
        loaded: list[int] = []
        async with self._rt.detached_uow() as uow:
            for year, days in years.items():
                rows = [(d.day, d.is_workday, d.name) for d in days]
                if await uow.calendar.add_year(year, rows, source=Source.PACKAGE, now=now):
                    loaded.append(year)
            await uow.commit()
        if loaded:
            self._cached = None
        return loaded

    async def import_year(
        self, rows: Iterable[Sequence[str]], *, actor_id: int | None = None
    ) -> ImportedYear:
        """Load one year from a State Council notice (rows of ``date,type,name``); official.

        The year's earlier days are replaced. Raises CalendarImportError listing every bad line,
        and then writes nothing.
        """
        notice = parse_notice(rows)
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            replaced = await uow.calendar.replace_year(
                notice.year,
                [(d.day, d.is_workday, d.name) for d in notice.days],
                source=Source.IMPORT,
                now=now,
            )
            await uow.audit.append(
                actor_id=actor_id,
                action=IMPORTED,
                obj=f"calendar:{notice.year}",
                details={
                    "year": notice.year,
                    "holidays": notice.holidays,
                    "workdays": notice.workdays,
                    "replaced": replaced,
                },
                now=now,
            )
            await uow.commit()
        self._cached = None
        return ImportedYear(notice.year, notice.holidays, notice.workdays, replaced)

    async def calendar(self) -> WorkCalendar:
        """The calendar from the database (seeded from the package the first time it is empty).

        Cached until the next import or seed through this service.
        """
        cached = self._cached
        if cached is not None:
            return cached
        async with self._lock:
            if self._cached is None:
                self._cached = await self._load()
            return self._cached

    async def calendar_in(self, uow: UnitOfWork) -> WorkCalendar:
        """The calendar, read inside the caller's unit of work when it is not cached yet.

        For use while a transaction is open (SQLite has one connection: a second unit of
        work would wait on the first). Never seeds; a database nobody seeded counts weekdays.
        """
        cached = self._cached
        if cached is not None:
            return cached
        years = await uow.calendar.years()
        days = await uow.calendar.days()
        loaded = WorkCalendar([_day(row) for row in days], {y.year for y in years})
        if years:
            self._cached = loaded
        return loaded

    async def _load(self) -> WorkCalendar:
        async with self._rt.detached_uow() as uow:
            years = await uow.calendar.years()
        if not years:
            await self.seed_from_package()
        async with self._rt.detached_uow() as uow:
            years = await uow.calendar.years()
            days = await uow.calendar.days()
        return WorkCalendar([_day(row) for row in days], {y.year for y in years})

    def invalidate(self) -> None:
        """Forget the cached calendar (another process imported a year)."""
        self._cached = None

    async def year_status(self, year: int) -> YearStatus:
        """One year's exceptional days and whether it is official (seeding first if empty)."""
        await self.calendar()
        async with self._rt.detached_uow() as uow:
            loaded = await uow.calendar.year(year)
            days = await uow.calendar.days(date(year, 1, 1), date(year, 12, 31))
        return YearStatus(
            year=year,
            official=loaded is not None,
            source=loaded.source if loaded else None,
            loaded_at=loaded.loaded_at if loaded else None,
            days=tuple(_day(row) for row in days),
        )
