"""quizzes: campaigns, invitations and attempts (#8)

Revision ID: 0019
Revises: 0021 (main has 0021 on 0017; the lead re-chains)
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0019"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quiz_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("paper", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("opens_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("closes_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("every", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"]),
        sa.ForeignKeyConstraint(["previous_id"], ["quiz_campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_quiz_campaign_quiz_key"), "quiz_campaign", ["quiz_key"])
    op.create_index(op.f("ix_quiz_campaign_status"), "quiz_campaign", ["status"])
    op.create_table(
        "quiz_invitation",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("invited_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["quiz_campaign.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "staff_id"),
    )
    op.create_table(
        "quiz_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("drawn", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("correct", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("certificate_no", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["quiz_campaign.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "staff_id", "number"),
        sa.UniqueConstraint("certificate_no"),
    )
    op.create_index("ix_quiz_attempt_person", "quiz_attempt", ["campaign_id", "staff_id"])


def downgrade() -> None:
    op.drop_index("ix_quiz_attempt_person", table_name="quiz_attempt")
    op.drop_table("quiz_attempt")
    op.drop_table("quiz_invitation")
    op.drop_index(op.f("ix_quiz_campaign_status"), table_name="quiz_campaign")
    op.drop_index(op.f("ix_quiz_campaign_quiz_key"), table_name="quiz_campaign")
    op.drop_table("quiz_campaign")
