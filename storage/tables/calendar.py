"""The work calendar: exceptional days, and which years hold official data."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class WorkCalendarDay(SQLModel, table=True):
    """A day that differs from Monday-to-Friday: a holiday or a 调休 make-up workday."""

    __tablename__ = "work_calendar_day"

    day: date = Field(primary_key=True)
    is_workday: bool
    name: str | None = Field(default=None, max_length=100)  # e.g. 国庆节
    # chinesecalendar | import | admin
    source: str = Field(max_length=20)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WorkCalendarYear(SQLModel, table=True):
    """A year whose official calendar (State Council notice) is loaded."""

    __tablename__ = "work_calendar_year"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(max_length=20)
    loaded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
