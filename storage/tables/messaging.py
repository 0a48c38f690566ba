"""The transactional outbox and what we know about each chat's reachability."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from storage.types import EncryptedJSON, EncryptedText, UTCDateTime

# Priority lanes: lower is sooner. An interactive reply never waits behind a broadcast.
PRIORITY_INTERACTIVE = 0
PRIORITY_NOTIFY = 5
PRIORITY_BROADCAST = 9


class OutboxMessage(SQLModel, table=True):
    """A message to send: kind and facts, never text; rendered in the recipient's language."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "priority", "id"),
        # The claim's "no earlier open row for this chat" probe, per candidate row.
        Index("ix_outbox_chat_open", "chat_id", "status", "id"),
        # A living card's rows (redrawing one supersedes or refills the older ones) and a
        # topic's newest open row (a requester's burst joins it): without these both scan
        # every pending row, and a desk group's backlog can be tens of thousands.
        Index("ix_outbox_card", "card_key", "status", "id"),
        Index("ix_outbox_topic", "topic_key", "status", "id"),
        # A mass send's rows (a survey's invitations, an announcement), counted for the
        # author's progress card every 15 s while 10,000 go out.
        Index("ix_outbox_ref", "ref_id", "kind", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    staff_id: int | None = Field(default=None, index=True)
    locale: str | None = Field(default=None, max_length=10)
    kind: str = Field(max_length=60)
    ref_id: int | None = Field(default=None)
    # A living card: sent once, then every row with the same key edits that message.
    card_key: str | None = Field(default=None, max_length=80)
    # A forum topic to post into (forum_topic.key): created by the sender on first use.
    topic_key: str | None = Field(default=None, max_length=80)
    facts: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON("outbox"), nullable=False)
    )
    priority: int = Field(default=PRIORITY_NOTIFY)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    # pending -> inflight -> sent | failed | unreachable
    status: str = Field(default="pending", max_length=12)
    attempts: int = Field(default=0)
    not_before: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    error: str | None = Field(default=None, max_length=300)


class ChatStatus(SQLModel, table=True):
    """A chat that refused our messages (403): we stop sending until it talks to us again."""

    __tablename__ = "chat_status"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    unreachable_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reason: str | None = Field(default=None, max_length=200)


class LiveCard(SQLModel, table=True):
    """The one message a card key has in a chat, so every later change edits it in place."""

    __tablename__ = "live_card"

    card_key: str = Field(primary_key=True, max_length=80)  # "task:12", "status:5"
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ForumTopic(SQLModel, table=True):
    """A topic of a forum group that rows are posted into, known by a key ("ticket:12").

    The sender creates it on the first row that needs it (``thread_id`` is then set); when
    Telegram says the thread is gone, the thread is forgotten, the next row creates it
    again, and the topic's living card (``card_key``) is posted anew as its summary.
    """

    __tablename__ = "forum_topic"

    key: str = Field(primary_key=True, max_length=80)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    thread_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    name: str = Field(sa_column=Column(EncryptedText("outbox"), nullable=False))  # ≤ 128 chars
    card_key: str | None = Field(default=None, max_length=80)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
