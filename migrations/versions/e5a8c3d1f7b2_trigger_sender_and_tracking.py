"""trigger from name and per-trigger open/click tracking

Revision ID: e5a8c3d1f7b2
Revises: b7d2e4f1a9c3
Create Date: 2026-12-03 11:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a8c3d1f7b2'
down_revision = 'b7d2e4f1a9c3'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch_alter_table: on SQLite a batch recreates `triggers`,
# and with foreign_keys=ON dropping it cascades into outbox_messages and trigger_runs
# (ON DELETE CASCADE). SQLite adds and (since 3.35) drops a column in place.
COLUMNS = ("from_name", "track_opens", "track_clicks")


def upgrade():
    op.add_column('triggers', sa.Column('from_name', sa.String(length=128), nullable=True))
    op.add_column('triggers', sa.Column('track_opens', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('triggers', sa.Column('track_clicks', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    for name in reversed(COLUMNS):
        op.execute(f"ALTER TABLE triggers DROP COLUMN {name}")
