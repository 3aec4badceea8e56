"""Running one unit of work as a transaction that a concurrent writer may beat to a unique key
(``retry_on_conflict``), and committing a few writes with their COMMIT in one round trip
(``commit_together``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from kingavis.extensions import db

T = TypeVar("T")

ATTEMPTS = 3


def retry_on_conflict(work: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """``work()``, which commits, run again after a unique-key conflict, up to ``attempts`` times.

    Two deliveries of the same webhook (a module retrying while the first is still running)
    both insert the same order, event or erasure: the loser's insert fails on the unique key.
    Rolled back and run again, it finds the winner's rows and replays its answer instead. Three
    attempts: a conflict means the other writer has committed, so the second attempt sees it;
    the third covers a third writer. Any other error is rolled back and raised at once, so
    nothing half-applied stays in the caller's session.

    A connection found dead (the database restarted, the connection was dropped: the pool does
    not ping connections on checkout, see ``kingavis.app._engine_options``) is rolled back and
    ``work()`` run once more on a new connection. Nothing of the failed attempt is kept; if it
    was the COMMIT that failed, the transaction may have been applied, so ``work()`` must be
    safe to run again after its own commit (a webhook finds its event stored and replays it).
    """
    attempt = 1
    reconnected = False
    while True:
        try:
            return work()
        except IntegrityError:
            db.session.rollback()
            if attempt >= attempts:
                raise
            attempt += 1
        except DBAPIError as exc:
            db.session.rollback()
            if reconnected or not exc.connection_invalidated:
                raise
            reconnected = True
        except Exception:
            db.session.rollback()
            raise


@contextmanager
def commit_together() -> Iterator[None]:
    """Commit the session's transaction with what the block writes; on PostgreSQL the
    statements the block executes and the COMMIT go to the server together, in one round trip
    (psycopg's pipeline mode), instead of one round trip each.

    Durability is unchanged: the COMMIT is the same durable commit, and the block is left only
    once the server has answered it, with every statement's error raised here (a statement that
    fails aborts the rest, COMMIT included: nothing is applied). The block must not read what
    it writes; anything it reads costs a round trip as before. Changes to loaded objects (the
    unit of work) are flushed before the block, or after it when the block made some: a flush
    checks each UPDATE's row count, which a pipeline only gives at the end, so its statements
    never go in one. The caller rolls back on an error, as after ``commit()``.
    """
    session = db.session
    if session.get_bind().dialect.name != "postgresql":
        yield
        session.commit()
        return
    session.flush()
    connection = session.connection()
    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():
            yield
            if not (session.new or session.dirty or session.deleted):
                # Sent with the statements; returns once the server answered all of them.
                driver.commit()
    except connection.dialect.loaded_dbapi.Error as exc:
        # Raised by the driver at the end of the pipeline, outside SQLAlchemy's execute:
        # made what SQLAlchemy raises (IntegrityError, ..., a dead connection invalidated).
        raise _as_sqlalchemy_error(connection, exc) from exc
    # Ends the session's transaction; after the COMMIT above, nothing is left to send.
    session.commit()


def _as_sqlalchemy_error(connection: Connection, exc: Exception) -> DBAPIError:
    """The ``DBAPIError`` SQLAlchemy raises for the driver's ``exc``; a connection the error
    says is dead is invalidated (the pool replaces it), as SQLAlchemy does for a statement."""
    dialect = connection.dialect
    dead = dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
    if dead:
        connection.invalidate(exc)
    return DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                               connection_invalidated=dead, dialect=dialect)
