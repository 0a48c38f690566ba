"""courses: published courses, one assignment per person with progress, lesson media

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "course",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.Column("quiz_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_course_key"), "course", ["key"], unique=False)
    op.create_index(op.f("ix_course_quiz_key"), "course", ["quiz_key"], unique=False)
    op.create_table(
        "course_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lessons_read", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("lessons_done_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("quiz_passed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("completed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["course.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("course_id", "staff_id", name="uq_course_assignment"),
    )
    op.create_index(
        op.f("ix_course_assignment_staff_id"), "course_assignment", ["staff_id"], unique=False
    )
    op.create_table(
        "course_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("lesson", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["course_id"], ["course.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("course_id", "lesson", name="uq_course_media"),
    )


def downgrade() -> None:
    op.drop_table("course_media")
    op.drop_index(op.f("ix_course_assignment_staff_id"), table_name="course_assignment")
    op.drop_table("course_assignment")
    op.drop_index(op.f("ix_course_quiz_key"), table_name="course")
    op.drop_index(op.f("ix_course_key"), table_name="course")
    op.drop_table("course")
