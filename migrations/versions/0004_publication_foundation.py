"""publication foundation: shop slug and retention, review states and reply, operators

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:30:00.000000

"""
import re
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _slugify(name):
    # The same rule as kingavis.reviews.public.slugify, frozen here as it was when this ran.
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:70].strip("-")
    return slug or "boutique"


def upgrade():
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slug', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('retention_months', sa.Integer(), server_default='24', nullable=False))

    # Every existing shop gets its public address, unique, in creation order.
    conn = op.get_bind()
    taken = set()
    for shop_id, name in conn.execute(sa.text("SELECT id, name FROM shops ORDER BY id")).fetchall():
        base = _slugify(name)
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        conn.execute(sa.text("UPDATE shops SET slug = :slug WHERE id = :id"), {"slug": slug, "id": shop_id})

    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.alter_column('slug', existing_type=sa.String(length=80), nullable=False)
        batch_op.create_unique_constraint('uq_shops_slug', ['slug'])

    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='published', nullable=False))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('reply_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reply_published_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('reply_updated_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_reviews_shop_status_published', ['shop_id', 'status', 'published_at'], unique=False)
    # Reviews stored before publication existed were shown to nobody; they go public as they
    # were submitted, dated from their submission.
    op.execute("UPDATE reviews SET published_at = created_at WHERE published_at IS NULL")

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_operator', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_operator')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_shop_status_published')
        batch_op.drop_column('reply_updated_at')
        batch_op.drop_column('reply_published_at')
        batch_op.drop_column('reply_text')
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('published_at')
        batch_op.drop_column('status')
    with op.batch_alter_table('shops', schema=None) as batch_op:
        batch_op.drop_constraint('uq_shops_slug', type_='unique')
        batch_op.drop_column('retention_months')
        batch_op.drop_column('slug')
