"""trigger from name and per-trigger open/click tracking

Revision ID: e5a8c3d1f7b2
Revises: 6927c77fdfb4
Create Date: 2026-12-03 11:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a8c3d1f7b2'
down_revision = '6927c77fdfb4'  # main's head; the brief named c41d9a7e2b55, which 6927c77fdfb4 revises
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('track_opens', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('track_clicks', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.drop_column('track_clicks')
        batch_op.drop_column('track_opens')
        batch_op.drop_column('from_name')
