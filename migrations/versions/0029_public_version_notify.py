"""public version notify: tell listening workers when a shop's public answers change

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 18:40:00.000000

On PostgreSQL, a trigger on ``shops`` sends the shop's id on the ``kingavis_public`` channel
when its ``public_version`` or ``slug`` changes or the shop is deleted, whoever the writer is
(the application, a script, SQL by hand). Each worker listens and stops trusting the shop row
it kept (kingavis/api/versions.py, docs/publication.md). PostgreSQL delivers the notification
when the transaction commits, never before, and never for a transaction rolled back.
SQLite has no channel: nothing to do there.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("""
        CREATE FUNCTION kingavis_public_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('kingavis_public', OLD.id::text);
            RETURN NULL;
        END
        $$
    """)
    op.execute("""
        CREATE TRIGGER shops_public_changed
        AFTER UPDATE OF public_version, slug ON shops
        FOR EACH ROW
        WHEN (OLD.public_version IS DISTINCT FROM NEW.public_version
              OR OLD.slug IS DISTINCT FROM NEW.slug)
        EXECUTE FUNCTION kingavis_public_notify()
    """)
    op.execute("""
        CREATE TRIGGER shops_public_deleted
        AFTER DELETE ON shops
        FOR EACH ROW
        EXECUTE FUNCTION kingavis_public_notify()
    """)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("DROP TRIGGER IF EXISTS shops_public_deleted ON shops")
    op.execute("DROP TRIGGER IF EXISTS shops_public_changed ON shops")
    op.execute("DROP FUNCTION IF EXISTS kingavis_public_notify()")
