"""The work calendar: which days are working days, and deadlines counted in working time.

Pure rules, stdlib only. A ``WorkCalendar`` is built from the exceptional days of the years whose
official calendar is loaded (holidays on weekdays, 调休 make-up workdays on weekends) and the set
of those years. Any other day is a working day when it is Monday to Friday. A year with no
official data is never an error: it falls back to weekdays, and ``unofficial_years`` tells the
caller so that it can warn the administrators.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from bot.errors import DomainError
from bot.text import N_

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
DAY_START: Final = time(9, 0)
DAY_END: Final = time(17, 30)
_ONE_DAY: Final = timedelta(days=1)


class Source(StrEnum):
    """Where a day's rule came from."""

    PACKAGE = "chinesecalendar"
    IMPORT = "import"
    ADMIN = "admin"


@dataclass(frozen=True)
class CalendarDay:
    """One exceptional day: a holiday (``is_workday`` False) or a make-up workday."""

    day: date
    is_workday: bool
    name: str | None = None
    source: str = Source.IMPORT


def _local(moment: datetime, tz: tzinfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("working-time arithmetic needs an aware datetime")
    return moment.astimezone(tz)


def _at(day: date, clock: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


class WorkCalendar:
    """Working days from exceptional days plus weekdays; immutable once built."""

    def __init__(
        self,
        exceptions: Mapping[date, CalendarDay] | Iterable[CalendarDay],
        official: Collection[int],
    ) -> None:
        days = exceptions.values() if isinstance(exceptions, Mapping) else exceptions
        self._days: dict[date, CalendarDay] = {d.day: d for d in days}
        self._official = frozenset(official)

    @property
    def official_years(self) -> frozenset[int]:
        return self._official

    def exceptions(self, year: int | None = None) -> list[CalendarDay]:
        """The exceptional days, in date order (of one year if given)."""
        return sorted(
            (d for d in self._days.values() if year is None or d.day.year == year),
            key=lambda d: d.day,
        )

    def day(self, d: date) -> CalendarDay | None:
        """The exceptional rule for a date, or None for an ordinary weekday or weekend day."""
        return self._days.get(d)

    def is_workday(self, d: date) -> bool:
        """Exceptions first; otherwise Monday to Friday."""
        if isinstance(d, datetime):
            d = d.date()
        rule = self._days.get(d)
        if rule is not None:
            return rule.is_workday
        return d.weekday() < 5

    def is_official(self, year: int) -> bool:
        """Whether the official calendar (holidays and 调休) of this year is loaded."""
        return year in self._official

    def unofficial_years(self, start: date, end: date) -> set[int]:
        """The years from ``start`` to ``end`` (either order) with no official data."""
        low, high = sorted((start.year, end.year))
        return {year for year in range(low, high + 1) if year not in self._official}

    def next_workday(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        d += _ONE_DAY
        while not self.is_workday(d):
            d += _ONE_DAY
        return d

    def add_working_days(
        self,
        start: datetime,
        n: int,
        *,
        day_start: time = DAY_START,
        tz: tzinfo = SHANGHAI,
    ) -> datetime:
        """``n`` working days after ``start``, at the same time of day (in ``tz``).

        A start on a non-working day counts from the next working day's start of business:
        Saturday 10:00 + 1 working day is Tuesday 09:00 (Monday 09:00 + 1).
        """
        if n < 0:
            raise ValueError("n must not be negative")
        local = _local(start, tz)
        day = local.date()
        clock = local.timetz().replace(tzinfo=None)
        if not self.is_workday(day):
            day, clock = self.next_workday(day), day_start
        for _ in range(n):
            day = self.next_workday(day)
        return _at(day, clock, tz)

    def add_working_hours(
        self,
        start: datetime,
        hours: float | timedelta,
        *,
        day_start: time = DAY_START,
        day_end: time = DAY_END,
        tz: tzinfo = SHANGHAI,
    ) -> datetime:
        """The moment ``hours`` of business time after ``start`` (for SLAs in working hours).

        Business time runs from ``day_start`` to ``day_end`` on working days. A start outside it
        counts from the next start of business; a deadline that falls exactly at the close of
        business stays there rather than moving to the next morning.
        """
        remaining = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        if remaining < timedelta(0):
            raise ValueError("hours must not be negative")
        if day_end <= day_start:
            raise ValueError("the working day must end after it starts")
        cursor = _local(start, tz)
        day = cursor.date()
        opens, closes = _at(day, day_start, tz), _at(day, day_end, tz)
        if not self.is_workday(day) or cursor >= closes:
            day = self.next_workday(day)
            cursor = _at(day, day_start, tz)
        elif cursor < opens:
            cursor = opens
        while True:
            available = _at(day, day_end, tz) - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
            day = self.next_workday(day)
            cursor = _at(day, day_start, tz)

    def working_days_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``.

        So ``working_days_between(s, add_working_days(s, n).date()) == n`` for a working day s.
        """
        if isinstance(a, datetime):
            a = a.date()
        if isinstance(b, datetime):
            b = b.date()
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        d = a + _ONE_DAY
        while d <= b:
            if self.is_workday(d):
                count += 1
            d += _ONE_DAY
        return count


# --- importing a State Council notice: a CSV file "date,type,name" ---------------------------

HOLIDAY: Final = "holiday"
WORKDAY: Final = "workday"
_TYPES: Final = {
    HOLIDAY: False,
    WORKDAY: True,
    "休": False,
    "班": True,
    "假日": False,
    "节假日": False,
    "工作日": True,
}
_HEADER_FIRST: Final = frozenset({"date", "日期"})
NAME_MAX: Final = 100  # the width of work_calendar_day.name

# Stable problem codes, each with its message (placeholders: line, value, year).
ERROR_MESSAGES: Final[dict[str, str]] = {
    "columns": N_("Line {line}: expected date,type,name but found “{value}”."),
    "bad_date": N_("Line {line}: “{value}” is not a date (use YYYY-MM-DD)."),
    "bad_type": N_("Line {line}: type “{value}” must be holiday or workday."),
    "duplicate": N_("Line {line}: {value} appears more than once."),
    "other_year": N_("Line {line}: {value} is not in {year}; one file holds one year."),
    "empty": N_("The file lists no days."),
    "unreadable": N_("The file cannot be read as UTF-8 text ({value})."),
}


@dataclass(frozen=True)
class NoticeProblem:
    """One bad line of a notice file; ``code`` is a key of ERROR_MESSAGES."""

    line: int
    code: str
    value: str
    year: int | None = None


class CalendarImportError(DomainError):
    """The notice file has problems; nothing was written."""

    def __init__(self, problems: Sequence[NoticeProblem]) -> None:
        super().__init__(len(problems))
        self.problems = tuple(problems)


class DayCounts:
    """How many of a set of exceptional days are holidays and how many make-up workdays."""

    days: tuple[CalendarDay, ...]

    @property
    def holidays(self) -> int:
        return sum(1 for d in self.days if not d.is_workday)

    @property
    def workdays(self) -> int:
        return sum(1 for d in self.days if d.is_workday)


@dataclass(frozen=True)
class Notice(DayCounts):
    """A validated notice: one year's exceptional days."""

    year: int
    days: tuple[CalendarDay, ...]


def split_csv(text: str) -> list[list[str]]:
    """The rows of a CSV text (a leading byte-order mark is dropped); row i is line i + 1."""
    return list(csv.reader(text.lstrip("\ufeff").splitlines()))


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip().replace("/", "-"))
    except ValueError:
        return None


def parse_notice(rows: Iterable[Sequence[str]]) -> Notice:
    """Validate the rows of a notice (line 1 first; an optional header); all or nothing.

    Raises CalendarImportError listing every bad line.
    """
    problems: list[NoticeProblem] = []
    days: dict[date, CalendarDay] = {}
    year: int | None = None
    for line, raw in enumerate(rows, start=1):
        fields = [f.strip() for f in raw]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if line == 1 and fields[0].lower() in _HEADER_FIRST:
            continue
        if len(fields) < 2 or len(fields) > 3:
            problems.append(NoticeProblem(line, "columns", ",".join(fields)[:60]))
            continue
        day = _parse_date(fields[0])
        kind = _TYPES.get(fields[1].lower())
        if day is None:
            problems.append(NoticeProblem(line, "bad_date", fields[0][:60]))
        if kind is None:
            problems.append(NoticeProblem(line, "bad_type", fields[1][:60]))
        if day is None or kind is None:
            continue
        if year is None:
            year = day.year
        if day.year != year:
            problems.append(NoticeProblem(line, "other_year", day.isoformat(), year))
            continue
        if day in days:
            problems.append(NoticeProblem(line, "duplicate", day.isoformat()))
            continue
        name = fields[2][:NAME_MAX] if len(fields) == 3 and fields[2] else None
        days[day] = CalendarDay(day, kind, name, Source.IMPORT)
    if year is None and not problems:
        problems.append(NoticeProblem(0, "empty", ""))
    if problems:
        raise CalendarImportError(problems)
    assert year is not None
    return Notice(year, tuple(sorted(days.values(), key=lambda d: d.day)))
