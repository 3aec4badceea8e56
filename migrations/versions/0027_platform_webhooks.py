"""platform webhooks: a shop's platform and platform secrets, the delivery log, data requests

Revision ID: 0027
Revises: 0009
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sa.String(length=16), nullable=False,
                                      server_default='prestashop'))
        batch_op.add_column(sa.Column('platform_secrets', sa.JSON(), nullable=True))

    op.create_table('platform_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('delivery_id', sa.String(length=255), nullable=True),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=64), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_platform_deliveries_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_deliveries'))
    )
    with op.batch_alter_table('platform_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_platform_deliveries_shop_id_id', ['shop_id', 'id'], unique=False)

    op.create_table('platform_data_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('platform_request_id', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_platform_data_requests_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_data_requests'))
    )
    with op.batch_alter_table('platform_data_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_data_requests_shop_id'), ['shop_id'], unique=False)


def downgrade():
    with op.batch_alter_table('platform_data_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_data_requests_shop_id'))
    op.drop_table('platform_data_requests')
    with op.batch_alter_table('platform_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_platform_deliveries_shop_id_id')
    op.drop_table('platform_deliveries')
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('platform_secrets')
        batch_op.drop_column('platform')
