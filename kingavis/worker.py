"""The RQ worker's entry points: what ``rq worker kingavis`` runs.

Every job takes ids (the database is the schedule; a job carries no state of its own) and runs
in this worker's app, created once per process from the environment, as the web and ``flask``
processes are. The work itself lives in its domain (``delivery.sending``, ``delivery.outgoing``,
``personal_data``); this module only gives it an app. Only the other entry point,
``kingavis.cron_config``, imports this module: jobs are enqueued by name (``kingavis.delivery.JOB_*``), so the delivery code never
needs the app factory, and the factory never needs the delivery code's jobs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
from flask import Flask, has_app_context
from rq.worker import SimpleWorker

from kingavis import create_app
from kingavis.config import load_env_file
from kingavis.delivery import outgoing, sending
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.logging import configure_logging
from kingavis.mail_headers import check_python_email
from kingavis.personal_data.retention import run_retention

T = TypeVar("T")

log = logging.getLogger("kingavis.worker")

_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The app of this worker process, created once (``create_app()`` from the environment)."""
    global _worker_app
    if _worker_app is None:
        load_env_file()  # the checkout's .env, as for the web and `flask` processes
        _worker_app = create_app()
        check_python_email()
    return _worker_app


def in_app(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in the current app, or in this worker's app with a fresh session."""
    if has_app_context():
        return fn(*args)
    with worker_app().app_context():
        try:
            return fn(*args)
        finally:
            db.session.remove()


def send_request_batch(kind: str, claims: list[list[int]]) -> str:
    """Send a claimed batch of invitations or reminders over one mail connection."""
    return str(in_app(sending.send_claimed_batch, str(kind), [(int(i), int(a)) for i, a in claims]))


def send_message(message_id: int, attempt: int) -> str:
    """Send outgoing message ``message_id`` if it is still claimed as ``attempt``."""
    return str(in_app(outgoing.send_claimed, int(message_id), int(attempt)))


def _tick() -> str:
    return tick().summary()


def dispatch_tick() -> str:
    """One dispatcher tick (``rq cron``, every minute)."""
    return str(in_app(_tick))


def _retention() -> str:
    done = run_retention()
    return f"retention: {sum(done.values())} order(s) anonymised in {len(done)} shop(s)"


def retention_run() -> str:
    """Personal data retention in every shop (``rq cron``, daily; docs/personal-data.md)."""
    return str(in_app(_retention))



# --- Redis outages: the worker waits and reconnects (docs/production.md) -------------------

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 30.0


class RedisOutage:
    """Whether Redis is out of reach, logged once per outage: an error when it goes, one line
    when it is back (with how long it was away). ``wait`` sleeps the next backoff delay:
    1 s, doubled each time, at most 30 s (``clock``/``sleep`` injectable for tests)."""

    def __init__(self, *, first: float = FIRST_WAIT_SECONDS, most: float = MAX_WAIT_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.first, self.most = first, most
        self.clock, self.sleep = clock, sleep
        self.since: float | None = None
        self.delay = first
        self._lock = threading.Lock()

    def lost(self, exc: BaseException) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = self.clock()
            self.delay = self.first
        log.error("Redis unreachable: the worker keeps waiting and reconnects by itself",
                  extra={"fields": {"error": type(exc).__name__}})

    def wait(self) -> None:
        with self._lock:
            delay = self.delay
            self.delay = min(self.delay * 2, self.most)
        self.sleep(delay)

    def back(self) -> None:
        with self._lock:
            if self.since is None:
                return
            away = self.clock() - self.since
            self.since = None
            self.delay = self.first
        log.warning("Redis reachable again: the worker goes on",
                    extra={"fields": {"outage_seconds": round(away, 1)}})


class _QuietRetries(logging.Filter):
    """rq logs an error on every retry of a lost connection; the outage is logged once
    (``RedisOutage``) instead."""

    def __init__(self, outage: RedisOutage) -> None:
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        if "could not connect to Redis" in str(record.msg):
            self.outage.lost(ConnectionError(str(record.msg)))
            return False
        return True


class ReconnectingWorker(SimpleWorker):
    """``rq worker --worker-class kingavis.worker.ReconnectingWorker``: a SimpleWorker that
    outlives a Redis outage instead of exiting.

    rq's own loop retries a lost connection only while it waits for a job; a heartbeat, a
    maintenance task, a suspension check or a job's bookkeeping that meets the outage ends
    the worker ("unhandled exception, quitting"). Here each of them waits with backoff and
    goes on; at start the worker waits for Redis too. A job interrupted by the outage is left
    to the database's leases (``kingavis.delivery``): its requests are claimed again later.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Its lines in the service's JSON format from the start, before any job makes the app.
        configure_logging(os.environ.get("KINGAVIS_LOG_LEVEL", "INFO").upper())
        check_python_email()  # docs/email-headers.md
        self.max_connection_wait_time = MAX_WAIT_SECONDS
        self.outage = RedisOutage()
        self.log.addFilter(_QuietRetries(self.outage))

    def _until_redis(self, step: Callable[[], T]) -> T:
        while True:
            try:
                done = step()
            except REDIS_ERRORS as exc:
                self.outage.lost(exc)
                self.outage.wait()
                continue
            self.outage.back()
            return done

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        self._until_redis(self.connection.ping)
        self._until_redis(lambda: super(ReconnectingWorker, self).bootstrap(*args, **kwargs))

    def set_state(self, state: str, pipeline: Any = None) -> None:
        try:
            super().set_state(state, pipeline)
        except REDIS_ERRORS as exc:  # shown in rq's dashboards only; the dequeue waits
            self.outage.lost(exc)

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().heartbeat(*args, **kwargs)
        except REDIS_ERRORS as exc:
            # The dequeue that follows meets the outage too, and waits there with backoff.
            self.outage.lost(exc)
            return
        self.outage.back()

    def check_for_suspension(self, burst: bool) -> None:
        self._until_redis(lambda: super(ReconnectingWorker, self).check_for_suspension(burst))

    def run_maintenance_tasks(self) -> None:
        self._until_redis(super().run_maintenance_tasks)

    def execute_job(self, job: Any, queue: Any) -> None:
        try:
            super().execute_job(job, queue)
        except REDIS_ERRORS as exc:
            self.outage.lost(exc)
            self.outage.wait()
