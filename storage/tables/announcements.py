"""Announcements (#8): what was announced to whom, who got it and who acknowledged (已阅).

``announcement`` holds the content as sent (the HTML made from the author's formatting, an
attachment by its Telegram file id), the audience as written and whether acknowledgement is
required by when. ``announcement_recipient`` has one row per person it was for: when Telegram
accepted the message for them (``delivered_at``: delivery, not reading) and when they tapped
已阅 (``acked_at``). Named on purpose: an official notice records who has acknowledged it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from storage.types import EncryptedText, UTCDateTime


class Announcement(SQLModel, table=True):
    """One announcement. ``status``: draft (previewed, not sent) → sent | cancelled."""

    __tablename__ = "announcement"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(EncryptedText("announce"), nullable=False))
    body_html: str = Field(sa_column=Column(EncryptedText("announce"), nullable=False))
    # photo | document | None; the file as Telegram knows it (sent again by its id)
    attachment_kind: str | None = Field(default=None, max_length=10)
    attachment_file_id: str | None = Field(default=None, max_length=200)
    attachment_name: str | None = Field(default=None, max_length=200)
    audience: str = Field(max_length=500)  # as written: "all", "dept:办公室,role:trainer"
    ack_required: bool = Field(default=False)
    ack_by: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default="draft", max_length=10, index=True)
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The author's chat, told of progress and shown the status card (None: the CLI).
    author_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AnnouncementRecipient(SQLModel, table=True):
    """A person an announcement was for: delivered when, acknowledged when."""

    __tablename__ = "announcement_recipient"
    __table_args__ = (Index("ix_announcement_recipient_open", "announcement_id", "acked_at"),)

    announcement_id: int = Field(
        sa_column=Column(Integer, ForeignKey("announcement.id"), primary_key=True, nullable=False)
    )
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), primary_key=True, nullable=False)
    )
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    acked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reminders: int = Field(default=0)
    reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
