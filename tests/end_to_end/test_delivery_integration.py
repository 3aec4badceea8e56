"""Nothing lost: the dispatcher with real RQ workers (``rq worker`` processes), real Redis,
a real SMTP server, on SQLite and PostgreSQL.

Each test counts what the SMTP server received per Message-ID: every request ends sent
exactly once (or failed with a reason), whatever happens to Redis, workers or the server.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from delivery_helpers import (
    Worker,
    count_states,
    message_ids,
    request_row,
    schedule,
    wait_for,
    worker_env,
)
from factories import make_shop
from flask import Flask
from processes import BIN, ROOT
from redis import Redis
from smtp_server import SMTPServer

from kingavis.delivery.dispatcher import batch_job_id, tick
from kingavis.delivery.send_time import Kind
from kingavis.extensions import db
from kingavis.models import utcnow

LEASE = 30


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def rq_app(database_url: str, tmp_path: Path, redis_url: str, smtp: SMTPServer) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, MAIL_URL=smtp.url,
                   MAIL_FROM="avis@kingavis.test", DISPATCH_LEASE_SECONDS=LEASE)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def workers(database_url: str, tmp_path: Path, redis_url: str, smtp: SMTPServer) -> Iterator[Any]:
    """Start real `rq worker` processes on demand; all stopped at the end."""
    started: list[Worker] = []
    env = worker_env(database_url, tmp_path / "worker", redis_url, smtp.url,
                     KINGAVIS_DISPATCH_LEASE_SECONDS=str(LEASE))

    def start(**extra: str) -> Worker:
        worker = Worker({**env, **extra}, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _queue(app: Flask) -> Any:
    return app.extensions["rq_queue"]


def _all_sent(database_url: str, ids: list[int]) -> bool:
    return count_states(database_url, ids) == {"sent": len(ids)}


def test_due_requests_go_through_rq_workers_once(
    rq_app: Flask, database_url: str, smtp: SMTPServer, workers: Any
) -> None:
    shop, _ = make_shop()
    ids = [schedule(shop, str(n)) for n in range(20)]
    not_due = schedule(shop, "later", days=1)

    result = tick()
    assert (result.mode, result.claimed, result.enqueued) == ("rq", 20, 20)
    # One job for the batch, named after the claims it carries.
    assert _queue(rq_app).job_ids == [batch_job_id(Kind.INVITATION, [(i, 1) for i in ids])]
    assert tick().claimed == 0  # claimed once, whatever the number of ticks
    db.session.remove()

    one, two = workers(), workers()
    wait_for(lambda: _all_sent(database_url, ids), "the workers send every due request")
    received = message_ids(smtp)
    assert len(received) == 20 and set(received.values()) == {1}, (one.output(), two.output())
    assert count_states(database_url, [not_due]) == {"scheduled": 1}


def test_redis_flushed_while_jobs_are_queued(
    rq_app: Flask, database_url: str, redis_url: str, smtp: SMTPServer, workers: Any
) -> None:
    shop, _ = make_shop()
    ids = [schedule(shop, str(n)) for n in range(10)]
    now = utcnow()
    assert tick(now).enqueued == 10
    Redis.from_url(redis_url).flushdb()  # every queued job is gone
    assert _queue(rq_app).count == 0

    workers()
    assert tick(now).claimed == 0  # the requests are leased, not lost
    result = tick(now + timedelta(seconds=LEASE + 1))
    assert (result.claimed, result.enqueued) == (10, 10)
    db.session.remove()

    wait_for(lambda: _all_sent(database_url, ids), "the re-enqueued requests are sent")
    received = message_ids(smtp)
    assert len(received) == 10 and set(received.values()) == {1}
    assert {request_row(i).attempts for i in ids} == {2}


def _hold_nth_message(smtp: SMTPServer, n: int) -> tuple[threading.Event, threading.Event]:
    """The n-th DATA is held unanswered (a worker stuck mid-send) until ``release`` is set;
    it is then refused, never recorded: its client is dead by then."""
    handler = smtp._controller.handler  # type: ignore[union-attr]
    original = handler.handle_DATA
    counter = itertools.count(1)
    holding, release = threading.Event(), threading.Event()

    async def handle_DATA(server: Any, session: Any, envelope: Any) -> str:
        if next(counter) == n:
            holding.set()
            while not release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.4.2 Connection lost"
        return await original(server, session, envelope)

    handler.handle_DATA = handle_DATA
    return holding, release


def test_worker_killed_in_the_middle_of_a_batch(
    rq_app: Flask, database_url: str, smtp: SMTPServer, workers: Any
) -> None:
    """kill -9 while the 10th message of a 30-message batch is on the wire: the 9 accepted
    before stay sent (each recorded as the server accepted it), the 21 others wait for their
    lease, are claimed again and sent; every Message-ID arrives exactly once."""
    shop, _ = make_shop()
    ids = [schedule(shop, str(n)) for n in range(30)]
    holding, release = _hold_nth_message(smtp, 10)
    assert tick().enqueued == 30
    assert _queue(rq_app).count == 1  # one job: the batch
    db.session.remove()

    victim = workers()
    wait_for(holding.is_set, "the worker is in the middle of its 10th message")
    victim.kill()  # kill -9
    release.set()
    assert len(smtp.messages) == 9
    assert count_states(database_url, ids) == {"sent": 9, "sending": 21}

    # Another worker finds nothing to do: the batch's job died with its worker.
    workers()
    assert tick().claimed == 0  # leased: nothing is claimed twice
    # Once the lease is over, a tick claims the 21 again (attempt 2), as one new batch.
    result = tick(utcnow() + timedelta(seconds=LEASE + 5))
    assert (result.claimed, result.enqueued) == (21, 21)
    db.session.remove()
    wait_for(lambda: _all_sent(database_url, ids), "the killed worker's requests are sent")
    received = message_ids(smtp)
    assert len(received) == 30 and set(received.values()) == {1}
    assert sorted(request_row(i).attempts for i in ids) == [1] * 9 + [2] * 21


def test_mail_server_down_for_a_while(
    rq_app: Flask, database_url: str, smtp: SMTPServer, workers: Any
) -> None:
    shop, _ = make_shop()
    ids = [schedule(shop, str(n)) for n in range(10)]
    smtp.stop()
    workers()
    assert tick().enqueued == 10
    db.session.remove()
    wait_for(lambda: count_states(database_url, ids) == {"scheduled": 10},
             "every attempt meets the unreachable server and is scheduled again")
    rows = [request_row(i) for i in ids]
    assert all("cannot connect" in (r.last_error or "") for r in rows)
    retry_at = max(r.next_attempt_at for r in rows if r.next_attempt_at)
    db.session.remove()

    assert tick().claimed == 0  # not before the retry time
    smtp.start()  # back, on the same port
    assert tick(retry_at + timedelta(seconds=1)).enqueued == 10
    db.session.remove()
    wait_for(lambda: _all_sent(database_url, ids), "everything is sent once the server is back")
    received = message_ids(smtp)
    assert len(received) == 10 and set(received.values()) == {1}


def test_permanent_refusal_through_a_worker_fails_with_the_reason(
    rq_app: Flask, database_url: str, smtp: SMTPServer, workers: Any
) -> None:
    shop, _ = make_shop()
    bad = schedule(shop, "1", email="nobody@example.com")
    good = schedule(shop, "2")
    smtp.recipient_replies["nobody@example.com"] = "550 5.1.1 No such user"
    workers()
    assert tick().enqueued == 2
    db.session.remove()
    wait_for(lambda: count_states(database_url, [bad, good]) == {"sent": 1, "failed": 1},
             "one sent, one refused")
    row = request_row(bad)
    assert row.reason == "delivery_failed" and "5.1.1 No such user" in (row.last_error or "")
    db.session.remove()
    assert tick(utcnow() + timedelta(days=3)).claimed == 0
    assert [m.rcpt_tos for m in smtp.messages] == [["customer-2@example.com"]]


def test_rq_cron_runs_the_tick(
    rq_app: Flask, database_url: str, redis_url: str, smtp: SMTPServer, workers: Any,
    tmp_path: Path
) -> None:
    """`rq cron kingavis.cron_config` + a worker: due requests go out on their own."""
    shop, _ = make_shop()
    ids = [schedule(shop, str(n)) for n in range(3)]
    db.session.remove()
    env = worker_env(database_url, tmp_path / "cron", redis_url, smtp.url,
                     KINGAVIS_DISPATCH_INTERVAL="1")
    workers(KINGAVIS_DISPATCH_INTERVAL="1")
    with open(tmp_path / "cron.log", "wb") as log:
        cron = subprocess.Popen(
            [str(BIN / "rq"), "cron", "--url", redis_url, "kingavis.cron_config"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: _all_sent(database_url, ids), "the cron tick sends the due requests")
        finally:
            cron.terminate()
            cron.wait(20)
    assert sorted(message_ids(smtp).values()) == [1, 1, 1]


def test_a_full_queue_holds_the_rest_back_without_leasing_it(
    rq_app: Flask, database_url: str, smtp: SMTPServer, workers: Any
) -> None:
    # Two batch jobs of three fill the queue.
    rq_app.config.update(DISPATCH_BATCH_SIZE=3, DISPATCH_MAX_QUEUED=2)
    shop, _ = make_shop()
    ids = [schedule(shop, str(n)) for n in range(10)]
    result = tick()
    assert (result.enqueued, result.held_back) == (6, True)
    assert "queue full" in result.summary()
    assert count_states(database_url, ids) == {"sending": 6, "scheduled": 4}
    assert tick().enqueued == 0  # still full: nothing more is leased
    db.session.remove()

    workers()
    wait_for(lambda: count_states(database_url, ids)["sent"] == 6, "the queued six are sent")
    assert tick().enqueued == 4
    db.session.remove()
    wait_for(lambda: _all_sent(database_url, ids), "the rest follows at the next tick")
    assert sorted(message_ids(smtp).values()) == [1] * 10
