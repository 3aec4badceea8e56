"""the merchant's own review-request email, per shop and language

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'email_designs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shop_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('sender_name', sa.String(length=100), nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=True),
        sa.Column('intro', sa.Text(), nullable=True),
        sa.Column('logo_url', sa.String(length=500), nullable=True),
        sa.Column('brand_colour', sa.String(length=7), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_email_designs_shop_id_shops'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_designs')),
        sa.UniqueConstraint('shop_id', 'language', name=op.f('uq_email_designs_shop_id_language')),
    )


def downgrade():
    op.drop_table('email_designs')
