"""Sending one review request: the RQ job and the same service used inline by the dispatcher.

A job carries ids only (request id and the attempt number the dispatcher claimed). It reloads
the request and does nothing unless the request is still ``sending`` with that attempt, so a
stale or duplicated job never sends twice. On PostgreSQL the request row stays locked from the
check to the recorded outcome, so no other dispatcher can claim it meanwhile; SQLite (a single
writer) renews the lease before sending instead of holding its write lock over the network.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload

from ..customer_keys import customer_key
from ..emails import normalize_email
from ..extensions import db
from ..logging import mask_email
from ..models import Reason, RequestState, Review, ReviewRequest, Shop, Unsubscription, utcnow
from ..notes import NoteCode
from ..scheduling import send_time_reason, suppression_reason
from . import service
from .errors import PermanentMailError, TransientMailError, UncertainDeliveryError

log = logging.getLogger("kingavis.delivery")


class Transport(Protocol):
    def send(self, message: Any) -> Any: ...


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # temporary error: scheduled again later
    FAILED = "failed"
    CANCELLED = "cancelled"  # rule 5 at send time
    SUPPRESSED = "suppressed"  # rule 7 at send time
    PAUSED = "paused"  # rule 8: back to scheduled, due at once on resume
    STALE = "stale"  # not ours any more (sent, cancelled, claimed again): nothing done


def _load(request_id: int, lock: bool) -> tuple[ReviewRequest, bool] | None:
    """The request with its order, its shop and the shop's email designs, and whether its
    address unsubscribed: one query."""
    unsubscribed = (
        exists()
        .where(
            Unsubscription.shop_id == ReviewRequest.shop_id,
            Unsubscription.email_hash == ReviewRequest.customer_email_hash,
        )
        .label("unsubscribed")
    )
    query = (
        select(ReviewRequest, unsubscribed)
        .where(ReviewRequest.id == request_id)
        .options(
            joinedload(ReviewRequest.order, innerjoin=True),
            joinedload(ReviewRequest.shop, innerjoin=True).joinedload(Shop.email_designs),
        )
        .execution_options(populate_existing=True)
    )
    if lock:
        # Skip a row another transaction holds: that one is a claim (this job is then stale)
        # or the same delivery already in progress.
        query = query.with_for_update(skip_locked=True, of=ReviewRequest)
    row = db.session.execute(query).unique().one_or_none()
    return None if row is None else (row[0], bool(row[1]))


def deliver(
    request_id: int, attempt: int, transport: Transport, *, now: datetime | None = None
) -> Outcome:
    """Send one claimed review request and record the outcome in its own commit."""
    now = now or utcnow()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        loaded = _load(request_id, lock=postgres)
        if (
            loaded is None
            or loaded[0].state != RequestState.SENDING.value
            or loaded[0].attempts != attempt
        ):
            db.session.rollback()
            return Outcome.STALE
        request, unsubscribed = loaded
        # From here on the request belongs to the address it is mailed to (rule 5): the
        # unsubscribe link of the email unsubscribes it, the window of later orders sees it.
        unsubscribed = _recipient_unsubscribed(request, unsubscribed)
        address = mailed_address(request)
        if address and request.customer_email_normalized != address:
            request.customer_email_normalized = address
            request.customer_email_hash = customer_key(request.shop_id, address)

        before = _check_before_send(request, unsubscribed, now)
        if before is not None:
            db.session.commit()
            return before

        from .mail import build_message

        try:
            message = build_message(
                request,
                base_url=current_app.config["KINGAVIS_BASE_URL"],
                mail_from=current_app.config["MAIL_FROM"],
            )
        except PermanentMailError as exc:  # e.g. an address that is not an address
            outcome = _failed(request, attempt, str(exc), now)
            db.session.commit()
            return outcome
        except Exception as exc:  # a message we cannot build: retried, then failed
            log.exception(
                "could not build the message", extra={"fields": {"review_request": request_id}}
            )
            outcome = _retry(request, attempt, f"{type(exc).__name__}: {exc}", now)
            db.session.commit()
            return outcome
        message_id = str(message["Message-ID"] or "") or None
        if not postgres:
            # Keep the lease for the time of the send, then let go of SQLite's write lock.
            lease_end = now + service.lease()
            if request.next_attempt_at is None or request.next_attempt_at < lease_end:
                request.next_attempt_at = lease_end
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise

    # PostgreSQL: the row is still locked by this transaction, the loaded object is current.
    held = request if postgres else None
    return _send_and_record(
        transport, message, request_id, attempt, now, held,
        sent=_sent, failed=_failed, retry=_retry, sent_detail=message_id, what="message",
    )


def _send_and_record(
    transport: Any,
    message: Any,
    request_id: int,
    attempt: int,
    now: datetime,
    held: ReviewRequest | None,
    *,
    sent: Any,
    failed: Any,
    retry: Any,
    sent_detail: str | None,
    what: str,
) -> Outcome:
    """Send one message and record what happened, in its own commit (invitation or reminder)."""
    try:
        transport.send(message)
    except PermanentMailError as exc:
        return _after_send(request_id, attempt, failed, str(exc), now, held)
    except UncertainDeliveryError as exc:
        # The server had the whole message when the connection broke: it may well have been
        # delivered. Sending it again risks a second email, so it counts as sent, with a note.
        log.warning(
            f"connection lost after the {what}'s data; not sent again",
            extra={"fields": {"review_request": request_id, "error": service.mask_emails(str(exc))}},
        )
        return _after_send(request_id, attempt, sent, sent_detail, now, held)
    except TransientMailError as exc:
        return _after_send(request_id, attempt, retry, str(exc), now, held)
    except Exception as exc:  # an unexpected error is retried a bounded number of times
        log.exception(
            f"unexpected error while sending the {what}",
            extra={"fields": {"review_request": request_id}},
        )
        return _after_send(request_id, attempt, retry, f"{type(exc).__name__}: {exc}", now, held)
    return _after_send(request_id, attempt, sent, sent_detail, now, held)


def mailed_address(request: ReviewRequest) -> str:
    """The address an email of ``request`` goes to now, as addresses are compared: the order's
    latest (a later event may have changed it since the request was scheduled); "" once the
    customer's data is erased."""
    return normalize_email(request.order.customer_email or "")


def _recipient_unsubscribed(request: ReviewRequest, scheduled_unsubscribed: bool) -> bool:
    """Whether the address the email would go to is on the shop's unsubscribe list.

    ``scheduled_unsubscribed`` is the answer for the request's recorded address (read with the
    request); the list is asked again only when the order's address has changed since.
    """
    address = mailed_address(request)
    if not address or address == request.customer_email_normalized:
        return scheduled_unsubscribed
    return bool(
        db.session.execute(
            select(
                exists().where(
                    Unsubscription.shop_id == request.shop_id,
                    Unsubscription.email_hash == customer_key(request.shop_id, address),
                )
            )
        ).scalar()
    )


def send_time_verdict(request: ReviewRequest, unsubscribed: bool) -> tuple[Outcome, str] | None:
    """Rules 5 and 7 at send time, for the first email and the reminder alike.

    The order's latest status first (a cancel status, or unpaid: ``cancelled``), then consent
    and the unsubscribe list for the address the email would go to (``suppressed``). The
    per-customer window is not asked again: it was decided when the request was scheduled.
    Returns None when the email may go.
    """
    shop = request.shop
    order = request.order
    reason = send_time_reason(
        latest_status_id=order.latest_status_id,
        latest_status_paid=order.latest_status_paid,
        cancel_status_ids=frozenset(shop.cancel_status_ids or ()),
    )
    if reason is not None:
        return Outcome.CANCELLED, reason
    reason = suppression_reason(
        review_consent=order.review_consent,
        require_consent=shop.require_consent,
        unsubscribed=unsubscribed,
        recent_request=False,  # decided when the request was scheduled
    )
    if reason is not None:
        return Outcome.SUPPRESSED, reason
    return None


def _check_before_send(request: ReviewRequest, unsubscribed: bool, now: datetime) -> Outcome | None:
    """Erasure, rule 8, then rules 5 and 7 at send time; the outcome when the request must not
    go now."""
    order = request.order
    if order.erased_at is not None or not order.customer_email:
        # The customer's data was erased after the claim: nothing goes to that address.
        service.record(request, RequestState.CANCELLED, reason=Reason.ERASED.value, now=now)
        request.next_attempt_at = None
        _log(request, "cancelled at send time", reason=Reason.ERASED.value)
        return Outcome.CANCELLED
    if request.shop.paused:
        service.record(request, RequestState.SCHEDULED, note_code=NoteCode.SHOP_PAUSED, now=now)
        request.next_attempt_at = now
        return Outcome.PAUSED
    verdict = send_time_verdict(request, unsubscribed)
    if verdict is None:
        return None
    outcome, reason = verdict
    if outcome is Outcome.CANCELLED:
        service.record(
            request,
            RequestState.CANCELLED,
            reason=reason,
            note_code=NoteCode.CANCELLED_AT_SEND_TIME,
            note_args={"status": request.order.latest_status_id},
            now=now,
        )
        _log(request, "cancelled at send time", reason=reason)
    else:
        service.record(
            request, RequestState.SUPPRESSED, reason=reason,
            note_code=NoteCode.SUPPRESSED_AT_SEND_TIME, now=now
        )
        _log(request, "suppressed at send time", reason=reason)
    request.next_attempt_at = None
    return outcome


def _after_send(
    request_id: int,
    attempt: int,
    write: Any,
    detail: str | None,
    now: datetime,
    held: ReviewRequest | None = None,
) -> Outcome:
    """Record the outcome of a send in its own commit (``held``: the row is still locked)."""
    try:
        request = held or db.session.get(ReviewRequest, request_id, populate_existing=True)
        if request is None:  # deleted meanwhile (shop removed)
            db.session.rollback()
            return Outcome.STALE
        outcome: Outcome = write(request, attempt, detail, now)
        db.session.commit()
        return outcome
    except Exception:
        db.session.rollback()
        raise


def _sent(request: ReviewRequest, attempt: int, message_id: str | None, now: datetime) -> Outcome:
    # The message is out: say so, whatever happened to the row meanwhile.
    if request.attempts != attempt or request.state != RequestState.SENDING.value:
        log.warning(
            "review request changed while its message was being sent",
            extra={"fields": {"review_request": request.id, "state": request.state,
                              "attempt": attempt, "attempts": request.attempts}},
        )
    if request.state == RequestState.SENT.value:
        return Outcome.STALE
    service.record(request, RequestState.SENT, note_code=NoteCode.SENT,
                   note_args={"attempt": attempt}, now=now)
    request.sent_at = now
    request.message_id = message_id
    request.last_error = None
    request.next_attempt_at = None
    if request.shop.reminder_days and request.reminder_sent_at is None \
            and request.order.erased_at is None:
        # The one reminder, if the shop wants it: claimed by the dispatcher when due.
        request.reminder_due_at = now + timedelta(days=request.shop.reminder_days)
    _log(request, "review request sent", attempt=attempt)
    return Outcome.SENT


def _retry(request: ReviewRequest, attempt: int, error: str | None, now: datetime) -> Outcome:
    if request.attempts != attempt or request.state != RequestState.SENDING.value:
        return Outcome.STALE
    request.last_error = error
    if attempt >= service.max_attempts():
        service.record(
            request,
            RequestState.FAILED,
            reason=Reason.DELIVERY_FAILED.value,
            note_code=NoteCode.GAVE_UP,
            note_args={"attempts": attempt, "error": error},
            now=now,
        )
        request.next_attempt_at = None
        _log(request, "review request failed", attempt=attempt, error=service.mask_emails(error))
        return Outcome.FAILED
    wait: timedelta = service.retry_delay(attempt)
    request.next_attempt_at = now + wait
    service.record(
        request,
        RequestState.SCHEDULED,
        note_code=NoteCode.RETRY,
        note_args={"seconds": int(wait.total_seconds()), "error": error},
        now=now,
    )
    _log(request, "temporary delivery error, will retry", attempt=attempt,
         retry_in_s=int(wait.total_seconds()), error=service.mask_emails(error))
    return Outcome.RETRY


def _failed(request: ReviewRequest, attempt: int, error: str | None, now: datetime) -> Outcome:
    if request.attempts != attempt or request.state != RequestState.SENDING.value:
        return Outcome.STALE
    request.last_error = error
    service.record(
        request,
        RequestState.FAILED,
        reason=Reason.DELIVERY_FAILED.value,
        note_code=NoteCode.REFUSED,
        note_args={"error": error},
        now=now,
    )
    request.next_attempt_at = None
    _log(request, "review request refused by the mail server", attempt=attempt,
         error=service.mask_emails(error))
    return Outcome.FAILED


def _log(request: ReviewRequest, message: str, **fields: Any) -> None:
    log.info(
        message,
        extra={"fields": {"review_request": request.id, "shop_id": request.shop_id,
                          "to": mask_email(request.customer_email_normalized), **fields}},
    )


def release(claims: list[tuple[int, int]], error: str, *, now: datetime | None = None) -> int:
    """Give claimed requests back (scheduled, with the retry delay) after a delivery error that
    concerned the whole batch, e.g. the mail server cannot be reached. Returns how many."""
    now = now or utcnow()
    released = 0
    for request_id, attempt in claims:
        request = db.session.get(ReviewRequest, request_id, populate_existing=True)
        if request is not None and _retry(request, attempt, error, now) is not Outcome.STALE:
            released += 1
        db.session.commit()
    return released


# --- The reminder -------------------------------------------------------------------------
#
# One optional reminder per request, ``reminder_days`` after the first email. The dispatcher
# claims it like a first email (``reminder_due_at`` <= now, pushed forward as the lease,
# ``reminder_attempts`` counted); the job re-checks everything, sends, and sets
# ``reminder_sent_at``. A reminder that must not go any more is dropped: reminder_due_at None,
# with a note on the timeline.


def _reviewed(request_id: int) -> bool:
    return bool(
        db.session.execute(
            select(exists().where(Review.review_request_id == request_id))
        ).scalar()
    )


def deliver_reminder(
    request_id: int, attempt: int, transport: Transport, *, now: datetime | None = None
) -> Outcome:
    """Send the claimed reminder of one request and record the outcome in its own commit."""
    now = now or utcnow()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        loaded = _load(request_id, lock=postgres)
        if (
            loaded is None
            or loaded[0].reminder_sent_at is not None
            or loaded[0].reminder_due_at is None
            or loaded[0].reminder_attempts != attempt
        ):
            db.session.rollback()
            return Outcome.STALE
        request, unsubscribed = loaded

        before = _check_before_reminder(request, unsubscribed, now)
        if before is not None:
            db.session.commit()
            return before

        from .mail import build_message

        try:
            message = build_message(
                request,
                base_url=current_app.config["KINGAVIS_BASE_URL"],
                mail_from=current_app.config["MAIL_FROM"],
                reminder=True,
            )
        except PermanentMailError as exc:
            outcome = _reminder_failed(request, attempt, str(exc), now)
            db.session.commit()
            return outcome
        except Exception as exc:
            log.exception(
                "could not build the reminder", extra={"fields": {"review_request": request_id}}
            )
            outcome = _reminder_retry(request, attempt, f"{type(exc).__name__}: {exc}", now)
            db.session.commit()
            return outcome
        if not postgres:
            # Keep the lease for the time of the send, then let go of SQLite's write lock.
            lease_end = now + service.lease()
            if request.reminder_due_at < lease_end:
                request.reminder_due_at = lease_end
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise

    held = request if postgres else None
    return _send_and_record(
        transport, message, request_id, attempt, now, held,
        sent=_reminder_sent, failed=_reminder_failed, retry=_reminder_retry, sent_detail=None,
        what="reminder",
    )


def _drop_reminder(request: ReviewRequest, why: NoteCode, now: datetime, reason: str | None = None,
                   args: dict[str, Any] | None = None) -> None:
    request.reminder_due_at = None
    service.note(request, why, args, reason=reason, now=now)
    logged = dict(args or {})
    if "error" in logged:
        logged["error"] = service.mask_emails(logged["error"])
    _log(request, "reminder dropped", why=why.value, **logged)


def _check_before_reminder(
    request: ReviewRequest, unsubscribed: bool, now: datetime
) -> Outcome | None:
    """The first email's checks again, plus "no review yet" and "same address"; the outcome
    when it must not go.

    A reminder goes only to the address the invitation went to: both emails carry the same
    unsubscribe link, which must unsubscribe the address that received it.
    """
    if request.state != RequestState.SENT.value:
        _drop_reminder(request, NoteCode.REMINDER_DROPPED_STATE, now, request.reason,
                       {"state": request.state})
        return Outcome.CANCELLED
    if request.order.erased_at is not None or not request.order.customer_email:
        _drop_reminder(request, NoteCode.REMINDER_DROPPED_RULE, now, Reason.ERASED.value,
                       {"reason": Reason.ERASED.value})
        return Outcome.CANCELLED
    if _reviewed(request.id):
        _drop_reminder(request, NoteCode.REMINDER_DROPPED_REVIEWED, now)
        return Outcome.SUPPRESSED
    if request.shop.paused:
        # Waits: the dispatcher does not claim reminders of a paused shop; due at once on resume.
        request.reminder_due_at = now
        service.note(request, NoteCode.REMINDER_PAUSED, now=now)
        return Outcome.PAUSED
    if mailed_address(request) != request.customer_email_normalized:
        _drop_reminder(request, NoteCode.REMINDER_DROPPED_ADDRESS, now)
        return Outcome.CANCELLED
    verdict = send_time_verdict(request, unsubscribed)
    if verdict is not None:
        outcome, reason = verdict
        _drop_reminder(request, NoteCode.REMINDER_DROPPED_RULE, now, reason, {"reason": reason})
        return outcome
    return None


def _reminder_sent(request: ReviewRequest, attempt: int, _detail: str | None, now: datetime) -> Outcome:
    if request.reminder_sent_at is not None:
        return Outcome.STALE
    if request.reminder_attempts != attempt:
        log.warning(
            "reminder claimed again while it was being sent",
            extra={"fields": {"review_request": request.id, "attempt": attempt,
                              "attempts": request.reminder_attempts}},
        )
    request.reminder_sent_at = now
    service.note(request, NoteCode.REMINDER_SENT, {"attempt": attempt}, now=now)
    _log(request, "reminder sent", attempt=attempt)
    return Outcome.SENT


def _reminder_retry(request: ReviewRequest, attempt: int, error: str | None, now: datetime) -> Outcome:
    if request.reminder_attempts != attempt or request.reminder_sent_at is not None \
            or request.reminder_due_at is None:
        return Outcome.STALE
    if attempt >= service.max_attempts():
        _drop_reminder(request, NoteCode.REMINDER_GAVE_UP, now, Reason.DELIVERY_FAILED.value,
                       {"attempts": attempt, "error": error})
        return Outcome.FAILED
    wait: timedelta = service.retry_delay(attempt)
    request.reminder_due_at = now + wait
    service.note(request, NoteCode.REMINDER_RETRY,
                 {"seconds": int(wait.total_seconds()), "error": error}, now=now)
    _log(request, "temporary delivery error on a reminder, will retry", attempt=attempt,
         retry_in_s=int(wait.total_seconds()), error=service.mask_emails(error))
    return Outcome.RETRY


def _reminder_failed(request: ReviewRequest, attempt: int, error: str | None, now: datetime) -> Outcome:
    if request.reminder_attempts != attempt or request.reminder_sent_at is not None \
            or request.reminder_due_at is None:
        return Outcome.STALE
    _drop_reminder(request, NoteCode.REMINDER_REFUSED, now, Reason.DELIVERY_FAILED.value,
                   {"error": error})
    return Outcome.FAILED


def release_reminders(claims: list[tuple[int, int]], error: str, *, now: datetime | None = None) -> int:
    """Give claimed reminders back after an error that concerned the whole batch."""
    now = now or utcnow()
    released = 0
    for request_id, attempt in claims:
        request = db.session.get(ReviewRequest, request_id, populate_existing=True)
        if request is not None and _reminder_retry(request, attempt, error, now) is not Outcome.STALE:
            released += 1
        db.session.commit()
    return released


# --- What the worker's jobs run (kingavis.worker gives them an app) ----------------------------


def send_claimed(request_id: int, attempt: int) -> str:
    """Send review request ``request_id`` if it is still claimed as ``attempt`` (in an app)."""
    from .transports import get_shared_transport

    transport = get_shared_transport(current_app.config["MAIL_URL"])
    return deliver(request_id, attempt, transport).value


def send_claimed_reminder(request_id: int, attempt: int) -> str:
    """Send the reminder of ``request_id`` if it is still claimed as ``attempt`` (in an app)."""
    from .transports import get_shared_transport

    transport = get_shared_transport(current_app.config["MAIL_URL"])
    return deliver_reminder(request_id, attempt, transport).value
