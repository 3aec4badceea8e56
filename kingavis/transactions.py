"""Running one unit of work as a transaction that a concurrent writer may beat to a unique key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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
