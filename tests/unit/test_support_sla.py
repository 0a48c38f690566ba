"""The support desk's SLA rules (bot/support/sla.py) and the on-call roster's parsing
(bot/support/oncall.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.domain import SHANGHAI, CalendarDay, WorkCalendar
from bot.support.oncall import RosterError, parse_add, parse_shift
from bot.support.sla import (
    BREACH,
    DEFAULT_TARGETS,
    WARN,
    AroundTheClock,
    OfficeHours,
    Policy,
    TicketTimes,
    due_stages,
    next_check,
    parse_span,
    parse_targets,
)

CAL = WorkCalendar(
    [
        CalendarDay(date(2026, 12, 7), False, "一个假日"),  # a Monday off
        CalendarDay(date(2026, 12, 12), True, "调休"),  # a Saturday worked
    ],
    {2026},
)
OFFICE = OfficeHours(CAL)
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
MIN = timedelta(minutes=1)


def _times(**changes: object) -> TicketTimes:
    base: dict[str, object] = {"status": "new", "priority": "urgent", "created_at": T0}
    base.update(changes)
    return TicketTimes(**base)  # type: ignore[arg-type]


def test_targets_parse_over_the_defaults_and_refuse_nonsense() -> None:
    targets = parse_targets("urgent=10m/30m/2h; low = 1d/2d/10d")
    assert targets["urgent"].first_response == 10 * MIN
    assert targets["urgent"].resolution == timedelta(hours=2)
    assert targets["low"].resolution == timedelta(days=10)
    assert targets["normal"] == DEFAULT_TARGETS["normal"]
    assert parse_span("1.5h") == timedelta(minutes=90)
    for bad in ("vip=1m/1m/1m", "urgent=1m/1m", "urgent=1m/1x/1h", "urgent=0m/1h/1h"):
        with pytest.raises(ValueError):
            parse_targets(bad)


def test_a_new_ticket_runs_first_response_and_resolution() -> None:
    deadlines = Policy().deadlines(_times(), AroundTheClock())
    assert [(d.clock, d.due_at - T0) for d in deadlines] == [
        ("first_response", 15 * MIN),
        ("resolution", timedelta(hours=4)),
    ]
    assert deadlines[0].warn_at - T0 == 12 * MIN  # 80 %


def test_after_the_first_response_the_update_clock_runs_from_the_unanswered_message() -> None:
    answered = T0 + 5 * MIN
    asked_again = T0 + 40 * MIN
    quiet = Policy().deadlines(_times(first_response_at=answered), AroundTheClock())
    assert [d.clock for d in quiet] == ["resolution"]
    waiting = Policy().deadlines(
        _times(first_response_at=answered, awaiting_since=asked_again), AroundTheClock()
    )
    assert [(d.clock, d.due_at) for d in waiting] == [
        ("update", asked_again + timedelta(hours=1)),
        ("resolution", T0 + timedelta(hours=4)),
    ]


def test_waiting_stops_every_clock_and_the_pause_moves_the_deadlines() -> None:
    assert Policy().deadlines(_times(status="waiting"), AroundTheClock()) == []
    assert Policy().deadlines(_times(status="resolved"), AroundTheClock()) == []
    paused = Policy().deadlines(_times(paused_for=timedelta(hours=2)), AroundTheClock())
    assert paused[0].due_at == T0 + timedelta(hours=2) + 15 * MIN


def test_stages_fire_once_and_a_due_breach_makes_its_warning_moot() -> None:
    deadlines = Policy().deadlines(_times(), AroundTheClock())
    first = deadlines[0]
    assert due_stages(deadlines, set(), T0 + 11 * MIN) == []
    assert due_stages(deadlines, set(), T0 + 12 * MIN) == [(first, WARN)]
    assert due_stages(deadlines, {first.key(WARN)}, T0 + 13 * MIN) == []
    assert due_stages(deadlines, set(), T0 + 16 * MIN) == [(first, BREACH)]  # late: no warning
    assert next_check(deadlines, T0) == T0 + 12 * MIN
    assert next_check(deadlines, T0 + 12 * MIN) == T0 + 15 * MIN
    assert next_check(deadlines, T0 + 5 * timedelta(hours=1)) is None


def test_office_hours_skip_nights_weekends_and_holidays() -> None:
    friday_late = datetime(2026, 12, 4, 17, 0, tzinfo=SHANGHAI)
    # 30 minutes left on Friday; Saturday, Sunday and the Monday holiday do not count.
    assert OFFICE.add(friday_late, timedelta(hours=1)) == datetime(
        2026, 12, 8, 9, 30, tzinfo=SHANGHAI
    )
    # The 调休 Saturday is a working day.
    friday_12 = datetime(2026, 12, 11, 17, 0, tzinfo=SHANGHAI)
    assert OFFICE.add(friday_12, timedelta(hours=1)) == datetime(
        2026, 12, 12, 9, 30, tzinfo=SHANGHAI
    )
    assert OFFICE.between(friday_late, datetime(2026, 12, 8, 9, 30, tzinfo=SHANGHAI)) == (
        timedelta(hours=1)
    )
    policy = Policy(office_categories=frozenset({"expenses"}))
    assert policy.keeps_office_hours("expenses") and not policy.keeps_office_hours("devices")
    assert not policy.keeps_office_hours(None)


@given(
    start=st.datetimes(
        min_value=datetime(2026, 11, 1),  # noqa: DTZ001 (hypothesis: naive bounds)
        max_value=datetime(2026, 12, 28),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    minutes=st.integers(min_value=1, max_value=60 * 40),
)
def test_office_hours_count_back_what_they_added(start: datetime, minutes: int) -> None:
    span = timedelta(minutes=minutes)
    end = OFFICE.add(start, span)
    assert end > start
    assert OFFICE.between(start, end) == span
    assert AroundTheClock().between(start, AroundTheClock().add(start, span)) == span


TODAY = date(2026, 12, 2)


def test_a_shift_in_chat_with_dates_times_or_a_night() -> None:
    full = parse_add("1 杨帆 2026-12-02 09:00 2026-12-02 21:00", today=TODAY, tz=SHANGHAI)
    assert (full.level, full.person) == (1, "杨帆")
    assert full.starts_at == datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    assert full.ends_at == datetime(2026, 12, 2, 21, 0, tzinfo=SHANGHAI)
    night = parse_add("L2 李娜 20:00-08:00", today=TODAY, tz=SHANGHAI)
    assert night.level == 2
    assert night.ends_at - night.starts_at == timedelta(hours=12)  # ends the next morning
    chinese = parse_shift(
        "3", "王主任", "2026年12月5日 08:00", "2026年12月6日 08:00", today=TODAY, tz=SHANGHAI
    )
    assert chinese.ends_at - chinese.starts_at == timedelta(days=1)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ("1 杨帆", "usage"),
        ("4 杨帆 09:00 10:00", "bad_level"),
        ("一 杨帆 09:00 10:00", "bad_level"),
        ("1 杨帆 09:00", "bad_time"),
        ("1 杨帆 2026-02-30 09:00 2026-03-01 09:00", "bad_time"),
        ("1 杨帆 2026-12-03 09:00 2026-12-02 09:00", "end_before_start"),
        ("1 杨帆 2026-12-01 09:00 2026-12-30 09:00", "too_long"),
    ],
)
def test_a_wrong_shift_says_what_is_wrong(args: str, code: str) -> None:
    with pytest.raises(RosterError) as caught:
        parse_add(args, today=TODAY, tz=SHANGHAI)
    assert caught.value.code == code
