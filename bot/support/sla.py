"""Service-level targets of support tickets: three clocks per ticket, as Zammad has them.

* **first response**: from opening until an agent first answers the requester;
* **update**: from the requester's oldest message the desk has not answered yet (after the
  first response) until the next answer;
* **resolution**: from opening until the ticket is resolved.

Each priority has its own three targets. A clock runs around the clock (7×24) unless the
ticket's category keeps office hours, when only working time on the work calendar counts
(statutory holidays and 调休 make-up days included). While the desk waits for the requester
(status ``waiting``) every clock stops, and the time spent waiting does not count against
the first-response and resolution targets.

At 80 % of a target the topic gets a warning, at 100 % a breach, which starts the on-call
escalation chain. Pure rules here (stdlib only); bot/support/timers.py runs them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from bot.calendar.domain import DAY_END, DAY_START, SHANGHAI, WorkCalendar

PRIORITIES = ("urgent", "high", "normal", "low")  # most urgent first
CLOCKS = ("first_response", "update", "resolution")
WARN, BREACH = "warn", "breach"
WARN_SHARE = 0.8
RUNNING = ("new", "claimed")  # the states in which the clocks run ("waiting" pauses them)


@dataclass(frozen=True)
class Targets:
    """How long the desk has, per clock, for one priority."""

    first_response: timedelta
    update: timedelta
    resolution: timedelta

    def of(self, clock: str) -> timedelta:
        return {
            "first_response": self.first_response,
            "update": self.update,
            "resolution": self.resolution,
        }[clock]


_M, _H, _D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
DEFAULT_TARGETS: Mapping[str, Targets] = {
    "urgent": Targets(15 * _M, 1 * _H, 4 * _H),
    "high": Targets(1 * _H, 4 * _H, 1 * _D),
    "normal": Targets(4 * _H, 8 * _H, 3 * _D),
    "low": Targets(8 * _H, 1 * _D, 5 * _D),
}

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$", re.IGNORECASE)
_UNITS = {"m": _M, "h": _H, "d": _D}


def parse_span(text: str) -> timedelta:
    """``15m``, ``4h``, ``3d`` (ValueError otherwise)."""
    found = _SPAN.match(text)
    if found is None:
        raise ValueError(text)
    span = float(found.group(1)) * _UNITS[found.group(2).lower()]
    if span <= timedelta(0):
        raise ValueError(text)
    return span


def parse_targets(text: str) -> dict[str, Targets]:
    """``urgent=15m/1h/4h; high=1h/4h/1d`` (first response/update/resolution) over the
    defaults; ValueError naming what is wrong."""
    targets = dict(DEFAULT_TARGETS)
    for part in filter(None, (p.strip() for p in re.split(r"[;,]", text))):
        name, _, spans = part.partition("=")
        name = name.strip().lower()
        if name not in PRIORITIES:
            raise ValueError(f"unknown priority {name!r}")
        pieces = spans.split("/")
        if len(pieces) != 3:
            raise ValueError(f"{name}: expected first-response/update/resolution, got {spans!r}")
        first, update, resolution = (parse_span(p) for p in pieces)
        targets[name] = Targets(first, update, resolution)
    return targets


class BusinessClock(Protocol):
    """How much of a span of time counts."""

    def add(self, start: datetime, span: timedelta) -> datetime: ...

    def between(self, start: datetime, end: datetime) -> timedelta: ...


class AroundTheClock:
    """7×24: every minute counts."""

    def add(self, start: datetime, span: timedelta) -> datetime:
        return start + span

    def between(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))


@dataclass(frozen=True)
class OfficeHours:
    """Working time only: ``opens`` to ``closes`` on the calendar's working days."""

    calendar: WorkCalendar
    opens: time = DAY_START
    closes: time = DAY_END
    tz: tzinfo = SHANGHAI

    def add(self, start: datetime, span: timedelta) -> datetime:
        return self.calendar.add_working_hours(
            start, span, day_start=self.opens, day_end=self.closes, tz=self.tz
        )

    def between(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return timedelta(0)
        first, last = start.astimezone(self.tz), end.astimezone(self.tz)
        total = timedelta(0)
        day: date = first.date()
        while day <= last.date():
            if self.calendar.is_workday(day):
                opens = datetime.combine(day, self.opens, tzinfo=self.tz)
                closes = datetime.combine(day, self.closes, tzinfo=self.tz)
                low, high = max(opens, first), min(closes, last)
                if high > low:
                    total += high - low
            day += timedelta(days=1)
        return total


@dataclass(frozen=True)
class TicketTimes:
    """What the clocks are computed from: a ticket's state, as plain values."""

    status: str
    priority: str
    created_at: datetime
    first_response_at: datetime | None = None
    awaiting_since: datetime | None = None  # the requester's oldest unanswered message
    paused_for: timedelta = timedelta(0)  # counted time spent waiting for the requester


@dataclass(frozen=True)
class Deadline:
    """One running clock: when it warns and when it breaches."""

    clock: str
    warn_at: datetime
    due_at: datetime
    target: timedelta

    def stage_at(self, stage: str) -> datetime:
        return self.warn_at if stage == WARN else self.due_at

    def key(self, stage: str) -> str:
        """Names this stage of this deadline: a fired stage is never fired again, and a
        clock that restarts (a new unanswered message) has a new key."""
        return f"{self.clock}:{stage}:{self.due_at.isoformat()}"


@dataclass(frozen=True)
class Policy:
    """Targets per priority, and which categories keep office hours."""

    targets: Mapping[str, Targets] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    office_categories: frozenset[str] = frozenset()

    def targets_for(self, priority: str) -> Targets:
        return self.targets.get(priority, self.targets["normal"])

    def keeps_office_hours(self, category: str | None) -> bool:
        return category is not None and category in self.office_categories

    def deadlines(self, times: TicketTimes, clock: BusinessClock) -> list[Deadline]:
        """The clocks running now, earliest due first; none while paused or done."""
        if times.status not in RUNNING:
            return []
        targets = self.targets_for(times.priority)
        found: list[Deadline] = []

        def running(name: str, start: datetime, extra: timedelta = timedelta(0)) -> None:
            target = targets.of(name)
            found.append(
                Deadline(
                    name,
                    warn_at=clock.add(start, extra + target * WARN_SHARE),
                    due_at=clock.add(start, extra + target),
                    target=target,
                )
            )

        if times.first_response_at is None:
            running("first_response", times.created_at, times.paused_for)
        elif times.awaiting_since is not None:
            running("update", times.awaiting_since)
        running("resolution", times.created_at, times.paused_for)
        return sorted(found, key=lambda d: d.due_at)


def due_stages(
    deadlines: list[Deadline], fired: set[str], now: datetime
) -> list[tuple[Deadline, str]]:
    """The stages to fire now, in time order: a breach that is due makes its warning moot."""
    out: list[tuple[Deadline, str]] = []
    for deadline in deadlines:
        if deadline.due_at <= now:
            if deadline.key(BREACH) not in fired:
                out.append((deadline, BREACH))
        elif deadline.warn_at <= now and deadline.key(WARN) not in fired:
            out.append((deadline, WARN))
    return sorted(out, key=lambda pair: pair[0].stage_at(pair[1]))


def next_check(deadlines: list[Deadline], now: datetime) -> datetime | None:
    """When the next stage falls due, if any is still ahead."""
    ahead = [
        moment
        for deadline in deadlines
        for moment in (deadline.warn_at, deadline.due_at)
        if moment > now
    ]
    return min(ahead, default=None)
