"""The training knowledge base (#6): entries with published versions, the embedding cache,
the trainers' glossary, and what staff asked (to learn from what could not be answered)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, ForeignKey, Integer, LargeBinary
from sqlmodel import Field, SQLModel

from storage.types import EncryptedText, UTCDateTime


class FaqEntry(SQLModel, table=True):
    """One knowledge-base entry: its stable key, and which version staff see.

    ``draft`` is the trainer's working copy (same fields as a version's content) until it is
    published; ``published_version`` is None until the first publish. ``revision`` is the
    compare-and-swap counter for edits.
    """

    __tablename__ = "faq_entry"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)
    locale: str = Field(max_length=10)
    status: str = Field(max_length=20, index=True)  # draft | published | archived
    published_version: int | None = Field(default=None)
    draft: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    revision: int = Field(default=1)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Indexed: the live search index polls max(updated_at) before every question.
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class FaqEntryVersion(SQLModel, table=True):
    """A published state of an entry; rolling back publishes an old one's content again."""

    __tablename__ = "faq_entry_version"

    entry_id: int = Field(
        sa_column=Column(Integer, ForeignKey("faq_entry.id"), primary_key=True, nullable=False)
    )
    version: int = Field(primary_key=True)
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    published_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    note: str | None = Field(default=None, max_length=200)  # e.g. "rollback to v2"


class FaqVector(SQLModel, table=True):
    """A sentence embedding, keyed by model and the hash of the normalised text: an entry
    whose text did not change is never embedded again."""

    __tablename__ = "faq_vector"

    model: str = Field(max_length=60, primary_key=True)
    text_hash: str = Field(max_length=64, primary_key=True)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class FaqGlossaryTerm(SQLModel, table=True):
    """One synonym group edited by trainers: the first term is the canonical one."""

    __tablename__ = "faq_glossary_term"

    id: int | None = Field(default=None, primary_key=True)
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )


class FaqQuestion(SQLModel, table=True):
    """A question staff asked and what the bot did with it.

    The text is encrypted; the asker is kept only as a keyed hash, enough to count how many
    different people asked (the trainers' digest) and no more.
    """

    __tablename__ = "faq_question"

    id: int | None = Field(default=None, primary_key=True)
    asked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    asker: str = Field(max_length=64)
    locale: str = Field(max_length=10)
    text: str = Field(sa_column=Column(EncryptedText("faq"), nullable=False))
    band: str = Field(max_length=10, index=True)  # answer | suggest | unknown
    entry_key: str | None = Field(default=None, max_length=64)
    score: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    chosen: str | None = Field(default=None, max_length=64)  # picked from "did you mean"
    feedback: str | None = Field(default=None, max_length=10)  # up | down
    ticket: str | None = Field(default=None, max_length=40)
    triage: str = Field(default="new", max_length=10, index=True)  # new|added|drafted|ignored
