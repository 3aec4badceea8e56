"""review page indexes: a page of published reviews read in its own order, ties included

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 19:10:00.000000

The public page and API list a shop's (or a product's) published reviews newest first, ties
broken by id (``ORDER BY published_at DESC, id DESC``). The indexes so far ended at
``published_at``: where many reviews share a publication time (an import, a batch of
moderation decisions) PostgreSQL read every review of that time and sorted them by id before
it could return 20 — at 100,000 reviews published at 27 distinct times, 32 ms for the first
page. With ``id`` in the index the page is the index's first 20 entries (0.8 ms).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

SHOP_REVIEWS = 'product_id IS NULL'


def upgrade():
    op.create_index('ix_reviews_shop_page', 'reviews', ['shop_id', 'status', 'published_at', 'id'],
                    unique=False, sqlite_where=sa.text(SHOP_REVIEWS),
                    postgresql_where=sa.text(SHOP_REVIEWS))
    op.drop_index('ix_reviews_shop_product_status', table_name='reviews')
    op.create_index('ix_reviews_shop_product_status', 'reviews',
                    ['shop_id', 'product_id', 'status', 'published_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_reviews_shop_product_status', table_name='reviews')
    op.create_index('ix_reviews_shop_product_status', 'reviews',
                    ['shop_id', 'product_id', 'status', 'published_at'], unique=False)
    op.drop_index('ix_reviews_shop_page', table_name='reviews')
