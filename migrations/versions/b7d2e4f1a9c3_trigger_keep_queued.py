"""trigger keeps its queued emails while inactive

Revision ID: b7d2e4f1a9c3
Revises: d7a3f0c2b918
Create Date: 2026-12-03 12:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e4f1a9c3'
down_revision = 'd7a3f0c2b918'
branch_labels = None
depends_on = None


# server_default '0', not sa.false(): a SQL expression makes Alembic copy the
# whole table on SQLite instead of ALTER TABLE ... ADD COLUMN.
def upgrade():
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('keep_queued_when_inactive', sa.Boolean(), nullable=False,
                                      server_default='0'))


def downgrade():
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.drop_column('keep_queued_when_inactive')
