"""The durable inbox of updates, scheduled due items, and multi-step flow drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import EncryptedText, UTCDateTime


class InboxUpdate(SQLModel, table=True):
    """A Telegram update, saved before Telegram is told it arrived; handled exactly once."""

    __tablename__ = "inbox_update"
    __table_args__ = (Index("ix_inbox_pending", "status", "update_id"),)

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # Users' messages are personal data: encrypted at rest (#3).
    payload: str = Field(sa_column=Column(EncryptedText("inbox"), nullable=False))
    # pending -> done | failed
    status: str = Field(default="pending", max_length=10)
    attempts: int = Field(default=0)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    error: str | None = Field(default=None, max_length=300)


class DueItem(SQLModel, table=True):
    """Work to do at a time (reminders, deadlines, scheduled sends), claimed on a lease."""

    __tablename__ = "due_item"
    __table_args__ = (Index("ix_due_pending", "done_at", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60)
    ref_id: int | None = Field(default=None)
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = Field(default=0)
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    error: str | None = Field(default=None, max_length=300)


class FlowState(SQLModel, table=True):
    """Where one user is in a multi-step flow in one chat: the step and the draft data."""

    __tablename__ = "flow_state"
    __table_args__ = (UniqueConstraint("telegram_id", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    flow: str = Field(max_length=40)
    step: str = Field(max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    version: int = Field(default=1)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
