"""support desk: desk groups per category, merged tickets, relays carried by a merged row

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_desk",
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["set_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("category"),
    )
    op.create_index(op.f("ix_support_desk_chat_id"), "support_desk", ["chat_id"], unique=False)
    with op.batch_alter_table("support_ticket") as batch:
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_support_ticket_merged_into", "support_ticket", ["merged_into"], ["id"]
        )
    with op.batch_alter_table("support_relay") as batch:
        batch.add_column(
            sa.Column("carried_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("support_relay") as batch:
        batch.drop_column("carried_by")
    with op.batch_alter_table("support_ticket") as batch:
        batch.drop_constraint("fk_support_ticket_merged_into", type_="foreignkey")
        batch.drop_column("merged_into")
    op.drop_index(op.f("ix_support_desk_chat_id"), table_name="support_desk")
    op.drop_table("support_desk")
