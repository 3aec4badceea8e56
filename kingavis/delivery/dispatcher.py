"""The durable dispatcher: the database says what is due; a tick claims it and sends it.

A tick claims review requests that are ``scheduled`` and due, or ``sending`` with an expired
lease (``next_attempt_at`` holds the lease's end while sending), of shops that are not paused,
oldest first, one batch at a time. Claiming moves them to ``sending`` with a lease and counts
the attempt, and is committed before anything else happens. Then the batch goes to one send
function, ``sending.send_batch`` (one mail connection, each outcome committed as the server
answers): called inline (no ``REDIS_URL``), or as one RQ job per batch whose id is made of the
claims it carries (``batch_job_id``). The claim transaction and the loop are
kingavis.delivery.claims, shared with the messages about reviews (kingavis.delivery.outgoing),
which the tick sends last.

Nothing is lost: a job that vanishes (Redis flushed, a worker killed) leaves its requests in
``sending``; when the lease ends, a later tick claims them again with the next attempt number,
and the old job, should it ever run, finds the attempts changed and sends nothing.

Reminders (a shop's optional one, ``reminder_days`` after the first email) go the same way
after the first emails, the same functions with ``Kind.REMINDER``: claimed when
``reminder_due_at`` is reached (the lease pushes it forward, ``reminder_attempts`` counts).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, exists, select, text, update

from kingavis.delivery import JOB_SEND_BATCH, claims, outgoing, service
from kingavis.delivery.send_time import Kind, Outcome
from kingavis.delivery.sending import send_batch
from kingavis.extensions import db
from kingavis.models import RequestState, ReviewRequest, Shop, utcnow
from kingavis.review_requests import lifecycle
from kingavis.review_requests.notes import NoteCode

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
        for label, claimed, enqueued, outcomes in (
            ("reminders", self.reminders_claimed, self.reminders_enqueued,
             self.reminder_outcomes),
            ("review messages", self.messages_claimed, self.messages_enqueued,
             self.message_outcomes),
        ):
            if not claimed:
                continue
            if self.mode == "rq":
                text += f"; {label}: claimed {claimed}, enqueued {enqueued}"
            else:
                text += f"; {label}: claimed {claimed}, " + ", ".join(
                    f"{k} {v}" for k, v in sorted(outcomes.items())
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


def _due(index_predicate: str, due_column: Any, now: datetime, limit: int,
         lock: bool) -> Select[Any]:
    """Due rows of shops not paused, oldest first. ``index_predicate`` repeats, written out
    (not bound), the predicate of the partial index the planner should walk, so that even a
    generic plan can prove it; ``due_column`` orders the index."""
    paused = exists().where(Shop.id == ReviewRequest.shop_id, Shop.paused.is_(True))
    query = (
        select(ReviewRequest.id)
        .where(text(index_predicate), due_column <= now, ~paused)
        .order_by(due_column)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=ReviewRequest)
    return query


def due_query(now: datetime, limit: int, *, lock: bool) -> Select[Any]:
    """The invitations' claim query; walks ``ix_review_requests_due``."""
    return _due("review_requests.state IN ('scheduled', 'sending')",
                ReviewRequest.next_attempt_at, now, limit, lock)


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


def claim(now: datetime, limit: int, *, kind: Kind = Kind.INVITATION) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due emails of ``kind``; returns (id, attempt) pairs, oldest first.
    Commits."""
    if kind is Kind.REMINDER:
        return claims.claim(reminder_due_query, _mark_reminders, now, limit)
    return claims.claim(due_query, _mark_invitations, now, limit)


def _mark_invitations(due: list[int], now: datetime) -> list[tuple[int, int]]:
    """Invitations: ``sending`` with a lease, the attempt counted, a timeline row each."""
    rows = lifecycle.transition_where(
        due, RequestState.SENDING,
        only_from=(RequestState.SCHEDULED, RequestState.SENDING),
        # Repeats the due condition: a row another claim took meanwhile is left alone.
        where=[ReviewRequest.next_attempt_at <= now],
        values={"next_attempt_at": now + service.lease(),
                "attempts": ReviewRequest.attempts + 1},
        note_code=NoteCode.CLAIMED,
        note_args=lambda row: {"attempt": row[2]},
        actor=lifecycle.DISPATCHER,
        now=now,
        returning=[ReviewRequest.attempts],
    )
    return [(r[0], r[2]) for r in rows]


def _mark_reminders(due: list[int], now: datetime) -> list[tuple[int, int]]:
    """Reminders: the lease pushes ``reminder_due_at`` forward, the attempt is counted; the
    request keeps its state (``sent``)."""
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
    return [(r[0], r[1]) for r in rows]


def claim_reminders(now: datetime, limit: int) -> list[tuple[int, int]]:
    """``claim`` for reminders."""
    return claim(now, limit, kind=Kind.REMINDER)


def batch_job_id(kind: Kind, batch: list[tuple[int, int]]) -> str:
    """The RQ job id of a batch: the same claims always give the same id (a re-claim counts
    new attempts, so it gets a new one)."""
    digest = hashlib.sha256(",".join(f"{i}:{a}" for i, a in batch).encode()).hexdigest()
    return f"review-{kind.value}-batch-{batch[0][0]}-{digest[:16]}"


def _batch_job(kind: Kind, batch: list[tuple[int, int]]) -> claims.Job:
    """The one RQ job of a claimed batch (kingavis.worker)."""
    return claims.Job(JOB_SEND_BATCH, (kind.value, [list(c) for c in batch]),
                      batch_job_id(kind, batch),
                      f"send {len(batch)} {kind.value}(s), first {batch[0][0]}")


def reminder_due_query(now: datetime, limit: int, *, lock: bool) -> Select[Any]:
    """The reminders' claim query; walks ``ix_review_requests_reminder_due``."""
    return _due("review_requests.reminder_sent_at IS NULL"
                " AND review_requests.reminder_due_at IS NOT NULL",
                ReviewRequest.reminder_due_at, now, limit, lock)


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
    invitations = _drain(queue, batch_size, max_queued, now, Kind.INVITATION)
    result.claimed, result.enqueued = invitations.claimed, invitations.enqueued
    result.outcomes.update(invitations.outcomes)
    result.batches, result.held_back = invitations.batches, invitations.held_back
    if not invitations.stopped:
        reminders = _drain(queue, batch_size, max_queued, now, Kind.REMINDER)
        result.reminders_claimed, result.reminders_enqueued = reminders.claimed, reminders.enqueued
        result.reminder_outcomes.update(reminders.outcomes)
        result.batches += reminders.batches
        result.held_back = reminders.held_back
    # Emails to review authors and callback events: few, and owed to people who acted.
    messages = outgoing.drain(queue, batch_size, max_queued, now)
    result.messages_claimed, result.messages_enqueued = messages.claimed, messages.enqueued
    result.message_outcomes.update(messages.outcomes)
    result.held_back = result.held_back or messages.held_back
    if result.claimed or result.held_back or result.reminders_claimed or result.messages_claimed:
        log.info("dispatcher tick", extra={"fields": result.as_dict()})
    return result


def _drain(queue: Any, batch_size: int, max_queued: int, now: datetime,
           kind: Kind) -> claims.Drained:
    """The requests' emails of ``kind`` due at ``now``: one RQ job per batch, or
    ``send_batch`` inline."""
    return claims.drain(
        queue, batch_size, max_queued,
        claim=lambda limit: claim(now, limit, kind=kind),
        jobs=lambda batch: [_batch_job(kind, batch)],
        send=lambda batch: send_batch(kind, batch, now=now),
    )
