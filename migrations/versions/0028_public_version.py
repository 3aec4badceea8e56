"""public version: a number each change of what a shop's public answers show adds one to

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-07 05:30:00.000000

Every worker checks it on each public request (kingavis/api/cache.py), so a publication, a
reply, a withdrawal or an erasure shows in every process on the next request
(docs/publication.md).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_version', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade():
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('public_version')
