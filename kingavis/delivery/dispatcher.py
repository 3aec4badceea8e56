"""The durable dispatcher: the database says what is due; a tick claims it and sends it.

A tick claims review requests that are ``scheduled`` and due, or ``sending`` with an expired
lease (``next_attempt_at`` holds the lease's end while sending), of shops that are not paused,
oldest first, one batch at a time. Claiming moves them to ``sending`` with a lease and counts
the attempt, and is committed before anything else happens. Then the batch is sent inline over
one mail connection (no ``REDIS_URL``) or enqueued as one RQ job per request, with a job id
made of the request id and the attempt.

Nothing is lost: a job that vanishes (Redis flushed, a worker killed) leaves its request in
``sending``; when the lease ends, a later tick claims it again with the next attempt number,
and the old job, should it ever run, finds the attempt changed and does nothing.

Reminders (a shop's optional one, ``reminder_days`` after the first email) go the same way
after the first emails: claimed when ``reminder_due_at`` is reached (the lease pushes it
forward, ``reminder_attempts`` counts), sent inline or as RQ jobs ``review-reminder-<id>-<n>``.

PostgreSQL claims with ``SELECT … FOR UPDATE SKIP LOCKED`` so several dispatchers can run at
once; SQLite runs every transaction as ``BEGIN IMMEDIATE`` (single writer), which makes the
same select-then-update safe.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, exists, insert, select, text, update

from ..extensions import db
from ..models import RequestDecision, RequestState, ReviewRequest, Shop, utcnow
from ..notes import NoteCode
from . import JOB_SEND_REMINDER, JOB_SEND_REVIEW_REQUEST, service
from .errors import TransientMailError
from .jobs import (
    Outcome,
    deliver,
    deliver_reminder,
    release,
    release_reminders,
)

log = logging.getLogger("kingavis.delivery")

ACTIVE_STATES = (RequestState.SCHEDULED.value, RequestState.SENDING.value)
# A tick stops enqueueing while this many jobs wait in the queue (DISPATCH_MAX_QUEUED).
DEFAULT_MAX_QUEUED = 50_000


@dataclass
class TickResult:
    """What one tick did. ``outcomes`` counts inline deliveries by outcome."""

    mode: str  # "inline" or "rq"
    claimed: int = 0
    enqueued: int = 0
    batches: int = 0
    held_back: bool = False  # stopped because the queue is full; the rest waits
    outcomes: Counter[str] = field(default_factory=Counter)
    # The reminders, counted apart from the first emails.
    reminders_claimed: int = 0
    reminders_enqueued: int = 0
    reminder_outcomes: Counter[str] = field(default_factory=Counter)
    # Messages about reviews: author emails and callback events (kingavis.delivery.outgoing).
    messages_claimed: int = 0
    messages_enqueued: int = 0
    message_outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return self.outcomes[Outcome.SENT.value]

    def summary(self) -> str:
        parts = [f"dispatch ({self.mode}): claimed {self.claimed}"]
        if self.mode == "rq":
            parts.append(f"enqueued {self.enqueued}")
            if self.held_back:
                parts.append("queue full: the rest waits for the next tick")
        else:
            for outcome in Outcome:
                parts.append(f"{outcome.value} {self.outcomes[outcome.value]}")
        text = ", ".join(parts)
        if self.reminders_claimed:
            if self.mode == "rq":
                text += f"; reminders: claimed {self.reminders_claimed}, " \
                        f"enqueued {self.reminders_enqueued}"
            else:
                text += f"; reminders: claimed {self.reminders_claimed}, " + ", ".join(
                    f"{k} {v}" for k, v in sorted(self.reminder_outcomes.items())
                )
        if self.messages_claimed:
            if self.mode == "rq":
                text += f"; review messages: claimed {self.messages_claimed}, " \
                        f"enqueued {self.messages_enqueued}"
            else:
                text += f"; review messages: claimed {self.messages_claimed}, " + ", ".join(
                    f"{k} {v}" for k, v in sorted(self.message_outcomes.items())
                )
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "claimed": self.claimed, "enqueued": self.enqueued,
                "batches": self.batches, "held_back": self.held_back,
                "outcomes": dict(self.outcomes), "reminders_claimed": self.reminders_claimed,
                "reminders_enqueued": self.reminders_enqueued,
                "reminder_outcomes": dict(self.reminder_outcomes),
                "messages_claimed": self.messages_claimed,
                "messages_enqueued": self.messages_enqueued,
                "message_outcomes": dict(self.message_outcomes)}


def due_query(now: datetime, limit: int, *, lock: bool) -> Select[Any]:
    """The claim query: due requests of shops not paused, oldest first.

    Its WHERE clause repeats the predicate of the partial index ``ix_review_requests_due``
    (``state IN ('scheduled', 'sending')``) so the planner can walk that index in order.
    """
    paused = exists().where(Shop.id == ReviewRequest.shop_id, Shop.paused.is_(True))
    query = (
        select(ReviewRequest.id)
        .where(
            # Written out, not bound, so even a generic plan can prove the index's predicate.
            text("review_requests.state IN ('scheduled', 'sending')"),
            ReviewRequest.next_attempt_at <= now,
            ~paused,
        )
        .order_by(ReviewRequest.next_attempt_at)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=ReviewRequest)
    return query


def explain_claim(now: datetime, limit: int, *, analyze: bool = False) -> str:
    """The database's plan for the claim query (PostgreSQL: EXPLAIN [ANALYZE]; SQLite:
    EXPLAIN QUERY PLAN). Runs in the current transaction and rolls it back."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    compiled = due_query(now, limit, lock=postgres).compile(
        dialect=db.session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    values = {
        k: v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v
        for k, v in compiled.params.items()
    }
    params: Any = tuple(values[k] for k in compiled.positiontup) if compiled.positiontup else values
    if postgres:
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    else:
        prefix = "EXPLAIN QUERY PLAN "
    try:
        rows = db.session.connection().exec_driver_sql(prefix + compiled.string, params).all()
    finally:
        db.session.rollback()
    return "\n".join(str(r[0] if postgres else r[-1]) for r in rows)


def claim(now: datetime, limit: int) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due requests; returns (id, attempt) pairs, oldest first. Commits."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        due = list(db.session.execute(due_query(now, limit, lock=postgres)).scalars())
        if not due:
            db.session.commit()
            return []
        lease_end = now + service.lease()
        rows = db.session.execute(
            update(ReviewRequest)
            # Repeats the due condition: a row another claim took meanwhile is left alone.
            .where(
                ReviewRequest.id.in_(due),
                ReviewRequest.state.in_(ACTIVE_STATES),
                ReviewRequest.next_attempt_at <= now,
            )
            .values(
                state=RequestState.SENDING.value,
                reason=None,
                next_attempt_at=lease_end,
                attempts=ReviewRequest.attempts + 1,
                updated_at=now,
            )
            .returning(ReviewRequest.id, ReviewRequest.attempts, ReviewRequest.due_at)
            .execution_options(synchronize_session=False)
        ).all()
        # The timeline: one decision per claim (one batched INSERT), as a note code.
        if rows:
            db.session.execute(
                insert(RequestDecision.__table__),
                [
                    {
                        "review_request_id": request_id,
                        "state": RequestState.SENDING.value,
                        "reason": None,
                        "due_at": due_at,
                        "actor": service.ACTOR,
                        "note_code": NoteCode.CLAIMED.value,
                        "note_args": {"attempt": attempts},
                        "created_at": now,
                    }
                    for request_id, attempts, due_at in rows
                ],
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    order = {request_id: i for i, request_id in enumerate(due)}
    return sorted(((r[0], r[1]) for r in rows), key=lambda r: order[r[0]])


def job_id(request_id: int, attempt: int) -> str:
    return f"review-request-{request_id}-{attempt}"


def reminder_job_id(request_id: int, attempt: int) -> str:
    return f"review-reminder-{request_id}-{attempt}"


def reminder_due_query(now: datetime, limit: int, *, lock: bool) -> Select[Any]:
    """Due reminders of shops not paused, oldest first; walks ``ix_review_requests_reminder_due``
    (its predicate is repeated here, written out, for the planner)."""
    paused = exists().where(Shop.id == ReviewRequest.shop_id, Shop.paused.is_(True))
    query = (
        select(ReviewRequest.id)
        .where(
            text("review_requests.reminder_sent_at IS NULL"
                 " AND review_requests.reminder_due_at IS NOT NULL"),
            ReviewRequest.reminder_due_at <= now,
            ~paused,
        )
        .order_by(ReviewRequest.reminder_due_at)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=ReviewRequest)
    return query


def claim_reminders(now: datetime, limit: int) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due reminders: the lease pushes reminder_due_at forward and the
    attempt is counted. Returns (id, attempt) pairs, oldest first. Commits."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        due = list(db.session.execute(reminder_due_query(now, limit, lock=postgres)).scalars())
        if not due:
            db.session.commit()
            return []
        rows = db.session.execute(
            update(ReviewRequest)
            .where(
                ReviewRequest.id.in_(due),
                ReviewRequest.reminder_sent_at.is_(None),
                ReviewRequest.reminder_due_at <= now,
            )
            .values(
                reminder_due_at=now + service.lease(),
                reminder_attempts=ReviewRequest.reminder_attempts + 1,
                updated_at=now,
            )
            .returning(ReviewRequest.id, ReviewRequest.reminder_attempts)
            .execution_options(synchronize_session=False)
        ).all()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    order = {request_id: i for i, request_id in enumerate(due)}
    return sorted(((r[0], r[1]) for r in rows), key=lambda r: order[r[0]])


def tick(now: datetime | None = None) -> TickResult:
    """Claim every request due at ``now`` (batch by batch) and send or enqueue it; then the
    reminders due at ``now``, the same way; then the messages about reviews (emails to their
    authors, callback events; kingavis.delivery.outgoing)."""
    now = now or utcnow()
    queue = current_app.extensions.get("rq_queue")
    batch_size = int(current_app.config["DISPATCH_BATCH_SIZE"])
    result = TickResult(mode="rq" if queue is not None else "inline")
    max_queued = int(current_app.config.get("DISPATCH_MAX_QUEUED") or DEFAULT_MAX_QUEUED)
    # The first emails, then (unless the workers are behind or the mail server is down) the
    # reminders, the same way.
    if _drain(queue, batch_size, max_queued, result, now, reminder=False):
        _drain(queue, batch_size, max_queued, result, now, reminder=True)
    # Emails to review authors and callback events: few, and owed to people who acted.
    if queue is None or queue.count < max_queued:
        from . import outgoing

        claimed, enqueued, outcomes = outgoing.drain(queue, batch_size, now)
        result.messages_claimed += claimed
        result.messages_enqueued += enqueued
        result.message_outcomes.update(outcomes)
    if result.claimed or result.held_back or result.reminders_claimed or result.messages_claimed:
        log.info("dispatcher tick", extra={"fields": result.as_dict()})
    return result


def _drain(queue: Any, batch_size: int, max_queued: int, result: TickResult, now: datetime,
           *, reminder: bool) -> bool:
    """Claim batch after batch and enqueue or send it. False when the tick must stop here:
    the workers are behind (back-pressure) or the mail server cannot be reached."""
    claim_batch = claim_reminders if reminder else claim
    while True:
        if queue is not None and queue.count >= max_queued:
            # Back-pressure: the workers are behind. What is due stays scheduled (not leased)
            # and is claimed by a later tick, so no lease runs out while jobs wait in Redis.
            result.held_back = True
            return False
        claims = claim_batch(now, batch_size)
        if not claims:
            return True
        result.batches += 1
        if reminder:
            result.reminders_claimed += len(claims)
        else:
            result.claimed += len(claims)
        if queue is not None:
            enqueued = _enqueue(queue, claims, reminder=reminder)
            if reminder:
                result.reminders_enqueued += enqueued
            else:
                result.enqueued += enqueued
        elif not _send_inline(claims, result, now, reminder=reminder):
            return False  # the mail server cannot be reached: the rest waits for the next tick
        if len(claims) < batch_size:
            return True


def _enqueue(queue: Any, claims: list[tuple[int, int]], *, reminder: bool = False) -> int:
    """One RQ job per request, all in one round trip, after the claim was committed."""
    from rq import Queue

    lease_seconds = int(current_app.config["DISPATCH_LEASE_SECONDS"])
    jobs = [
        Queue.prepare_data(
            JOB_SEND_REMINDER if reminder else JOB_SEND_REVIEW_REQUEST,
            args=(request_id, attempt),
            job_id=(reminder_job_id if reminder else job_id)(request_id, attempt),
            timeout=max(60, lease_seconds // 2),
            # Once the lease is over the request is claimed again: an older job is worthless.
            ttl=lease_seconds,
            result_ttl=0,  # the database keeps the outcome
            failure_ttl=7 * 24 * 3600,
            description=f"send {'reminder' if reminder else 'review request'} {request_id}"
                        f" (attempt {attempt})",
        )
        for request_id, attempt in claims
    ]
    with queue.connection.pipeline() as pipeline:
        queue.enqueue_many(jobs, pipeline=pipeline)
        pipeline.execute()
    return len(jobs)


def _send_inline(claims: list[tuple[int, int]], result: TickResult, now: datetime,
                 *, reminder: bool = False) -> bool:
    """Send a claimed batch over one mail connection. False when the server is unreachable."""
    from .transports import open_transport

    send = deliver_reminder if reminder else deliver
    outcomes = result.reminder_outcomes if reminder else result.outcomes
    done: set[int] = set()
    try:
        with open_transport(current_app.config["MAIL_URL"]) as transport:
            for request_id, attempt in claims:
                outcome = send(request_id, attempt, transport, now=now)
                done.add(request_id)
                outcomes[outcome.value] += 1
    except TransientMailError as exc:
        rest = [c for c in claims if c[0] not in done]
        released = (release_reminders if reminder else release)(rest, str(exc), now=now)
        outcomes[Outcome.RETRY.value] += released
        log.warning(
            "mail server unreachable; batch scheduled again",
            extra={"fields": {"released": released, "error": service.mask_emails(str(exc))}},
        )
        return False
    return True
