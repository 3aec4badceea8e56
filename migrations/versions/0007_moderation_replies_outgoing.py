"""moderation, merchant reports and replies, durable messages to authors and callbacks

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rejection_reason', sa.String(length=32), nullable=True))

    op.create_table(
        'review_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('shop_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('reported_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('resolved_at', sa.DateTime(), nullable=True),
        sa.Column('resolution', sa.String(length=16), nullable=True),
        sa.Column('resolved_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['reported_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('review_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_reports_review_id'), ['review_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_reports_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('uq_review_reports_open_per_review', ['review_id'], unique=True,
                              sqlite_where=sa.text('resolved_at IS NULL'),
                              postgresql_where=sa.text('resolved_at IS NULL'))

    op.create_table(
        'outgoing_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shop_id', sa.Integer(), nullable=False),
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('outgoing_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outgoing_messages_review_id'), ['review_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outgoing_messages_shop_id'), ['shop_id'], unique=False)
        batch_op.create_index('ix_outgoing_messages_due', ['next_attempt_at'], unique=False,
                              sqlite_where=sa.text("state IN ('pending', 'sending')"),
                              postgresql_where=sa.text("state IN ('pending', 'sending')"))


def downgrade():
    with op.batch_alter_table('outgoing_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outgoing_messages_due')
        batch_op.drop_index(batch_op.f('ix_outgoing_messages_shop_id'))
        batch_op.drop_index(batch_op.f('ix_outgoing_messages_review_id'))
    op.drop_table('outgoing_messages')
    with op.batch_alter_table('review_reports', schema=None) as batch_op:
        batch_op.drop_index('uq_review_reports_open_per_review')
        batch_op.drop_index(batch_op.f('ix_review_reports_shop_id'))
        batch_op.drop_index(batch_op.f('ix_review_reports_review_id'))
    op.drop_table('review_reports')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_column('rejection_reason')
