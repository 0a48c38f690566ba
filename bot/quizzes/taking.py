"""Taking a quiz in the chat: /quiz lists a person's open quizzes; an attempt is one living
card (one question at a time, "第3/10题", option buttons; after each answer the card shows
right or wrong and the explanation, with "下一题"); after the last one the score, and on
passing a certificate message. One transaction per update.

Every answer is saved at once in the attempt (``quiz_attempt``), so a restart resumes where
the person was. A button names the attempt and the question's place (and the option shown);
the service checks, now, that the attempt is the presser's, unfinished, at that question and
not yet answered there, and changes it by compare-and-swap: a second tap, an old card or a
forged button changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import Any

from bot import access
from bot.errors import BadCallbackError, DomainError, StaleCardError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.quizzes.campaigns import is_open
from bot.quizzes.model import (
    Drawn,
    Paper,
    Refusal,
    attempts_left,
    draw,
    may_start,
    passed,
    percent,
)
from bot.runtime import Runtime
from storage.tables.quizzes import QuizAttempt, QuizCampaign
from storage.uow import UnitOfWork

CARD_KIND = "quiz.question"
LIST_KIND = "quiz.list"
RESULT_KIND = "quiz.result"
CERTIFICATE_KIND = "quiz.certificate"
OPTION_SPAN = 16  # an answer button's version: the question's place × 16 + the option shown


class QuizClosedError(DomainError):
    """The campaign is closed (or not open yet)."""


class NotInvitedError(DomainError):
    """This quiz was not sent to this person."""


class AttemptRefusedError(DomainError):
    """No new attempt: passed already, no attempts left, or a cooldown (``until``)."""

    def __init__(self, refusal: Refusal, until: datetime | None = None) -> None:
        super().__init__(refusal, until)
        self.refusal = refusal
        self.until = until


class AlreadyPassedError(AttemptRefusedError):
    """Passed already: a campaign is passed once."""


class NoAttemptsLeftError(AttemptRefusedError):
    """Every attempt the quiz allows has been used."""


class CooldownError(AttemptRefusedError):
    """A failed attempt was too recent (``until``: when the next may start)."""


_REFUSALS: dict[Refusal, type[AttemptRefusedError]] = {
    Refusal.PASSED: AlreadyPassedError,
    Refusal.NO_ATTEMPTS_LEFT: NoAttemptsLeftError,
    Refusal.COOLDOWN: CooldownError,
}


def card_key(attempt_id: int) -> str:
    return f"quiz:{attempt_id}"


def certificate_no(attempt: QuizAttempt, on: datetime) -> str:
    """Unique per pass: the year, the campaign and the attempt (a row id, never reused)."""
    return f"AQ{on:%Y}-{attempt.campaign_id:04d}-{attempt.id or 0:06d}"


def _text(text: Any) -> dict[str, str]:
    return {"zh_CN": text.zh_CN, "en": text.en}


def card_facts(paper: Paper, attempt: QuizAttempt) -> dict[str, Any]:
    """What the card shows: the question at ``position`` (options in the drawn order), and
    once answered, what was picked, the right one and the explanation; when finished, the
    score."""
    drawn = [Drawn.from_json(d) for d in attempt.drawn]
    position = min(attempt.position, len(drawn) - 1)
    item = drawn[position]
    question = paper.question(item.key)
    assert question is not None
    facts: dict[str, Any] = {
        "attempt_id": attempt.id,
        "campaign_id": attempt.campaign_id,
        "title": _text(paper.quiz.title),
        "position": position,
        "total": len(drawn),
        "text": _text(question.text),
        "options": [_text(question.options[i]) for i in item.order],
        "answered": None,
        "finished": None,
    }
    if len(attempt.answers) > position:
        picked = int(attempt.answers[position])
        facts["answered"] = {
            "picked": item.order.index(picked) if picked in item.order else None,
            "correct": item.order.index(question.correct),
            "right": picked == question.correct,
            "explanation": _text(question.explanation),
        }
    if attempt.finished_at is not None:
        facts["finished"] = {
            "correct": attempt.correct,
            "total": attempt.total,
            "score": attempt.score,
            "passed": attempt.passed,
        }
    return facts


# Told in the attempt's unit of work that a person passed a quiz: (uow, staff id, quiz key,
# now). The courses whose closing quiz it is complete (CourseService.quiz_passed).
OnPass = Callable[[UnitOfWork, int, str, datetime], Awaitable[object]]


class QuizTaking:
    """What staff do with quizzes in their private chat."""

    def __init__(
        self,
        rt: Runtime,
        *,
        tz: tzinfo,
        default_locale: str,
        on_pass: OnPass | None = None,
    ) -> None:
        self._rt = rt
        self._tz = tz
        self._default_locale = default_locale
        self._papers: dict[int, Paper] = {}
        self._on_pass = on_pass

    def _paper(self, campaign: QuizCampaign) -> Paper:
        assert campaign.id is not None
        if campaign.id not in self._papers:  # a campaign's paper never changes
            self._papers[campaign.id] = Paper.from_json(campaign.paper)
        return self._papers[campaign.id]

    async def _actor(self, uow: UnitOfWork, tg_id: int) -> access.Actor:
        return await access.authorize(uow, tg_id, "quiz.take", default_locale=self._default_locale)

    async def list_open(self, *, tg_id: int, chat_id: int) -> None:
        """The open quizzes this person is invited to, each with where they stand."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            quizzes = []
            for campaign, invitation in await uow.quizzes.open_for(actor.staff_id, now=now):
                assert campaign.id is not None
                paper = self._paper(campaign)
                attempts = await uow.quizzes.attempts_of(campaign.id, actor.staff_id)
                finished = [a for a in attempts if a.finished_at is not None]
                best = max((a.score or 0 for a in finished), default=None)
                verdict = may_start(
                    paper.quiz,
                    finished=len(finished),
                    has_passed=invitation.passed,
                    last_finished_at=finished[-1].finished_at if finished else None,
                    now=now,
                )
                quizzes.append(
                    {
                        "id": campaign.id,
                        "title": _text(paper.quiz.title),
                        "passed": invitation.passed,
                        "best": best,
                        "begun": len(finished) < len(attempts),
                        "refusal": verdict.refusal.value if verdict.refusal else None,
                        "until": verdict.until.isoformat() if verdict.until else None,
                        "left": attempts_left(paper.quiz, len(finished)),
                        "closes_at": campaign.closes_at.isoformat()
                        if campaign.closes_at
                        else None,
                    }
                )
            await uow.outbox.add(
                chat_id=chat_id,
                kind=LIST_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={"quizzes": quizzes},
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def _campaign(
        self, uow: UnitOfWork, campaign_id: int, staff_id: int, now: datetime
    ) -> QuizCampaign:
        campaign = await uow.quizzes.get(campaign_id)
        if campaign is None or not is_open(campaign, now):
            raise QuizClosedError(campaign_id)
        if await uow.quizzes.invitation(campaign_id, staff_id) is None:
            raise NotInvitedError(campaign_id)
        return campaign

    async def _show(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        paper: Paper,
        attempt: QuizAttempt,
        now: datetime,
        *,
        below: bool = False,
    ) -> None:
        assert attempt.id is not None
        if below:
            await uow.outbox.forget_card(card_key(attempt.id))
        await uow.outbox.add(
            chat_id=chat_id,
            kind=CARD_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts=card_facts(paper, attempt),
            priority=PRIORITY_INTERACTIVE,
            card_key=card_key(attempt.id),
        )

    async def begin(self, *, tg_id: int, chat_id: int, campaign_id: int) -> None:
        """Resume the unfinished attempt (a new card below), else start one if the retry
        policy allows (AttemptRefusedError if not)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            campaign = await self._campaign(uow, campaign_id, actor.staff_id, now)
            paper = self._paper(campaign)
            attempts = await uow.quizzes.attempts_of(campaign_id, actor.staff_id)
            current = next((a for a in attempts if a.finished_at is None), None)
            if current is None:
                invitation = await uow.quizzes.invitation(campaign_id, actor.staff_id)
                finished = [a for a in attempts if a.finished_at is not None]
                verdict = may_start(
                    paper.quiz,
                    finished=len(finished),
                    has_passed=invitation is not None and invitation.passed,
                    last_finished_at=finished[-1].finished_at if finished else None,
                    now=now,
                )
                if verdict.refusal is not None:
                    raise _REFUSALS[verdict.refusal](verdict.refusal, verdict.until)
                seed = secrets.randbits(31)
                drawn = draw(paper, seed)
                current = await uow.quizzes.add_attempt(
                    QuizAttempt(
                        campaign_id=campaign_id,
                        staff_id=actor.staff_id,
                        number=len(attempts) + 1,
                        seed=seed,
                        drawn=[d.as_json() for d in drawn],
                        answers=[],
                        position=0,
                        total=len(drawn),
                        started_at=now,
                    )
                )
            await self._show(uow, actor, chat_id, paper, current, now, below=True)
            await uow.commit()

    async def _attempt(
        self, uow: UnitOfWork, actor: access.Actor, attempt_id: int, now: datetime
    ) -> tuple[QuizAttempt, Paper]:
        attempt = await uow.quizzes.attempt(attempt_id)
        if attempt is None or attempt.staff_id != actor.staff_id:
            raise BadCallbackError()  # someone else's attempt, or none: the same answer
        if attempt.finished_at is not None:
            raise StaleCardError(attempt_id)
        campaign = await self._campaign(uow, attempt.campaign_id, actor.staff_id, now)
        return attempt, self._paper(campaign)

    async def answer(self, *, tg_id: int, chat_id: int, attempt_id: int, code: int) -> None:
        """An option button: saved, the card shows right or wrong and the explanation; the
        last answer finishes the attempt (score, pass or fail, certificate)."""
        now = self._rt.clock()
        position, shown = divmod(code, OPTION_SPAN)
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            attempt, paper = await self._attempt(uow, actor, attempt_id, now)
            drawn = [Drawn.from_json(d) for d in attempt.drawn]
            if position != attempt.position or len(attempt.answers) != position:
                raise StaleCardError(attempt_id)  # an old card, or answered already
            if not 0 <= shown < len(drawn[position].order):
                raise BadCallbackError()
            answers = [*attempt.answers, drawn[position].order[shown]]
            values: dict[str, Any] = {"answers": answers}
            done = len(answers) == len(drawn)
            if done:
                correct = sum(
                    1
                    for item, picked in zip(drawn, answers, strict=True)
                    if (q := paper.question(item.key)) is not None and q.correct == picked
                )
                ok = passed(correct, len(drawn), paper.quiz.pass_mark)
                values.update(
                    finished_at=now,
                    correct=correct,
                    score=percent(correct, len(drawn)),
                    passed=ok,
                    certificate_no=certificate_no(attempt, now.astimezone(self._tz))
                    if ok
                    else None,
                )
            version = await uow.quizzes.move(attempt_id, seen_version=attempt.version, **values)
            if version is None:
                raise StaleCardError(attempt_id)  # two taps at once: the other one counted
            for name, value in values.items():
                setattr(attempt, name, value)
            attempt.version = version
            await self._show(uow, actor, chat_id, paper, attempt, now)
            if done:
                await self._finish(uow, actor, chat_id, paper, attempt, now)
            await uow.commit()

    async def next(self, *, tg_id: int, chat_id: int, attempt_id: int, position: int) -> None:
        """ "下一题": the card moves on to the following question."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            attempt, paper = await self._attempt(uow, actor, attempt_id, now)
            if (
                position != attempt.position
                or len(attempt.answers) != position + 1
                or position + 1 >= len(attempt.drawn)
            ):
                raise StaleCardError(attempt_id)
            version = await uow.quizzes.move(
                attempt_id, seen_version=attempt.version, position=position + 1
            )
            if version is None:
                raise StaleCardError(attempt_id)
            attempt.position, attempt.version = position + 1, version
            await self._show(uow, actor, chat_id, paper, attempt, now)
            await uow.commit()

    async def _finish(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        paper: Paper,
        attempt: QuizAttempt,
        now: datetime,
    ) -> None:
        quiz = paper.quiz
        attempts = await uow.quizzes.attempts_of(attempt.campaign_id, actor.staff_id)
        finished = [a for a in attempts if a.finished_at is not None]
        if attempt.id not in {a.id for a in finished}:
            finished.append(attempt)
        verdict = may_start(
            quiz,
            finished=len(finished),
            has_passed=attempt.passed,
            last_finished_at=now,
            now=now,
        )
        if attempt.passed:
            await uow.quizzes.mark_passed(attempt.campaign_id, actor.staff_id)
            if self._on_pass is not None:  # a course waiting for this quiz completes
                await self._on_pass(uow, actor.staff_id, quiz.key, now)
        await uow.outbox.add(
            chat_id=chat_id,
            kind=RESULT_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={
                "campaign_id": attempt.campaign_id,
                "title": _text(quiz.title),
                "correct": attempt.correct,
                "total": attempt.total,
                "score": attempt.score,
                "pass_mark": quiz.pass_mark,
                "passed": attempt.passed,
                "left": attempts_left(quiz, len(finished)),
                "refusal": verdict.refusal.value if verdict.refusal else None,
                "until": verdict.until.isoformat() if verdict.until else None,
            },
            priority=PRIORITY_INTERACTIVE,
        )
        if attempt.passed:
            department = await uow.people.department(actor.department_id)
            await uow.outbox.add(
                chat_id=chat_id,
                kind=CERTIFICATE_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "number": attempt.certificate_no,
                    "name": actor.name,
                    "department": department.name if department else "",
                    "title": _text(quiz.title),
                    "score": attempt.score,
                    "date": now.astimezone(self._tz).date().isoformat(),
                },
                priority=PRIORITY_INTERACTIVE,
            )
        await uow.audit.append(
            actor_id=actor.staff_id,
            action="quiz.finish",
            obj=f"quiz_attempt:{attempt.id}",
            details={
                "campaign": attempt.campaign_id,
                "number": attempt.number,
                "score": attempt.score,
                "passed": attempt.passed,
                "certificate": attempt.certificate_no,
            },
            now=now,
        )
