"""The append-only audit log, chained by HMAC, and its head row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class AuditEntry(SQLModel, table=True):
    """Who did what to which object, when; ``mac`` covers the row and the previous mac."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True, index=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: int | None = Field(default=None, index=True)
    on_behalf_of_id: int | None = Field(default=None)
    action: str = Field(max_length=60, index=True)
    object: str = Field(max_length=120, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_mac: str = Field(max_length=64)
    mac: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """One row: the last sequence number and mac. Updating it serialises appends."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    mac: str = Field(default="", max_length=64)
