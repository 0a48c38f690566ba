"""Submitting a survey: the answers go where the survey's anonymity says, in one transaction.

An anonymous survey's answers are written to ``survey_response`` with a random id and the
day only, and nothing else records which person gave them: the invitation is marked finished
(the day, for reminders and to refuse a second submission), the draft that held the answers
while the person was answering is deleted, and no owner row, audit entry or message carries
the answers or the moment. A named survey also writes its owner row, so that a second
submission can replace the first when the survey says so.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, tzinfo

from bot.errors import DomainError
from bot.surveys.model import Answer, Survey, encode_answers, missing
from storage.tables.surveys import Survey as SurveyRow
from storage.uow import UnitOfWork


class SurveyClosedError(DomainError):
    """Not open for answers (not yet, or any more)."""


class NotInvitedError(DomainError):
    """This person is not among those the survey was sent to."""


class AlreadySubmittedError(DomainError):
    """A second submission to a survey that refuses one."""


class IncompleteError(DomainError):
    """A required question on the person's path has no answer."""

    def __init__(self, question: str) -> None:
        super().__init__(question)
        self.question = question


MIX_WITH = 4  # an anonymous response is written among this many others, in random order


async def _hide_among_others(uow: UnitOfWork, survey_id: int, response_id: str) -> None:
    """Rewrite the new response together with up to MIX_WITH others of the survey, in a
    random order, in this transaction: where a row lies in the table (PostgreSQL keeps them
    in the order written) then says only that it is one of these, not which."""
    group = [
        response_id,
        *await uow.surveys.random_responses(survey_id, limit=MIX_WITH, besides=response_id),
    ]
    secrets.SystemRandom().shuffle(group)
    await uow.surveys.rewrite_in_order(survey_id, group)


def is_open(row: SurveyRow, now: datetime) -> bool:
    """Open for answers now: published, its opening time reached, its closing time not."""
    return (
        row.status == "open"
        and (row.opens_at is None or row.opens_at <= now)
        and (row.closes_at is None or now < row.closes_at)
    )


async def submit(
    uow: UnitOfWork,
    survey_id: int,
    definition: Survey,
    staff_id: int,
    answers: Mapping[str, Answer],
    *,
    now: datetime,
    tz: tzinfo,
) -> str:
    """Store the answers as a response; its id. Raises the errors above (nothing written)."""
    row = await uow.surveys.get(survey_id)
    if row is None or not is_open(row, now):
        raise SurveyClosedError(survey_id)
    if await uow.surveys.invitation(survey_id, staff_id) is None:
        raise NotInvitedError(survey_id)
    gaps = missing(definition, answers)
    if gaps:
        raise IncompleteError(gaps[0].key)
    today = now.astimezone(tz).date()
    stored = encode_answers(definition, answers)
    if await uow.surveys.complete(survey_id, staff_id):
        response_id = secrets.token_hex(16)
        await uow.surveys.add_response(response_id, survey_id, answers=stored, on=today)
        if definition.anonymous:
            await _hide_among_others(uow, survey_id, response_id)
        else:
            await uow.surveys.add_owner(response_id, survey_id, staff_id, now=now)
    else:
        owned = (
            await uow.surveys.owned_response(survey_id, staff_id)
            if definition.answered_again
            else None
        )
        if owned is None:
            raise AlreadySubmittedError(survey_id)
        response_id = owned.id
        await uow.surveys.replace_response(response_id, answers=stored, on=today, now=now)
    await uow.surveys.drop_draft(survey_id, staff_id)
    return response_id
