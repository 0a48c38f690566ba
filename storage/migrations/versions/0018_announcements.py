"""announcements: what was announced to whom, delivered and acknowledged (已阅) when

Revision ID: 0018
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0018"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "announcement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", storage.types.EncryptedText(), nullable=False),
        sa.Column("body_html", storage.types.EncryptedText(), nullable=False),
        sa.Column("attachment_kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column(
            "attachment_file_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
        sa.Column("attachment_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("ack_required", sa.Boolean(), nullable=False),
        sa.Column("ack_by", storage.types.UTCDateTime(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("author_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_announcement_status"), "announcement", ["status"], unique=False)
    op.create_table(
        "announcement_recipient",
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("acked_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcement.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("announcement_id", "staff_id"),
    )
    op.create_index(
        "ix_announcement_recipient_open",
        "announcement_recipient",
        ["announcement_id", "acked_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_announcement_recipient_open", table_name="announcement_recipient")
    op.drop_table("announcement_recipient")
    op.drop_index(op.f("ix_announcement_status"), table_name="announcement")
    op.drop_table("announcement")
