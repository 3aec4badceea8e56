"""shops.settings_version: bumped by every change to a shop's settings, rule or secrets

Revision ID: 0021
Revises: 0009
Create Date: 2026-12-07 02:30:00.000000

The webhook's per-process cache of shops compares the version it holds with the one the
database has, read in a statement the webhook makes anyway (docs/settings-version.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shops') as batch_op:
        batch_op.add_column(sa.Column('settings_version', sa.Integer(), nullable=False,
                                      server_default='1'))


def downgrade():
    with op.batch_alter_table('shops') as batch_op:
        batch_op.drop_column('settings_version')
