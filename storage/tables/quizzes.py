"""Quizzes (#8): campaigns, who was invited, and each person's attempts (named: a security
test is not anonymous).

A campaign keeps what it asks (``paper``: the quiz and the pool of questions, as they were
when it opened), so an attempt means the same after a bank is edited. An attempt keeps its
seed and what was drawn (question keys and option order), the answers given so far (the
bank's option index per question) and where the person is: ``position`` is the question
shown; once it is answered (``len(answers) > position``) the card shows the explanation
until "next". ``version`` guards every change (a second tap or an old card changes nothing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class QuizCampaign(SQLModel, table=True):
    """One round of a quiz sent to an audience (``every``: quarter or month, or None)."""

    __tablename__ = "quiz_campaign"

    id: int | None = Field(default=None, primary_key=True)
    quiz_key: str = Field(max_length=40, index=True)
    title: str = Field(max_length=200)
    paper: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", max_length=10, index=True)
    opens_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closes_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    every: str | None = Field(default=None, max_length=10)
    previous_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("quiz_campaign.id"), nullable=True)
    )
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class QuizInvitation(SQLModel, table=True):
    """A person asked to take a campaign's quiz, and whether they have passed."""

    __tablename__ = "quiz_invitation"

    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("quiz_campaign.id"), primary_key=True, nullable=False)
    )
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), primary_key=True, nullable=False)
    )
    invited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    passed: bool = Field(default=False)
    reminders: int = Field(default=0)
    reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class QuizAttempt(SQLModel, table=True):
    """One attempt: what was drawn, what was answered, and the outcome once finished."""

    __tablename__ = "quiz_attempt"
    __table_args__ = (
        UniqueConstraint("campaign_id", "staff_id", "number"),
        Index("ix_quiz_attempt_person", "campaign_id", "staff_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(
        sa_column=Column(Integer, ForeignKey("quiz_campaign.id"), nullable=False)
    )
    staff_id: int = Field(sa_column=Column(Integer, ForeignKey("staff.id"), nullable=False))
    number: int = Field(default=1)  # the person's 1st, 2nd … attempt in this campaign
    seed: int = Field(default=0)
    drawn: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answers: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = Field(default=0)
    version: int = Field(default=1)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    correct: int | None = Field(default=None)
    total: int = Field(default=0)
    score: int | None = Field(default=None)  # percent
    passed: bool = Field(default=False)
    certificate_no: str | None = Field(
        default=None, sa_column=Column(String(40), nullable=True, unique=True)
    )
