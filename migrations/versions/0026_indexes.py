"""indexes for a million orders: contains-search, a customer's orders, a shop's reviews

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-07 02:55:00.000000

PostgreSQL: trigram (pg_trgm, GIN) indexes on the order's reference and address, which the
back-office's "reference or email contains" search (ILIKE '%…%') can use instead of reading
every order of the shop; SQLite gets plain indexes of the same names. Both: the shop's orders
by lower-cased address, for finding a customer's orders at erasure; a shop's reviews by
status and rating (the rating summary and the pages sorted by rating, from the index alone)
and by creation date (the back-office's list) (docs/performance.md).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0023'
branch_labels = None
depends_on = None

TRIGRAM = ('reference', 'customer_email')


def upgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for column in TRIGRAM:
        if postgres:
            op.create_index(f'ix_orders_{column}_trgm', 'orders', [column], unique=False,
                            postgresql_using='gin', postgresql_ops={column: 'gin_trgm_ops'})
        else:
            op.create_index(f'ix_orders_{column}_trgm', 'orders', [column], unique=False)
    op.create_index('ix_orders_shop_email_lower', 'orders',
                    ['shop_id', sa.text('lower(customer_email)')], unique=False)
    op.create_index('ix_reviews_shop_status_rating', 'reviews',
                    ['shop_id', 'status', 'rating', 'published_at'], unique=False)
    op.create_index('ix_reviews_shop_created', 'reviews', ['shop_id', 'created_at', 'id'],
                    unique=False)
    # A shop's product reviews by state (the Google feed's version and count, the back-office).
    op.create_index('ix_reviews_products_by_shop', 'reviews', ['shop_id', 'status', 'published_at'],
                    unique=False, sqlite_where=sa.text('product_id IS NOT NULL'),
                    postgresql_where=sa.text('product_id IS NOT NULL'))


def downgrade():
    op.drop_index('ix_reviews_products_by_shop', table_name='reviews')
    op.drop_index('ix_reviews_shop_created', table_name='reviews')
    op.drop_index('ix_reviews_shop_status_rating', table_name='reviews')
    op.drop_index('ix_orders_shop_email_lower', table_name='orders')
    for column in TRIGRAM:
        op.drop_index(f'ix_orders_{column}_trgm', table_name='orders')
