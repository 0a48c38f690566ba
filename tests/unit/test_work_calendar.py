"""The work calendar's rules: working days, 调休, deadlines in working days and hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.domain import (
    CalendarDay,
    CalendarImportError,
    WorkCalendar,
    parse_notice,
    split_csv,
)
from bot.calendar.seed import covered_years, package_years

SH = ZoneInfo("Asia/Shanghai")


def _official() -> WorkCalendar:
    years = package_years()
    return WorkCalendar([d for days in years.values() for d in days], years)


OFFICIAL = _official()
# A synthetic calendar: Monday 2026-03-09 a holiday, Saturday 2026-03-14 a make-up workday.
SMALL = WorkCalendar(
    [
        CalendarDay(date(2026, 3, 9), False, "假日"),
        CalendarDay(date(2026, 3, 14), True, "调休"),
    ],
    {2026},
)


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2025, 10, 1), False),  # 国庆节, a Wednesday
        (date(2025, 10, 8), False),
        (date(2025, 10, 11), True),  # Saturday make-up workday (调休)
        (date(2025, 10, 12), False),  # an ordinary Sunday
        (date(2026, 2, 14), True),  # Saturday make-up workday before 春节
        (date(2026, 2, 16), False),  # 春节, a Monday
        (date(2026, 2, 28), True),
        (date(2026, 12, 31), True),  # an ordinary Thursday
        (date(2027, 1, 1), True),  # 2027 not loaded: weekdays only, never an exception
        (date(2027, 1, 2), False),
        (date(2027, 10, 1), True),
    ],
)
def test_is_workday(day: date, workday: bool) -> None:
    assert OFFICIAL.is_workday(day) is workday


def test_the_package_covers_2004_to_2026_and_names_are_chinese() -> None:
    assert covered_years() == range(2004, 2027)
    assert OFFICIAL.is_official(2026) and not OFFICIAL.is_official(2027)
    national = OFFICIAL.day(date(2025, 10, 1))
    assert national is not None and national.name == "国庆节"
    assert national.source == "chinesecalendar"


@pytest.mark.parametrize(
    ("calendar", "start", "n", "expected"),
    [
        # The acceptance case: Friday 17:00 + 2 working days, Monday a holiday -> Wednesday 17:00.
        (SMALL, at(2026, 3, 6, 17), 2, at(2026, 3, 11, 17)),
        (SMALL, at(2026, 3, 6, 17), 0, at(2026, 3, 6, 17)),
        (SMALL, at(2026, 3, 13, 10), 1, at(2026, 3, 14, 10)),  # Saturday make-up workday
        # A start on a non-working day counts from the next working day's start of business.
        (SMALL, at(2026, 3, 8, 15), 0, at(2026, 3, 10, 9)),
        (SMALL, at(2026, 3, 8, 15), 1, at(2026, 3, 11, 9)),
        # Real data: 国庆 2025, and the 调休 Saturday 2025-10-11.
        (OFFICIAL, at(2025, 9, 30, 17), 1, at(2025, 10, 9, 17)),
        (OFFICIAL, at(2025, 10, 10, 11), 1, at(2025, 10, 11, 11)),
        (OFFICIAL, at(2026, 2, 13, 17), 1, at(2026, 2, 14, 17)),
        (OFFICIAL, at(2026, 2, 14, 17), 1, at(2026, 2, 24, 17)),
        # Across 2026 -> 2027: 2027 has no data, so 2027-01-01 (Friday) counts as a workday.
        (OFFICIAL, at(2026, 12, 31, 10), 1, at(2027, 1, 1, 10)),
        (OFFICIAL, at(2026, 12, 31, 10), 2, at(2027, 1, 4, 10)),
        # An aware UTC start is read in Shanghai: 2026-03-06 20:00 UTC is Saturday 04:00 there.
        (SMALL, datetime(2026, 3, 6, 20, tzinfo=UTC), 0, at(2026, 3, 10, 9)),
    ],
)
def test_add_working_days(
    calendar: WorkCalendar, start: datetime, n: int, expected: datetime
) -> None:
    assert calendar.add_working_days(start, n) == expected


def test_the_span_into_2027_is_reported_as_unofficial() -> None:
    start = at(2026, 12, 31, 10)
    end = OFFICIAL.add_working_days(start, 5)
    assert OFFICIAL.unofficial_years(start.date(), end.date()) == {2027}
    assert OFFICIAL.unofficial_years(date(2025, 1, 1), date(2026, 12, 31)) == set()
    assert OFFICIAL.unofficial_years(date(2028, 3, 1), date(2026, 1, 1)) == {2027, 2028}


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (at(2026, 3, 10, 9), 8.5, at(2026, 3, 10, 17, 30)),  # exactly the close stays there
        (at(2026, 3, 10, 9), 9, at(2026, 3, 11, 9, 30)),
        (at(2026, 3, 6, 16), 2, at(2026, 3, 10, 9, 30)),  # over the weekend and the holiday
        (at(2026, 3, 6, 18), 1, at(2026, 3, 10, 10)),  # after hours: from the next opening
        (at(2026, 3, 10, 7), 1, at(2026, 3, 10, 10)),  # before hours: from the opening
        (at(2026, 3, 8, 12), 0, at(2026, 3, 10, 9)),  # a Sunday start, zero hours
        (at(2026, 3, 13, 17), timedelta(hours=1), at(2026, 3, 14, 9, 30)),  # make-up Saturday
    ],
)
def test_add_working_hours(start: datetime, hours: float | timedelta, expected: datetime) -> None:
    assert SMALL.add_working_hours(start, hours) == expected


def test_working_hours_with_other_business_hours() -> None:
    result = SMALL.add_working_hours(
        at(2026, 3, 10, 8), 10, day_start=time(8, 0), day_end=time(12, 0)
    )
    assert result == at(2026, 3, 12, 10)


def test_naive_datetimes_and_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        SMALL.add_working_days(datetime(2026, 3, 6, 17), 1)  # noqa: DTZ001
    with pytest.raises(ValueError):
        SMALL.add_working_days(at(2026, 3, 6), -1)
    with pytest.raises(ValueError):
        SMALL.add_working_hours(at(2026, 3, 6), -0.5)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2026, 3, 6), date(2026, 3, 11), 2),  # Tue and Wed; Monday is a holiday
        (date(2026, 3, 11), date(2026, 3, 6), -2),
        (date(2026, 3, 6), date(2026, 3, 6), 0),
        (date(2026, 3, 13), date(2026, 3, 16), 2),  # the make-up Saturday and Monday
    ],
)
def test_working_days_between(a: date, b: date, expected: int) -> None:
    assert SMALL.working_days_between(a, b) == expected


starts = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(SH),
)


@given(start=starts, n=st.integers(min_value=0, max_value=400))
def test_adding_working_days_lands_on_a_working_day(start: datetime, n: int) -> None:
    end = OFFICIAL.add_working_days(start, n)
    assert OFFICIAL.is_workday(end.date())
    first = OFFICIAL.add_working_days(start, 0).date()
    assert OFFICIAL.working_days_between(first, end.date()) == n


@given(start=starts, n=st.integers(min_value=0, max_value=300), k=st.integers(1, 30))
def test_adding_working_days_is_monotonic(start: datetime, n: int, k: int) -> None:
    assert OFFICIAL.add_working_days(start, n) < OFFICIAL.add_working_days(start, n + k)


@given(start=starts, hours=st.floats(min_value=0, max_value=200, allow_nan=False))
def test_a_working_hours_deadline_is_within_business_hours(start: datetime, hours: float) -> None:
    end = OFFICIAL.add_working_hours(start, hours)
    local = end.astimezone(SH)
    assert OFFICIAL.is_workday(local.date())
    assert time(9, 0) <= local.time() <= time(17, 30)
    assert end >= start or hours == 0


# --- the notice file -------------------------------------------------------------------------

GOOD = """date,type,name
2027-01-01,holiday,元旦
2027-02-06,workday,春节
2027-02-08,holiday,春节
"""


def test_a_good_notice() -> None:
    notice = parse_notice(split_csv("\ufeff" + GOOD))
    assert notice.year == 2027
    assert (notice.holidays, notice.workdays) == (2, 1)
    assert notice.days[1] == CalendarDay(date(2027, 2, 6), True, "春节", "import")


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "2027-01-01,holiday\n2027-13-01,holiday\n2027-01-02,rest\n",
            [(2, "bad_date", "2027-13-01"), (3, "bad_type", "rest")],
        ),
        ("2027-01-01,holiday\n2027-01-01,workday\n", [(2, "duplicate", "2027-01-01")]),
        ("2027-01-01,holiday\n2028-01-03,workday\n", [(2, "other_year", "2028-01-03")]),
        ("2027-01-01\n", [(1, "columns", "2027-01-01")]),
        ("date,type,name\n", [(0, "empty", "")]),
    ],
)
def test_bad_notices_report_every_line(text: str, problems: list[tuple[int, str, str]]) -> None:
    with pytest.raises(CalendarImportError) as caught:
        parse_notice(split_csv(text))
    assert [(p.line, p.code, p.value) for p in caught.value.problems] == problems
