"""Messages about a review: emails to its author and events on the shop's callback.

They are written as ``OutgoingMessage`` rows in the transaction of the change they tell of
(kingavis.reviews.publication, kingavis.reviews.questionnaire for review.created) and sent by
the dispatcher tick the way review requests are, with the same claim transaction and loop
(kingavis.delivery.claims): a claim moves due rows (``pending``, or ``sending`` whose lease ran
out) to ``sending`` with a lease in ``next_attempt_at`` and counts the attempt, and is
committed before anything is sent; the batch is then sent inline (no ``REDIS_URL``) or
enqueued as one RQ job per message, with a job id made of the message id and the attempt. A
job does nothing unless the row is still ``sending`` with its attempt, so a stale or duplicated
job never sends twice, and a job lost with its worker is claimed again when the lease ends.

Emails use the invitation's transports and mail building (temporary errors retried with the
dispatcher's delays, a permanent refusal fails at once); callback events, review.created
included, are the signed POST of kingavis.delivery.callbacks (network errors, 5xx and 429
retried with the callback intervals; review.created also writes its outcome on the review). A
message about a review withdrawn meanwhile is dropped, except the withdrawal event itself.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, select, text, update

from kingavis.delivery import JOB_SEND_MESSAGE, claims, service
from kingavis.delivery.errors import PermanentMailError, TransientMailError, UncertainDeliveryError
from kingavis.delivery.send_time import Outcome
from kingavis.extensions import db
from kingavis.models import (
    OutgoingMessage,
    OutgoingState,
    Review,
    ReviewRequest,
    ReviewState,
    utcnow,
)
from kingavis.reviews.publication import CALLBACK_CREATED

log = logging.getLogger("kingavis.delivery")

ACTIVE = (OutgoingState.PENDING.value, OutgoingState.SENDING.value)
EMAIL, CALLBACK = "email", "callback"


def due_query(now: datetime, limit: int, *, lock: bool) -> Select[Any]:
    """Due messages, oldest first; walks the partial index ``ix_outgoing_messages_due``."""
    query = (
        select(OutgoingMessage.id)
        .where(text("outgoing_messages.state IN ('pending', 'sending')"),
               OutgoingMessage.next_attempt_at <= now)
        .order_by(OutgoingMessage.next_attempt_at, OutgoingMessage.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=OutgoingMessage)
    return query


def claim(now: datetime, limit: int) -> list[tuple[int, int, str]]:
    """Claim up to ``limit`` due messages: (id, attempt, channel), oldest first. Commits."""
    return claims.claim(due_query, _mark, now, limit)


def _mark(due: list[int], now: datetime) -> list[tuple[int, int, str]]:
    """``sending`` with a lease, the attempt counted (a row another claim took is left out)."""
    rows = db.session.execute(
        update(OutgoingMessage)
        .where(OutgoingMessage.id.in_(due), OutgoingMessage.state.in_(ACTIVE),
               OutgoingMessage.next_attempt_at <= now)
        .values(state=OutgoingState.SENDING.value, next_attempt_at=now + service.lease(),
                attempts=OutgoingMessage.attempts + 1)
        .returning(OutgoingMessage.id, OutgoingMessage.attempts, OutgoingMessage.channel)
        .execution_options(synchronize_session=False)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def job_id(message_id: int, attempt: int) -> str:
    return f"review-message-{message_id}-{attempt}"


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _load(message_id: int, attempt: int) -> OutgoingMessage | None:
    """The message if it is still ours (sending, this attempt); else None, nothing held.

    On PostgreSQL the row stays locked until the outcome is recorded, so no other dispatcher
    can claim it meanwhile (a row another transaction holds is skipped: this job is stale);
    SQLite (a single writer) renews the lease before sending instead of holding its lock."""
    query = select(OutgoingMessage).where(OutgoingMessage.id == message_id) \
        .execution_options(populate_existing=True)
    if _postgres():
        query = query.with_for_update(skip_locked=True)
    message = db.session.execute(query).scalar_one_or_none()
    if message is None or message.state != OutgoingState.SENDING.value or message.attempts != attempt:
        db.session.rollback()
        return None
    return message


def _finish(message_id: int, attempt: int, outcome: Outcome, error: str | None, now: datetime,
            *, retry_in: timedelta | None = None, posted: bool = False) -> Outcome:
    """Record what happened, in its own commit, if the message is still this attempt's.
    ``posted``: a callback's POST was made (review.created counts it on the review)."""
    try:
        message = db.session.get(OutgoingMessage, message_id, populate_existing=True)
        if message is None or message.attempts != attempt or message.state in (
                OutgoingState.SENT.value, OutgoingState.FAILED.value, OutgoingState.DROPPED.value):
            db.session.rollback()
            return Outcome.STALE
        message.last_error = error
        if outcome is Outcome.SENT:
            message.state = OutgoingState.SENT.value
            message.sent_at = now
            message.next_attempt_at = None
        elif outcome is Outcome.RETRY and retry_in is not None:
            message.state = OutgoingState.PENDING.value
            message.next_attempt_at = now + retry_in
        elif outcome is Outcome.SUPPRESSED:
            message.state = OutgoingState.DROPPED.value
            message.next_attempt_at = None
        else:
            outcome = Outcome.FAILED
            message.state = OutgoingState.FAILED.value
            message.next_attempt_at = None
        if message.kind == CALLBACK_CREATED:
            _record_created(message.review_id, outcome, error, posted)
        fields = {"message": message_id, "channel": message.channel, "kind": message.kind,
                  "review_id": message.review_id, "attempt": attempt, "outcome": outcome.value,
                  "error": service.mask_emails(error)}
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("review message", extra={"fields": fields})
    return outcome


def _record_created(review_id: int, outcome: Outcome, error: str | None, posted: bool) -> None:
    """review.created also shows on the review, where the merchant looks (pending while it
    will be tried again, then delivered or failed)."""
    from kingavis.delivery.callbacks import DELIVERED, FAILED, PENDING, record_created

    review = db.session.get(Review, review_id, populate_existing=True)
    if review is not None:
        state = {Outcome.SENT: DELIVERED, Outcome.RETRY: PENDING}.get(outcome, FAILED)
        record_created(review, state, error, posted=posted)


def _email_retry(attempt: int) -> timedelta | None:
    return None if attempt >= service.max_attempts() else service.retry_delay(attempt)


def _callback_retry(attempt: int) -> timedelta | None:
    from kingavis.delivery.callbacks import retry_intervals

    intervals = retry_intervals()
    return timedelta(seconds=intervals[attempt - 1]) if attempt <= len(intervals) else None


def deliver(message_id: int, attempt: int, transport: Any | None = None, *,
            now: datetime | None = None) -> Outcome:
    """Send one claimed message and record the outcome. ``transport``: a mail transport for an
    email (one is opened from MAIL_URL if None)."""
    now = now or utcnow()
    message = _load(message_id, attempt)
    if message is None:
        return Outcome.STALE
    review = db.session.get(Review, message.review_id)
    request = db.session.get(ReviewRequest, review.review_request_id) if review else None
    if review is None or request is None:
        db.session.rollback()
        return _finish(message_id, attempt, Outcome.SUPPRESSED, "the review is gone", now)
    if review.status == ReviewState.WITHDRAWN.value and message.kind != "review.withdrawn":
        db.session.rollback()
        return _finish(message_id, attempt, Outcome.SUPPRESSED, "the review was withdrawn", now)
    if message.channel == CALLBACK:
        return _deliver_callback(message, review, request, attempt, now)
    return _deliver_email(message, review, request, attempt, transport, now)


def _deliver_callback(message: OutgoingMessage, review: Review, request: ReviewRequest,
                      attempt: int, now: datetime) -> Outcome:
    from kingavis.delivery.callbacks import event, signed_post

    shop = request.shop
    message_id = message.id
    if not shop.callback_url or not shop.callback_secret:
        db.session.rollback()
        return _finish(message_id, attempt, Outcome.SUPPRESSED, "no callback URL or secret set",
                       now)
    msg_id, body = event(message.kind, message_id, review, request.order, message.created_at)
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    url, secret, kind = shop.callback_url, shop.callback_secret, message.kind
    fields = {"review_id": review.id, "shop_id": shop.id}
    if not _postgres():
        db.session.commit()  # SQLite: no write lock held during the network call
    error, retryable = signed_post(url, secret, msg_id, text, what=kind, fields=fields)
    if error is None:
        return _finish(message_id, attempt, Outcome.SENT, None, now, posted=True)
    wait = _callback_retry(attempt) if retryable else None  # may be 0 s (tests)
    return _finish(message_id, attempt, Outcome.FAILED if wait is None else Outcome.RETRY, error,
                   now, retry_in=wait, posted=True)


def _deliver_email(message: OutgoingMessage, review: Review, request: ReviewRequest,
                   attempt: int, transport: Any | None, now: datetime) -> Outcome:
    from kingavis.delivery.messages import build_author_message
    from kingavis.delivery.rendering import choose_language
    from kingavis.reviews.products import product_page_url
    from kingavis.reviews.public import public_url
    from kingavis.reviews.publication import rejection_label

    message_id = message.id
    config = current_app.config
    try:
        lang = choose_language(request.order.customer_locale, request.shop.language,
                               frozenset({"fr", "en"}))
        email = build_author_message(
            message.kind, message_id, request,
            reply_text=review.reply_text,
            reason_label=rejection_label(message.reason, lang) if message.reason else None,
            public_url=public_url(request.shop),
            base_url=config["KINGAVIS_BASE_URL"], mail_from=config["MAIL_FROM"],
            product_name=review.product_name,
            page_url=product_page_url(request.shop, review.product_id) if review.product_id else None,
        )
        # Keep the lease for the time of the send; SQLite: then let go of the write lock.
        message.next_attempt_at = max(message.next_attempt_at or now, now + service.lease())
        if not _postgres():
            db.session.commit()
    except PermanentMailError as exc:
        db.session.rollback()
        return _finish(message_id, attempt, Outcome.FAILED, str(exc), now)
    except Exception as exc:
        db.session.rollback()
        log.exception("could not build the message", extra={"fields": {"message": message_id}})
        error = f"{type(exc).__name__}: {exc}"
        return _finish(message_id, attempt, Outcome.RETRY if _email_retry(attempt) else Outcome.FAILED,
                       error, now, retry_in=_email_retry(attempt))
    if transport is None:
        from kingavis.delivery.transports import get_shared_transport

        transport = get_shared_transport(config["MAIL_URL"])
    try:
        transport.send(email)
    except PermanentMailError as exc:
        return _finish(message_id, attempt, Outcome.FAILED, str(exc), now)
    except UncertainDeliveryError as exc:
        # The server had the whole message: sending it again risks a second email.
        return _finish(message_id, attempt, Outcome.SENT, str(exc), now)
    except TransientMailError:
        raise  # the caller decides: the whole batch waits (inline) or this message retries
    except Exception as exc:
        log.exception("unexpected error while sending", extra={"fields": {"message": message_id}})
        wait = _email_retry(attempt)
        return _finish(message_id, attempt, Outcome.RETRY if wait else Outcome.FAILED,
                       f"{type(exc).__name__}: {exc}", now, retry_in=wait)
    return _finish(message_id, attempt, Outcome.SENT, None, now)


def release(message_id: int, attempt: int, error: str, now: datetime) -> Outcome:
    """Give a claimed email back after a temporary error (retried later, or failed at the cap)."""
    wait = _email_retry(attempt)
    return _finish(message_id, attempt, Outcome.RETRY if wait else Outcome.FAILED, error, now,
                   retry_in=wait)


def drain(queue: Any, batch_size: int, max_queued: int, now: datetime) -> claims.Drained:
    """The messages due at ``now``, batch after batch: one RQ job per message, or sent inline."""
    return claims.drain(
        queue, batch_size, max_queued,
        claim=lambda limit: claim(now, limit),
        jobs=_jobs,
        send=lambda batch: _send_inline(batch, now),
    )


def _jobs(batch: list[tuple[int, int, str]]) -> list[claims.Job]:
    """One RQ job per claimed message (kingavis.worker)."""
    return [claims.Job(JOB_SEND_MESSAGE, (message_id, attempt), job_id(message_id, attempt),
                       f"send review {channel} message {message_id} (attempt {attempt})")
            for message_id, attempt, channel in batch]


def _send_inline(batch: list[tuple[int, int, str]], now: datetime) -> tuple[Counter[str], bool]:
    """Send a claimed batch: the callbacks, then the emails over one mail connection. False
    when the mail server cannot be reached (the emails not sent are given back)."""
    from kingavis.delivery.transports import open_transport

    outcomes: Counter[str] = Counter()
    for message_id, attempt, channel in batch:
        if channel == CALLBACK:
            outcomes[deliver(message_id, attempt, now=now).value] += 1
    emails = [c for c in batch if c[2] == EMAIL]
    if not emails:
        return outcomes, True
    done: set[int] = set()
    try:
        with open_transport(current_app.config["MAIL_URL"]) as transport:
            for message_id, attempt, _ in emails:
                try:
                    outcome = deliver(message_id, attempt, transport, now=now)
                except TransientMailError as exc:
                    outcome = release(message_id, attempt, str(exc), now)
                done.add(message_id)
                outcomes[outcome.value] += 1
    except TransientMailError as exc:  # could not even connect
        for message_id, attempt, _ in emails:
            if message_id not in done:
                outcomes[release(message_id, attempt, str(exc), now).value] += 1
        return outcomes, False
    return outcomes, True


def send_claimed(message_id: int, attempt: int) -> str:
    """Send message ``message_id`` if it is still claimed as ``attempt`` (in an app)."""
    try:
        return deliver(message_id, attempt).value
    except TransientMailError as exc:
        return release(message_id, attempt, str(exc), utcnow()).value
