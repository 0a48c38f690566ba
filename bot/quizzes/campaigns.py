"""Quiz campaigns: a quiz sent to an audience (``govbot quiz campaign``, ``/quiz campaign``),
its invitations at broadcast priority, reminders to those who have not passed (never in the
quiet hours, stopping at close), and the next round of a periodic campaign (quarterly,
monthly) as a durable due item.

The audience is written as for surveys (``all``, ``dept:…``, ``role:…``, ``staff:…``; see
bot/surveys/publishing.py). Invitations carry a dedupe key per person and the campaign as
``ref_id``, so a restart while they go out sends nobody a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from bot import access
from bot.errors import DomainError
from bot.messaging import progress
from bot.messaging.mass import per_person
from bot.messaging.services import PRIORITY_BROADCAST, PRIORITY_INTERACTIVE
from bot.quiet import QuietHours
from bot.quizzes.definitions import Library
from bot.quizzes.model import Paper, Refusal, may_start
from bot.runtime import Runtime
from bot.scheduling import Due, DueService
from bot.surveys.publishing import (
    Audience,
    AudienceError,
    audience_from_json,
    parse_audience,
    resolve,
)
from bot.surveys.reminders import SEND_RATE, reminder_times
from storage.tables.quizzes import QuizCampaign
from storage.uow import UnitOfWork

logger = logging.getLogger(__name__)

INVITE_KIND = "quiz.invite"
REMIND_KIND = "quiz.remind"  # the due item and the outbox kind
REPEAT_KIND = "quiz.repeat"  # due: open the next round of a periodic campaign
OPENED_KIND = "quiz.opened"  # to the author: open, how many invited
REFUSED_KIND = "quiz.refused"  # to the author: why not
EVERY_MONTHS = {"quarter": 3, "month": 1}


class CampaignError(DomainError):
    """A campaign that cannot open: ``problems`` are (code, what), code one of quiz (no such
    quiz), window (closes before it opens), every, date."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = list(problems)


def audience_of(data: dict[str, Any]) -> Audience:
    """The audience a campaign stored (``Audience.as_json``)."""
    return audience_from_json(data)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (the 31st becomes the month's last day)."""
    year, month = divmod(moment.month - 1 + months, 12)
    target_year, target_month = moment.year + year, month + 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=target_year, month=target_month, day=day)
        except ValueError:
            day -= 1


@dataclass(frozen=True)
class Opened:
    campaign_id: int
    quiz_key: str
    invited: int
    messaged: int
    unreachable: list[str] = field(default_factory=list)


def _text(text: Any) -> dict[str, str]:
    return {"zh_CN": text.zh_CN, "en": text.en}


class QuizCampaigns:
    """Opens campaigns, reminds, and opens the next round of periodic ones."""

    def __init__(
        self,
        rt: Runtime,
        library: Library,
        *,
        default_locale: str,
        tz: tzinfo = UTC,
        quiet: QuietHours | None = None,
        remind_every: timedelta = timedelta(days=3),
    ) -> None:
        self._rt = rt
        self.library = library
        self._default_locale = default_locale
        self._tz = tz
        self._quiet = quiet or QuietHours()
        self._remind_every = remind_every

    def register_due(self, due: DueService) -> None:
        due.register(REMIND_KIND, self._on_remind)
        due.register(REPEAT_KIND, self._on_repeat)

    async def open(
        self,
        *,
        quiz_key: str,
        audience: Audience,
        closes_at: datetime | None = None,
        every: str | None = None,
        tg_id: int | None = None,
        reply_to: int | None = None,
    ) -> Opened:
        """Open a campaign of a shipped quiz for an audience (CampaignError, AudienceError:
        nothing written). ``tg_id``: who opens it (None: the operator), checked against
        ``quiz.publish``; ``reply_to``: the chat told the outcome, in the same transaction."""
        paper = self.library.paper(quiz_key)
        now = self._rt.clock()
        problems: list[tuple[str, str]] = []
        if paper is None:
            problems.append(("quiz", quiz_key))
        if every is not None and every not in EVERY_MONTHS:
            problems.append(("every", every))
        if closes_at is not None and closes_at <= now:
            problems.append(("window", closes_at.isoformat()))
        async with self._rt.uow() as uow:
            author = None
            if tg_id is not None:
                author = await access.authorize(
                    uow, tg_id, "quiz.publish", default_locale=self._default_locale
                )
            if problems:
                raise CampaignError(problems)
            assert paper is not None
            opened = await self._open_in(
                uow,
                paper,
                audience,
                opens_at=now,
                closes_at=closes_at,
                every=every,
                author_id=author.staff_id if author else None,
                now=now,
            )
            if reply_to is not None and author is not None:
                await uow.outbox.add(
                    chat_id=reply_to,
                    kind=OPENED_KIND,
                    staff_id=author.staff_id,
                    now=now,
                    facts={
                        "id": opened.campaign_id,
                        "title": _text(paper.quiz.title),
                        "invited": opened.invited,
                        "messaged": opened.messaged,
                        "unreachable": opened.unreachable[:20],
                        "every": every,
                        "closes_at": closes_at.isoformat() if closes_at else None,
                    },
                    priority=PRIORITY_INTERACTIVE,
                )
                if opened.messaged:  # the author watches the invitations go out
                    await progress.track(
                        uow,
                        kinds=(INVITE_KIND,),
                        ref_id=opened.campaign_id,
                        chat_id=reply_to,
                        staff_id=author.staff_id,
                        title=_text(paper.quiz.title),
                        now=now,
                    )
            await uow.commit()
        return opened

    async def open_for_course(
        self,
        uow: UnitOfWork,
        *,
        quiz_key: str,
        audience: Audience,
        author_id: int | None,
        now: datetime,
    ) -> int:
        """The campaign behind a course's closing quiz, in the course's unit of work: the
        same people, open as long as the course is taken, no invitations or reminders of its
        own (the course's last lesson leads to it, and the course's reminders run).
        CampaignError if there is no such quiz."""
        paper = self.library.paper(quiz_key)
        if paper is None:
            raise CampaignError([("quiz", quiz_key)])
        opened = await self._open_in(
            uow,
            paper,
            audience,
            opens_at=now,
            closes_at=None,
            every=None,
            author_id=author_id,
            now=now,
            announce=False,
        )
        return opened.campaign_id

    async def open_in_chat(self, *, tg_id: int, chat_id: int, args: Sequence[str]) -> None:
        """``/quiz campaign KEY AUDIENCE [YYYY-MM-DD] [quarter|month]``: opened, or the author
        told exactly what is wrong."""
        async with self._rt.detached_uow() as uow:  # may they, before reading anything
            actor = await access.authorize(
                uow, tg_id, "quiz.publish", default_locale=self._default_locale
            )
        problem: dict[str, Any]
        try:
            if len(args) < 2:
                raise CampaignError([("usage", "")])
            closes_at: datetime | None = None
            every: str | None = None
            for extra in args[2:]:
                if extra in EVERY_MONTHS:
                    every = extra
                    continue
                try:
                    closes_at = datetime.combine(
                        date.fromisoformat(extra), time(23, 59), tzinfo=self._tz
                    ).astimezone(UTC)
                except ValueError:
                    raise CampaignError([("date", extra)]) from None
            await self.open(
                quiz_key=args[0],
                audience=parse_audience(args[1]),
                closes_at=closes_at,
                every=every,
                tg_id=tg_id,
                reply_to=chat_id,
            )
            return
        except CampaignError as error:
            problem = {"problems": [list(p) for p in error.problems]}
        except AudienceError as error:
            problem = {"problems": [["audience:" + c, w] for c, w in error.problems]}
        problem["quizzes"] = sorted(self.library.quizzes)
        async with self._rt.uow() as uow:
            await uow.outbox.add(
                chat_id=chat_id,
                kind=REFUSED_KIND,
                staff_id=actor.staff_id,
                now=self._rt.clock(),
                facts=problem,
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def open_demo(self) -> list[Opened]:
        """Sandbox demo data: every shipped quiz opened for all active staff, closing in
        thirty days (the security check quarterly)."""
        closes = self._rt.clock() + timedelta(days=30)
        return [
            await self.open(
                quiz_key=key,
                audience=Audience(everyone=True),
                closes_at=closes,
                every="quarter" if key == "security_basics" else None,
            )
            for key in sorted(self.library.quizzes)
        ]

    async def _open_in(
        self,
        uow: UnitOfWork,
        paper: Paper,
        audience: Audience,
        *,
        opens_at: datetime,
        closes_at: datetime | None,
        every: str | None,
        author_id: int | None,
        now: datetime,
        previous_id: int | None = None,
        announce: bool = True,
    ) -> Opened:
        people = await resolve(uow, audience)
        quiz = paper.quiz
        row = await uow.quizzes.add(
            QuizCampaign(
                quiz_key=quiz.key,
                title=quiz.title.zh_CN,
                paper=paper.as_json(),
                audience=audience.as_json(),
                status="open",
                opens_at=opens_at,
                closes_at=closes_at,
                every=every,
                previous_id=previous_id,
                created_by=author_id,
                created_at=now,
            )
        )
        assert row.id is not None
        await uow.quizzes.invite(row.id, [p.id for p in people if p.id], now=now)
        # A round that falls due at night waits for the morning (one opened by a person is
        # sent when they say, as a survey is).
        quiet = previous_id is not None and self._quiet.contains(now, self._tz)
        wait = self._quiet.next_end(now, self._tz) if quiet else None
        facts = {
            "campaign_id": row.id,
            "title": _text(quiz.title),
            "description": _text(quiz.description) if quiz.description else None,
            "questions": min(quiz.draw, len(paper.pool)),
            "pass_mark": quiz.pass_mark,
            "attempts": quiz.max_attempts,
            "closes_at": closes_at.isoformat() if closes_at else None,
        }
        messaged = await uow.outbox.add_many(
            # a course's quiz: the course invites
            per_person(
                people if announce else (),
                kind=INVITE_KIND,
                ref_id=row.id,
                facts=facts,
                not_before=wait,
            ),
            now=now,
        )
        for number, due_at in enumerate(
            reminder_times(opens_at, closes_at, every=self._remind_every) if announce else (),
            start=1,
        ):
            await uow.due.add(
                kind=REMIND_KIND,
                ref_id=row.id,
                due_at=due_at,
                now=now,
                payload={"number": number},
                dedupe_key=f"{REMIND_KIND}:{row.id}:{number}",
            )
        if every is not None:
            await uow.due.add(
                kind=REPEAT_KIND,
                ref_id=row.id,
                due_at=add_months(opens_at, EVERY_MONTHS[every]),
                now=now,
                dedupe_key=f"{REPEAT_KIND}:{row.id}",
            )
        await uow.audit.append(
            actor_id=author_id,
            action="quiz.campaign",
            obj=f"quiz_campaign:{row.id}",
            details={
                "quiz": quiz.key,
                "audience": audience.as_json(),
                "invited": len(people),
                "every": every,
                "previous": previous_id,
            },
            now=now,
        )
        return Opened(
            campaign_id=row.id,
            quiz_key=quiz.key,
            invited=len(people),
            messaged=messaged,
            unreachable=[p.name for p in people if p.telegram_id is None],
        )

    async def _on_repeat(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        """The next round: the quiz as the library has it now (else the stored one), the same
        audience resolved again (newcomers included), as long a window; this round closes."""
        previous = await uow.quizzes.get(item.ref_id or 0)
        if previous is None or previous.id is None or previous.every not in EVERY_MONTHS:
            return
        paper = self.library.paper(previous.quiz_key) or Paper.from_json(previous.paper)
        closes_at = now + (previous.closes_at - previous.opens_at) if previous.closes_at else None
        try:
            await self._open_in(
                uow,
                paper,
                audience_of(previous.audience),
                opens_at=now,
                closes_at=closes_at,
                every=previous.every,
                author_id=previous.created_by,
                now=now,
                previous_id=previous.id,
            )
        except AudienceError as error:
            logger.error(
                "quiz campaign %s: next round not opened, audience %s", previous.id, error.problems
            )
            return
        previous.status = "closed"
        uow.session.add(previous)

    async def _on_remind(self, item: Due, uow: UnitOfWork, now: datetime) -> None:
        campaign = await uow.quizzes.get(item.ref_id or 0)
        if campaign is None or campaign.id is None or not is_open(campaign, now):
            return  # closed: reminders stop
        number = int(item.payload.get("number", 1))
        paper = Paper.from_json(campaign.paper)
        waiting = []
        for person, _ in await uow.quizzes.not_passed(campaign.id):
            if person.telegram_id is None or person.id is None:
                continue
            attempts = await uow.quizzes.attempts_of(campaign.id, person.id)
            finished = [a for a in attempts if a.finished_at is not None]
            unfinished = len(finished) < len(attempts)
            verdict = may_start(
                paper.quiz,
                finished=len(finished),
                has_passed=False,
                last_finished_at=None,
                now=now,
            )
            if unfinished or verdict.refusal is not Refusal.NO_ATTEMPTS_LEFT:
                waiting.append(person)  # still able to pass
        sending = timedelta(seconds=len(waiting) / SEND_RATE)
        if self._quiet.contains(now, self._tz) or now + sending > self._quiet.next_start(
            now, self._tz
        ):
            later = self._quiet.next_end(now, self._tz)
            if campaign.closes_at is None or later < campaign.closes_at:
                await uow.due.add(
                    kind=REMIND_KIND,
                    ref_id=campaign.id,
                    due_at=later,
                    now=now,
                    payload={"number": number},
                    dedupe_key=f"{REMIND_KIND}:{campaign.id}:{number}:{later:%Y%m%d}",
                )
            return
        for person in waiting:
            assert person.id is not None and person.telegram_id is not None
            await uow.outbox.add(
                chat_id=person.telegram_id,
                kind=REMIND_KIND,
                staff_id=person.id,
                now=now,
                facts={
                    "campaign_id": campaign.id,
                    "title": _text(paper.quiz.title),
                    "closes_at": campaign.closes_at.isoformat() if campaign.closes_at else None,
                },
                ref_id=campaign.id,
                priority=PRIORITY_BROADCAST,
                dedupe_key=f"{REMIND_KIND}:{campaign.id}:{number}:{person.id}",
            )
        await uow.quizzes.note_reminded(
            campaign.id, [p.id for p in waiting if p.id is not None], now=now
        )


def is_open(campaign: QuizCampaign, now: datetime) -> bool:
    return (
        campaign.status == "open"
        and campaign.opens_at <= now
        and (campaign.closes_at is None or now < campaign.closes_at)
    )
