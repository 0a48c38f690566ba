"""outbox: indexes for a living card's rows and a topic's newest open row

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.create_index("ix_outbox_card", ["card_key", "status", "id"], unique=False)
        batch.create_index("ix_outbox_topic", ["topic_key", "status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_index("ix_outbox_topic")
        batch.drop_index("ix_outbox_card")
