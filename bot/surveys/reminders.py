"""Survey reminders: only to those who have not finished, never in quiet hours, stopping at
completion and at close (reference item 21).

Publishing schedules them as due items (restart-safe): every ``every`` after the opening, at
most ``REMINDERS`` of them, and, when the survey closes, one a day before the close. A reminder
that falls in the quiet hours (default 22:00–08:00 local) moves to their end; so does one whose
sending would run into them (Telegram lets the bot send about 25 messages a second to
different people, so 10,000 reminders take seven minutes). Each person gets each reminder once
(a dedupe key per reminder and person), at broadcast priority, behind interactive replies.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from bot.messaging.services import PRIORITY_BROADCAST
from bot.quiet import QuietHours
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from bot.surveys.definitions import parse_survey
from bot.surveys.responses import is_open
from storage.uow import UnitOfWork

REMIND_KIND = "survey.remind"  # the due item and the outbox kind
REMINDERS = 3  # at most this many, the one before the close included
SEND_RATE = 25.0  # messages a second the sender keeps to for different chats (limit 30)


def reminder_times(
    opens_at: datetime, closes_at: datetime | None, *, every: timedelta
) -> list[datetime]:
    """When to remind: every ``every`` after the opening, and a day before the close; at
    most REMINDERS, none at or after the close (quiet hours are applied when each runs)."""
    times: list[datetime] = []
    last = closes_at - timedelta(days=1) if closes_at is not None else None
    moment = opens_at + every
    while len(times) < REMINDERS - (1 if last is not None else 0):
        if last is not None and moment >= last:
            break
        times.append(moment)
        moment += every
    if last is not None and last > opens_at:
        times.append(last)
    return times


async def schedule(
    uow: UnitOfWork,
    survey_id: int,
    opens_at: datetime,
    closes_at: datetime | None,
    *,
    every: timedelta,
    now: datetime,
) -> None:
    for number, due_at in enumerate(reminder_times(opens_at, closes_at, every=every), start=1):
        await uow.due.add(
            kind=REMIND_KIND,
            ref_id=survey_id,
            due_at=due_at,
            now=now,
            payload={"number": number},
            dedupe_key=f"{REMIND_KIND}:{survey_id}:{number}",
        )


class SurveyReminders:
    """Runs the reminder due items."""

    def __init__(self, rt: Runtime, *, tz: tzinfo, quiet: QuietHours) -> None:
        self._rt = rt
        self._tz = tz
        self._quiet = quiet

    def register_due(self, due: DueService) -> None:
        due.register(REMIND_KIND, self._on_due)

    async def _on_due(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        survey = await uow.surveys.get(item.ref_id or 0)
        if survey is None or survey.id is None or not is_open(survey, now):
            return  # closed (or gone): reminders stop
        number = int(item.payload.get("number", 1))
        waiting = await uow.surveys.not_completed(survey.id)
        reachable = [p for p in waiting if p.telegram_id is not None and p.id is not None]
        sending = timedelta(seconds=len(reachable) / SEND_RATE)
        if self._quiet.contains(now, self._tz) or now + sending > self._quiet.next_start(
            now, self._tz
        ):
            later = self._quiet.next_end(now, self._tz)
            if survey.closes_at is None or later < survey.closes_at:
                await uow.due.add(
                    kind=REMIND_KIND,
                    ref_id=survey.id,
                    due_at=later,
                    now=now,
                    payload={"number": number},
                    dedupe_key=f"{REMIND_KIND}:{survey.id}:{number}:{later:%Y%m%d}",
                )
            return
        parsed = parse_survey(survey.definition, source=f"survey {survey.id}").title
        title = {"zh_CN": parsed.zh_CN, "en": parsed.en}
        for person in reachable:
            assert person.id is not None and person.telegram_id is not None
            await uow.outbox.add(
                chat_id=person.telegram_id,
                kind=REMIND_KIND,
                staff_id=person.id,
                now=now,
                facts={
                    "survey_id": survey.id,
                    "title": title,
                    "closes_at": survey.closes_at.isoformat() if survey.closes_at else None,
                },
                ref_id=survey.id,
                priority=PRIORITY_BROADCAST,
                dedupe_key=f"{REMIND_KIND}:{survey.id}:{number}:{person.id}",
            )
        await uow.surveys.note_reminded(
            survey.id, [p.id for p in reachable if p.id is not None], now=now
        )
