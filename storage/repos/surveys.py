"""Queries over surveys: invitations, drafts, and responses kept apart from their authors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_many_ignoring
from storage.tables.people import Staff
from storage.tables.surveys import (
    Survey,
    SurveyDraft,
    SurveyInvitation,
    SurveyResponse,
    SurveyResponseOwner,
)


class SurveyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- surveys -------------------------------------------------------------------------------
    async def add(self, survey: Survey) -> Survey:
        self.session.add(survey)
        await self.session.flush()
        return survey

    async def get(self, survey_id: int) -> Survey | None:
        return await self.session.get(Survey, survey_id)

    async def all(self) -> Sequence[Survey]:
        """Every survey, newest first."""
        rows = await self.session.exec(select(Survey).order_by(col(Survey.id).desc()))
        return rows.all()

    async def newest(self, *, limit: int, author_id: int | None = None) -> Sequence[Survey]:
        """The newest surveys (``author_id``: only those this staff member published)."""
        query = select(Survey).order_by(col(Survey.id).desc()).limit(limit)
        if author_id is not None:
            query = query.where(col(Survey.created_by) == author_id)
        return (await self.session.exec(query)).all()

    # --- invitations ---------------------------------------------------------------------------
    async def invite(self, survey_id: int, staff_ids: Iterable[int], *, now: datetime) -> int:
        """Invite these people (those invited already stay as they are); how many are new."""
        ids = sorted(set(staff_ids))
        if not ids:
            return 0
        return await insert_many_ignoring(
            self.session,
            SurveyInvitation,
            [
                {
                    "survey_id": survey_id,
                    "staff_id": i,
                    "invited_at": now,
                    "reminders": 0,
                    "completed": False,
                }
                for i in ids
            ],
        )

    async def open_for(
        self, staff_id: int, *, now: datetime
    ) -> list[tuple[Survey, SurveyInvitation, bool]]:
        """The open surveys this person is invited to, with their invitation and whether
        they have begun answering (a draft), oldest first."""
        rows = await self.session.exec(
            select(Survey, SurveyInvitation)
            .join(SurveyInvitation, col(SurveyInvitation.survey_id) == col(Survey.id))
            .where(
                col(SurveyInvitation.staff_id) == staff_id,
                col(Survey.status) == "open",
                or_(col(Survey.opens_at).is_(None), col(Survey.opens_at) <= now),
                or_(col(Survey.closes_at).is_(None), col(Survey.closes_at) > now),
            )
            .order_by(col(Survey.id))
        )
        found = list(rows.all())
        drafts = await self.session.exec(
            select(SurveyDraft.survey_id).where(col(SurveyDraft.staff_id) == staff_id)
        )
        begun = set(drafts.all())
        return [(survey, invitation, survey.id in begun) for survey, invitation in found]

    async def invitation(self, survey_id: int, staff_id: int) -> SurveyInvitation | None:
        return await self.session.get(SurveyInvitation, (survey_id, staff_id))

    async def complete(self, survey_id: int, staff_id: int) -> bool:
        """Mark the invitation finished; False if it was already, or there is none. The
        compare-and-set makes two submissions at once count once."""
        result = await self.session.exec(
            update(SurveyInvitation)
            .where(
                col(SurveyInvitation.survey_id) == survey_id,
                col(SurveyInvitation.staff_id) == staff_id,
                col(SurveyInvitation.completed).is_(False),
            )
            .values(completed=True)
        )
        return result.rowcount == 1

    async def not_completed(self, survey_id: int) -> Sequence[Staff]:
        """Active staff invited who have not finished (whom a reminder is for)."""
        rows = await self.session.exec(
            select(Staff)
            .join(SurveyInvitation, col(SurveyInvitation.staff_id) == col(Staff.id))
            .where(
                col(SurveyInvitation.survey_id) == survey_id,
                col(SurveyInvitation.completed).is_(False),
                col(Staff.active).is_(True),
            )
            .order_by(col(Staff.id))
        )
        return rows.all()

    async def note_reminded(
        self, survey_id: int, staff_ids: Iterable[int], *, now: datetime
    ) -> None:
        ids = list(staff_ids)
        if not ids:
            return
        await self.session.exec(
            update(SurveyInvitation)
            .where(
                col(SurveyInvitation.survey_id) == survey_id,
                col(SurveyInvitation.staff_id).in_(ids),
            )
            .values(reminders=col(SurveyInvitation.reminders) + 1, reminded_at=now)
        )

    async def completion_by_department(self, survey_id: int) -> dict[int | None, tuple[int, int]]:
        """Department id -> (finished, invited)."""
        inv = SurveyInvitation
        rows = await self.session.exec(
            select(
                Staff.department_id,
                func.count(case((col(inv.completed).is_(True), 1))),
                func.count(),
            )
            .select_from(inv)
            .join(Staff, col(Staff.id) == col(inv.staff_id))
            .where(col(inv.survey_id) == survey_id)
            .group_by(col(Staff.department_id))
        )
        return {dept: (int(done), int(total)) for dept, done, total in rows.all()}

    # --- drafts --------------------------------------------------------------------------------
    async def draft(self, survey_id: int, staff_id: int) -> SurveyDraft | None:
        return await self.session.get(SurveyDraft, (survey_id, staff_id))

    async def save_draft(
        self,
        survey_id: int,
        staff_id: int,
        *,
        answers: dict[str, Any],
        current: str | None,
        now: datetime,
    ) -> None:
        row = await self.draft(survey_id, staff_id)
        if row is None:
            self.session.add(
                SurveyDraft(
                    survey_id=survey_id,
                    staff_id=staff_id,
                    answers=answers,
                    current=current,
                    updated_at=now,
                )
            )
        else:
            row.answers, row.current, row.updated_at = dict(answers), current, now
            self.session.add(row)
        await self.session.flush()

    async def drop_draft(self, survey_id: int, staff_id: int) -> None:
        await self.session.exec(
            delete(SurveyDraft).where(
                col(SurveyDraft.survey_id) == survey_id, col(SurveyDraft.staff_id) == staff_id
            )
        )

    # --- responses -----------------------------------------------------------------------------
    async def add_response(
        self, response_id: str, survey_id: int, *, answers: dict[str, Any], on: date
    ) -> None:
        self.session.add(
            SurveyResponse(id=response_id, survey_id=survey_id, submitted_on=on, answers=answers)
        )
        await self.session.flush()

    async def add_owner(
        self, response_id: str, survey_id: int, staff_id: int, *, now: datetime
    ) -> None:
        self.session.add(
            SurveyResponseOwner(
                response_id=response_id, survey_id=survey_id, staff_id=staff_id, submitted_at=now
            )
        )
        await self.session.flush()

    async def rewrite_in_order(self, survey_id: int, response_ids: Sequence[str]) -> None:
        """Rewrite these responses of a survey, one by one in the order given (a no-op
        update: on PostgreSQL each one gets a new row version at the end of the table, so the
        physical order becomes this order)."""
        for response_id in response_ids:
            await self.session.exec(
                update(SurveyResponse)
                .where(
                    col(SurveyResponse.id) == response_id,
                    col(SurveyResponse.survey_id) == survey_id,
                )
                .values(survey_id=survey_id)
            )

    async def random_responses(self, survey_id: int, *, limit: int, besides: str) -> list[str]:
        """Up to ``limit`` ids of the survey's other responses, picked at random."""
        rows = await self.session.exec(
            select(SurveyResponse.id)
            .where(col(SurveyResponse.survey_id) == survey_id, col(SurveyResponse.id) != besides)
            .order_by(func.random())
            .limit(limit)
        )
        return list(rows.all())

    async def owned_response(self, survey_id: int, staff_id: int) -> SurveyResponse | None:
        """A named survey's response by this person (anonymous ones have no owner)."""
        rows = await self.session.exec(
            select(SurveyResponse)
            .join(SurveyResponseOwner, col(SurveyResponseOwner.response_id) == SurveyResponse.id)
            .where(
                col(SurveyResponseOwner.survey_id) == survey_id,
                col(SurveyResponseOwner.staff_id) == staff_id,
            )
        )
        return rows.first()

    async def replace_response(
        self, response_id: str, *, answers: dict[str, Any], on: date, now: datetime
    ) -> None:
        row = await self.session.get(SurveyResponse, response_id)
        if row is None:
            raise LookupError(response_id)
        row.answers, row.submitted_on = dict(answers), on
        self.session.add(row)
        await self.session.exec(
            update(SurveyResponseOwner)
            .where(col(SurveyResponseOwner.response_id) == response_id)
            .values(submitted_at=now)
        )
        await self.session.flush()

    async def owners(self, survey_id: int) -> dict[str, int]:
        """A named survey's responses: response id -> staff id (anonymous ones: empty)."""
        rows = await self.session.exec(
            select(SurveyResponseOwner.response_id, SurveyResponseOwner.staff_id).where(
                col(SurveyResponseOwner.survey_id) == survey_id
            )
        )
        return {response_id: staff_id for response_id, staff_id in rows.all()}

    async def responses(self, survey_id: int) -> Sequence[SurveyResponse]:
        """Every response, in no meaningful order (the ids are random)."""
        rows = await self.session.exec(
            select(SurveyResponse)
            .where(col(SurveyResponse.survey_id) == survey_id)
            .order_by(col(SurveyResponse.id))
        )
        return rows.all()
