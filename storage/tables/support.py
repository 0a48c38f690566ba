"""Support tickets: a problem a staff member handed to a person.

The FAQ's "ask a person" opens one (#6) carrying the question, the answer the bot showed and
its score; the support desk (#7) works them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import EncryptedBytes, EncryptedText, UTCDateTime


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
    priority: str = Field(default="normal", max_length=8)  # low | normal | high | urgent
    # The desk group its topic is in (forum_topic "ticket:<id>"), when the desk is a group.
    desk_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    assignee_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True, index=True)
    )
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    first_response_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    rating: int | None = Field(default=None)  # 1-5, once, after resolution
    rated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The user blocked the bot: replies cannot reach them, the desk is told, SLAs stop nagging.
    unreachable: bool = Field(default=False)
    related_to: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=True)
    )
    # Merged into another ticket (closed; the conversation goes on there).
    merged_into: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=True)
    )
    # SLA clocks (bot/support/sla.py): the requester's oldest message not answered yet, the
    # counted time spent waiting for the requester, since when it has been waiting, the first
    # breach, and the warnings and breaches already posted (so none is posted twice).
    awaiting_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    paused_seconds: int = Field(default=0)
    paused_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    breached_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sla_fired: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The clocks running now and when each falls due, as the card shows them.
    sla_due: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )


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


class SupportRelay(SQLModel, table=True):
    """One message relayed between a user's chat and the ticket's desk topic.

    Keyed by the message it copies (``src_chat_id``, ``src_message_id``): a redelivered update
    relays nothing twice. The copy is the outbox row with dedupe key ``relay:<id>``, whose
    ``sent_message_id`` is where it landed: the two-way map survives restarts.
    """

    __tablename__ = "support_relay"
    __table_args__ = (UniqueConstraint("src_chat_id", "src_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(
        sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=False, index=True)
    )
    direction: str = Field(max_length=4)  # in: user -> desk | out: desk -> user
    src_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    src_message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    dst_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Sent together with earlier messages (a burst merged into one relay): the dedupe key of
    # the outbox row that carried it, when that is not its own ``relay:<id>``.
    carried_by: str | None = Field(default=None, max_length=40)


class SupportAttachment(SQLModel, table=True):
    """A file the requester sent to a ticket, kept with the ticket's record (encrypted).

    Telegram lets a bot download files up to 20 MB: a larger one is relayed to the desk all
    the same (by its message, or its file id) and kept here unarchived (``data`` None), with
    the reason, so the record says what is missing.
    """

    __tablename__ = "support_attachment"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(
        sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=False, index=True)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    src_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    src_message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=12)  # document | photo | voice | video | audio | ...
    file_id: str = Field(max_length=200)
    file_unique_id: str = Field(default="", max_length=64)
    file_name: str = Field(default="", max_length=255)
    mime_type: str = Field(default="", max_length=100)
    size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    data: bytes | None = Field(default=None, sa_column=Column(EncryptedBytes("ticket-file")))
    # why ``data`` is missing: too_big (over the download limit) | failed (download failed)
    not_archived: str | None = Field(default=None, max_length=12)


class SupportDesk(SQLModel, table=True):
    """Which desk group takes a category's tickets; category ``*`` is the default desk.

    Set with ``govbot desk set``, ``/desk`` in the group, or by adding the bot to a forum
    group as an administrator; without any row the deployment's GOVBOT_DESK_CHAT_ID is used.
    """

    __tablename__ = "support_desk"

    category: str = Field(primary_key=True, max_length=40)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    title: str = Field(default="", max_length=128)
    set_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SupportWriting(SQLModel, table=True):
    """A user is writing to one of their tickets: their next messages are relayed to it; or,
    with no ticket yet, their next message opens one in ``category`` (from /support)."""

    __tablename__ = "support_writing"

    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), primary_key=True, autoincrement=False)
    )
    ticket_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=True)
    )
    category: str | None = Field(default=None, max_length=40)
    until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SupportTemplate(SQLModel, table=True):
    """A canned reply (``/t key`` in a ticket's topic), kept by the desk lead in chat."""

    __tablename__ = "support_template"

    key: str = Field(primary_key=True, max_length=40)
    body: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SupportShift(SQLModel, table=True):
    """Who is on call, at which level of the escalation chain, from when until when.

    Level 1 is the agent on call, 2 the team lead, 3 the head of the desk (any number works);
    shifts may overlap (two people at one level both get the alert).
    """

    __tablename__ = "support_shift"

    id: int | None = Field(default=None, primary_key=True)
    level: int = Field(index=True)
    staff_id: int = Field(sa_column=Column(Integer, ForeignKey("staff.id"), nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SupportEscalation(SQLModel, table=True):
    """One run of the escalation chain for a ticket's breached clock: the level reached, and
    how it ended (acknowledged, claimed, answered, or the ticket closed)."""

    __tablename__ = "support_escalation"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(
        sa_column=Column(Integer, ForeignKey("support_ticket.id"), nullable=False, index=True)
    )
    clock: str = Field(max_length=16)
    level: int = Field(default=1)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acked_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    stop_reason: str | None = Field(
        default=None, max_length=12
    )  # ack|claim|reply|waiting|unreachable|done
