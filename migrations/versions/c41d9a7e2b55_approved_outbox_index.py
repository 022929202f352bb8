"""approved outbox index

Revision ID: c41d9a7e2b55
Revises: 8e3f1936e0c3
Create Date: 2026-11-26 01:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c41d9a7e2b55'
down_revision = '8e3f1936e0c3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_approved', ['id'], unique=False, sqlite_where=sa.text("state = 'approved'"), postgresql_where=sa.text("state = 'approved'"))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_approved', sqlite_where=sa.text("state = 'approved'"), postgresql_where=sa.text("state = 'approved'"))
