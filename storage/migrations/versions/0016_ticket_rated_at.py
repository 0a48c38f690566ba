"""support_ticket.rated_at: when the requester rated it (the desk's daily CSAT)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_ticket") as batch:
        batch.add_column(sa.Column("rated_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("support_ticket") as batch:
        batch.drop_column("rated_at")
