"""The trainers' digest (#6): groups of questions the knowledge base could not answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from storage.types import EncryptedJSON, EncryptedText, UTCDateTime


class FaqDigestGroup(SQLModel, table=True):
    """Questions that mean the same, shown to trainers in one digest, and what they decided.

    ``digest`` names the digest the group was shown in (every trainer's card of it has the
    same groups). ``status``: open until a trainer adds it as a phrasing (added), drafts an
    entry from it (drafted) or ignores it (ignored), or a newer digest takes its questions
    (replaced). ``version`` is the compare-and-swap counter the buttons carry.
    """

    __tablename__ = "faq_digest_group"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=32, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Staff's words are personal data: encrypted like the question log they come from.
    representative: str = Field(sa_column=Column(EncryptedText("faq"), nullable=False))
    examples: list[str] = Field(
        default_factory=list, sa_column=Column(EncryptedJSON("faq"), nullable=False)
    )
    members: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    askers: int = Field(default=0)
    entry_key: str | None = Field(default=None, max_length=64)  # suggested entry
    status: str = Field(default="open", max_length=10, index=True)
    decided_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The entry it was added to or drafted as.
    entry_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("faq_entry.id"), nullable=True)
    )
    version: int = Field(default=1)
