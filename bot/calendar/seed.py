"""The official calendars the ``chinesecalendar`` package ships (2004–2026 in 1.11).

Only its data tables are read, never its functions: those raise NotImplementedError for a year
the package does not cover, and a year it does not cover is simply absent here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import chinese_calendar  # type: ignore[import-untyped]

from bot.calendar.domain import NAME_MAX, CalendarDay, Source


def _chinese(english: str | None) -> str | None:
    """The package stores English names; its Holiday enum knows the Chinese ones (国庆节)."""
    if english is None:
        return None
    try:
        name = str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        name = english
    return name[:NAME_MAX]


def covered_years() -> range:
    """The years the installed package has official data for (the range it validates against)."""
    holidays: dict[date, str] = chinese_calendar.constants.holidays
    if not holidays:
        return range(0)
    return range(min(holidays).year, max(holidays).year + 1)


def package_years() -> dict[int, list[CalendarDay]]:
    """Every covered year's exceptional days: its holidays and its 调休 make-up workdays."""
    constants = chinese_calendar.constants
    years = covered_years()
    found: dict[int, dict[date, CalendarDay]] = defaultdict(dict)
    for day, english in constants.holidays.items():
        found[day.year][day] = CalendarDay(day, False, _chinese(english), Source.PACKAGE)
    # A make-up workday wins over a holiday on the same date (as the package decides).
    for day, english in constants.workdays.items():
        found[day.year][day] = CalendarDay(day, True, _chinese(english), Source.PACKAGE)
    return {year: sorted(found[year].values(), key=lambda d: d.day) for year in years}
