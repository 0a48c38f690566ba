"""Surveys (#8): what was asked of whom, who has finished, and the answers, kept apart.

Anonymity holds in the database: ``survey_response`` has no column that names or can be joined
to a person (no staff, no chat, no exact time: a random id, the survey and the day), and is a
table without SQLite's hidden insertion-order rowid. Who has finished is in
``survey_invitation`` (for reminders and to refuse a second submission), as a yes or no: not
even the day, which a response shares. A
named survey's responses are tied to their author by ``survey_response_owner``, a row that an
anonymous survey never writes. Until a person submits, their answers so far are a draft tied to
them (``survey_draft``, encrypted), so that they can stop and come back; submitting moves them
into ``survey_response`` and deletes the draft in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from storage.types import EncryptedJSON, EncryptedText, UTCDateTime


class Survey(SQLModel, table=True):
    """One survey as sent: its definition (the YAML as written, validated), its audience and
    its window. ``status``: draft → open → closed."""

    __tablename__ = "survey"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40, index=True)
    version: int = Field(default=1)
    title: str = Field(max_length=200)
    definition: str = Field(sa_column=Column(EncryptedText("survey"), nullable=False))
    anonymous: bool = Field(default=False)
    status: str = Field(default="draft", max_length=10, index=True)
    # {"all": true} or any of {"departments": [ids], "roles": [...], "staff": [ids]}
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    opens_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closes_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SurveyInvitation(SQLModel, table=True):
    """A person asked to answer; whether they finished, never when or what."""

    __tablename__ = "survey_invitation"

    survey_id: int = Field(
        sa_column=Column(Integer, ForeignKey("survey.id"), primary_key=True, nullable=False)
    )
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), primary_key=True, nullable=False)
    )
    invited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Finished or not, and nothing more: not when (a day shared with one response would say
    # whose it is).
    completed: bool = Field(default=False)
    reminders: int = Field(default=0)
    reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class SurveyDraft(SQLModel, table=True):
    """A person's answers so far, until they submit (then deleted): where to resume."""

    __tablename__ = "survey_draft"

    survey_id: int = Field(
        sa_column=Column(Integer, ForeignKey("survey.id"), primary_key=True, nullable=False)
    )
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), primary_key=True, nullable=False)
    )
    answers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON("survey"), nullable=False)
    )
    current: str | None = Field(default=None, max_length=40)  # the question being asked
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SurveyResponse(SQLModel, table=True):
    """A submitted set of answers: nothing in it points at a person (see the module)."""

    __tablename__ = "survey_response"
    __table_args__ = {"sqlite_with_rowid": False}

    id: str = Field(primary_key=True, max_length=32)  # random hex, not a sequence
    survey_id: int = Field(
        sa_column=Column(Integer, ForeignKey("survey.id"), nullable=False, index=True)
    )
    submitted_on: date = Field(sa_column=Column(Date(), nullable=False))
    answers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON("survey"), nullable=False)
    )


class SurveyResponseOwner(SQLModel, table=True):
    """Who submitted a named survey's response, and when (never written for anonymous ones)."""

    __tablename__ = "survey_response_owner"

    response_id: str = Field(
        sa_column=Column(
            String(32),
            ForeignKey("survey_response.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        )
    )
    survey_id: int = Field(sa_column=Column(Integer, ForeignKey("survey.id"), nullable=False))
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), nullable=False, index=True)
    )
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
