"""Send time: what must hold before an email of a review request goes, and what each outcome
of the send writes on the request.

A request has two emails, its invitation (the first email) and its one optional reminder
(``reminder_days`` after the first, docs/sending.md). Both go through one send path
(kingavis.delivery.sending); they differ only in the checks made before sending and in the
columns an outcome writes:

- ``check_invitation``: erasure, a paused shop (rule 8), then rules 5 and 7 of the rule book
  (``send_time_verdict``); the request follows the order's latest address, and from here on
  belongs to it. The outcome when it must not go, with its state and timeline row written.
  What the shop's lists say about the request's recorded address comes read with the request
  (``AddressLists``); the lists are asked again only for another address.
- ``check_reminder``: the same checks, plus "still ``sent``", "no review yet" and "the same
  address as the invitation"; a reminder that must not go any more is dropped
  (``reminder_due_at`` None, with a note on the timeline), a paused shop's waits.
- ``record``: what a send's outcome (sent, retry, failed) writes: the invitation moves the
  request's state (``attempts`` holds its claim); the reminder keeps the state and writes
  ``reminder_sent_at`` / ``reminder_due_at`` (``reminder_attempts`` holds its claim). Either
  returns ``Outcome.STALE`` when the claim was lost meanwhile.

Nothing here commits: the send path commits each outcome as the mail server answers.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select

from kingavis.customer_keys import customer_key
from kingavis.delivery import service
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.logging import mask_email
from kingavis.models import Reason, RequestState, Review, ReviewRequest, Suppression
from kingavis.privacy.unsubscriptions import is_unsubscribed
from kingavis.review_requests import lifecycle
from kingavis.review_requests.notes import NoteCode
from kingavis.scheduling import send_time_decision

log = logging.getLogger("kingavis.delivery")


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # temporary error: scheduled again later
    FAILED = "failed"
    CANCELLED = "cancelled"  # rule 5 at send time
    SUPPRESSED = "suppressed"  # rule 7 at send time
    PAUSED = "paused"  # rule 8: back to scheduled, due at once on resume
    STALE = "stale"  # not ours any more (sent, cancelled, claimed again): nothing done


class Kind(enum.StrEnum):
    """Which email of a request: its invitation or its reminder."""

    INVITATION = "invitation"
    REMINDER = "reminder"

    @property
    def what(self) -> str:
        """How log lines call the email: "message" (the invitation) or "reminder"."""
        return "reminder" if self is Kind.REMINDER else "message"


def mailed_address(request: ReviewRequest) -> str:
    """The address an email of ``request`` goes to now, as addresses are compared: the order's
    latest (a later event may have changed it since the request was scheduled); "" once the
    customer's data is erased."""
    return normalize_email(request.order.customer_email or "")


@dataclass(frozen=True)
class AddressLists:
    """What the shop's lists said about the request's recorded address (``email_hash``, its
    ``customer_email_hash``) when the request was read, in the same query: whether it
    unsubscribed, and why it is suppressed (None: it is not). Each answer stands for that
    address only: for another, the lists are asked again."""

    email_hash: str | None
    unsubscribed: bool
    suppression: str | None = None


def _recipient_unsubscribed(request: ReviewRequest, scheduled: AddressLists) -> bool:
    """Whether the address the email would go to is on the shop's unsubscribe list.

    ``scheduled`` holds the answer for the request's recorded address (read with the
    request); the list is asked again only when the order's address has changed since.
    """
    address = mailed_address(request)
    if not address or address == request.customer_email_normalized:
        return scheduled.unsubscribed
    return is_unsubscribed(request.shop_id, customer_key(request.shop_id, address))


def _invitation_recipient(request: ReviewRequest, scheduled: AddressLists) -> bool:
    """From here on the request belongs to the address it is mailed to (rule 5): the email's
    unsubscribe link unsubscribes it, the window of later orders sees it. Returns whether that
    address is unsubscribed."""
    unsubscribed = _recipient_unsubscribed(request, scheduled)
    address = mailed_address(request)
    if address and request.customer_email_normalized != address:
        request.customer_email_normalized = address
        request.customer_email_hash = customer_key(request.shop_id, address)
    return unsubscribed


def _suppressed(request: ReviewRequest, scheduled: AddressLists) -> str | None:
    """Why the address the email goes to is on the shop's suppression list (bounced,
    complained: docs/deliverability.md), or None: the answer read with the request while the
    request keeps that address, else asked."""
    if request.customer_email_hash == scheduled.email_hash:
        return scheduled.suppression
    return db.session.execute(
        select(Suppression.reason).where(Suppression.shop_id == request.shop_id,
                                         Suppression.email_hash == request.customer_email_hash)
    ).scalar_one_or_none()


def send_time_verdict(request: ReviewRequest, unsubscribed: bool,
                      scheduled: AddressLists) -> tuple[Outcome, str] | None:
    """The rule book's send-time decision (``scheduling.send_time_decision``, rules 5 and 7)
    for this request's order and shop: the outcome and reason when the email must not go
    (``scheduled``: the lists' answers read with the request)."""
    shop = request.shop
    order = request.order
    decision = send_time_decision(
        latest_status_id=order.latest_status_id,
        latest_status_paid=order.latest_status_paid,
        cancel_status_ids=frozenset(shop.cancel_status_ids or ()),
        review_consent=order.review_consent,
        require_consent=shop.require_consent,
        unsubscribed=unsubscribed,
        suppressed=_suppressed(request, scheduled),
    )
    if decision is None:
        return None
    state, reason = decision
    return (Outcome.CANCELLED if state is RequestState.CANCELLED else Outcome.SUPPRESSED), reason


def check_invitation(request: ReviewRequest, scheduled: AddressLists,
                     now: datetime) -> Outcome | None:
    """The checks before an invitation goes: erasure, rule 8, then rules 5 and 7 at send time;
    the outcome when the request must not go now (its state and timeline row written).

    ``scheduled``: what the lists say about the request's recorded address (read with the
    request); the request first adopts the address it is mailed to
    (``_invitation_recipient``)."""
    unsubscribed = _invitation_recipient(request, scheduled)
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
    verdict = send_time_verdict(request, unsubscribed, scheduled)
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


def record(kind: Kind, outcome: Outcome, request: ReviewRequest, attempt: int,
           detail: str | None, now: datetime) -> Outcome:
    """Write what a send's ``outcome`` (SENT, RETRY or FAILED) means for the ``kind`` email of
    ``request`` claimed as ``attempt`` (``detail``: the Message-ID when sent, else the error).
    Returns the outcome written, STALE when the claim was lost meanwhile. Not committed."""
    if kind is Kind.REMINDER:
        if outcome is Outcome.SENT:
            return _reminder_sent(request, attempt, detail, now)
        if outcome is Outcome.RETRY:
            return _reminder_retry(request, attempt, detail, now)
        return _reminder_failed(request, attempt, detail, now)
    if outcome is Outcome.SENT:
        return _sent(request, attempt, detail, now)
    if outcome is Outcome.RETRY:
        return _retry(request, attempt, detail, now)
    return _failed(request, attempt, detail, now)


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
    values: dict[str, Any] = {"sent_at": now, "message_id": message_id, "last_error": None,
                              "next_attempt_at": None}
    if request.shop.reminder_days and request.reminder_sent_at is None \
            and request.order.erased_at is None:
        # The one reminder, if the shop wants it: claimed by the dispatcher when due.
        values["reminder_due_at"] = now + timedelta(days=request.shop.reminder_days)
    # The send path holds the row (``record``'s callers): the two statements built once,
    # committed by the caller (kingavis.delivery.sending._after_send).
    lifecycle.transition_locked(request, RequestState.SENT, values=values,
                                note_code=NoteCode.SENT, note_args={"attempt": attempt}, now=now)
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


# --- The reminder -------------------------------------------------------------------------
#
# One optional reminder per request, ``reminder_days`` after the first email. The dispatcher
# claims it like a first email (``reminder_due_at`` <= now, pushed forward as the lease,
# ``reminder_attempts`` counted); the send path re-checks everything, sends, and sets
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


def check_reminder(request: ReviewRequest, scheduled: AddressLists, now: datetime) -> Outcome | None:
    """The checks before a reminder goes: the first email's again, plus "still sent", "no
    review yet" and "same address"; the outcome when it must not go (dropped, or waiting for a
    paused shop).

    A reminder goes only to the address the invitation went to: both emails carry the same
    unsubscribe link, which must unsubscribe the address that received it. So ``scheduled``
    (the lists' answers for the request's recorded address) holds the answers for it.
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
    verdict = send_time_verdict(request, scheduled.unsubscribed, scheduled)
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
