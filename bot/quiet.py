"""Quiet hours: local hours in which the bot sends nothing that can wait (reminders,
broadcasts); pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which no reminder is sent; ``start`` > ``end`` spans midnight."""

    start: time = time(22, 0)
    end: time = time(8, 0)

    def contains(self, moment: datetime, tz: tzinfo) -> bool:
        local = moment.astimezone(tz).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_end(self, moment: datetime, tz: tzinfo) -> datetime:
        """The first end of the quiet hours after ``moment``."""
        local = moment.astimezone(tz)
        end = datetime.combine(local.date(), self.end, tzinfo=tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=tz)
        return end.astimezone(UTC)

    def next_start(self, moment: datetime, tz: tzinfo) -> datetime:
        local = moment.astimezone(tz)
        start = datetime.combine(local.date(), self.start, tzinfo=tz)
        if start <= local:
            start = datetime.combine(local.date() + timedelta(days=1), self.start, tzinfo=tz)
        return start.astimezone(UTC)


def parse_quiet_hours(text: str) -> QuietHours:
    """ "22:00-08:00" (ValueError if it is not two HH:MM)."""
    left, sep, right = text.replace("–", "-").partition("-")
    if not sep:
        raise ValueError(text)
    return QuietHours(time.fromisoformat(left.strip()), time.fromisoformat(right.strip()))
