"""product reviews: order items, the shop's product-review count, product columns on reviews

Revision ID: 0022
Revises: 0009
Create Date: 2026-12-07 02:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0024'
branch_labels = None
depends_on = None

_PRODUCT_COLUMNS = (
    ('product_id', 64), ('product_name', 200), ('product_sku', 64), ('product_gtin', 14),
    ('product_mpn', 70), ('product_brand', 70), ('product_url', 500), ('product_image_url', 500),
)


def upgrade():
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_review_count', sa.Integer(), server_default='5',
                                      nullable=False))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('items', sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        for name, length in _PRODUCT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        # One shop review per request, one review per product and request.
        batch_op.drop_constraint('uq_reviews_review_request_id', type_='unique')
        batch_op.create_index('uq_reviews_shop_review_per_request', ['review_request_id'],
                              unique=True, sqlite_where=sa.text('product_id IS NULL'),
                              postgresql_where=sa.text('product_id IS NULL'))
        batch_op.create_index('uq_reviews_product_review_per_request',
                              ['review_request_id', 'product_id'], unique=True,
                              sqlite_where=sa.text('product_id IS NOT NULL'),
                              postgresql_where=sa.text('product_id IS NOT NULL'))
        batch_op.create_index('ix_reviews_shop_product_status',
                              ['shop_id', 'product_id', 'status', 'published_at'], unique=False)


def downgrade():
    op.execute("DELETE FROM reviews WHERE product_id IS NOT NULL")
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_shop_product_status')
        batch_op.drop_index('uq_reviews_product_review_per_request')
        batch_op.drop_index('uq_reviews_shop_review_per_request')
        batch_op.create_unique_constraint('uq_reviews_review_request_id', ['review_request_id'])
        for name, _length in reversed(_PRODUCT_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('items')
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_column('product_review_count')
