"""support desk: SLA clocks on tickets, the on-call roster, escalation runs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_ticket") as batch:
        batch.add_column(sa.Column("awaiting_since", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("paused_since", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("breached_at", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("sla_fired", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(
            sa.Column("sla_due", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_table(
        "support_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("ends_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_support_shift_level"), "support_shift", ["level"], unique=False)
    op.create_index(
        op.f("ix_support_shift_starts_at"), "support_shift", ["starts_at"], unique=False
    )
    op.create_index(op.f("ix_support_shift_ends_at"), "support_shift", ["ends_at"], unique=False)
    op.create_table(
        "support_escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("clock", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("acked_by", sa.Integer(), nullable=True),
        sa.Column("stopped_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("stop_reason", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["support_ticket.id"]),
        sa.ForeignKeyConstraint(["acked_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_support_escalation_ticket_id"), "support_escalation", ["ticket_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_support_escalation_ticket_id"), table_name="support_escalation")
    op.drop_table("support_escalation")
    op.drop_index(op.f("ix_support_shift_ends_at"), table_name="support_shift")
    op.drop_index(op.f("ix_support_shift_starts_at"), table_name="support_shift")
    op.drop_index(op.f("ix_support_shift_level"), table_name="support_shift")
    op.drop_table("support_shift")
    with op.batch_alter_table("support_ticket") as batch:
        batch.drop_column("sla_due")
        batch.drop_column("sla_fired")
        batch.drop_column("breached_at")
        batch.drop_column("paused_since")
        batch.drop_column("paused_seconds")
        batch.drop_column("awaiting_since")
