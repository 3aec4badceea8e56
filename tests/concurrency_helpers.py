"""Jobs run at the same moment, each in its own thread and app context, for tests of what
concurrent deliveries may and may not do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flask import Flask

from kingavis.extensions import db

T = TypeVar("T")


def run_together(app: Flask, jobs: list[Callable[[], T]]) -> list[T]:
    """Run every job in its own thread and app context, all released at once."""
    # End the test's own transaction first: on SQLite every transaction, even a read of
    # shop.key, holds the single write lock until it ends.
    db.session.commit()
    barrier = threading.Barrier(len(jobs))
    results: list[T | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with app.app_context():
                try:
                    barrier.wait(timeout=60)
                    results[i] = jobs[i]()
                finally:
                    db.session.remove()
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a delivery never finished (deadlock?)"
    assert not errors, errors
    return [r for r in results if r is not None]
