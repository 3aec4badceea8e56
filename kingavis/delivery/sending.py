"""Sending claimed emails of review requests: an invitation (a request's first email) or a
reminder, over one path.

``send_batch`` sends a claimed batch over one mail connection, ``deliver`` sends one email,
``release`` gives claims back. The dispatcher calls ``send_batch`` inline (embedded mode), the
RQ worker as one job per batch (kingavis.worker). What differs between the two kinds of email,
the checks before sending and the columns an outcome writes, is in kingavis.delivery.send_time
(``check_invitation``, ``check_reminder``, ``record``); the claim columns and the lease are
below (``_claimed``, ``_hold_lease``).

A batch carries ids only (request id and the attempt number the dispatcher claimed). Each
message reloads its request and does nothing unless it is still claimed with that attempt, so
a stale or duplicated job never sends twice; each outcome is committed as soon as the mail
server answered, so a killed worker loses at most the message it was sending (its lease ends,
a later tick claims it again). On PostgreSQL the request row stays locked from the
check to the recorded outcome, so no other dispatcher can claim it meanwhile; SQLite (a single
writer) renews the lease before sending instead of holding its write lock over the network.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Select, bindparam, exists, select
from sqlalchemy.orm import joinedload

from kingavis.delivery import service
from kingavis.delivery.errors import PermanentMailError, TransientMailError, UncertainDeliveryError
from kingavis.delivery.send_time import (
    AddressLists,
    Kind,
    Outcome,
    check_invitation,
    check_reminder,
    record,
)
from kingavis.extensions import db
from kingavis.models import RequestState, ReviewRequest, Shop, Suppression, Unsubscription, utcnow

if TYPE_CHECKING:
    from kingavis.delivery.transports import Transport

log = logging.getLogger("kingavis.delivery")


def _load_query(lock: bool) -> Select[Any]:
    """The request with its order, its shop and the shop's email designs, and what the
    shop's lists say about its recorded address (unsubscribed; the suppression's reason):
    one query. Built once per kind (``_LOAD``, ``_LOAD_LOCKED``), run with ``b_request_id``."""
    email_hash = ReviewRequest.customer_email_hash
    unsubscribed = exists().where(
        Unsubscription.shop_id == ReviewRequest.shop_id, Unsubscription.email_hash == email_hash,
    ).label("unsubscribed")
    suppression = select(Suppression.reason).where(
        Suppression.shop_id == ReviewRequest.shop_id, Suppression.email_hash == email_hash,
    ).scalar_subquery().label("suppression")
    query = (
        select(ReviewRequest, unsubscribed, suppression)
        .where(ReviewRequest.id == bindparam("b_request_id"))
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
    return query


# Built once: each message runs one of them (SQLAlchemy's compiled cache spares the rest).
_LOAD = _load_query(lock=False)
_LOAD_LOCKED = _load_query(lock=True)


def _load(request_id: int, lock: bool) -> tuple[ReviewRequest, AddressLists] | None:
    """The request (with its order, shop and designs) and what the shop's lists say about its
    recorded address, in one query (``_load_query``), the row locked if ``lock``."""
    row = db.session.execute(_LOAD_LOCKED if lock else _LOAD,
                             {"b_request_id": request_id}).unique().one_or_none()
    if row is None:
        return None
    request = row[0]
    return request, AddressLists(request.customer_email_hash, bool(row[1]), row[2])


def _claimed(request: ReviewRequest, attempt: int, kind: Kind) -> bool:
    """Whether ``request`` is still claimed as ``attempt`` for this email (else the job is
    stale): the invitation's claim is ``sending`` with ``attempts``; the reminder's, a reminder
    not sent yet, still due, with ``reminder_attempts``."""
    if kind is Kind.REMINDER:
        return _reminder_claimed(request, attempt)
    return _invitation_claimed(request, attempt)


def _hold_lease(request: ReviewRequest, lease_end: datetime, kind: Kind) -> None:
    """SQLite: keep the lease for the time of the send (``next_attempt_at`` of the invitation,
    ``reminder_due_at`` of the reminder)."""
    if kind is Kind.REMINDER:
        _hold_reminder_lease(request, lease_end)
    else:
        _hold_invitation_lease(request, lease_end)


def _invitation_claimed(request: ReviewRequest, attempt: int) -> bool:
    return request.state == RequestState.SENDING.value and request.attempts == attempt


def _reminder_claimed(request: ReviewRequest, attempt: int) -> bool:
    return (request.reminder_sent_at is None and request.reminder_due_at is not None
            and request.reminder_attempts == attempt)


def _hold_invitation_lease(request: ReviewRequest, lease_end: datetime) -> None:
    if request.next_attempt_at is None or request.next_attempt_at < lease_end:
        request.next_attempt_at = lease_end


def _hold_reminder_lease(request: ReviewRequest, lease_end: datetime) -> None:
    if request.reminder_due_at is None or request.reminder_due_at < lease_end:
        request.reminder_due_at = lease_end


def deliver(
    request_id: int, attempt: int, transport: Transport, *, now: datetime | None = None,
    kind: Kind = Kind.INVITATION,
) -> Outcome:
    """Send one claimed email (the invitation unless ``kind`` says otherwise) and record the
    outcome in its own commit."""
    now = now or utcnow()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    try:
        loaded = _load(request_id, lock=postgres)
        if loaded is None or not _claimed(loaded[0], attempt, kind):
            db.session.rollback()
            return Outcome.STALE
        request, lists = loaded
        if kind is Kind.REMINDER:
            before = check_reminder(request, lists, now)
        else:
            before = check_invitation(request, lists, now)
        if before is not None:
            db.session.commit()
            return before

        from kingavis.delivery.messages import build_message

        try:
            message = build_message(
                request,
                base_url=current_app.config["KINGAVIS_BASE_URL"],
                mail_from=current_app.config["MAIL_FROM"],
                reminder=kind is Kind.REMINDER,
            )
        except PermanentMailError as exc:  # e.g. an address that is not an address
            outcome = record(kind, Outcome.FAILED, request, attempt, str(exc), now)
            db.session.commit()
            return outcome
        except Exception as exc:  # a message we cannot build: retried, then failed
            log.exception(
                f"could not build the {kind.what}", extra={"fields": {"review_request": request_id}}
            )
            outcome = record(kind, Outcome.RETRY, request, attempt, f"{type(exc).__name__}: {exc}",
                             now)
            db.session.commit()
            return outcome
        message_id = str(message["Message-ID"] or "") or None
        if not postgres:
            # Keep the lease for the time of the send, then let go of SQLite's write lock.
            _hold_lease(request, now + service.lease(), kind)
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
    return deliver(request_id, attempt, transport, now=now, kind=Kind.REMINDER)


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
            extra={"fields": {"kind": kind.value, "released": released,
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
        return _after_send(request_id, attempt, kind, Outcome.FAILED, str(exc), now, held)
    except UncertainDeliveryError as exc:
        # The server had the whole message when the connection broke: it may well have been
        # delivered. Sending it again risks a second email, so it counts as sent, with a note.
        log.warning(
            f"connection lost after the {kind.what}'s data; not sent again",
            extra={"fields": {"review_request": request_id, "error": service.mask_emails(str(exc))}},
        )
        return _after_send(request_id, attempt, kind, Outcome.SENT, message_id, now, held)
    except TransientMailError as exc:
        return _after_send(request_id, attempt, kind, Outcome.RETRY, str(exc), now, held)
    except Exception as exc:  # an unexpected error is retried a bounded number of times
        log.exception(
            f"unexpected error while sending the {kind.what}",
            extra={"fields": {"review_request": request_id}},
        )
        return _after_send(request_id, attempt, kind, Outcome.RETRY,
                           f"{type(exc).__name__}: {exc}", now,
                           held)
    return _after_send(request_id, attempt, kind, Outcome.SENT, message_id, now, held)


def _after_send(
    request_id: int,
    attempt: int,
    kind: Kind,
    result: Outcome,
    detail: str | None,
    now: datetime,
    held: ReviewRequest | None = None,
) -> Outcome:
    """Record the ``result`` of a send in its own commit (``held``: the row is still locked)."""
    try:
        request = held or db.session.get(ReviewRequest, request_id, populate_existing=True)
        if request is None:  # deleted meanwhile (shop removed)
            db.session.rollback()
            return Outcome.STALE
        outcome = record(kind, result, request, attempt, detail, now)
        db.session.commit()
        return outcome
    except Exception:
        db.session.rollback()
        raise


def release(claims: list[tuple[int, int]], error: str, *, now: datetime | None = None,
            kind: Kind = Kind.INVITATION) -> int:
    """Give claims back (scheduled again, with the retry delay) after a delivery error that
    concerned the whole batch, e.g. the mail server cannot be reached. Returns how many."""
    now = now or utcnow()
    released = 0
    for request_id, attempt in claims:
        request = db.session.get(ReviewRequest, request_id, populate_existing=True)
        if request is not None and record(kind, Outcome.RETRY, request, attempt, error, now) \
                is not Outcome.STALE:
            released += 1
        db.session.commit()
    return released


def send_claimed_batch(kind_name: str, claims: Iterable[tuple[int, int]]) -> str:
    """What the worker's batch job runs (in an app): ``send_batch``, summed up in one line."""
    outcomes, reachable = send_batch(Kind(kind_name), claims)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing to do"
    return summary if reachable else f"{summary} (mail server unreachable)"
