"""Course reminders: three days and one day before the due date and on the day (09:00 local),
only to those who have not completed the course, never in quiet hours, at broadcast priority,
once each (a dedupe key per reminder and person). Publishing writes them as due items, so a
restart loses none.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from bot.courses.definitions import parse_course
from bot.courses.model import reminder_times
from bot.messaging.services import PRIORITY_BROADCAST
from bot.quiet import QuietHours
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from storage.uow import UnitOfWork

REMIND_KIND = "course.remind"  # the due item and the outbox kind
SEND_RATE = 25.0  # messages a second the sender keeps to (the survey reminders' figure)


async def schedule(
    uow: UnitOfWork, course_id: int, due_at: datetime, tz: tzinfo, *, now: datetime
) -> None:
    for days, moment in reminder_times(due_at, tz, now=now):
        await uow.due.add(
            kind=REMIND_KIND,
            ref_id=course_id,
            due_at=moment,
            now=now,
            payload={"days": days},
            dedupe_key=f"{REMIND_KIND}:{course_id}:{days}",
        )


class CourseReminders:
    """Runs the reminder due items."""

    def __init__(self, rt: Runtime, *, tz: tzinfo, quiet: QuietHours) -> None:
        self._rt = rt
        self._tz = tz
        self._quiet = quiet

    def register_due(self, due: DueService) -> None:
        due.register(REMIND_KIND, self._on_due)

    async def _on_due(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        course = await uow.courses.get(item.ref_id or 0)
        if course is None or course.id is None or course.due_at is None:
            return
        days = int(item.payload.get("days", 0))
        waiting = await uow.courses.not_completed(course.id)
        reachable = [p for p in waiting if p.telegram_id is not None and p.id is not None]
        sending = timedelta(seconds=len(reachable) / SEND_RATE)
        if self._quiet.contains(now, self._tz) or now + sending > self._quiet.next_start(
            now, self._tz
        ):
            later = self._quiet.next_end(now, self._tz)
            if later < course.due_at:
                await uow.due.add(
                    kind=REMIND_KIND,
                    ref_id=course.id,
                    due_at=later,
                    now=now,
                    payload={"days": days},
                    dedupe_key=f"{REMIND_KIND}:{course.id}:{days}:{later:%Y%m%d}",
                )
            return  # after the due time a late reminder would only nag: it is dropped
        if now >= course.due_at:
            return
        parsed = parse_course(course.definition, source=f"course {course.id}").title
        title = {"zh_CN": parsed.zh_CN, "en": parsed.en}
        for person in reachable:
            assert person.id is not None and person.telegram_id is not None
            await uow.outbox.add(
                chat_id=person.telegram_id,
                kind=REMIND_KIND,
                staff_id=person.id,
                now=now,
                facts={
                    "course_id": course.id,
                    "title": title,
                    "due_at": course.due_at.isoformat(),
                    "days": days,
                },
                ref_id=course.id,
                priority=PRIORITY_BROADCAST,
                dedupe_key=f"{REMIND_KIND}:{course.id}:{days}:{person.id}",
            )
        await uow.courses.note_reminded(course.id, [p.id for p in reachable if p.id is not None])
