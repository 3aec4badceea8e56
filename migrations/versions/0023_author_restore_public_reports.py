"""author's restore and corrected resubmission; reports from the public page

Revision ID: 0023
Revises: 0009
Create Date: 2026-12-07 02:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reviews') as batch:
        # The state a review had when its author withdrew it (restore returns it there).
        batch.add_column(sa.Column('withdrawn_from', sa.String(length=16), nullable=True))
        # When the author of a rejected review sent a corrected comment (once).
        batch.add_column(sa.Column('resubmitted_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('email_designs') as batch:
        # The shop's own site, linked from the public review page with the logo.
        batch.add_column(sa.Column('shop_url', sa.String(length=500), nullable=True))
    with op.batch_alter_table('review_reports') as batch:
        # A reader's report from the public page: a reason code of the published list and
        # the address the operator answers.
        batch.add_column(sa.Column('reason_code', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('reporter_email', sa.String(length=320), nullable=True))


def downgrade():
    with op.batch_alter_table('email_designs') as batch:
        batch.drop_column('shop_url')
    with op.batch_alter_table('review_reports') as batch:
        batch.drop_column('reporter_email')
        batch.drop_column('reason_code')
    with op.batch_alter_table('reviews') as batch:
        batch.drop_column('resubmitted_at')
        batch.drop_column('withdrawn_from')
