"""Running one unit of work as a transaction that a concurrent writer may beat to a unique key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

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
    """
    attempt = 1
    while True:
        try:
            return work()
        except IntegrityError:
            db.session.rollback()
            if attempt >= attempts:
                raise
            attempt += 1
        except Exception:
            db.session.rollback()
            raise
