"""Sending claimed emails: a review request's invitation (its first email) or its reminder.

One path for both, parametrised by a ``Kind`` (which columns hold the claim, which checks run
before sending, what each outcome writes): ``send_batch`` sends a claimed batch over one mail
connection, ``deliver`` sends one message, ``release`` gives claims back. The dispatcher calls
``send_batch`` inline (embedded mode), the RQ worker as one job per batch (kingavis.worker).

A batch carries ids only (request id and the attempt number the dispatcher claimed). Each
message reloads its request and does nothing unless it is still claimed with that attempt, so
a stale or duplicated job never sends twice; each outcome is committed as soon as the mail
server answered, so a killed worker loses at most the message it was sending (its lease ends,
a later tick claims it again). On PostgreSQL the request row stays locked from the
check to the recorded outcome, so no other dispatcher can claim it meanwhile; SQLite (a single
writer) renews the lease before sending instead of holding its write lock over the network.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload

from kingavis.customer_keys import customer_key
from kingavis.delivery import service
from kingavis.delivery.errors import PermanentMailError, TransientMailError, UncertainDeliveryError
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.logging import mask_email
from kingavis.models import (
    Reason,
    RequestState,
    Review,
    ReviewRequest,
    Shop,
    Suppression,
    Unsubscription,
    utcnow,
)
from kingavis.privacy.unsubscriptions import is_unsubscribed
from kingavis.review_requests import lifecycle
from kingavis.review_requests.notes import NoteCode
from kingavis.scheduling import send_time_decision

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


@dataclass(frozen=True)
class Kind:
    """What differs between a request's invitation and its reminder.

    ``claimed``: is the request still claimed as this attempt (else the job is stale);
    ``unsubscribed``: whether the address the email goes to is on the unsubscribe list (the
    invitation follows the order's latest address; the reminder goes only where the invitation
    went); ``check``: the send-time checks, the outcome when it must not go; ``hold_lease``:
    SQLite keeps the lease for the time of the send; ``sent``/``failed``/``retry``: what each
    outcome of the send writes.
    """

    name: str
    what: str  # how log lines call the email: "message" (the invitation) or "reminder"
    reminder: bool
    claimed: Callable[[ReviewRequest, int], bool]
    unsubscribed: Callable[[ReviewRequest, bool], bool]
    check: Callable[[ReviewRequest, bool, datetime], Outcome | None]
    hold_lease: Callable[[ReviewRequest, datetime], None]
    sent: Callable[[ReviewRequest, int, str | None, datetime], Outcome]
    failed: Callable[[ReviewRequest, int, str | None, datetime], Outcome]
    retry: Callable[[ReviewRequest, int, str | None, datetime], Outcome]


def deliver(
    request_id: int, attempt: int, transport: Transport, *, now: datetime | None = None,
    kind: Kind | None = None,
) -> Outcome:
    """Send one claimed email (the invitation unless ``kind`` says otherwise) and record the
    outcome in its own commit."""
    kind = kind or INVITATION
    now = now or utcnow()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        loaded = _load(request_id, lock=postgres)
        if loaded is None or not kind.claimed(loaded[0], attempt):
            db.session.rollback()
            return Outcome.STALE
        request, unsubscribed = loaded
        unsubscribed = kind.unsubscribed(request, unsubscribed)

        before = kind.check(request, unsubscribed, now)
        if before is not None:
            db.session.commit()
            return before

        from kingavis.delivery.mail import build_message

        try:
            message = build_message(
                request,
                base_url=current_app.config["KINGAVIS_BASE_URL"],
                mail_from=current_app.config["MAIL_FROM"],
                reminder=kind.reminder,
            )
        except PermanentMailError as exc:  # e.g. an address that is not an address
            outcome = kind.failed(request, attempt, str(exc), now)
            db.session.commit()
            return outcome
        except Exception as exc:  # a message we cannot build: retried, then failed
            log.exception(
                f"could not build the {kind.what}", extra={"fields": {"review_request": request_id}}
            )
            outcome = kind.retry(request, attempt, f"{type(exc).__name__}: {exc}", now)
            db.session.commit()
            return outcome
        message_id = str(message["Message-ID"] or "") or None
        if not postgres:
            # Keep the lease for the time of the send, then let go of SQLite's write lock.
            kind.hold_lease(request, now + service.lease())
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise

    # PostgreSQL: the row is still locked by this transaction, the loaded object is current.
    held = request if postgres else None
    return _send_and_record(transport, message, request_id, attempt, now, held, kind, message_id)


def deliver_reminder(
    request_id: int, attempt: int, transport: Transport, *, now: datetime | None = None
) -> Outcome:
    """``deliver`` for the reminder."""
    return deliver(request_id, attempt, transport, now=now, kind=REMINDER)


def send_batch(kind: Kind, claims: Iterable[tuple[int, int]], *,
               now: datetime | None = None) -> tuple[Counter[str], bool]:
    """Send a claimed batch over one mail connection, each outcome committed as the server
    answers. Returns the outcomes counted, and False when the mail server could not be
    reached: the rest of the batch is then given back (``retry``, with the retry delay)."""
    from kingavis.delivery.transports import open_transport

    claims = [(int(request_id), int(attempt)) for request_id, attempt in claims]
    outcomes: Counter[str] = Counter()
    done: set[int] = set()
    try:
        with open_transport(current_app.config["MAIL_URL"]) as transport:
            for request_id, attempt in claims:
                outcome = deliver(request_id, attempt, transport, now=now, kind=kind)
                done.add(request_id)
                outcomes[outcome.value] += 1
    except TransientMailError as exc:
        rest = [c for c in claims if c[0] not in done]
        released = release(rest, str(exc), now=now, kind=kind)
        outcomes[Outcome.RETRY.value] += released
        log.warning(
            "mail server unreachable; batch scheduled again",
            extra={"fields": {"kind": kind.name, "released": released,
                              "error": service.mask_emails(str(exc))}},
        )
        return outcomes, False
    return outcomes, True


def _send_and_record(
    transport: Any,
    message: Any,
    request_id: int,
    attempt: int,
    now: datetime,
    held: ReviewRequest | None,
    kind: Kind,
    message_id: str | None,
) -> Outcome:
    """Send one message and record what happened, in its own commit."""
    try:
        transport.send(message)
    except PermanentMailError as exc:
        return _after_send(request_id, attempt, kind.failed, str(exc), now, held)
    except UncertainDeliveryError as exc:
        # The server had the whole message when the connection broke: it may well have been
        # delivered. Sending it again risks a second email, so it counts as sent, with a note.
        log.warning(
            f"connection lost after the {kind.what}'s data; not sent again",
            extra={"fields": {"review_request": request_id, "error": service.mask_emails(str(exc))}},
        )
        return _after_send(request_id, attempt, kind.sent, message_id, now, held)
    except TransientMailError as exc:
        return _after_send(request_id, attempt, kind.retry, str(exc), now, held)
    except Exception as exc:  # an unexpected error is retried a bounded number of times
        log.exception(
            f"unexpected error while sending the {kind.what}",
            extra={"fields": {"review_request": request_id}},
        )
        return _after_send(request_id, attempt, kind.retry, f"{type(exc).__name__}: {exc}", now,
                           held)
    return _after_send(request_id, attempt, kind.sent, message_id, now, held)


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
    return is_unsubscribed(request.shop_id, customer_key(request.shop_id, address))


def _invitation_claimed(request: ReviewRequest, attempt: int) -> bool:
    return request.state == RequestState.SENDING.value and request.attempts == attempt


def _invitation_recipient(request: ReviewRequest, scheduled_unsubscribed: bool) -> bool:
    """From here on the request belongs to the address it is mailed to (rule 5): the email's
    unsubscribe link unsubscribes it, the window of later orders sees it. Returns whether that
    address is unsubscribed."""
    unsubscribed = _recipient_unsubscribed(request, scheduled_unsubscribed)
    address = mailed_address(request)
    if address and request.customer_email_normalized != address:
        request.customer_email_normalized = address
        request.customer_email_hash = customer_key(request.shop_id, address)
    return unsubscribed


def _hold_invitation_lease(request: ReviewRequest, lease_end: datetime) -> None:
    if request.next_attempt_at is None or request.next_attempt_at < lease_end:
        request.next_attempt_at = lease_end


def _suppressed(request: ReviewRequest) -> str | None:
    """Why the address the email goes to is on the shop's suppression list (bounced,
    complained: docs/deliverability.md), or None."""
    return db.session.execute(
        select(Suppression.reason).where(Suppression.shop_id == request.shop_id,
                                         Suppression.email_hash == request.customer_email_hash)
    ).scalar_one_or_none()


def send_time_verdict(request: ReviewRequest, unsubscribed: bool) -> tuple[Outcome, str] | None:
    """The rule book's send-time decision (``scheduling.send_time_decision``, rules 5 and 7)
    for this request's order and shop: the outcome and reason when the email must not go."""
    shop = request.shop
    order = request.order
    decision = send_time_decision(
        latest_status_id=order.latest_status_id,
        latest_status_paid=order.latest_status_paid,
        cancel_status_ids=frozenset(shop.cancel_status_ids or ()),
        review_consent=order.review_consent,
        require_consent=shop.require_consent,
        unsubscribed=unsubscribed,
        suppressed=_suppressed(request),
    )
    if decision is None:
        return None
    state, reason = decision
    return (Outcome.CANCELLED if state is RequestState.CANCELLED else Outcome.SUPPRESSED), reason


def _check_before_send(request: ReviewRequest, unsubscribed: bool, now: datetime) -> Outcome | None:
    """Erasure, rule 8, then rules 5 and 7 at send time; the outcome when the request must not
    go now."""
    order = request.order
    if order.erased_at is not None or not order.customer_email:
        # The customer's data was erased after the claim: nothing goes to that address.
        lifecycle.transition(request, RequestState.CANCELLED, reason=Reason.ERASED.value, now=now)
        request.next_attempt_at = None
        _log(request, "cancelled at send time", reason=Reason.ERASED.value)
        return Outcome.CANCELLED
    if request.shop.paused:
        lifecycle.transition(request, RequestState.SCHEDULED, note_code=NoteCode.SHOP_PAUSED, now=now)
        request.next_attempt_at = now
        return Outcome.PAUSED
    verdict = send_time_verdict(request, unsubscribed)
    if verdict is None:
        return None
    outcome, reason = verdict
    if outcome is Outcome.CANCELLED:
        lifecycle.transition(
            request,
            RequestState.CANCELLED,
            reason=reason,
            note_code=NoteCode.CANCELLED_AT_SEND_TIME,
            note_args={"status": request.order.latest_status_id},
            now=now,
        )
        _log(request, "cancelled at send time", reason=reason)
    else:
        lifecycle.transition(
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
    lifecycle.transition(request, RequestState.SENT, note_code=NoteCode.SENT,
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
        lifecycle.transition(
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
    lifecycle.transition(
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
    lifecycle.transition(
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


def release(claims: list[tuple[int, int]], error: str, *, now: datetime | None = None,
            kind: Kind | None = None) -> int:
    """Give claims back (scheduled again, with the retry delay) after a delivery error that
    concerned the whole batch, e.g. the mail server cannot be reached. Returns how many."""
    kind = kind or INVITATION
    now = now or utcnow()
    released = 0
    for request_id, attempt in claims:
        request = db.session.get(ReviewRequest, request_id, populate_existing=True)
        if request is not None and kind.retry(request, attempt, error, now) is not Outcome.STALE:
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


def _drop_reminder(request: ReviewRequest, why: NoteCode, now: datetime, reason: str | None = None,
                   args: dict[str, Any] | None = None) -> None:
    request.reminder_due_at = None
    lifecycle.note(request, why, args, reason=reason, now=now)
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
        lifecycle.note(request, NoteCode.REMINDER_PAUSED, now=now)
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
    lifecycle.note(request, NoteCode.REMINDER_SENT, {"attempt": attempt}, now=now)
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
    lifecycle.note(request, NoteCode.REMINDER_RETRY,
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


def _reminder_claimed(request: ReviewRequest, attempt: int) -> bool:
    return (request.reminder_sent_at is None and request.reminder_due_at is not None
            and request.reminder_attempts == attempt)


def _reminder_recipient(request: ReviewRequest, unsubscribed: bool) -> bool:
    """The reminder goes only to the invitation's address (checked by _check_before_reminder)."""
    return unsubscribed


def _hold_reminder_lease(request: ReviewRequest, lease_end: datetime) -> None:
    if request.reminder_due_at is None or request.reminder_due_at < lease_end:
        request.reminder_due_at = lease_end


INVITATION = Kind(
    name="invitation", what="message", reminder=False, claimed=_invitation_claimed,
    unsubscribed=_invitation_recipient, check=_check_before_send,
    hold_lease=_hold_invitation_lease, sent=_sent, failed=_failed, retry=_retry,
)
REMINDER = Kind(
    name="reminder", what="reminder", reminder=True, claimed=_reminder_claimed,
    unsubscribed=_reminder_recipient, check=_check_before_reminder,
    hold_lease=_hold_reminder_lease, sent=_reminder_sent, failed=_reminder_failed,
    retry=_reminder_retry,
)
KINDS = {kind.name: kind for kind in (INVITATION, REMINDER)}


def send_claimed_batch(kind_name: str, claims: Iterable[tuple[int, int]]) -> str:
    """What the worker's batch job runs (in an app): ``send_batch``, summed up in one line."""
    outcomes, reachable = send_batch(KINDS[kind_name], claims)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing to do"
    return summary if reachable else f"{summary} (mail server unreachable)"
