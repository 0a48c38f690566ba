"""staff groups: named lists of staff an audience can name (group:试点组, the pilot users)

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0022"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_staff_group_name"), "staff_group", ["name"], unique=True)
    op.create_table(
        "staff_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["staff_group.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("group_id", "staff_id"),
    )


def downgrade() -> None:
    op.drop_table("staff_group_member")
    op.drop_index(op.f("ix_staff_group_name"), table_name="staff_group")
    op.drop_table("staff_group")
