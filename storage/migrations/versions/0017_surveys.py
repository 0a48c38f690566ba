"""surveys: definitions, invitations, drafts, and responses kept apart from their authors

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("definition", storage.types.EncryptedText(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("opens_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("closes_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_survey_key"), "survey", ["key"], unique=False)
    op.create_index(op.f("ix_survey_status"), "survey", ["status"], unique=False)
    op.create_table(
        "survey_invitation",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("invited_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("survey_id", "staff_id"),
    )
    op.create_table(
        "survey_draft",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("answers", storage.types.EncryptedJSON(), nullable=False),
        sa.Column("current", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("survey_id", "staff_id"),
    )
    op.create_table(
        "survey_response",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("answers", storage.types.EncryptedJSON(), nullable=False),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_survey_response_survey_id"), "survey_response", ["survey_id"], unique=False
    )
    op.create_table(
        "survey_response_owner",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("submitted_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["response_id"], ["survey_response.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["survey.id"]),
        sa.PrimaryKeyConstraint("response_id"),
    )
    op.create_index(
        op.f("ix_survey_response_owner_staff_id"),
        "survey_response_owner",
        ["staff_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_survey_response_owner_staff_id"), table_name="survey_response_owner")
    op.drop_table("survey_response_owner")
    op.drop_index(op.f("ix_survey_response_survey_id"), table_name="survey_response")
    op.drop_table("survey_response")
    op.drop_table("survey_draft")
    op.drop_table("survey_invitation")
    op.drop_index(op.f("ix_survey_status"), table_name="survey")
    op.drop_index(op.f("ix_survey_key"), table_name="survey")
    op.drop_table("survey")
