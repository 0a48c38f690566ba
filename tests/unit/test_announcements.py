"""Announcements' pure rules (#8): content limits, deadlines as typed, when to remind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.announcements.model import (
    MAX_CAPTION,
    MAX_TEXT,
    MAX_TITLE,
    AnnouncementError,
    DepartmentCounts,
    check_body,
    check_title,
    parse_deadline,
    reminder_times,
    totals,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("title", "expected"),
    [("  关于  放假的通知 ", "关于 放假的通知"), ("A" * MAX_TITLE, "A" * MAX_TITLE)],
)
def test_titles(title: str, expected: str) -> None:
    assert check_title(title) == expected


@pytest.mark.parametrize(("title", "code"), [("   ", "title_empty"), ("长" * 101, "title_long")])
def test_bad_titles(title: str, code: str) -> None:
    with pytest.raises(AnnouncementError) as raised:
        check_title(title)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("plain", "attachment", "code"),
    [
        ("", False, "body_empty"),
        ("  \n", False, "body_empty"),
        ("字" * (MAX_TEXT + 1), False, "body_long"),
        ("字" * (MAX_CAPTION + 1), True, "caption_long"),
        ("", True, None),  # a file may come without a caption
        ("字" * MAX_TEXT, False, None),
        ("字" * MAX_CAPTION, True, None),
    ],
)
def test_bodies(plain: str, attachment: bool, code: str | None) -> None:
    if code is None:
        check_body(plain, attachment=attachment)
        return
    with pytest.raises(AnnouncementError) as raised:
        check_body(plain, attachment=attachment)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-10", local(2026, 12, 10, 23, 59)),
        ("2026-12-10 17:00", local(2026, 12, 10, 17, 0)),
        ("２０２６－１２－１０", local(2026, 12, 10, 23, 59)),  # full-width, as typed on a phone
        ("12月10日", local(2026, 12, 10, 23, 59)),
        ("12月10日 17:30", local(2026, 12, 10, 17, 30)),
        ("12月10号17点", local(2026, 12, 10, 17, 0)),
        ("2027年1月5日", local(2027, 1, 5, 23, 59)),
        ("1月5日", local(2027, 1, 5, 23, 59)),  # past this year: next year's
        ("12月4日", local(2026, 12, 4, 23, 59)),  # today, later
    ],
)
def test_deadlines(text: str, expected: datetime) -> None:
    assert parse_deadline(text, now=NOW, tz=SHANGHAI) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("明天", "deadline_format"),
        ("13月1日", "deadline_format"),
        ("2026-02-30", "deadline_format"),
        ("2026-12-10 25:00", "deadline_format"),
        ("2026-12-10 下午", "deadline_format"),
        ("2026-12-01", "deadline_past"),
        ("12月4日 09:00", "deadline_past"),
    ],
)
def test_bad_deadlines(text: str, code: str) -> None:
    with pytest.raises(AnnouncementError) as raised:
        parse_deadline(text, now=NOW, tz=SHANGHAI)
    assert raised.value.code == code


@given(st.text(max_size=30))
def test_any_typed_deadline_is_a_future_time_or_refused(text: str) -> None:
    try:
        moment = parse_deadline(text, now=NOW, tz=SHANGHAI)
    except AnnouncementError as error:
        assert error.code in ("deadline_format", "deadline_past")
    else:
        assert moment > NOW


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        (None, [NOW + DAY, NOW + 2 * DAY, NOW + 3 * DAY]),  # at most three
        (NOW + 5 * DAY, [NOW + DAY, NOW + 2 * DAY, NOW + 4 * DAY]),  # and a day before
        (NOW + 2 * DAY, [NOW + DAY]),  # the one a day before is the daily one
        (NOW + timedelta(hours=10), [NOW + timedelta(hours=5)]),  # halfway
        (NOW + timedelta(minutes=90), []),  # too soon for any
    ],
)
def test_reminder_times(deadline: datetime | None, expected: list[datetime]) -> None:
    times = reminder_times(NOW, deadline, every=DAY)
    assert times == expected
    assert all(deadline is None or t < deadline for t in times)


def test_no_reminders_when_switched_off() -> None:
    assert reminder_times(NOW, None, every=timedelta(0)) == []


def test_totals_and_waiting() -> None:
    rows = [DepartmentCounts("办公室", 3, 3, 1), DepartmentCounts("财务处", 2, 1, 0)]
    total = totals(rows)
    assert (total.recipients, total.delivered, total.acknowledged, total.waiting) == (5, 4, 1, 4)
