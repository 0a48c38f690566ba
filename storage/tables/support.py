"""Support tickets: a problem a staff member handed to a person.

The FAQ's "ask a person" opens one (#6) carrying the question, the answer the bot showed and
its score; the support desk (#7) works them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from storage.types import EncryptedText, UTCDateTime


class SupportTicket(SQLModel, table=True):
    """One ticket; ``number`` is gap-free per year (T2026-000123), ``version`` the CAS counter."""

    __tablename__ = "support_ticket"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    requester_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), nullable=False, index=True)
    )
    status: str = Field(max_length=12, index=True)  # new | claimed | waiting | resolved | closed
    source: str = Field(max_length=12)  # faq | menu | command
    category: str | None = Field(default=None, max_length=40)
    subject: str = Field(sa_column=Column(EncryptedText("ticket"), nullable=False))
    faq_question_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("faq_question.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(default=1)


class SupportMessage(SQLModel, table=True):
    """What was said in a ticket, in order: the user's words, the desk's, and context notes."""

    __tablename__ = "support_message"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(
        sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=False, index=True)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    author: str = Field(max_length=10)  # user | agent | bot
    staff_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    body: str = Field(sa_column=Column(EncryptedText("ticket"), nullable=False))
