"""The on-call roster: who is paged, level by level, when a ticket breaches its SLA.

The desk lead keeps it in chat (``/oncall``, ``/oncall add``, ``/oncall del``) or imports a
CSV/XLSX file of shifts (``govbot oncall import``, or the file sent to the bot with the
caption ``/oncall``). A shift is a level, a person (name or employee number) and a start and
an end in local time; a file is checked whole before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from bot import access
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.spreadsheet import TableSpec, read_table
from bot.support.timers import LEVELS
from storage.tables.support import SupportShift
from storage.uow import UnitOfWork

MAX_SHIFT = timedelta(days=14)  # a longer "shift" is a typo
ROSTER_SHOWN = 20
SHIFT_TABLE = TableSpec(
    columns=("level", "person", "start", "end"),
    required=("level", "person", "start", "end"),
    aliases={
        "级别": "level",
        "层级": "level",
        "值班级别": "level",
        "人员": "person",
        "值班人": "person",
        "姓名": "person",
        "工号": "person",
        "name": "person",
        "employee_no": "person",
        "开始": "start",
        "开始时间": "start",
        "from": "start",
        "结束": "end",
        "结束时间": "end",
        "to": "end",
    },
    max_rows=5000,
    max_bytes=2 * 1024 * 1024,
)

_STAMP = re.compile(r"(?:(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]*)?(\d{1,2})[:：](\d{2})")


class RosterError(ValueError):
    """A shift that cannot be taken; ``code`` says why (bad_level, bad_time, ...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ShiftText:
    """A shift as written, before the person is looked up."""

    level: int
    person: str
    starts_at: datetime
    ends_at: datetime


def _level(text: str) -> int:
    value = text.strip().upper().removeprefix("L")
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= LEVELS:
        raise RosterError("bad_level")
    return int(value)


def _moments(text: str, *, today: date, tz: tzinfo) -> list[tuple[datetime, bool]]:
    """Every "YYYY-MM-DD HH:MM" or "HH:MM" (today) in the text, as aware datetimes, each
    with whether it had a date."""
    found: list[tuple[datetime, bool]] = []
    for match in _STAMP.finditer(text):
        year, month, day, hour, minute = match.groups()
        try:
            on = date(int(year), int(month), int(day)) if year else today
            moment = datetime.combine(on, time(int(hour), int(minute)), tzinfo=tz)
        except ValueError as exc:
            raise RosterError("bad_time") from exc
        found.append((moment, bool(year)))
    return found


def parse_shift(
    level: str, person: str, start: str, end: str, *, today: date, tz: tzinfo
) -> ShiftText:
    """One shift from its four parts; an end at or before a start on the same day without a
    date of its own is the next day (a night shift 20:00 to 08:00)."""
    starts = _moments(start, today=today, tz=tz)
    if len(starts) != 1:
        raise RosterError("bad_time")
    starts_at = starts[0][0]
    ends = _moments(end, today=starts_at.date(), tz=tz)
    if len(ends) != 1:
        raise RosterError("bad_time")
    ends_at, dated = ends[0]
    if ends_at <= starts_at and not dated:
        ends_at += timedelta(days=1)
    if ends_at <= starts_at:
        raise RosterError("end_before_start")
    if ends_at - starts_at > MAX_SHIFT:
        raise RosterError("too_long")
    if not person.strip():
        raise RosterError("no_person")
    return ShiftText(_level(level), person.strip(), starts_at, ends_at)


def parse_add(args: str, *, today: date, tz: tzinfo) -> ShiftText:
    """``LEVEL PERSON FROM TO``: ``1 杨帆 2026-12-02 09:00 2026-12-02 21:00``, or with times
    only, ``1 杨帆 09:00 21:00`` (today), or ``1 杨帆 20:00-08:00``."""
    parts = args.split(maxsplit=2)
    if len(parts) < 3:
        raise RosterError("usage")
    level, person, rest = parts
    stamps = list(_STAMP.finditer(rest))
    if len(stamps) != 2:
        raise RosterError("bad_time")
    cut = stamps[1].start()
    return parse_shift(level, person, rest[:cut], rest[cut:], today=today, tz=tz)


@dataclass(frozen=True)
class RosterImport:
    """What an imported file did: shifts added, or the problems (then nothing was added)."""

    added: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)


class OnCallService:
    """Show, add, delete and import shifts (the desk lead: ``support.roster``)."""

    def __init__(self, runtime: Runtime, *, default_locale: str, tz: tzinfo) -> None:
        self._rt = runtime
        self._default_locale = default_locale
        self._tz = tz

    def _today(self) -> date:
        return self._rt.clock().astimezone(self._tz).date()

    async def show(self, *, tg_id: int, chat_id: int, outcome: str | None = None) -> None:
        """The roster: who is on call now at each level, then the shifts to come."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "menu.desk", default_locale=self._default_locale
            )
            await self._post_roster(uow, actor, chat_id, outcome, now=now)
            await uow.commit()

    async def _post_roster(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        outcome: str | None,
        *,
        now: datetime,
        extra: dict[str, object] | None = None,
    ) -> None:
        shifts = await uow.support.shifts(ending_after=now, limit=ROSTER_SHOWN)
        people = await uow.people.many(s.staff_id for s in shifts)
        await uow.outbox.add(
            chat_id=chat_id,
            kind="support.roster",
            staff_id=actor.staff_id if chat_id == actor.telegram_id else None,
            now=now,
            facts={
                "outcome": outcome,
                **(extra or {}),
                "shifts": [
                    {
                        "id": s.id,
                        "level": s.level,
                        "name": people[s.staff_id].name if s.staff_id in people else "?",
                        "starts_at": s.starts_at.isoformat(),
                        "ends_at": s.ends_at.isoformat(),
                        "now": s.starts_at <= now < s.ends_at,
                    }
                    for s in shifts
                ],
            },
            priority=PRIORITY_INTERACTIVE,
        )

    async def add(self, *, tg_id: int, chat_id: int, args: str) -> str:
        """``/oncall add ...``: added, or what is wrong (the roster is shown either way)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "support.roster", default_locale=self._default_locale
            )
            extra: dict[str, object] = {}
            try:
                shift = parse_add(args, today=self._today(), tz=self._tz)
                staff_id = await self._person(uow, shift.person)
                added = await uow.support.add_shift(
                    SupportShift(
                        level=shift.level,
                        staff_id=staff_id,
                        starts_at=shift.starts_at,
                        ends_at=shift.ends_at,
                        created_by=actor.staff_id,
                        created_at=now,
                    )
                )
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="support.shift.add",
                    obj=f"shift:{added.id}",
                    details={
                        "level": shift.level,
                        "staff": staff_id,
                        "from": shift.starts_at.isoformat(),
                        "to": shift.ends_at.isoformat(),
                    },
                    now=now,
                )
                outcome = "added"
            except RosterError as problem:
                outcome = problem.code
                extra = {"person": args.split(maxsplit=2)[1] if len(args.split()) > 1 else ""}
            await self._post_roster(uow, actor, chat_id, outcome, now=now, extra=extra)
            await uow.commit()
        return outcome

    async def delete(self, *, tg_id: int, chat_id: int, shift_id: str) -> str:
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await access.authorize(
                uow, tg_id, "support.roster", default_locale=self._default_locale
            )
            text = shift_id.strip().lstrip("#")
            if text.isascii() and text.isdigit() and await uow.support.delete_shift(int(text)):
                await uow.audit.append(
                    actor_id=actor.staff_id,
                    action="support.shift.delete",
                    obj=f"shift:{text}",
                    details={},
                    now=now,
                )
                outcome = "deleted"
            else:
                outcome = "no_shift"
            await self._post_roster(uow, actor, chat_id, outcome, now=now)
            await uow.commit()
        return outcome

    async def _person(self, uow: UnitOfWork, text: str) -> int:
        """An employee number, or the name of exactly one active member of staff."""
        by_no = await uow.people.by_employee_no(text)
        if by_no is not None and by_no.id is not None and by_no.active:
            return by_no.id
        named = [p for p in await uow.people.active_by_name(text) if p.id is not None]
        if not named:
            raise RosterError("no_person")
        if len(named) > 1:
            raise RosterError("ambiguous")
        assert named[0].id is not None
        return named[0].id

    async def import_file(
        self, data: bytes, filename: str, *, tg_id: int | None, chat_id: int | None = None
    ) -> RosterImport:
        """Add every shift of a CSV/XLSX file, or none if any row is wrong (tg_id None: the
        command line, as the system). ImportFileError for a file that cannot be read."""
        rows = read_table(data, filename, SHIFT_TABLE)
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = (
                await access.authorize(
                    uow, tg_id, "support.roster", default_locale=self._default_locale
                )
                if tg_id is not None
                else None
            )
            problems: list[tuple[int, str]] = []
            shifts: list[SupportShift] = []
            for line, cells in rows:
                try:
                    shift = parse_shift(
                        cells.get("level", ""),
                        cells.get("person", ""),
                        cells.get("start", ""),
                        cells.get("end", ""),
                        today=self._today(),
                        tz=self._tz,
                    )
                    staff_id = await self._person(uow, shift.person)
                except RosterError as problem:
                    problems.append((line, problem.code))
                    continue
                shifts.append(
                    SupportShift(
                        level=shift.level,
                        staff_id=staff_id,
                        starts_at=shift.starts_at,
                        ends_at=shift.ends_at,
                        created_by=actor.staff_id if actor else None,
                        created_at=now,
                    )
                )
            if not rows:
                problems.append((0, "empty"))
            result = RosterImport(0 if problems else len(shifts), problems)
            if not problems:
                for shift_row in shifts:
                    await uow.support.add_shift(shift_row)
                await uow.audit.append(
                    actor_id=actor.staff_id if actor else None,
                    action="support.shift.import",
                    obj=f"file:{filename[:60]}",
                    details={"shifts": len(shifts)},
                    now=now,
                )
            if actor is not None and chat_id is not None:
                await self._post_roster(
                    uow,
                    actor,
                    chat_id,
                    "imported" if not problems else "import_failed",
                    now=now,
                    extra={"added": result.added, "problems": problems[:10]},
                )
            await uow.commit()
        return result
