"""declared order states: the shop's own status list (PUT order-states) and its syncs

Revision ID: 0020
Revises: 0009
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shop_statuses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('declared_at', sa.DateTime(), nullable=True))

    op.create_table('order_state_syncs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.String(length=255), nullable=False),
    sa.Column('listed_at', sa.DateTime(), nullable=True),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_order_state_syncs_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_state_syncs')),
    sa.UniqueConstraint('shop_id', 'webhook_id', name=op.f('uq_order_state_syncs_shop_id_webhook_id'))
    )
    with op.batch_alter_table('order_state_syncs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_state_syncs_shop_id'), ['shop_id'], unique=False)


def downgrade():
    with op.batch_alter_table('order_state_syncs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_state_syncs_shop_id'))
    op.drop_table('order_state_syncs')

    with op.batch_alter_table('shop_statuses', schema=None) as batch_op:
        batch_op.drop_column('declared_at')
        batch_op.drop_column('delivered')
