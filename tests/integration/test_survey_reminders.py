"""Survey reminders (#8, reference item 21) on SQLite and PostgreSQL: 100 invited, 60 done,
exactly 40 reminded, never in the quiet hours, once each, stopping at completion and close."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.clock import FakeClock
from bot.quiet import QuietHours, parse_quiet_hours
from bot.runtime import Runtime
from bot.scheduling import DueService
from bot.surveys.definitions import shipped_dir
from bot.surveys.publishing import Audience, SurveyPublishing
from bot.surveys.reminders import REMIND_KIND, SurveyReminders, reminder_times
from storage.tables.messaging import PRIORITY_BROADCAST, OutboxMessage
from storage.tables.people import Staff
from storage.tables.runtime import DueItem

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(22, 0), time(8, 0))
PILOT = (shipped_dir() / "pilot_feedback.yaml").read_text(encoding="utf-8")


def test_quiet_hours_and_when_to_remind() -> None:
    assert parse_quiet_hours("22:00-08:00") == QUIET
    at = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert QUIET.contains(at, SHANGHAI)
    assert not QUIET.contains(at - timedelta(hours=1), SHANGHAI)  # 21:30
    assert QUIET.contains(datetime(2026, 12, 4, 23, 59, tzinfo=UTC), SHANGHAI)  # 07:59
    assert QUIET.next_end(at, SHANGHAI) == datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # 08:00
    opens = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    every = timedelta(days=3)
    assert reminder_times(opens, None, every=every) == [opens + every * n for n in (1, 2, 3)]
    closes = opens + timedelta(days=5)
    assert reminder_times(opens, closes, every=every) == [opens + every, closes - timedelta(1)]
    assert reminder_times(opens, opens + timedelta(hours=20), every=every) == []


async def _staff(runtime: Runtime, clock: FakeClock, n: int) -> list[int]:
    ids = []
    async with runtime.detached_uow() as uow:
        dept = await uow.people.add_department("全局", now=clock())
        for i in range(n):
            row = await uow.people.add(
                Staff(
                    employee_no=f"R{i:03d}",
                    name=f"员工{i}",
                    department_id=dept.id,
                    telegram_id=9000 + i,
                    language="zh_CN",
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            assert row.id is not None
            ids.append(row.id)
        await uow.commit()
    return ids


async def _reminders(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.detached_uow() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage).where(col(OutboxMessage.kind) == REMIND_KIND)
        )
        return list(rows)


async def test_forty_of_a_hundred_are_reminded_after_the_quiet_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    people = await _staff(runtime, clock, 100)
    clock.now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    publishing = SurveyPublishing(runtime, default_locale="zh_CN", remind_every=timedelta(days=3))
    published = await publishing.publish(
        text=PILOT,
        source="pilot.yaml",
        audience=Audience(everyone=True),
        closes_at=clock() + timedelta(days=10),
    )
    due = DueService(runtime)
    SurveyReminders(runtime, tz=SHANGHAI, quiet=QUIET).register_due(due)
    async with runtime.detached_uow() as uow:
        for staff_id in people[:60]:
            assert await uow.surveys.complete(published.survey_id, staff_id)
        await uow.commit()

    clock.advance(timedelta(days=3))  # the first reminder is due: 23:00 local, quiet
    assert await due.tick() == 1
    assert await _reminders(runtime) == []
    clock.advance(timedelta(hours=8, minutes=59))  # 07:59: still quiet
    assert await due.tick() == 0
    clock.advance(timedelta(minutes=1))  # 08:00
    assert await due.tick() == 1
    sent = await _reminders(runtime)
    assert len(sent) == 40
    assert {r.staff_id for r in sent} == set(people[60:])
    assert all(r.priority == PRIORITY_BROADCAST for r in sent)
    assert all(not QUIET.contains(r.created_at, SHANGHAI) for r in sent)
    async with runtime.detached_uow() as uow:
        invitation = await uow.surveys.invitation(published.survey_id, people[99])
    assert invitation is not None and invitation.reminders == 1

    # Ten more finish; the next reminder (three days later, 08:00) goes to the other thirty.
    async with runtime.detached_uow() as uow:
        for staff_id in people[60:70]:
            await uow.surveys.complete(published.survey_id, staff_id)
        await uow.commit()
    clock.advance(timedelta(days=3))
    await due.tick()
    second = [r for r in await _reminders(runtime) if r.id not in {s.id for s in sent}]
    assert {r.staff_id for r in second} == set(people[70:])

    # Once it has closed, nothing more.
    clock.advance(timedelta(days=5))
    await due.tick()
    assert len(await _reminders(runtime)) == 70
    async with runtime.detached_uow() as uow:
        left = list(
            await uow.session.exec(
                select(DueItem).where(
                    col(DueItem.kind) == REMIND_KIND, col(DueItem.done_at).is_(None)
                )
            )
        )
    assert left == []


async def test_a_batch_that_would_run_into_the_quiet_hours_waits(
    runtime: Runtime, clock: FakeClock
) -> None:
    """21:59:59 with 40 to remind: at 25 a second they would still be going out at 22:00."""
    await _staff(runtime, clock, 40)
    clock.now = datetime(2026, 12, 1, 13, 59, 59, tzinfo=UTC)  # 21:59:59 local
    publishing = SurveyPublishing(runtime, default_locale="zh_CN", remind_every=timedelta(days=1))
    await publishing.publish(text=PILOT, source="pilot.yaml", audience=Audience(everyone=True))
    due = DueService(runtime)
    SurveyReminders(runtime, tz=SHANGHAI, quiet=QUIET).register_due(due)
    clock.advance(timedelta(days=1))
    await due.tick()
    assert await _reminders(runtime) == []
    clock.now = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # 08:00 local
    await due.tick()
    assert len(await _reminders(runtime)) == 40
