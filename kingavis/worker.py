"""The RQ worker's entry points: what ``rq worker kingavis`` runs.

Every job takes ids (the database is the schedule; a job carries no state of its own) and runs
in this worker's app, created once per process from the environment, as the web and ``flask``
processes are. The work itself lives in its domain (``delivery.jobs``, ``delivery.outgoing``,
``callbacks``, ``personal_data``); this module only gives it an app. Nothing in the project
imports this module: jobs are enqueued by name (``kingavis.delivery.JOB_*``), so the delivery code never
needs the app factory, and the factory never needs the delivery code's jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, has_app_context

from kingavis import create_app
from kingavis.config import load_env_file
from kingavis.delivery import jobs, outgoing
from kingavis.delivery.callbacks import attempt as attempt_callback
from kingavis.delivery.callbacks import last_attempt
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.mail_headers import check_python_email
from kingavis.privacy.personal_data import run_retention

T = TypeVar("T")

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


def send_batch(kind: str, claims: list[list[int]]) -> str:
    """Send a claimed batch of invitations or reminders over one mail connection."""
    return str(in_app(jobs.send_claimed_batch, str(kind), [(int(i), int(a)) for i, a in claims]))


def send_message(message_id: int, attempt: int) -> str:
    """Send outgoing message ``message_id`` if it is still claimed as ``attempt``."""
    return str(in_app(outgoing.send_claimed, int(message_id), int(attempt)))


def deliver_review_created(review_id: int) -> str:
    """POST the review.created callback of ``review_id`` (RQ retries on a raise)."""
    return str(in_app(lambda: attempt_callback(int(review_id), last=last_attempt())))


def _tick() -> str:
    return tick().summary()


def dispatch_tick() -> str:
    """One dispatcher tick (``rq cron``, every minute)."""
    return str(in_app(_tick))


def _retention() -> str:
    done = run_retention()
    return f"retention: {sum(done.values())} order(s) anonymised in {len(done)} shop(s)"


def retention_run() -> str:
    """Personal data retention in every shop (``rq cron``, daily; CONTRACT 9)."""
    return str(in_app(_retention))

