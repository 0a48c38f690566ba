"""Training courses (#8): a published course, one assignment per person with their progress,
and the media files of its lessons (uploaded once, then sent again by Telegram's file id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class Course(SQLModel, table=True):
    """One course as published: its definition (the YAML as written, validated), its
    audience and due time. ``quiz_key``: the quiz that completes it, if any."""

    __tablename__ = "course"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40, index=True)
    version: int = Field(default=1)
    title: str = Field(max_length=200)
    definition: str = Field(sa_column=Column(Text, nullable=False))
    lessons: int = Field(default=1)
    quiz_key: str | None = Field(default=None, max_length=40, index=True)
    # {"all": true} or any of {"departments": [...], "roles": [...], "staff": [...]}
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("staff.id"), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CourseAssignment(SQLModel, table=True):
    """A person asked to take a course: where they are (``position``, 0-based), how many
    lessons they have read, and when they started, read them all, passed the quiz, finished.
    ``version`` moves with every step (a compare-and-swap against double taps)."""

    __tablename__ = "course_assignment"
    __table_args__ = (UniqueConstraint("course_id", "staff_id", name="uq_course_assignment"),)

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(sa_column=Column(Integer, ForeignKey("course.id"), nullable=False))
    staff_id: int = Field(
        sa_column=Column(Integer, ForeignKey("staff.id"), nullable=False, index=True)
    )
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    position: int = Field(default=0)
    lessons_read: int = Field(default=0)
    version: int = Field(default=0)  # 0: no lesson card shown yet
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    lessons_done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    quiz_passed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reminders: int = Field(default=0)


class CourseMedia(SQLModel, table=True):
    """A lesson's file given by path: its bytes until Telegram has it, then its file id."""

    __tablename__ = "course_media"
    __table_args__ = (UniqueConstraint("course_id", "lesson", name="uq_course_media"),)

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(sa_column=Column(Integer, ForeignKey("course.id"), nullable=False))
    lesson: int = Field(default=0)
    kind: str = Field(max_length=10)
    file_name: str = Field(sa_column=Column(String(200), nullable=False))
    data: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    file_id: str | None = Field(default=None, max_length=200)
