"""Approvals: templates, requests, their tasks, drafts, delegations, CCs, 发文字号 counters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import EncryptedJSON, UTCDateTime


class DocNumberCounter(SQLModel, table=True):
    """The last 发文字号 sequence number taken for one 机关代字 in one year."""

    __tablename__ = "doc_number_counter"

    prefix: str = Field(primary_key=True, max_length=40)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ApprovalTemplateRow(SQLModel, table=True):
    """One loaded version of an approval template (its YAML source); one active per key."""

    __tablename__ = "approval_template"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40, index=True)
    version: int
    source: str  # the YAML text as loaded, so a running request keeps its template
    active: bool = Field(default=True)
    loaded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    loaded_by: int | None = Field(default=None)


class ApprovalInstance(SQLModel, table=True):
    """One request: its form, its route state, and where it is."""

    __tablename__ = "approval_instance"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True, index=True)  # BX-20261201-0007
    template_id: int = Field(foreign_key="approval_template.id")
    template_key: str = Field(max_length=40, index=True)
    kind: str = Field(max_length=12)  # request | outgoing | incoming (the registers)
    submitter_id: int = Field(foreign_key="staff.id", index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    status: str = Field(max_length=12, index=True)
    urgency: int = Field(default=0)  # 0 normal, 1 加急, 2 特急 (sorted first in /todo)
    # The form and the route state hold official content: encrypted at rest.
    form: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON("approval"), nullable=False)
    )
    state: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON("approval"), nullable=False)
    )
    content_hash: str = Field(max_length=64)
    doc_no: str | None = Field(default=None, max_length=60, unique=True)  # 发文字号
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_urged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    version: int = Field(default=1)


class ApprovalTask(SQLModel, table=True):
    """An index row per engine task, for /todo, button lookups and deadlines."""

    __tablename__ = "approval_task"
    __table_args__ = (
        UniqueConstraint("instance_id", "n"),
        Index("ix_approval_task_todo", "assignee_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="approval_instance.id", index=True)
    n: int
    assignee_id: int = Field(foreign_key="staff.id")
    on_behalf_of: int | None = Field(default=None)
    node_key: str = Field(max_length=60)
    status: str = Field(max_length=10)
    version: int = Field(default=1)
    urgency: int = Field(default=0)
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ApprovalDraft(SQLModel, table=True):
    """A form being filled in chat; survives restarts; encrypted like the requests."""

    __tablename__ = "approval_draft"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    template_id: int = Field(foreign_key="approval_template.id")
    instance_id: int | None = Field(default=None)  # editing a returned request
    values: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON("approval"), nullable=False)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(default=1)


class Delegation(SQLModel, table=True):
    """代理: ``delegate_id`` acts for ``staff_id`` from ``starts_on`` to ``ends_on`` inclusive."""

    __tablename__ = "approval_delegation"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    delegate_id: int = Field(foreign_key="staff.id")
    starts_on: date
    ends_on: date
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class CcReceipt(SQLModel, table=True):
    """A CC recipient of a request, and when they opened it (已读)."""

    __tablename__ = "approval_cc"
    __table_args__ = (UniqueConstraint("instance_id", "staff_id"),)

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="approval_instance.id", index=True)
    staff_id: int = Field(foreign_key="staff.id")
    notified_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
