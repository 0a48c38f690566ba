"""Answering a survey, one question at a time, saved after every answer.

The person's answers so far are their draft (``survey_draft``, with the question being asked),
so leaving and coming back, or a restart of the bot, resumes where they stopped. Typed answers
(text, number, date) are read the way the approval forms read them (``parse_answer``: full-width
digits, "12月1日", the same error messages); choices, ratings and NPS come from buttons, and a
rating or score may also be typed. Submitting hands the answers to ``responses.submit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from bot.approvals.forms import FieldInputError, is_skip, parse_answer
from bot.approvals.model import FieldType, FormField
from bot.definitions import Text
from bot.errors import DomainError, StaleCardError
from bot.surveys.definitions import parse_survey
from bot.surveys.model import (
    SCALES,
    Answer,
    Question,
    QuestionKind,
    Survey,
    decode_answers,
    encode_answer,
)
from bot.surveys.responses import NotInvitedError, SurveyClosedError, is_open, submit
from storage.tables.surveys import Survey as SurveyRow
from storage.uow import UnitOfWork

_TYPED = {
    QuestionKind.TEXT: FieldType.LONGTEXT,
    QuestionKind.NUMBER: FieldType.NUMBER,
    QuestionKind.DATE: FieldType.DATE,
}


class AlreadyDoneError(DomainError):
    """This person has submitted the survey already (and it takes no second submission)."""


@dataclass(frozen=True)
class Step:
    """Where a person is in a survey: the question to ask (None: all answered, ready to
    submit), its place on their path, and what they have picked so far (multiple choice)."""

    survey_id: int
    title: Text
    question: Question | None
    position: int
    total: int
    picked: frozenset[str] = frozenset()
    fresh: bool = False  # the first step of a first start: show the welcome
    welcome: Text | None = None


def typed_answer(question: Question, text: str, *, today: date) -> Answer | None:
    """The answer ``text`` gives to ``question`` (None: skipped); FieldInputError if unfit."""
    kind = question.kind
    if kind in _TYPED:
        field = FormField(
            key=question.key,
            type=_TYPED[kind],
            label=question.text,
            required=question.required,
            min=question.min,
            max=question.max,
        )
        value = parse_answer(field, text, today=today)
        if value is None:
            return None
        if kind is QuestionKind.NUMBER:
            return Decimal(str(value))
        if kind is QuestionKind.DATE:
            return date.fromisoformat(str(value))
        return str(value)
    if not text.strip() or is_skip(text):
        if question.required:
            raise FieldInputError("required")
        return None
    if kind in SCALES:
        low, high = SCALES[kind]
        folded = text.strip().translate(_FULL_WIDTH_DIGITS)
        if not folded.isascii() or not folded.isdigit():
            raise FieldInputError("not_a_number")
        score = int(folded)
        if score < low:
            raise FieldInputError("below_min", min=str(low))
        if score > high:
            raise FieldInputError("above_max", max=str(high))
        return score
    raise FieldInputError("bad_choice")  # choices are buttons


_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


class SurveyAnswering:
    """begin → answer / toggle / skip … → submit, each on the caller's unit of work (which
    also queues what the person sees, and commits both together)."""

    def __init__(self, *, tz: tzinfo) -> None:
        self._tz = tz
        self._definitions: dict[tuple[int, int], Survey] = {}

    def _definition(self, row: SurveyRow) -> Survey:
        assert row.id is not None
        key = (row.id, row.version)
        if key not in self._definitions:
            self._definitions[key] = parse_survey(row.definition, source=f"survey {row.id}")
        return self._definitions[key]

    async def _open(
        self, uow: UnitOfWork, survey_id: int, staff_id: int, now: datetime
    ) -> tuple[SurveyRow, Survey]:
        row = await uow.surveys.get(survey_id)
        if row is None or not is_open(row, now):
            raise SurveyClosedError(survey_id)
        invitation = await uow.surveys.invitation(survey_id, staff_id)
        if invitation is None:
            raise NotInvitedError(survey_id)
        definition = self._definition(row)
        if invitation.completed and not definition.answered_again:
            raise AlreadyDoneError(survey_id)
        return row, definition

    def _step(
        self,
        survey_id: int,
        definition: Survey,
        answers: Mapping[str, Answer],
        question: Question | None,
        *,
        fresh: bool = False,
    ) -> Step:
        if question is None:
            total = len(definition.path(answers))
            return Step(survey_id, definition.title, None, total, total)
        position, total = definition.progress(answers, question.key)
        picked = answers.get(question.key)
        return Step(
            survey_id,
            definition.title,
            question,
            position,
            total,
            picked=picked if isinstance(picked, frozenset) else frozenset(),
            fresh=fresh,
            welcome=definition.welcome if fresh else None,
        )

    async def _save(
        self,
        uow: UnitOfWork,
        survey_id: int,
        staff_id: int,
        definition: Survey,
        answers: Mapping[str, Answer],
        current: Question | None,
        now: datetime,
    ) -> None:
        stored: dict[str, Any] = {
            key: encode_answer(q, answers[key])
            for q in definition.questions
            if (key := q.key) in answers
        }
        await uow.surveys.save_draft(
            survey_id,
            staff_id,
            answers=stored,
            current=current.key if current is not None else None,
            now=now,
        )

    async def begin(
        self, uow: UnitOfWork, *, staff_id: int, survey_id: int, now: datetime
    ) -> Step:
        """Start, or resume at the question the person stopped at."""
        _, definition = await self._open(uow, survey_id, staff_id, now)
        draft = await uow.surveys.draft(survey_id, staff_id)
        if draft is not None:
            answers = decode_answers(definition, draft.answers)
            current = definition.question(draft.current) if draft.current else None
            if current is None or not current.asked(definition.kept(answers)):
                current = _first_unanswered(definition, answers)
            return self._step(survey_id, definition, answers, current)
        first = definition.next_question({}, None)
        await self._save(uow, survey_id, staff_id, definition, {}, first, now)
        return self._step(survey_id, definition, {}, first, fresh=True)

    async def _current(
        self, uow: UnitOfWork, survey_id: int, staff_id: int, question_key: str, now: datetime
    ) -> tuple[Survey, dict[str, Answer], Question]:
        _, definition = await self._open(uow, survey_id, staff_id, now)
        draft = await uow.surveys.draft(survey_id, staff_id)
        if draft is None or draft.current != question_key:
            raise StaleCardError(survey_id)  # an old card: the person has moved on
        question = definition.question(question_key)
        if question is None:
            raise StaleCardError(survey_id)
        return definition, decode_answers(definition, draft.answers), question

    async def _advance(
        self,
        uow: UnitOfWork,
        survey_id: int,
        staff_id: int,
        definition: Survey,
        answers: dict[str, Answer],
        question: Question,
        now: datetime,
    ) -> Step:
        following = definition.next_question(answers, question.key)
        await self._save(uow, survey_id, staff_id, definition, answers, following, now)
        return self._step(survey_id, definition, answers, following)

    async def answer(
        self,
        uow: UnitOfWork,
        *,
        staff_id: int,
        survey_id: int,
        question: str,
        now: datetime,
        text: str | None = None,
        choice: str | None = None,
        score: int | None = None,
    ) -> Step:
        """The answer to the question being asked: typed ``text``, a ``choice`` button
        (single) or a ``score`` button (rating, NPS). FieldInputError if it does not fit."""
        today = now.astimezone(self._tz).date()
        definition, answers, asked = await self._current(uow, survey_id, staff_id, question, now)
        value: Answer | None
        if choice is not None:
            if asked.kind is not QuestionKind.SINGLE or asked.choice(choice) is None:
                raise FieldInputError("bad_choice")
            value = choice
        elif score is not None:
            if asked.kind not in SCALES:
                raise FieldInputError("bad_choice")
            value = typed_answer(asked, str(score), today=today)
        elif asked.kind is QuestionKind.MULTIPLE:
            raise FieldInputError("bad_choice")  # picked with buttons, then "done"
        else:
            value = typed_answer(asked, text or "", today=today)
        if value is None:
            answers.pop(asked.key, None)
        else:
            answers[asked.key] = value
        return await self._advance(uow, survey_id, staff_id, definition, answers, asked, now)

    async def toggle(
        self,
        uow: UnitOfWork,
        *,
        staff_id: int,
        survey_id: int,
        question: str,
        choice: str,
        now: datetime,
    ) -> Step:
        """Pick or unpick one choice of the multiple-choice question being asked."""
        definition, answers, asked = await self._current(uow, survey_id, staff_id, question, now)
        if asked.kind is not QuestionKind.MULTIPLE or asked.choice(choice) is None:
            raise FieldInputError("bad_choice")
        picked = answers.get(asked.key)
        chosen = set(picked) if isinstance(picked, frozenset) else set()
        chosen ^= {choice}
        if asked.max is not None and len(chosen) > asked.max:
            raise FieldInputError("too_many_choices", max=str(asked.max))
        if chosen:
            answers[asked.key] = frozenset(chosen)
        else:
            answers.pop(asked.key, None)
        await self._save(uow, survey_id, staff_id, definition, answers, asked, now)
        return self._step(survey_id, definition, answers, asked)

    async def done_picking(
        self, uow: UnitOfWork, *, staff_id: int, survey_id: int, question: str, now: datetime
    ) -> Step:
        """The multiple-choice question is answered with what is picked."""
        definition, answers, asked = await self._current(uow, survey_id, staff_id, question, now)
        picked = answers.get(asked.key)
        count = len(picked) if isinstance(picked, frozenset) else 0
        if count == 0 and asked.required:
            raise FieldInputError("required")
        low = asked.min if asked.min is not None else Decimal(1)
        if 0 < count < low:
            raise FieldInputError("too_few_choices", min=str(low))
        return await self._advance(uow, survey_id, staff_id, definition, answers, asked, now)

    async def skip(
        self, uow: UnitOfWork, *, staff_id: int, survey_id: int, question: str, now: datetime
    ) -> Step:
        """Leave an optional question unanswered."""
        definition, answers, asked = await self._current(uow, survey_id, staff_id, question, now)
        if asked.required:
            raise FieldInputError("required")
        answers.pop(asked.key, None)
        return await self._advance(uow, survey_id, staff_id, definition, answers, asked, now)

    async def submit(
        self, uow: UnitOfWork, *, staff_id: int, survey_id: int, now: datetime
    ) -> Survey:
        """Hand in the answers (all required ones on the path given); the definition (its
        closing text is what the person sees)."""
        _, definition = await self._open(uow, survey_id, staff_id, now)
        draft = await uow.surveys.draft(survey_id, staff_id)
        if draft is None or draft.current is not None:
            raise StaleCardError(survey_id)  # not every question is answered yet
        answers = decode_answers(definition, draft.answers)
        await submit(uow, survey_id, definition, staff_id, answers, now=now, tz=self._tz)
        return definition

    async def definition(self, uow: UnitOfWork, survey_id: int) -> Survey | None:
        """The parsed definition of a survey (cached per version)."""
        row = await uow.surveys.get(survey_id)
        return self._definition(row) if row is not None else None


def _first_unanswered(definition: Survey, answers: Mapping[str, Answer]) -> Question | None:
    kept = definition.kept(answers)
    return next((q for q in definition.path(answers) if q.key not in kept), None)
