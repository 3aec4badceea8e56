"""Claiming what is due, then sending it or enqueueing it: the one loop of the dispatcher.

Two kinds of rows leave through it: review requests (their invitations and reminders,
kingavis.delivery.dispatcher) and messages about reviews (emails to their authors and callback
events, kingavis.delivery.outgoing). Each gives ``drain`` its own three functions: how to claim
a batch, which RQ jobs carry a claimed batch, and how to send one inline.

``claim`` is the claim transaction both use: the due rows are selected (PostgreSQL: ``SELECT …
FOR UPDATE SKIP LOCKED``, so several dispatchers can run at once; SQLite runs every transaction
as ``BEGIN IMMEDIATE``, a single writer, which makes the same select-then-update safe), marked
claimed (``sending`` with a lease, the attempt counted) and committed before anything else
happens. ``drain`` then sends the batch inline (no ``REDIS_URL``) or enqueues its jobs, whose
ids are made of the claims they carry: a re-claim counts new attempts, so it gets new jobs, and
a stale job finds its attempt changed and sends nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import Select

from kingavis.extensions import db

Claim = TypeVar("Claim", bound=tuple[Any, ...])


def claim(due_query: Callable[..., Select[Any]],
          mark: Callable[[list[int], datetime], list[Claim]],
          now: datetime, limit: int) -> list[Claim]:
    """Claim up to ``limit`` rows due at ``now``, oldest first. ``due_query(now, limit, lock=)``
    selects their ids; ``mark(ids, now)`` claims them and returns one tuple per row it claimed,
    the id first (a row another claim took meanwhile is left out). Commits."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        due = list(db.session.execute(due_query(now, limit, lock=postgres)).scalars())
        if not due:
            db.session.commit()
            return []
        rows = mark(due, now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    order = {row_id: i for i, row_id in enumerate(due)}
    return sorted(rows, key=lambda r: order[r[0]])


@dataclass(frozen=True)
class Job:
    """One RQ job to enqueue: the worker's function (by name), its arguments (ids only), its id
    and what the queue's dashboards show."""

    function: str
    args: tuple[Any, ...]
    job_id: str
    description: str


@dataclass
class Drained:
    """What ``drain`` did. ``stopped``: it stopped before the end of what is due, because the
    queue is full (``held_back``) or the mail server cannot be reached."""

    claimed: int = 0
    enqueued: int = 0
    batches: int = 0
    held_back: bool = False
    stopped: bool = False
    outcomes: Counter[str] = field(default_factory=Counter)


def drain(queue: Any, batch_size: int, max_queued: int, *,
          claim: Callable[[int], list[Claim]],
          jobs: Callable[[list[Claim]], Sequence[Job]],
          send: Callable[[list[Claim]], tuple[Counter[str], bool]]) -> Drained:
    """Claim batch after batch (``claim(batch_size)``) and enqueue its ``jobs`` on ``queue``, or
    without a queue ``send`` it inline (outcomes counted; False: the mail server cannot be
    reached, the rest waits for the next tick)."""
    drained = Drained()
    while True:
        if queue is not None and queue.count >= max_queued:
            # Back-pressure: the workers are behind. What is due stays unclaimed (not leased)
            # and is claimed by a later tick, so no lease runs out while jobs wait in Redis.
            drained.held_back = drained.stopped = True
            return drained
        claims = claim(batch_size)
        if not claims:
            return drained
        drained.batches += 1
        drained.claimed += len(claims)
        if queue is not None:
            enqueue(queue, jobs(claims))
            drained.enqueued += len(claims)
        else:
            outcomes, reachable = send(claims)
            drained.outcomes.update(outcomes)
            if not reachable:
                drained.stopped = True
                return drained
        if len(claims) < batch_size:
            return drained


def enqueue(queue: Any, jobs: Sequence[Job]) -> None:
    """Enqueue ``jobs`` in one round trip, after their claim was committed."""
    from rq import Queue

    lease_seconds = int(current_app.config["DISPATCH_LEASE_SECONDS"])
    prepared = [
        Queue.prepare_data(
            job.function,
            args=job.args,
            job_id=job.job_id,
            timeout=max(60, lease_seconds // 2),
            # Once the lease is over the rows are claimed again: an older job is worthless.
            ttl=lease_seconds,
            result_ttl=0,  # the database keeps the outcomes
            failure_ttl=7 * 24 * 3600,
            description=job.description,
        )
        for job in jobs
    ]
    with queue.connection.pipeline() as pipeline:
        queue.enqueue_many(prepared, pipeline=pipeline)
        pipeline.execute()
