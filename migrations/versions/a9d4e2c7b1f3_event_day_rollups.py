"""daily event rollups: event_days (contact, name, UTC day) -> count

Revision ID: a9d4e2c7b1f3
Revises: f2c8a1d4e6b9
Create Date: 2026-12-03 17:15:00

The table is filled from the events already stored, in the same migration,
so rules read correct counts from the first query after the upgrade.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9d4e2c7b1f3'
down_revision = 'f2c8a1d4e6b9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'event_days',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('contact_id', 'name', 'day'),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_event_days_name_day_contact', 'event_days',
                    ['name', 'day', 'contact_id', 'count'])
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "substr(occurred_at, 1, 10)" if sqlite else "CAST(occurred_at AS date)"
    op.execute(f"INSERT INTO event_days (contact_id, name, day, count) "
               f"SELECT contact_id, name, {day}, count(*) FROM events "
               f"GROUP BY contact_id, name, {day}")


def downgrade():
    op.drop_index('ix_event_days_name_day_contact', table_name='event_days')
    op.drop_table('event_days')
