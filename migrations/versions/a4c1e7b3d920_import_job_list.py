"""import_jobs.list_id: the list a contacts import puts its contacts in

Revision ID: a4c1e7b3d920
Revises: a9d4e2c7b1f3
Create Date: 2026-12-03 17:25:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4c1e7b3d920'
down_revision = 'a9d4e2c7b1f3'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, no foreign key (SQLite cannot add one in place); a deleted
    # list simply gets nobody added (engine.contacts.lists.add_members).
    op.add_column('import_jobs', sa.Column('list_id', sa.Integer(), nullable=True))


def downgrade():
    op.drop_column('import_jobs', 'list_id')
