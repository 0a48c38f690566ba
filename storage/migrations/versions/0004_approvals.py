"""approvals: templates, requests, tasks, drafts, delegations, CC, live cards

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('loaded_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('loaded_by', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'version')
    )
    with op.batch_alter_table('approval_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_template_key'), ['key'], unique=False)

    op.create_table('live_card',
    sa.Column('card_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('card_key')
    )
    op.create_table('approval_delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('delegate_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delegate_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approval_delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_delegation_staff_id'), ['staff_id'], unique=False)

    op.create_table('approval_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('values', storage.types.EncryptedJSON(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['template_id'], ['approval_template.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approval_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_draft_staff_id'), ['staff_id'], unique=False)

    op.create_table('approval_instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('template_key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('submitter_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('urgency', sa.Integer(), nullable=False),
    sa.Column('form', storage.types.EncryptedJSON(), nullable=False),
    sa.Column('state', storage.types.EncryptedJSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('doc_no', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_urged_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['submitter_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['template_id'], ['approval_template.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('doc_no')
    )
    with op.batch_alter_table('approval_instance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_instance_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_instance_number'), ['number'], unique=True)
        batch_op.create_index(batch_op.f('ix_approval_instance_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_instance_submitter_id'), ['submitter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_instance_template_key'), ['template_key'], unique=False)

    op.create_table('approval_cc',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('notified_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['approval_instance.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'staff_id')
    )
    with op.batch_alter_table('approval_cc', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_cc_instance_id'), ['instance_id'], unique=False)

    op.create_table('approval_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=False),
    sa.Column('on_behalf_of', sa.Integer(), nullable=True),
    sa.Column('node_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('urgency', sa.Integer(), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['approval_instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'n')
    )
    with op.batch_alter_table('approval_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_task_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_approval_task_todo', ['assignee_id', 'status'], unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('card_key')

    with op.batch_alter_table('approval_task', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_task_todo')
        batch_op.drop_index(batch_op.f('ix_approval_task_instance_id'))

    op.drop_table('approval_task')
    with op.batch_alter_table('approval_cc', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_cc_instance_id'))

    op.drop_table('approval_cc')
    with op.batch_alter_table('approval_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_instance_template_key'))
        batch_op.drop_index(batch_op.f('ix_approval_instance_submitter_id'))
        batch_op.drop_index(batch_op.f('ix_approval_instance_status'))
        batch_op.drop_index(batch_op.f('ix_approval_instance_number'))
        batch_op.drop_index(batch_op.f('ix_approval_instance_department_id'))

    op.drop_table('approval_instance')
    with op.batch_alter_table('approval_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_draft_staff_id'))

    op.drop_table('approval_draft')
    with op.batch_alter_table('approval_delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_delegation_staff_id'))

    op.drop_table('approval_delegation')
    op.drop_table('live_card')
    with op.batch_alter_table('approval_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_template_key'))

    op.drop_table('approval_template')
