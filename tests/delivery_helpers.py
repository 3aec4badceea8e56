"""Helpers for the dispatcher tests: due review requests, state read-back, real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from factories import days_ago, new_webhook_id, status_event
from processes import BIN, ROOT, flask_env
from sqlalchemy import create_engine, select, text

from kingavis.extensions import db
from kingavis.models import RequestDecision, ReviewRequest, Shop
from kingavis.orders.events import apply_status_event


def event(order_id: str, status_id: str, changed_at: datetime, **kwargs: Any) -> dict[str, Any]:
    """A status event as the webhook hands it to the service (changed_at a datetime)."""
    body = status_event(order_id, status_id, changed_at, **kwargs)
    body["data"]["changed_at"] = changed_at
    order = body["data"]["order"]
    if isinstance(order.get("placed_at"), str):  # the service takes what the schema parsed
        order["placed_at"] = datetime.fromisoformat(order["placed_at"])
    return body


def schedule(shop: Shop, order_id: str, *, days: float = 11, email: str | None = None,
             **kwargs: Any) -> int:
    """Deliver order ``order_id`` ``days`` ago (the preset's delay is 10 days): a scheduled request."""
    email = email or f"customer-{order_id}@example.com"
    result = apply_status_event(shop, event(order_id, "5", days_ago(days), email=email, **kwargs),
                                new_webhook_id())
    assert result.body["outcome"] == "scheduled", result.body
    return int(result.body["review_request"]["id"])


def request_row(request_id: int) -> ReviewRequest:
    db.session.rollback()
    row = db.session.get(ReviewRequest, request_id, populate_existing=True)
    assert row is not None
    return row


def states(ids: Iterable[int]) -> dict[int, str]:
    db.session.rollback()
    rows = db.session.execute(
        select(ReviewRequest.id, ReviewRequest.state).where(ReviewRequest.id.in_(list(ids)))
    ).all()
    return {r[0]: r[1] for r in rows}


def timeline(request_id: int) -> list[tuple[str, str | None]]:
    db.session.rollback()
    rows = db.session.execute(
        select(RequestDecision.state, RequestDecision.reason)
        .where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def last_entry(request_id: int) -> tuple[str, str | None, str, datetime]:
    """The newest timeline entry: state, reason, note (as a merchant reading the back-office in
    English sees it) and when it was written."""
    from flask_babel import force_locale

    from kingavis.review_requests.notes import describe_note

    db.session.rollback()
    last = db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id.desc()).limit(1)).scalar_one()
    with force_locale("en"):
        return last.state, last.reason, describe_note(last), last.created_at


def message_ids(server: Any) -> Counter[str]:
    """How many times the SMTP server received each Message-ID."""
    with server.lock:
        return Counter(str(m.message["Message-ID"]) for m in server.messages)


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0,
             context: Callable[[], str] | None = None) -> None:
    """Poll until ``condition()`` holds; fail with ``what`` (and ``context()``, e.g. a worker's
    output) after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting: {what}" + (f"\n{context()}" if context else ""))


class LogLines(logging.Handler):
    """What one logger said, as emitted: ``lines(message)`` gives each such line's fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, message: str) -> list[dict[str, Any]]:
        return [getattr(r, "fields", {}) for r in self.records if r.getMessage() == message]


@contextmanager
def log_lines(name: str = "kingavis.delivery") -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger(name)
    was_disabled, logger.disabled = logger.disabled, False
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.disabled = was_disabled


def count_states(database_url: str, ids: Iterable[int]) -> Counter[str]:
    """States read on a connection of our own (another process writes them)."""
    ids = list(ids)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT state FROM review_requests WHERE id = ANY(:ids)")
                if database_url.startswith("postgresql")
                else text(f"SELECT state FROM review_requests WHERE id IN ({','.join(map(str, ids))})"),  # noqa: S608
                {"ids": ids} if database_url.startswith("postgresql") else {},
            ).all()
        return Counter(r[0] for r in rows)
    finally:
        engine.dispose()


class Worker:
    """A real ``rq worker`` process (``kingavis.worker.ReconnectingWorker``, as the Procfile runs it)."""

    def __init__(self, env: dict[str, str], log_path: Path, queue: str = "kingavis") -> None:
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(BIN / "rq"), "worker", "--url", env["REDIS_URL"],
             "--worker-class", "kingavis.worker.ReconnectingWorker", "--logging_level", "WARNING", queue],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if not self.log.closed:
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def worker_env(database_url: str, instance: Path, redis_url: str, mail_url: str,
               **extra: str) -> dict[str, str]:
    return flask_env(database_url, instance, REDIS_URL=redis_url, MAIL_URL=mail_url,
                     MAIL_FROM="avis@kingavis.test", KINGAVIS_BASE_URL="http://kingavis.test",
                     PYTHONPATH=str(ROOT), **extra)
