"""faq_entry.updated_at indexed: the live search index polls its maximum before each question

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_faq_entry_updated_at"), "faq_entry", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_faq_entry_updated_at"), table_name="faq_entry")
