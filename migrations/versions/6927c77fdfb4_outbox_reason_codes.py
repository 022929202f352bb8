"""outbox reason codes

Revision ID: 6927c77fdfb4
Revises: c41d9a7e2b55
Create Date: 2026-11-27 10:00:00

OutboxMessage.reason_code (models.outbox.REASON_LABELS) next to `reason`,
which keeps the human detail. Existing rows get their code from the texts
earlier versions wrote (BACKFILL); the daily-status index gains the code.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6927c77fdfb4'
down_revision = 'c41d9a7e2b55'
branch_labels = None
depends_on = None

# (state, reason LIKE pattern or None for any reason, code), first match wins.
# The texts are the ones engine/triggers/controls.py and engine/outbox wrote
# before codes existed; a text not listed here leaves the code NULL.
BACKFILL = (
    ("suppressed", "unsubscribed", "unsubscribed"),
    ("suppressed", "never re-trigger%", "never_retrigger"),
    ("suppressed", "re-trigger delay%", "retrigger_delay"),
    ("suppressed", "global delay%", "global_delay"),
    ("suppressed", "no email address", "no_email"),
    ("rejected", None, "rejected"),
    ("cancelled", "trigger deleted", "trigger_deleted"),
    ("cancelled", None, "trigger_deactivated"),
    ("failed", "dismissed by staff", "dismissed"),
)


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_code', sa.String(length=32), nullable=True))
        batch_op.drop_index('ix_outbox_trigger_state_occurrence')
        batch_op.create_index('ix_outbox_trigger_state_occurrence_reason',
                              ['trigger_id', 'state', 'occurrence_key', 'reason_code'], unique=False)
    outbox = sa.table('outbox_messages', sa.column('state', sa.String), sa.column('reason', sa.Text),
                      sa.column('reason_code', sa.String))
    # One set-based UPDATE per rule; rows a rule already coded are skipped by the next.
    for state, pattern, code in BACKFILL:
        where = [outbox.c.state == state, outbox.c.reason_code.is_(None)]
        if pattern is not None:
            where.append(outbox.c.reason.like(pattern))
        op.execute(outbox.update().where(*where).values(reason_code=code))


def downgrade():
    # `reason` still holds the texts, so nothing is lost.
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_trigger_state_occurrence_reason')
        batch_op.create_index('ix_outbox_trigger_state_occurrence',
                              ['trigger_id', 'state', 'occurrence_key'], unique=False)
        batch_op.drop_column('reason_code')
