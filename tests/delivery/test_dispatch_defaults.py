"""The dispatcher's documented defaults (README "Sending"), each asserted once, by behaviour.

No test here sets ``DISPATCH_RETRY_DELAYS``, ``DISPATCH_MAX_ATTEMPTS`` or
``DISPATCH_MAX_QUEUED``: what they see is what an operator gets by default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import make_app
from delivery_helpers import request_row, schedule
from factories import make_shop
from flask import Flask
from redis import Redis
from smtp_server import SMTPServer
from sqlalchemy import select

from kingavis.delivery import service
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import RequestDecision, utcnow

MINUTE, HOUR = 60, 3600


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test")
    return app


def test_retries_after_1_5_15_min_1_3_6_h_then_every_6_h_and_fails_at_the_10th_attempt(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    smtp.data_reply = "451 4.3.0 Try again later"
    at = utcnow()
    waits = []
    for attempt in range(1, 10):
        assert tick(at).outcomes["retry"] == 1, attempt
        row = request_row(request_id)
        assert (row.state, row.attempts) == ("scheduled", attempt)
        waits.append(int((row.next_attempt_at - at).total_seconds()))
        at = row.next_attempt_at
    assert waits == [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR,
                     6 * HOUR, 6 * HOUR, 6 * HOUR]

    smtp.data_reply = "451 4.3.0 Try again later, zoe@example.com"
    log = Collect()
    logger = logging.getLogger("kingavis.delivery")
    was_disabled, logger.disabled = logger.disabled, False
    logger.addHandler(log)
    try:
        assert tick(at).outcomes["failed"] == 1  # the 10th attempt is the last
    finally:
        logger.removeHandler(log)
        logger.disabled = was_disabled
    row = request_row(request_id)
    assert (row.state, row.reason, row.attempts) == ("failed", "delivery_failed", 10)
    assert tick(at + timedelta(days=30)).claimed == 0
    assert smtp.messages == []

    # The timeline says it gave up after 10 attempts, when, and on what error.
    db.session.rollback()
    last = db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id.desc()).limit(1)
    ).scalar_one()
    assert (last.state, last.reason, last.note_code) == ("failed", "delivery_failed", "gave_up")
    assert last.created_at == at
    assert last.note_args["attempts"] == 10
    assert last.note_args["error"].startswith("451 ")
    # And the log line, with the address masked.
    [failed] = [r for r in log.records if r.getMessage() == "review request failed"]
    assert failed.fields["attempt"] == 10
    assert "z***@example.com" in failed.fields["error"]
    assert "zoe@example.com" not in failed.fields["error"]


def test_the_service_falls_back_to_the_same_defaults(app: Flask) -> None:
    """The app's configuration holds the defaults; the service's own are the same."""
    assert tuple(app.config["DISPATCH_RETRY_DELAYS"]) == service.DEFAULT_RETRY_DELAYS
    assert app.config["DISPATCH_MAX_ATTEMPTS"] == service.DEFAULT_MAX_ATTEMPTS
    del app.config["DISPATCH_RETRY_DELAYS"], app.config["DISPATCH_MAX_ATTEMPTS"]
    assert service.retry_delays() == (60, 300, 900, 3600, 10800, 21600)
    assert service.max_attempts() == 10
    # The n-th temporary error waits the n-th delay; past the list, the last one.
    assert [service.retry_delay(n).total_seconds() for n in (0, 1, 2, 6, 7, 50)] == [
        60, 60, 300, 21600, 21600, 21600]


def test_a_tick_stops_enqueueing_at_50000_queued_jobs(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, DISPATCH_BATCH_SIZE=1)
    with app.app_context():
        assert "DISPATCH_MAX_QUEUED" not in app.config or not app.config["DISPATCH_MAX_QUEUED"]
        shop, _ = make_shop()
        ids = [schedule(shop, str(n)) for n in range(3)]
        queue = app.extensions["rq_queue"]
        redis = Redis.from_url(redis_url)
        # 49,999 jobs already wait (ids only: the tick counts the queue, never reads it).
        with redis.pipeline(transaction=False) as pipe:
            for start in range(0, 49_999, 10_000):
                pipe.rpush(queue.key, *[f"waiting-{n}" for n in range(start, min(start + 10_000, 49_999))])
            pipe.execute()
        assert queue.count == 49_999

        result = tick()
        # One more fits (49,999 < 50,000); then the queue is full and the rest waits, unclaimed.
        assert (result.enqueued, result.held_back) == (1, True)
        assert queue.count == 50_000
        assert sorted(request_row(i).state for i in ids) == ["scheduled", "scheduled", "sending"]

        redis.lpop(queue.key)  # a worker takes one: room for one more
        assert (tick().enqueued, queue.count) == (1, 50_000)
        redis.close()
        db.session.remove()
        db.engine.dispose()
