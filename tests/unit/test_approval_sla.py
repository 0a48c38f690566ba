"""SLA deadlines on the Chinese working-day calendar, and the reminder ladder's decisions (#4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.approvals import sla
from bot.approvals.model import Node, Sla, Template, TemplateKind, Text
from bot.calendar.domain import CalendarDay, WorkCalendar
from bot.calendar.seed import package_years
from bot.scheduling import Due

SH = ZoneInfo("Asia/Shanghai")
SLA = Sla(hours=16, urgent_hours=8, most_urgent_hours=4)

# Monday 2026-03-09 a holiday, Saturday 2026-03-14 a 调休 make-up workday; 2026 official.
SMALL = WorkCalendar(
    [
        CalendarDay(date(2026, 3, 9), False, "假日"),
        CalendarDay(date(2026, 3, 14), True, "调休"),
    ],
    {2026},
)


def _official() -> WorkCalendar:
    years = package_years()
    return WorkCalendar([d for days in years.values() for d in days], years)


OFFICIAL = _official()  # the chinesecalendar package: 2004–2026


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.mark.parametrize(
    ("calendar", "start", "urgency", "expected"),
    [
        # The acceptance case: Friday 17:00 + 2 working days, Monday a holiday -> Wednesday 17:00.
        (SMALL, at(2026, 3, 6, 17), 0, at(2026, 3, 11, 17)),
        (SMALL, at(2026, 3, 6, 17), 1, at(2026, 3, 10, 17)),  # 加急: one working day
        (SMALL, at(2026, 3, 6, 17), 2, at(2026, 3, 10, 13)),  # 特急: half a day
        # Inside one week, and across the evening (an SLA day has 8 hours, 09:00–17:00).
        (SMALL, at(2026, 3, 10, 9), 0, at(2026, 3, 11, 17)),
        (SMALL, at(2026, 3, 10, 10, 30), 2, at(2026, 3, 10, 14, 30)),
        (SMALL, at(2026, 3, 10, 15), 2, at(2026, 3, 11, 11)),
        (SMALL, at(2026, 3, 10, 17, 20), 2, at(2026, 3, 11, 13)),  # after the SLA day's close
        (SMALL, at(2026, 3, 10, 7), 2, at(2026, 3, 10, 13)),  # before the opening
        # The make-up Saturday is a working day: Thursday 13:00 + 16 h ends on it.
        (SMALL, at(2026, 3, 12, 13), 0, at(2026, 3, 14, 13)),
        (SMALL, at(2026, 3, 13, 17), 1, at(2026, 3, 14, 17)),
        # An ordinary weekend: Friday 10:00 + 16 h is Tuesday 10:00.
        (SMALL, at(2026, 3, 20, 10), 0, at(2026, 3, 24, 10)),
        # Opened on a Sunday before the holiday Monday: counted from Tuesday's opening.
        (SMALL, at(2026, 3, 8, 12), 2, at(2026, 3, 10, 13)),
        # An aware UTC start is read in Shanghai: Friday 09:00 UTC is Friday 17:00 there.
        (SMALL, datetime(2026, 3, 6, 9, tzinfo=UTC), 0, at(2026, 3, 11, 17)),
        # Real data: 国庆 2025 (10-01..10-08 off), and the 调休 Saturday 2025-10-11.
        (OFFICIAL, at(2025, 9, 30, 17), 1, at(2025, 10, 9, 17)),
        (OFFICIAL, at(2025, 9, 30, 13), 0, at(2025, 10, 10, 13)),
        (OFFICIAL, at(2025, 10, 10, 17), 1, at(2025, 10, 11, 17)),
        # 春节 2026: Saturday 02-14 is worked, 02-15..02-23 are not.
        (OFFICIAL, at(2026, 2, 13, 17), 0, at(2026, 2, 24, 17)),
    ],
)
def test_deadline_table(
    calendar: WorkCalendar, start: datetime, urgency: int, expected: datetime
) -> None:
    assert sla.deadline(calendar, SLA, urgency, start) == expected


@pytest.mark.parametrize(
    ("rule", "urgency", "hours"),
    [
        (SLA, 0, 16),
        (SLA, 1, 8),
        (SLA, 2, 4),
        (SLA, 5, 4),
        (Sla(hours=16), 2, 16),  # no shorter SLA declared: the ordinary one
        (Sla(hours=16, urgent_hours=8), 2, 8),  # 特急 falls back to 加急
        (Sla(hours=16, most_urgent_hours=4), 1, 16),
    ],
)
def test_allowed_hours(rule: Sla, urgency: int, hours: int) -> None:
    assert sla.allowed_hours(rule, urgency) == hours


def test_whole_days_of_hours_end_at_the_time_they_started() -> None:
    for n in range(1, 6):
        start = at(2026, 3, 10, 11, 15)
        assert sla.deadline(SMALL, Sla(hours=8 * n), 0, start) == SMALL.add_working_days(start, n)


NODE_SLA = Sla(hours=8, remind_before_hours=2, escalate_after=1, repeat_hours=4)
TEMPLATE = Template(
    key="t",
    version=1,
    name=Text("测试", "Test"),
    kind=TemplateKind.REQUEST,
    prefix="T",
    fields=(),
    route=(
        Node(key="head", name=Text("审批", "Approve"), sla=NODE_SLA),
        Node(key="plain", name=Text("无时限", "No SLA")),
    ),
)


def test_node_sla_follows_added_signers_to_their_origin() -> None:
    assert sla.node_sla(TEMPLATE, "head") == NODE_SLA
    assert sla.node_sla(TEMPLATE, "head+2") == NODE_SLA
    assert sla.node_sla(TEMPLATE, "plain") is None
    assert sla.node_sla(TEMPLATE, "gone") is None


# --- unofficial years ------------------------------------------------------------------------


def test_a_deadline_into_an_unloaded_year_counts_weekdays() -> None:
    start = at(2026, 12, 31, 10)
    end = sla.deadline(OFFICIAL, SLA, 0, start)
    # 2027-01-01 has no data, so the Friday counts as a working day.
    assert end == at(2027, 1, 4, 10)
    assert OFFICIAL.unofficial_years(start.date(), end.date()) == {2027}
    # 特急 stays inside 2026: nothing to warn about.
    short = sla.deadline(OFFICIAL, SLA, 2, start)
    assert short == at(2026, 12, 31, 14)
    assert OFFICIAL.unofficial_years(start.date(), short.date()) == set()


@dataclass
class FakeUow:
    """Just what sla.py touches, recorded."""

    tasks: dict[int, Any] = field(default_factory=dict)
    instances: dict[int, Any] = field(default_factory=dict)
    staff: dict[int, Any] = field(default_factory=dict)
    admins: list[Any] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    due_items: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.approvals = SimpleNamespace(task=self._task, instance=self._instance)
        self.people = SimpleNamespace(get=self._get, staff_with_role=self._with_role)
        self.outbox = SimpleNamespace(add=self._send)
        self.due = SimpleNamespace(add=self._due)

    async def _task(self, task_id: int) -> Any:
        return self.tasks.get(task_id)

    async def _instance(self, instance_id: int) -> Any:
        return self.instances.get(instance_id)

    async def _get(self, staff_id: int) -> Any:
        return self.staff.get(staff_id)

    async def _with_role(self, role: str) -> list[Any]:
        assert role == "admin"
        return self.admins

    async def _send(self, **row: Any) -> None:
        if row.get("dedupe_key") and any(s["dedupe_key"] == row["dedupe_key"] for s in self.sent):
            return
        self.sent.append(row)

    async def _due(self, **row: Any) -> None:
        if any(d["dedupe_key"] == row["dedupe_key"] for d in self.due_items):
            return
        self.due_items.append(row)


def _admin(staff_id: int, tg: int | None) -> SimpleNamespace:
    return SimpleNamespace(id=staff_id, telegram_id=tg)


async def test_admins_are_told_once_per_year_each() -> None:
    uow = FakeUow(admins=[_admin(1, 101), _admin(2, 102), _admin(3, None)])
    start, end = at(2026, 12, 31, 10), at(2028, 1, 4, 10)
    for _ in range(2):  # a second deadline into the same years adds nothing
        await sla.warn_unofficial_years(uow, OFFICIAL, start, end)  # type: ignore[arg-type]
    told = [(s["chat_id"], s["facts"]["year"]) for s in uow.sent]
    assert told == [(101, 2027), (102, 2027), (101, 2028), (102, 2028)]
    assert {s["kind"] for s in uow.sent} == {"ap.calendar_missing"}
    assert uow.sent[0]["dedupe_key"] == "calendar.missing:2027:1"


async def test_official_years_and_shanghai_dates_warn_nobody() -> None:
    uow = FakeUow(admins=[_admin(1, 101)])
    await sla.warn_unofficial_years(uow, OFFICIAL, at(2026, 3, 2), at(2026, 3, 4))  # type: ignore[arg-type]
    # Only 2027 is loaded here. 2026-12-31 20:00 UTC is 2027-01-01 04:00 in Shanghai: no 2026.
    only_2027 = WorkCalendar([], {2027})
    start = datetime(2026, 12, 31, 20, tzinfo=UTC)
    await sla.warn_unofficial_years(uow, only_2027, start, at(2027, 1, 4, 17))  # type: ignore[arg-type]
    assert uow.sent == []


# --- what a due reminder does ----------------------------------------------------------------

HEAD, BOSS = 10, 20


def _uow(status: str = "open") -> FakeUow:
    return FakeUow(
        tasks={
            5: SimpleNamespace(
                id=5, status=status, instance_id=7, node_key="head", assignee_id=HEAD
            )
        },
        instances={
            7: SimpleNamespace(id=7, status="running", template_id=1, number="T-1", urgency=0)
        },
        staff={HEAD: SimpleNamespace(id=HEAD, telegram_id=1010)},
    )


async def _run(
    uow: FakeUow,
    stage: str,
    count: int,
    now: datetime,
    *,
    rule: Sla = NODE_SLA,
    boss: bool = True,
) -> list[int]:
    """Run one due item; the task ids escalated."""
    escalated: list[int] = []
    template = Template(
        key="t",
        version=1,
        name=Text("测试", "Test"),
        kind=TemplateKind.REQUEST,
        prefix="T",
        fields=(),
        route=(Node(key="head", name=Text("审批", "Approve"), sla=rule),),
    )

    async def calendar() -> WorkCalendar:
        return SMALL

    async def template_of(_uow: Any, _row: int) -> Template:
        return template

    async def escalate(_uow: Any, task_id: int, _now: datetime) -> bool:
        if boss:
            escalated.append(task_id)
        return boss

    payload: dict[str, Any] = {"stage": stage, "deadline": at(2026, 3, 10, 17).isoformat()}
    if stage != sla.BEFORE:
        payload["count"] = count
    item = Due(id=99, kind=sla.SLA_KIND, ref_id=5, due_at=now, attempts=1, payload=payload)
    await sla.on_due(
        item,
        uow,  # type: ignore[arg-type]
        now,
        calendar=calendar,
        template_of=template_of,
        escalate=escalate,
    )
    return escalated


def _stages(uow: FakeUow) -> list[str]:
    return [s["facts"]["stage"] for s in uow.sent if s["kind"] == "ap.reminder"]


@pytest.mark.parametrize(
    ("escalate_after", "escalating_count"),
    [(0, 1), (1, 2), (2, 3), (3, 4)],
)
async def test_escalation_comes_after_the_configured_reminders(
    escalate_after: int, escalating_count: int
) -> None:
    """The reminder at the deadline is count 1, the repeats 2, 3, ...; escalate_after of them."""
    rule = Sla(hours=8, escalate_after=escalate_after, repeat_hours=4)
    for count in range(1, escalating_count + 1):
        uow = _uow()
        stage = sla.AT if count == 1 else sla.AFTER
        escalated = await _run(uow, stage, count, at(2026, 3, 10, 17), rule=rule)
        if count < escalating_count:
            assert escalated == [] and _stages(uow) == [stage]
            assert [d["payload"]["count"] for d in uow.due_items] == [count + 1]
        else:
            assert escalated == [5] and uow.sent == [] and uow.due_items == []


async def test_with_nobody_above_the_reminders_go_on() -> None:
    uow = _uow()
    assert await _run(uow, sla.AFTER, 5, at(2026, 3, 11, 9), boss=False) == []
    assert _stages(uow) == [sla.AFTER]
    (again,) = uow.due_items
    assert again["payload"] == {
        "stage": sla.AFTER,
        "deadline": at(2026, 3, 10, 17).isoformat(),
        "count": 6,
    }
    assert again["due_at"] == at(2026, 3, 11, 13)  # four working hours on


async def test_the_repeat_skips_the_evening_and_the_holiday() -> None:
    uow = _uow()
    await _run(uow, sla.AT, 1, at(2026, 3, 6, 16), boss=False)  # Friday 16:00
    assert uow.due_items[0]["due_at"] == at(2026, 3, 10, 12)  # Tuesday 12:00 (Monday off)


async def test_before_reminds_once_and_schedules_nothing() -> None:
    uow = _uow()
    await _run(uow, sla.BEFORE, 0, at(2026, 3, 10, 15))
    assert _stages(uow) == [sla.BEFORE] and uow.due_items == []
    assert uow.sent[0]["chat_id"] == 1010 and uow.sent[0]["facts"]["number"] == "T-1"


async def test_a_late_before_reminder_is_dropped_for_the_one_at_the_deadline() -> None:
    uow = _uow()
    await _run(uow, sla.BEFORE, 0, at(2026, 3, 10, 17, 1))
    assert uow.sent == [] and uow.due_items == []


@pytest.mark.parametrize("status", ["done", "closed", "transferred"])
async def test_a_task_no_longer_open_is_not_reminded(status: str) -> None:
    uow = _uow(status)
    assert await _run(uow, sla.AFTER, 3, at(2026, 3, 11, 9)) == []
    assert uow.sent == [] and uow.due_items == []


async def test_a_finished_request_is_not_reminded() -> None:
    uow = _uow()
    uow.instances[7].status = "approved"
    await _run(uow, sla.AT, 1, at(2026, 3, 10, 17))
    assert uow.sent == [] and uow.due_items == []


async def test_a_suspended_task_keeps_its_clock() -> None:
    """Waiting for signers added before the approver: looked at again later, not dropped."""
    uow = _uow("suspended")
    assert await _run(uow, sla.AT, 1, at(2026, 3, 10, 17)) == []
    assert uow.sent == []
    (later,) = uow.due_items
    assert later["payload"]["stage"] == sla.AT and later["payload"]["count"] == 1
    assert later["due_at"] == at(2026, 3, 11, 13)


def test_the_due_tick_is_configurable() -> None:
    """GOVBOT_DUE_TICK_S: how often reminders that fell due run (e2e tests use 0.2 s)."""
    from bot.config import ConfigError, Settings, load_settings

    assert Settings().due_tick_s == 5.0
    settings = load_settings({"GOVBOT_DUE_TICK_S": "0.2"}, toml_path=Path("/nonexistent.toml"))
    assert settings.due_tick_s == 0.2 and settings.problems(need_token=False) == []
    assert Settings(due_tick_s=0).problems(need_token=False) == [
        "GOVBOT_DUE_TICK_S must be a positive number of seconds"
    ]
    with pytest.raises(ConfigError):
        load_settings({"GOVBOT_DUE_TICK_S": "soon"}, toml_path=Path("/nonexistent.toml"))
