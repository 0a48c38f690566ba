"""Publishing a survey: a definition, an audience and a window become an open survey, its
invitations, and one invitation message per person, queued at broadcast priority.

The audience is written ``all``, or any of ``dept:NAME``, ``role:ROLE``, ``staff:EMPLOYEE_NO``
separated by commas (``dept:办公室,dept:财务处,role:trainer``). Everything is checked before
anything is written: an unknown department, role or employee number refuses the whole
publication, naming each. The invitation messages are outbox rows with a dedupe key per
person, so a restart in the middle of sending them sends nobody a second one; the sender
paces them within Telegram's limits, behind interactive replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from bot import access
from bot.errors import DomainError
from bot.messaging import progress
from bot.messaging.mass import per_person
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.people.domain import ALL_ROLES
from bot.runtime import Runtime
from bot.surveys import reminders
from bot.surveys.definitions import SurveyError, parse_survey
from bot.surveys.sheets import is_xlsx, workbook_to_yaml
from storage.tables.people import Staff
from storage.tables.surveys import Survey as SurveyRow
from storage.uow import UnitOfWork

INVITE_KIND = "survey.invite"
PUBLISHED_KIND = "survey.published"  # to the author: done, how many
REFUSED_KIND = "survey.refused"  # to the author: what is wrong with the file or audience


class AudienceError(DomainError):
    """An audience that cannot be used: ``problems`` are (code, what) pairs, code one of
    syntax, department, role, staff, group, empty."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = list(problems)


@dataclass(frozen=True)
class Audience:
    everyone: bool = False
    departments: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    staff: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # named lists of staff (govbot group set): the pilot users

    def as_json(self) -> dict[str, Any]:
        if self.everyone:
            return {"all": True}
        return {
            "departments": list(self.departments),
            "roles": list(self.roles),
            "staff": list(self.staff),
            **({"groups": list(self.groups)} if self.groups else {}),
        }


def audience_from_json(data: dict[str, Any]) -> Audience:
    """The audience :meth:`Audience.as_json` stored."""
    if data.get("all"):
        return Audience(everyone=True)
    return Audience(
        False,
        tuple(data.get("departments") or ()),
        tuple(data.get("roles") or ()),
        tuple(data.get("staff") or ()),
        tuple(data.get("groups") or ()),
    )


def parse_audience(spec: str) -> Audience:
    """``all`` or ``dept:…,role:…,staff:…,group:…``; AudienceError (syntax) otherwise."""
    text = spec.strip().replace("，", ",")
    if text.casefold() in ("all", "全体", "所有人"):
        return Audience(everyone=True)
    departments: list[str] = []
    roles: list[str] = []
    staff: list[str] = []
    groups: list[str] = []
    problems: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, value = part.partition(":")
        value = value.strip()
        target = {"dept": departments, "role": roles, "staff": staff, "group": groups}.get(
            kind.strip().lower()
        )
        if not sep or not value or target is None:
            problems.append(("syntax", part))
            continue
        if value not in target:
            target.append(value)
    if problems:
        raise AudienceError(problems)
    if not (departments or roles or staff or groups):
        raise AudienceError([("empty", spec)])
    return Audience(False, tuple(departments), tuple(roles), tuple(staff), tuple(groups))


async def resolve(uow: UnitOfWork, audience: Audience) -> list[Staff]:
    """The active staff an audience names, in record order; AudienceError naming every
    department, role or employee number that does not exist (or no one at all)."""
    people: dict[int, Staff] = {}
    problems: list[tuple[str, str]] = []
    if audience.everyone:
        people = {s.id: s for s in await uow.people.list_staff() if s.id is not None}
    else:
        if audience.departments:
            known = await uow.people.departments_by_name()
            wanted = set()
            for name in audience.departments:
                if name in known and known[name].id is not None:
                    wanted.add(known[name].id)
                else:
                    problems.append(("department", name))
            for person in await uow.people.list_staff():
                if person.department_id in wanted and person.id is not None:
                    people[person.id] = person
        for role in audience.roles:
            if role not in ALL_ROLES:
                problems.append(("role", role))
                continue
            people.update({s.id: s for s in await uow.people.staff_with_role(role) if s.id})
        if audience.staff:
            found = await uow.people.by_employee_nos(audience.staff)
            for number in audience.staff:
                named = found.get(number)
                if named is None or not named.active or named.id is None:
                    problems.append(("staff", number))
                else:
                    people[named.id] = named
        for name in audience.groups:
            group = await uow.people.group(name)
            if group is None or group.id is None:
                problems.append(("group", name))
                continue
            members = await uow.people.many(await uow.people.group_members(group.id))
            # Someone who has left since the group was set is simply no longer in it.
            people.update({i: s for i, s in members.items() if s.active})
    if problems:
        raise AudienceError(problems)
    if not people:
        raise AudienceError([("empty", "")])
    return [people[i] for i in sorted(people)]


@dataclass(frozen=True)
class Published:
    survey_id: int
    key: str
    invited: int  # people asked to answer
    messaged: int  # of them, those with Telegram: an invitation message each
    unreachable: list[str] = field(default_factory=list)  # names without Telegram


class SurveyPublishing:
    """Opens surveys for an audience (``govbot survey publish``, a file in chat, /newsurvey)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        default_locale: str,
        remind_every: timedelta = timedelta(days=3),
        tz: tzinfo = UTC,
    ) -> None:
        self._rt = rt
        self._tz = tz
        self._default_locale = default_locale
        self._remind_every = remind_every

    async def publish(
        self,
        *,
        text: str,
        source: str,
        audience: Audience,
        closes_at: datetime | None = None,
        opens_at: datetime | None = None,
        tg_id: int | None = None,
        reply_to: int | None = None,
    ) -> Published:
        """Open the survey a definition declares for an audience (SurveyError,
        AudienceError: nothing is written). ``tg_id``: who publishes (None: the operator);
        ``reply_to``: the chat told the outcome, in the same transaction."""
        now = self._rt.clock()
        if closes_at is not None and closes_at <= max(now, opens_at or now):
            raise AudienceError([("window", closes_at.isoformat())])
        async with self._rt.uow() as uow:
            author = None
            if tg_id is not None:
                author = await access.authorize(
                    uow, tg_id, "survey.publish", default_locale=self._default_locale
                )
            published = await self.publish_in(
                uow,
                text=text,
                source=source,
                audience=audience,
                closes_at=closes_at,
                opens_at=opens_at,
                author=author,
                reply_to=reply_to,
                now=now,
            )
            await uow.commit()
        return published

    async def publish_in(
        self,
        uow: UnitOfWork,
        *,
        text: str,
        source: str,
        audience: Audience,
        now: datetime,
        closes_at: datetime | None = None,
        opens_at: datetime | None = None,
        author: access.Actor | None = None,
        reply_to: int | None = None,
    ) -> Published:
        """:meth:`publish` in the caller's unit of work (which commits), ``author`` already
        authorized (None: the operator). SurveyError, AudienceError: nothing is written."""
        definition = parse_survey(text, source=source)
        if closes_at is not None and closes_at <= max(now, opens_at or now):
            raise AudienceError([("window", closes_at.isoformat())])
        people = await resolve(uow, audience)
        row = await uow.surveys.add(
            SurveyRow(
                key=definition.key,
                version=definition.version,
                title=definition.title.zh_CN,
                definition=text,
                anonymous=definition.anonymous,
                status="open",
                audience=audience.as_json(),
                opens_at=opens_at,
                closes_at=closes_at,
                created_by=author.staff_id if author else None,
                created_at=now,
            )
        )
        assert row.id is not None
        await uow.surveys.invite(row.id, [p.id for p in people if p.id], now=now)
        facts = {
            "survey_id": row.id,
            "title": {"zh_CN": definition.title.zh_CN, "en": definition.title.en},
            "description": (
                {"zh_CN": definition.description.zh_CN, "en": definition.description.en}
                if definition.description
                else None
            ),
            "anonymous": definition.anonymous,
            "questions": len(definition.questions),
            "closes_at": closes_at.isoformat() if closes_at else None,
        }
        # One executemany, not an INSERT each: 10,000 rows in well under a second on
        # SQLite's one connection, which everyone else's replies wait for meanwhile.
        messaged = await uow.outbox.add_many(
            per_person(people, kind=INVITE_KIND, ref_id=row.id, facts=facts, not_before=opens_at),
            now=now,
        )
        await reminders.schedule(
            uow, row.id, opens_at or now, closes_at, every=self._remind_every, now=now
        )
        await uow.audit.append(
            actor_id=author.staff_id if author else None,
            action="survey.publish",
            obj=f"survey:{row.id}",
            details={
                "key": definition.key,
                "version": definition.version,
                "anonymous": definition.anonymous,
                "audience": audience.as_json(),
                "invited": len(people),
            },
            now=now,
        )
        published = Published(
            survey_id=row.id,
            key=definition.key,
            invited=len(people),
            messaged=messaged,
            unreachable=[p.name for p in people if p.telegram_id is None],
        )
        if reply_to is not None and author is not None:
            await uow.outbox.add(
                chat_id=reply_to,
                kind=PUBLISHED_KIND,
                staff_id=author.staff_id,
                now=now,
                facts={
                    "id": published.survey_id,
                    "title": definition.title.zh_CN,
                    "invited": published.invited,
                    "messaged": published.messaged,
                    "unreachable": published.unreachable[:20],
                },
                priority=PRIORITY_INTERACTIVE,
            )
            if messaged:
                await progress.track(
                    uow,
                    kinds=(INVITE_KIND,),
                    ref_id=row.id,
                    chat_id=reply_to,
                    staff_id=author.staff_id,
                    title={"zh_CN": definition.title.zh_CN, "en": definition.title.en},
                    now=now,
                )
        return published

    async def publish_file(
        self, *, tg_id: int, chat_id: int, data: bytes, file_name: str, args: str
    ) -> None:
        """A YAML file (or an XLSX workbook, ``bot/surveys/sheets.py``) sent in chat,
        captioned ``/publish AUDIENCE [CLOSES]`` (CLOSES a date,
        the survey closing at its end, local time): published, or told exactly what is wrong
        (the file's line, each unknown department, role or person)."""
        now = self._rt.clock()
        async with self._rt.detached_uow() as uow:  # may they, before reading anything
            actor = await access.authorize(
                uow, tg_id, "survey.publish", default_locale=self._default_locale
            )
        problem: dict[str, Any] | None = None
        parts = args.split()
        closes_at: datetime | None = None
        try:
            if is_xlsx(data, file_name):  # openpyxl takes CPU time: off the event loop
                text = await asyncio.to_thread(workbook_to_yaml, data, source=file_name)
            else:
                text = data.decode("utf-8-sig")
            audience = parse_audience(parts[0] if parts else "")
            if len(parts) > 1:
                try:
                    closes_at = datetime.combine(
                        date.fromisoformat(parts[1]), time(23, 59), tzinfo=self._tz
                    )
                except ValueError:
                    raise AudienceError([("date", parts[1])]) from None
            await self.publish(
                text=text,
                source=file_name,
                audience=audience,
                closes_at=closes_at,
                tg_id=tg_id,
                reply_to=chat_id,
            )
            return
        except UnicodeDecodeError:
            problem = {"code": "encoding"}
        except SurveyError as error:
            problem = {"code": "definition", "where": str(error)}
        except AudienceError as error:
            problem = {"code": "audience", "problems": [list(p) for p in error.problems]}
        async with self._rt.uow() as uow:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=REFUSED_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts=problem,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()
