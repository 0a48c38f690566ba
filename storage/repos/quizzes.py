"""Queries over quizzes: campaigns, invitations, attempts (compare-and-swap on a version)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos import insert_many_ignoring
from storage.tables.people import Staff
from storage.tables.quizzes import QuizAttempt, QuizCampaign, QuizInvitation


class QuizRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- campaigns -----------------------------------------------------------------------------
    async def add(self, campaign: QuizCampaign) -> QuizCampaign:
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def get(self, campaign_id: int) -> QuizCampaign | None:
        return await self.session.get(QuizCampaign, campaign_id)

    async def all(self) -> Sequence[QuizCampaign]:
        """Every campaign, newest first."""
        rows = await self.session.exec(select(QuizCampaign).order_by(col(QuizCampaign.id).desc()))
        return rows.all()

    # --- invitations ---------------------------------------------------------------------------
    async def invite(self, campaign_id: int, staff_ids: Iterable[int], *, now: datetime) -> int:
        """Invite these people (those invited already stay as they are); how many are new."""
        ids = sorted(set(staff_ids))
        if not ids:
            return 0
        return await insert_many_ignoring(
            self.session,
            QuizInvitation,
            [
                {
                    "campaign_id": campaign_id,
                    "staff_id": i,
                    "invited_at": now,
                    "passed": False,
                    "reminders": 0,
                }
                for i in ids
            ],
        )

    async def invitation(self, campaign_id: int, staff_id: int) -> QuizInvitation | None:
        return await self.session.get(QuizInvitation, (campaign_id, staff_id))

    async def open_for(
        self, staff_id: int, *, now: datetime
    ) -> list[tuple[QuizCampaign, QuizInvitation]]:
        """The open campaigns this person is invited to, oldest first."""
        rows = await self.session.exec(
            select(QuizCampaign, QuizInvitation)
            .join(QuizInvitation, col(QuizInvitation.campaign_id) == col(QuizCampaign.id))
            .where(
                col(QuizInvitation.staff_id) == staff_id,
                col(QuizCampaign.status) == "open",
                col(QuizCampaign.opens_at) <= now,
                or_(col(QuizCampaign.closes_at).is_(None), col(QuizCampaign.closes_at) > now),
            )
            .order_by(col(QuizCampaign.id))
        )
        return [(c, i) for c, i in rows.all()]

    async def has_passed(self, staff_id: int, quiz_key: str) -> bool:
        """Whether this person has passed this quiz in any campaign (a course's quiz)."""
        row = await self.session.exec(
            select(QuizInvitation.campaign_id)
            .join(QuizCampaign, col(QuizInvitation.campaign_id) == col(QuizCampaign.id))
            .where(
                col(QuizInvitation.staff_id) == staff_id,
                col(QuizCampaign.quiz_key) == quiz_key,
                col(QuizInvitation.passed).is_(True),
            )
            .limit(1)
        )
        return row.first() is not None

    async def mark_passed(self, campaign_id: int, staff_id: int) -> bool:
        result = await self.session.exec(
            update(QuizInvitation)
            .where(
                col(QuizInvitation.campaign_id) == campaign_id,
                col(QuizInvitation.staff_id) == staff_id,
                col(QuizInvitation.passed).is_(False),
            )
            .values(passed=True)
        )
        return result.rowcount == 1

    async def not_passed(self, campaign_id: int) -> Sequence[tuple[Staff, QuizInvitation]]:
        """Active staff invited who have not passed."""
        rows = await self.session.exec(
            select(Staff, QuizInvitation)
            .join(QuizInvitation, col(QuizInvitation.staff_id) == col(Staff.id))
            .where(
                col(QuizInvitation.campaign_id) == campaign_id,
                col(QuizInvitation.passed).is_(False),
                col(Staff.active).is_(True),
            )
            .order_by(col(Staff.id))
        )
        return [(s, i) for s, i in rows.all()]

    async def note_reminded(
        self, campaign_id: int, staff_ids: Iterable[int], *, now: datetime
    ) -> None:
        ids = list(staff_ids)
        if not ids:
            return
        await self.session.exec(
            update(QuizInvitation)
            .where(
                col(QuizInvitation.campaign_id) == campaign_id,
                col(QuizInvitation.staff_id).in_(ids),
            )
            .values(reminders=col(QuizInvitation.reminders) + 1, reminded_at=now)
        )

    async def invited(self, campaign_id: int) -> Sequence[tuple[Staff, QuizInvitation]]:
        """Everyone invited (whether still active or not), in staff order."""
        rows = await self.session.exec(
            select(Staff, QuizInvitation)
            .join(QuizInvitation, col(QuizInvitation.staff_id) == col(Staff.id))
            .where(col(QuizInvitation.campaign_id) == campaign_id)
            .order_by(col(Staff.id))
        )
        return [(s, i) for s, i in rows.all()]

    # --- attempts ------------------------------------------------------------------------------
    async def attempts_of(self, campaign_id: int, staff_id: int) -> Sequence[QuizAttempt]:
        """This person's attempts in the campaign, first first."""
        rows = await self.session.exec(
            select(QuizAttempt)
            .where(
                col(QuizAttempt.campaign_id) == campaign_id,
                col(QuizAttempt.staff_id) == staff_id,
            )
            .order_by(col(QuizAttempt.number))
        )
        return rows.all()

    async def attempt(self, attempt_id: int) -> QuizAttempt | None:
        return await self.session.get(QuizAttempt, attempt_id)

    async def add_attempt(self, attempt: QuizAttempt) -> QuizAttempt:
        self.session.add(attempt)
        await self.session.flush()
        return attempt

    async def move(self, attempt_id: int, *, seen_version: int, **values: Any) -> int | None:
        """Change an attempt if nobody did since ``seen_version``: the new version, or None
        (a second tap, an old card, a racing worker: nothing written)."""
        result = await self.session.exec(
            update(QuizAttempt)
            .where(col(QuizAttempt.id) == attempt_id, col(QuizAttempt.version) == seen_version)
            .values(version=seen_version + 1, **values)
        )
        return seen_version + 1 if result.rowcount == 1 else None

    async def finished(self, campaign_id: int) -> Sequence[QuizAttempt]:
        """Every finished attempt of a campaign (for the reports)."""
        rows = await self.session.exec(
            select(QuizAttempt)
            .where(
                col(QuizAttempt.campaign_id) == campaign_id,
                col(QuizAttempt.finished_at).is_not(None),
            )
            .order_by(col(QuizAttempt.id))
        )
        return rows.all()
