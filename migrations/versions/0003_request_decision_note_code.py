"""request decision notes as a code and parameters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Notes written by King-Avis become a code plus parameters, translated when shown; the
    # existing `note` column keeps merchants' notes and the rows written before this.
    with op.batch_alter_table('request_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('note_args', sa.JSON(), nullable=True))


def downgrade():
    # Keep a trace of coded notes in the text column rather than losing them.
    op.execute("UPDATE request_decisions SET note = note_code"
               " WHERE note IS NULL AND note_code IS NOT NULL")
    with op.batch_alter_table('request_decisions', schema=None) as batch_op:
        batch_op.drop_column('note_args')
        batch_op.drop_column('note_code')
