"""personal data: keyed address hashes, erased orders, erasure records, kept author names

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def _backfill(conn, table, email_column, hash_column):
    # The same keyed hash as the application computes (kingavis.customer_keys): the key comes
    # from this install's configuration, so it must be the application's own function.
    rows = conn.execute(sa.text(f"SELECT id, shop_id, {email_column} FROM {table} "
                                f"WHERE {hash_column} IS NULL")).fetchall()
    if not rows:
        return
    from kingavis.customer_keys import customer_key

    for row_id, shop_id, email in rows:
        conn.execute(sa.text(f"UPDATE {table} SET {hash_column} = :h WHERE id = :id"),
                     {"h": customer_key(shop_id, email or ""), "id": row_id})


def upgrade():
    op.create_table('erasures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.String(length=255), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_erasures_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures')),
    sa.UniqueConstraint('shop_id', 'webhook_id', name=op.f('uq_erasures_shop_id_webhook_id'))
    )
    with op.batch_alter_table('erasures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erasures_shop_id'), ['shop_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
        batch_op.alter_column('customer_email', existing_type=sa.String(length=320), nullable=True)

    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author_display', sa.String(length=200), nullable=True))

    conn = op.get_bind()
    with op.batch_alter_table('review_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_email_hash', sa.String(length=64), nullable=True))
    _backfill(conn, 'review_requests', 'customer_email_normalized', 'customer_email_hash')
    with op.batch_alter_table('review_requests', schema=None) as batch_op:
        batch_op.alter_column('customer_email_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('customer_email_normalized', existing_type=sa.String(length=320), nullable=True)
        batch_op.drop_index('ix_review_requests_shop_email')
        batch_op.create_index('ix_review_requests_shop_email_hash', ['shop_id', 'customer_email_hash'], unique=False)

    with op.batch_alter_table('unsubscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_hash', sa.String(length=64), nullable=True))
    _backfill(conn, 'unsubscriptions', 'email_normalized', 'email_hash')
    with op.batch_alter_table('unsubscriptions', schema=None) as batch_op:
        batch_op.alter_column('email_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('email_normalized', existing_type=sa.String(length=320), nullable=True)
        batch_op.drop_constraint('uq_unsubscriptions_shop_id_email_normalized', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_unsubscriptions_shop_id_email_hash'), ['shop_id', 'email_hash'])


def downgrade():
    # Erased rows have no address left to go back to: they are removed, not invented.
    op.execute("DELETE FROM unsubscriptions WHERE email_normalized IS NULL")
    op.execute("DELETE FROM review_requests WHERE customer_email_normalized IS NULL")
    op.execute("DELETE FROM orders WHERE customer_email IS NULL")
    with op.batch_alter_table('unsubscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_unsubscriptions_shop_id_email_hash'), type_='unique')
        batch_op.create_unique_constraint('uq_unsubscriptions_shop_id_email_normalized', ['shop_id', 'email_normalized'])
        batch_op.alter_column('email_normalized', existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_column('email_hash')
    with op.batch_alter_table('review_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_review_requests_shop_email_hash')
        batch_op.create_index('ix_review_requests_shop_email', ['shop_id', 'customer_email_normalized'], unique=False)
        batch_op.alter_column('customer_email_normalized', existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_column('customer_email_hash')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_column('author_display')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('customer_email', existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('erasures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erasures_shop_id'))
    op.drop_table('erasures')
