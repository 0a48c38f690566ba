"""Queries of the trainers' digest (#6): which logged questions it takes, and its groups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables.faq import FaqQuestion
from storage.tables.faq_digest import FaqDigestGroup

_IN_CHUNK = 500  # bound parameters per IN (...) list


class FaqDigestRepo:
    """The digest's view of the question log, and its groups with their decisions."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # the question log --------------------------------------------------------------------
    async def unanswered(self, *, since: datetime, limit: int) -> Sequence[FaqQuestion]:
        """Untriaged questions since a time that the bot could not answer well: "I don't
        know", a 👎, or a "did you mean" the asker took nothing from; newest first.

        A follow-up (band "follow") is logged with its entry's own question, not staff's
        words, so its 👍/👎 says nothing about how staff ask: it is left out.
        """
        band = col(FaqQuestion.band)
        rows = await self.session.exec(
            select(FaqQuestion)
            .where(
                col(FaqQuestion.triage) == "new",
                col(FaqQuestion.asked_at) >= since,
                or_(
                    band == "unknown",
                    band.in_(["answer", "suggest"]) & (col(FaqQuestion.feedback) == "down"),
                    (band == "suggest") & col(FaqQuestion.chosen).is_(None),
                ),
            )
            .order_by(col(FaqQuestion.asked_at).desc(), col(FaqQuestion.id).desc())
            .limit(limit)
        )
        return rows.all()

    async def self_service(self, *, since: datetime, until: datetime) -> tuple[int, int]:
        """Of the questions staff asked in [since, until) (follow-ups left out): how many the
        knowledge base settled by itself (an answer, or a "did you mean" pick, with no 👎
        and no ticket), and how many there were."""
        q = FaqQuestion
        asked = (
            col(q.asked_at) >= since,
            col(q.asked_at) < until,
            col(q.band) != "follow",
        )
        served = and_(
            or_(
                col(q.band) == "answer",
                (col(q.band) == "suggest") & col(q.chosen).is_not(None),
            ),
            or_(col(q.feedback).is_(None), col(q.feedback) != "down"),
            col(q.ticket).is_(None),
        )
        total = (await self.session.exec(select(func.count()).select_from(q).where(*asked))).one()
        good = (
            await self.session.exec(select(func.count()).select_from(q).where(*asked, served))
        ).one()
        return int(good), int(total)

    async def untriaged_among(self, question_ids: Iterable[int]) -> set[int]:
        """The ids among these whose question is still waiting for a trainer."""
        ids = list(set(question_ids))
        found: set[int] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            rows = await self.session.exec(
                select(col(FaqQuestion.id)).where(
                    col(FaqQuestion.id).in_(ids[start : start + _IN_CHUNK]),
                    col(FaqQuestion.triage) == "new",
                )
            )
            found.update(int(i) for i in rows.all() if i is not None)
        return found

    async def triage(self, question_ids: Iterable[int], status: str) -> int:
        """Mark untriaged questions with a trainer's decision; how many were marked."""
        ids = list(set(question_ids))
        marked = 0
        for start in range(0, len(ids), _IN_CHUNK):
            result = await self.session.exec(
                update(FaqQuestion)
                .where(
                    col(FaqQuestion.id).in_(ids[start : start + _IN_CHUNK]),
                    col(FaqQuestion.triage) == "new",
                )
                .values(triage=status)
            )
            marked += int(result.rowcount)
        return marked

    # groups ---------------------------------------------------------------------------------
    # Every read refreshes what the session holds: decisions are written with UPDATE
    # statements, which leave an already loaded row stale in the session.
    async def add(self, group: FaqDigestGroup) -> FaqDigestGroup:
        self.session.add(group)
        await self.session.flush()
        return group

    async def get(self, group_id: int) -> FaqDigestGroup | None:
        """The group as it is now (after another trainer's committed decision, too)."""
        rows = await self.session.exec(
            select(FaqDigestGroup)
            .where(col(FaqDigestGroup.id) == group_id)
            .execution_options(populate_existing=True)
        )
        return rows.first()

    async def open_groups(self) -> Sequence[FaqDigestGroup]:
        """Groups no trainer has decided on, oldest first."""
        rows = await self.session.exec(
            select(FaqDigestGroup)
            .where(col(FaqDigestGroup.status) == "open")
            .order_by(col(FaqDigestGroup.id))
            .execution_options(populate_existing=True)
        )
        return rows.all()

    async def of_digest(self, digest: str) -> Sequence[FaqDigestGroup]:
        """The groups of one digest, in the order it shows them."""
        rows = await self.session.exec(
            select(FaqDigestGroup)
            .where(col(FaqDigestGroup.digest) == digest)
            .order_by(col(FaqDigestGroup.id))
            .execution_options(populate_existing=True)
        )
        return rows.all()

    async def settle(
        self, group_id: int, *, seen_version: int, status: str, **values: Any
    ) -> int | None:
        """Compare-and-swap an open group to a decision: its new version, or None when it was
        decided (or replaced) after the card was drawn, and then nothing is written."""
        result = await self.session.exec(
            update(FaqDigestGroup)
            .where(
                col(FaqDigestGroup.id) == group_id,
                col(FaqDigestGroup.version) == seen_version,
                col(FaqDigestGroup.status) == "open",
            )
            .values(status=status, version=seen_version + 1, **values)
        )
        return seen_version + 1 if result.rowcount == 1 else None

    async def set_entry(self, group_id: int, entry_id: int) -> None:
        """Which entry a decided group was added to or drafted as."""
        await self.session.exec(
            update(FaqDigestGroup)
            .where(col(FaqDigestGroup.id) == group_id)
            .values(entry_id=entry_id)
        )
