"""support tickets (opened from the FAQ's "ask a person"), and which suggestion was chosen

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("subject", storage.types.EncryptedText(), nullable=False),
        sa.Column("faq_question_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["faq_question_id"], ["faq_question.id"]),
        sa.ForeignKeyConstraint(["requester_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_support_ticket_number"), "support_ticket", ["number"], unique=True)
    op.create_index(
        op.f("ix_support_ticket_requester_id"), "support_ticket", ["requester_id"], unique=False
    )
    op.create_index(op.f("ix_support_ticket_status"), "support_ticket", ["status"], unique=False)
    op.create_table(
        "support_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("body", storage.types.EncryptedText(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["support_ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_support_message_ticket_id"), "support_message", ["ticket_id"], unique=False
    )
    with op.batch_alter_table("faq_question") as batch:
        batch.add_column(
            sa.Column("chosen", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("faq_question") as batch:
        batch.drop_column("chosen")
    op.drop_index(op.f("ix_support_message_ticket_id"), table_name="support_message")
    op.drop_table("support_message")
    op.drop_index(op.f("ix_support_ticket_status"), table_name="support_ticket")
    op.drop_index(op.f("ix_support_ticket_requester_id"), table_name="support_ticket")
    op.drop_index(op.f("ix_support_ticket_number"), table_name="support_ticket")
    op.drop_table("support_ticket")
