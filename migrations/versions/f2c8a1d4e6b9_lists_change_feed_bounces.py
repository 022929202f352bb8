"""lists, the contact change feed, feed trigger kinds, bounce records

Revision ID: f2c8a1d4e6b9
Revises: e5a8c3d1f7b2
Create Date: 2026-12-03 16:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2c8a1d4e6b9'
down_revision = 'e5a8c3d1f7b2'
branch_labels = None
depends_on = None

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Plain ADD/DROP COLUMN, not batch_alter_table (see e5a8c3d1f7b2: a batch on
# SQLite recreates the table and cascades deletes into its children).
TRIGGER_COLUMNS = ("list_id", "field", "from_value", "to_value", "once_per_24h", "last_change_id")
CONTACT_COLUMNS = ("email_bounced_at", "email_bounce_reason")


def upgrade():
    op.create_table(
        'contact_lists',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'list_members',
        sa.Column('list_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['list_id'], ['contact_lists.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('list_id', 'contact_id'),
    )
    op.create_index('ix_list_members_contact', 'list_members', ['contact_id', 'list_id'])
    op.create_table(
        'contact_changes',
        sa.Column('id', BigIntId, autoincrement=True, nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('field', sa.String(length=200), nullable=True),
        sa.Column('old_value', sa.Text(), nullable=True),
        sa.Column('new_value', sa.Text(), nullable=True),
        sa.Column('list_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('actor', sa.String(length=320), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['list_id'], ['contact_lists.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_contact_changes_contact', 'contact_changes', ['contact_id', 'id'])
    op.create_index('ix_contact_changes_list', 'contact_changes', ['list_id', 'id'])
    op.create_index('ix_contact_changes_kind_field', 'contact_changes', ['kind', 'field', 'id'])
    op.create_table(
        'bounce_records',
        sa.Column('id', BigIntId, autoincrement=True, nullable=False),
        sa.Column('message_id', BigIntId, nullable=False),
        sa.Column('trigger_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('dedupe_key', sa.String(length=255), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['outbox_messages.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['trigger_id'], ['triggers.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source', 'dedupe_key', name='uq_bounce_records_source_key'),
    )
    op.create_index('ix_bounce_records_contact_at', 'bounce_records', ['contact_id', 'at'])
    op.create_index('ix_bounce_records_at', 'bounce_records', ['at'])
    op.create_index('ix_bounce_records_message', 'bounce_records', ['message_id'])
    op.add_column('triggers', sa.Column('list_id', sa.Integer(), nullable=True))
    op.add_column('triggers', sa.Column('field', sa.String(length=200), nullable=True))
    op.add_column('triggers', sa.Column('from_value', sa.Text(), nullable=True))
    op.add_column('triggers', sa.Column('to_value', sa.Text(), nullable=True))
    op.add_column('triggers', sa.Column('once_per_24h', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('triggers', sa.Column('last_change_id', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('contacts', sa.Column('email_bounced_at', sa.DateTime(), nullable=True))
    op.add_column('contacts', sa.Column('email_bounce_reason', sa.Text(), nullable=True))
    op.add_column('report_days', sa.Column('bounced', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    op.execute("ALTER TABLE report_days DROP COLUMN bounced")
    for name in reversed(CONTACT_COLUMNS):
        op.execute(f"ALTER TABLE contacts DROP COLUMN {name}")
    for name in reversed(TRIGGER_COLUMNS):
        op.execute(f"ALTER TABLE triggers DROP COLUMN {name}")
    op.drop_table('bounce_records')
    op.drop_table('contact_changes')
    op.drop_table('list_members')
    op.drop_table('contact_lists')
