"""CalendarService on a real database: seeding from the package, importing a notice, the CLI.

Uses the shared ``runtime`` fixture (tests/conftest.py): SQLite and, where a server can be
started, PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
import pytest

from bot.calendar.domain import CalendarImportError, split_csv
from bot.calendar.services import CalendarService, read_notice_file
from bot.runtime import Runtime
from storage.tables.calendar import WorkCalendarDay
from tests.integration.test_cli import govbot

SH = ZoneInfo("Asia/Shanghai")

NOTICE_2027 = """date,type,name
2027-01-01,holiday,元旦
2027-02-06,workday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
"""


async def _count_days(runtime: Runtime) -> int:
    async with runtime.uow() as uow:
        return len(await uow.calendar.days())


async def test_the_first_calendar_seeds_from_the_package(runtime: Runtime) -> None:
    service = CalendarService(runtime)
    calendar = await service.calendar()
    assert calendar.official_years == frozenset(range(2004, 2027))
    for day in (
        date(2025, 10, 1),
        date(2025, 10, 11),
        date(2026, 2, 14),
        date(2026, 2, 16),
        date(2024, 2, 4),
        date(2015, 9, 3),
        date(2026, 12, 31),
    ):
        assert calendar.is_workday(day) is chinese_calendar.is_workday(day), day
    national = calendar.day(date(2025, 10, 1))
    assert national is not None and national.name == "国庆节"


async def test_seeding_is_idempotent(runtime: Runtime) -> None:
    service = CalendarService(runtime)
    first = await service.seed_from_package()
    assert first == list(range(2004, 2027))
    count = await _count_days(runtime)
    assert count == len(chinese_calendar.holidays.keys() | chinese_calendar.workdays.keys())
    assert await service.seed_from_package() == []
    assert await CalendarService(runtime).seed_from_package() == []
    assert await _count_days(runtime) == count


async def test_importing_2027_makes_it_official(runtime: Runtime) -> None:
    service = CalendarService(runtime)
    before = await service.calendar()
    thursday = datetime(2026, 12, 31, 17, 0, tzinfo=SH)
    assert before.add_working_days(thursday, 1) == datetime(2027, 1, 1, 17, tzinfo=SH)
    assert before.unofficial_years(thursday.date(), date(2027, 1, 5)) == {2027}

    imported = await service.import_year(split_csv(NOTICE_2027), actor_id=None)
    assert (imported.year, imported.holidays, imported.workdays) == (2027, 3, 1)
    assert imported.replaced is False

    after = await service.calendar()
    assert after is not before  # the cache was dropped
    assert after.is_official(2027)
    assert after.add_working_days(thursday, 1) == datetime(2027, 1, 4, 17, tzinfo=SH)
    assert after.is_workday(date(2027, 2, 6))  # a Saturday make-up workday
    assert after.unofficial_years(thursday.date(), date(2027, 1, 5)) == set()
    assert await service.calendar() is after  # cached

    status = await service.year_status(2027)
    assert status.official and status.source == "import"
    assert [d.day for d in status.days] == [
        date(2027, 1, 1),
        date(2027, 2, 6),
        date(2027, 2, 8),
        date(2027, 2, 9),
    ]
    assert not (await service.year_status(2028)).official

    async with runtime.uow() as uow:
        trail = await uow.audit.for_object("calendar:2027")
    assert [e.action for e in trail] == ["calendar.imported"]
    assert trail[0].details["holidays"] == 3

    # A corrected notice replaces the year's days, and a later seed never overwrites it.
    again = await service.import_year(split_csv("2027-01-01,holiday,元旦\n"))
    assert again.replaced is True
    assert [d.day for d in (await service.year_status(2027)).days] == [date(2027, 1, 1)]
    assert await service.seed_from_package() == []


async def test_an_imported_year_replaces_the_package_data(runtime: Runtime) -> None:
    service = CalendarService(runtime)
    await service.calendar()
    result = await service.import_year(split_csv("2026-10-01,holiday,国庆节\n"))
    assert result.replaced is True
    status = await service.year_status(2026)
    assert status.source == "import" and len(status.days) == 1
    calendar = await service.calendar()
    assert calendar.is_workday(date(2026, 10, 10)) is False  # a plain Saturday again
    assert calendar.is_workday(date(2025, 10, 11)) is True  # other years untouched


async def test_a_bad_file_writes_nothing(runtime: Runtime) -> None:
    service = CalendarService(runtime)
    await service.seed_from_package()
    count = await _count_days(runtime)
    bad = NOTICE_2027 + "2027-02-30,holiday,春节\n2027-02-09,holiday,春节\n2028-01-01,holiday,\n"
    with pytest.raises(CalendarImportError) as caught:
        await service.import_year(split_csv(bad))
    assert [(p.line, p.code) for p in caught.value.problems] == [
        (6, "bad_date"),
        (7, "duplicate"),
        (8, "other_year"),
    ]
    assert await _count_days(runtime) == count
    assert not (await service.year_status(2027)).official
    async with runtime.uow() as uow:
        assert await uow.audit.for_object("calendar:2027") == []
        assert await uow.calendar.days(date(2027, 1, 1), date(2027, 12, 31)) == []


async def test_rows_are_stored_with_their_source(runtime: Runtime) -> None:
    service = CalendarService(runtime)
    await service.import_year(split_csv(NOTICE_2027))
    async with runtime.uow() as uow:
        rows: list[WorkCalendarDay] = await uow.calendar.days(date(2027, 1, 1), date(2027, 1, 1))
    assert [(r.is_workday, r.name, r.source) for r in rows] == [(False, "元旦", "import")]
    assert rows[0].updated_at == runtime.clock()


def test_read_notice_file(tmp_path: Path) -> None:
    path = tmp_path / "2027.csv"
    path.write_text(NOTICE_2027, encoding="utf-8-sig")
    assert read_notice_file(path)[1] == ["2027-01-01", "holiday", "元旦"]
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CalendarImportError) as caught:
        read_notice_file(path)
    assert caught.value.problems[0].code == "unreadable"


def test_cli_import_and_show(tmp_path: Path) -> None:
    assert govbot(tmp_path, "db", "upgrade").returncode == 0
    shown = govbot(tmp_path, "calendar", "show", "2025")
    assert shown.returncode == 0, shown.stderr
    assert "2025-10-11" in shown.stdout and "国庆节" in shown.stdout
    assert "2025" in shown.stdout.splitlines()[-1]
    unofficial = govbot(tmp_path, "calendar", "show", "2027")
    assert unofficial.returncode == 0 and "govbot calendar import" in unofficial.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("2027-01-01,holiday,元旦\n2027-01-01,workday,\n2027-01-02,rest,\n")
    result = govbot(tmp_path, "calendar", "import", str(bad))
    assert result.returncode == 1
    assert "第 2 行" in result.stderr and "第 3 行" in result.stderr
    assert "Traceback" not in result.stderr

    good = tmp_path / "2027.csv"
    good.write_text(NOTICE_2027, encoding="utf-8")
    result = govbot(tmp_path, "calendar", "import", str(good))
    assert result.returncode == 0, result.stderr
    assert "2027" in result.stdout and "3" in result.stdout
    shown = govbot(tmp_path, "calendar", "show", "2027")
    assert "2027-02-06" in shown.stdout and "govbot calendar import" not in shown.stdout
