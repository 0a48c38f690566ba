"""Surveys in the chat: the list of open ones (/survey, the menu), and each person's question
card, moved by buttons and typed answers, one transaction per update.

The question card is a living card per person and survey; after a typed answer the next
question is sent below it instead (the person's message would otherwise sit under a card
that changed above it). The card's rows forget their facts once delivered
(``DeliveryService.forget_when_sent``), so the outbox keeps nothing of what a person picked.
Nothing here writes an audit entry: an anonymous survey's submission must leave no trace of
who and when beyond the day in the invitation.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from bot import access
from bot.approvals.forms import FieldInputError
from bot.definitions import Text
from bot.errors import BadCallbackError, DomainError
from bot.messaging.services import PRIORITY_INTERACTIVE
from bot.runtime import Runtime
from bot.surveys import reporting
from bot.surveys.answering import Step, SurveyAnswering
from bot.surveys.model import QuestionKind, Survey
from storage.uow import UnitOfWork

FLOW = "survey"
CARD_KIND = "survey.question"
LIST_KIND = "survey.list"
DONE_KIND = "survey.done"
KINDS_PREFIX = "survey."
VALUE_SPAN = 100  # a button's version: question index × 100 + the value (choice or score)
TYPED = frozenset({QuestionKind.TEXT, QuestionKind.NUMBER, QuestionKind.DATE})


def _text(text: Text | None) -> dict[str, str] | None:
    return None if text is None else {"zh_CN": text.zh_CN, "en": text.en}


def card_key(survey_id: int, staff_id: int) -> str:
    return f"survey:{survey_id}:{staff_id}"


def step_facts(
    definition: Survey, step: Step, *, error: FieldInputError | None = None
) -> dict[str, Any]:
    """What the question card shows: the question (both languages), its place on the path,
    what is picked so far (multiple choice) and a problem with the last answer."""
    facts: dict[str, Any] = {
        "survey_id": step.survey_id,
        "title": _text(definition.title),
        "position": step.position,
        "total": step.total,
        "welcome": _text(step.welcome),
        "error": None if error is None else {"code": error.code, **error.facts},
    }
    question = step.question
    if question is None:
        facts["ready"] = True
        return facts
    index = [q.key for q in definition.questions].index(question.key)
    facts["question"] = {
        "index": index,
        "kind": question.kind.value,
        "text": _text(question.text),
        "hint": _text(question.hint),
        "required": question.required,
        "choices": [_text(c.label) for c in question.choices],
        "picked": [i for i, c in enumerate(question.choices) if c.key in step.picked],
        "max": int(question.max)
        if question.kind is QuestionKind.MULTIPLE and question.max
        else None,
    }
    return facts


class SurveyChatService:
    """What staff do with surveys in their private chat."""

    def __init__(self, rt: Runtime, *, tz: tzinfo, default_locale: str) -> None:
        self._rt = rt
        self._answering = SurveyAnswering(tz=tz)
        self._default_locale = default_locale

    async def _actor(self, uow: UnitOfWork, tg_id: int) -> access.Actor:
        return await access.authorize(
            uow, tg_id, "menu.surveys", default_locale=self._default_locale
        )

    async def list_open(self, *, tg_id: int, chat_id: int) -> None:
        """The open surveys this person is asked to answer (begun ones say so)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            surveys = []
            for row, invitation, begun in await uow.surveys.open_for(actor.staff_id, now=now):
                definition = await self._answering.definition(uow, row.id or 0)
                if definition is None:
                    continue
                done = invitation.completed
                if done and not definition.answered_again:
                    continue
                surveys.append(
                    {
                        "id": row.id,
                        "title": _text(definition.title),
                        "begun": begun,
                        "done": done,
                        "anonymous": definition.anonymous,
                        "closes_at": row.closes_at.isoformat() if row.closes_at else None,
                    }
                )
            await uow.outbox.add(
                chat_id=chat_id,
                kind=LIST_KIND,
                staff_id=actor.staff_id,
                now=now,
                facts={
                    "surveys": surveys,
                    "authored": await reporting.authored(uow, actor.staff_id),  # 📊 buttons
                },
                priority=PRIORITY_INTERACTIVE,
            )
            await uow.commit()

    async def _show(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        definition: Survey,
        step: Step,
        now: datetime,
        *,
        below: bool = False,
        error: FieldInputError | None = None,
    ) -> None:
        key = card_key(step.survey_id, actor.staff_id)
        if below:
            await uow.outbox.forget_card(key)
        await uow.outbox.add(
            chat_id=chat_id,
            kind=CARD_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts=step_facts(definition, step, error=error),
            priority=PRIORITY_INTERACTIVE,
            card_key=key,
        )
        await uow.flows.put(
            actor.telegram_id,
            chat_id,
            flow=FLOW,
            step=step.question.key if step.question is not None else "ready",
            data={"survey_id": step.survey_id},
            now=now,
        )

    async def begin(self, *, tg_id: int, chat_id: int, survey_id: int) -> None:
        """Start or resume: the welcome with the first question, or where they stopped
        (as a new card below, so that it is where the person is looking)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            step = await self._answering.begin(
                uow, staff_id=actor.staff_id, survey_id=survey_id, now=now
            )
            definition = await self._answering.definition(uow, survey_id)
            assert definition is not None
            await self._show(uow, actor, chat_id, definition, step, now, below=True)
            await uow.commit()

    async def press(
        self, *, tg_id: int, chat_id: int, survey_id: int, verb: str, code: int
    ) -> None:
        """A button of the question card: ``opt`` (a choice or a score), ``done`` (multiple
        choice), ``skip``, ``send``. ``code``: the question index × 100 + the value."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            actor = await self._actor(uow, tg_id)
            definition = await self._answering.definition(uow, survey_id)
            if definition is None:
                raise BadCallbackError()
            if verb == "send":
                await self._submit(uow, actor, chat_id, definition, survey_id, now)
                await uow.commit()
                return
            index, value = divmod(code, VALUE_SPAN)
            if not 0 <= index < len(definition.questions):
                raise BadCallbackError()
            question = definition.questions[index]
            try:
                if verb == "opt" and question.kind is QuestionKind.SINGLE:
                    if not 0 <= value < len(question.choices):
                        raise BadCallbackError()
                    step = await self._answering.answer(
                        uow,
                        question=question.key,
                        choice=question.choices[value].key,
                        now=now,
                        staff_id=actor.staff_id,
                        survey_id=survey_id,
                    )
                elif verb == "opt" and question.kind is QuestionKind.MULTIPLE:
                    if not 0 <= value < len(question.choices):
                        raise BadCallbackError()
                    step = await self._answering.toggle(
                        uow,
                        question=question.key,
                        choice=question.choices[value].key,
                        now=now,
                        staff_id=actor.staff_id,
                        survey_id=survey_id,
                    )
                elif verb == "opt" and question.kind in (QuestionKind.RATING, QuestionKind.NPS):
                    step = await self._answering.answer(
                        uow,
                        question=question.key,
                        score=value,
                        now=now,
                        staff_id=actor.staff_id,
                        survey_id=survey_id,
                    )
                elif verb == "done":
                    step = await self._answering.done_picking(
                        uow,
                        question=question.key,
                        now=now,
                        staff_id=actor.staff_id,
                        survey_id=survey_id,
                    )
                elif verb == "skip":
                    step = await self._answering.skip(
                        uow,
                        question=question.key,
                        now=now,
                        staff_id=actor.staff_id,
                        survey_id=survey_id,
                    )
                else:
                    raise BadCallbackError()
            except FieldInputError as problem:
                step = await self._answering.begin(
                    uow, now=now, staff_id=actor.staff_id, survey_id=survey_id
                )  # where they are, unchanged
                await self._show(uow, actor, chat_id, definition, step, now, error=problem)
                await uow.commit()
                return
            await self._show(uow, actor, chat_id, definition, step, now)
            await uow.commit()

    async def typed(self, *, tg_id: int, chat_id: int, text: str) -> bool:
        """A private text while the person is answering a survey: the answer to the question
        being asked. False: they are not answering one (the text is for something else)."""
        now = self._rt.clock()
        async with self._rt.uow() as uow:
            flow = await uow.flows.get(tg_id, chat_id)
            if flow is None or flow.flow != FLOW:
                return False
            actor = await self._actor(uow, tg_id)
            survey_id = int(flow.data.get("survey_id", 0))
            definition = await self._answering.definition(uow, survey_id)
            question = definition.question(flow.step) if definition is not None else None
            if definition is None or question is None:
                await uow.flows.clear(tg_id, chat_id)
                await uow.commit()
                return False
            try:
                await self._answering.begin(
                    uow, staff_id=actor.staff_id, survey_id=survey_id, now=now
                )  # still open, still theirs
            except DomainError:
                # Closed (or answered elsewhere) since: the text is not theirs to take, and
                # the person is told why; the flow ends with it.
                await uow.flows.clear(tg_id, chat_id)
                await uow.commit()
                raise
            try:
                step = await self._answering.answer(
                    uow,
                    question=question.key,
                    text=text,
                    now=now,
                    staff_id=actor.staff_id,
                    survey_id=survey_id,
                )
            except FieldInputError as raised:
                problem = raised if question.kind in TYPED else FieldInputError("tap_a_button")
                step = await self._answering.begin(
                    uow, now=now, staff_id=actor.staff_id, survey_id=survey_id
                )
                await self._show(
                    uow, actor, chat_id, definition, step, now, below=True, error=problem
                )
                await uow.commit()
                return True
            await self._show(uow, actor, chat_id, definition, step, now, below=True)
            await uow.commit()
            return True

    async def _submit(
        self,
        uow: UnitOfWork,
        actor: access.Actor,
        chat_id: int,
        definition: Survey,
        survey_id: int,
        now: datetime,
    ) -> None:
        await self._answering.submit(uow, staff_id=actor.staff_id, survey_id=survey_id, now=now)
        await uow.flows.clear(actor.telegram_id, chat_id)
        await uow.outbox.add(
            chat_id=chat_id,
            kind=CARD_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={"survey_id": survey_id, "title": _text(definition.title), "submitted": True},
            priority=PRIORITY_INTERACTIVE,
            card_key=card_key(survey_id, actor.staff_id),
        )
        await uow.outbox.add(
            chat_id=chat_id,
            kind=DONE_KIND,
            staff_id=actor.staff_id,
            now=now,
            facts={"closing": _text(definition.closing), "anonymous": definition.anonymous},
            priority=PRIORITY_INTERACTIVE,
        )
