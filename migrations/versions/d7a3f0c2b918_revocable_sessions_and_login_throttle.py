"""revocable sessions (staff.session_version) and an atomic login lockout counter

Sessions and remember cookies now carry "<id>:<session_version>"; raising the version ends
them. The lockout counts failures in one row per email (login_throttles), moved by a single
conditional UPDATE, instead of counting login_failures rows after the fact (which let 17 of 30
concurrent attempts through). The old rows only served the lockout window (5 minutes).

Revision ID: d7a3f0c2b918
Revises: 6927c77fdfb4
Create Date: 2026-12-03 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a3f0c2b918'
down_revision = '6927c77fdfb4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))

    op.create_table('login_throttles',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_login_throttles'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_email_at')
    op.drop_table('login_failures')


def downgrade():
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_email_at', ['email', 'at'], unique=False)
    op.drop_table('login_throttles')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('session_version')
