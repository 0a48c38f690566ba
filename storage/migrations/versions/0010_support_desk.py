"""support desk: forum topics the outbox posts into, ticket ownership and lifecycle, the relay map

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(
            sa.Column("topic_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True)
        )
    op.create_table(
        "forum_topic",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("name", storage.types.EncryptedText(), nullable=False),
        sa.Column("card_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("support_ticket") as batch:
        batch.add_column(
            sa.Column(
                "priority",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="normal",
            )
        )
        batch.add_column(sa.Column("desk_chat_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claimed_at", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("first_response_at", storage.types.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("resolved_at", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("closed_at", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("unreachable", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("related_to", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_support_ticket_assignee", "staff", ["assignee_id"], ["id"])
        batch.create_foreign_key(
            "fk_support_ticket_related", "support_ticket", ["related_to"], ["id"]
        )
        batch.create_index(op.f("ix_support_ticket_assignee_id"), ["assignee_id"], unique=False)
    op.create_table(
        "support_relay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("src_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("src_message_id", sa.BigInteger(), nullable=False),
        sa.Column("dst_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["support_ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("src_chat_id", "src_message_id"),
    )
    op.create_index(
        op.f("ix_support_relay_ticket_id"), "support_relay", ["ticket_id"], unique=False
    )
    op.create_table(
        "support_writing",
        sa.Column("staff_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("until", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["support_ticket.id"]),
        sa.PrimaryKeyConstraint("staff_id"),
    )


def downgrade() -> None:
    op.drop_table("support_writing")
    op.drop_index(op.f("ix_support_relay_ticket_id"), table_name="support_relay")
    op.drop_table("support_relay")
    with op.batch_alter_table("support_ticket") as batch:
        batch.drop_index(op.f("ix_support_ticket_assignee_id"))
        batch.drop_constraint("fk_support_ticket_related", type_="foreignkey")
        batch.drop_constraint("fk_support_ticket_assignee", type_="foreignkey")
        for column in (
            "related_to",
            "unreachable",
            "rating",
            "closed_at",
            "resolved_at",
            "first_response_at",
            "claimed_at",
            "assignee_id",
            "desk_chat_id",
            "priority",
        ):
            batch.drop_column(column)
    op.drop_table("forum_topic")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("topic_key")
