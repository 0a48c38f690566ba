"""Approvals: the per-prefix, per-year counter behind 发文字号."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class DocNumberCounter(SQLModel, table=True):
    """The last 发文字号 sequence number taken for one 机关代字 in one year."""

    __tablename__ = "doc_number_counter"

    prefix: str = Field(primary_key=True, max_length=40)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
