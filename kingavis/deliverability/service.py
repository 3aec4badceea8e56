"""Bounces and complaints: what a received report does (docs/deliverability.md).

``receive`` is the one entry point of ``flask mail receive`` and ``flask mail serve``: it reads
the message (``parsing.read_report``), finds the email it is about — from the envelope token
the report was sent back to, else from the token or Message-ID in the copy of the original
headers — and applies its effect, in one commit:

- a permanent failure (5.x.x) suppresses the address for that shop (``bounced``);
- a temporary failure (4.x.x, or ``Action: delayed``) is counted; the third within 30 days,
  for one email or several, suppresses the address (``bounced``);
- a complaint (ARF ``abuse``) suppresses the address (``complained``) and unsubscribes it.

Suppressing cancels the address's scheduled requests in that shop with that reason and drops
its pending reminders, through the request lifecycle (each with its timeline row), and writes
an audit entry. Whatever cannot be read, or names no email of ours, is kept for the operator
(``InboundMessage``) and changes nothing else.

The merchant sees the shop's suppressed addresses and may remove one (``remove_suppression``);
``rates`` gives the shop's bounce and complaint rates over 30 days, and a complaint rate above
0.3 % over at least 1,000 emails pauses the shop's sending (``check_complaint_rate``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, text

from kingavis.accounts import audit
from kingavis.deliverability.notices import tell_merchants_paused
from kingavis.deliverability.parsing import Kind, Report, Why, read_report
from kingavis.delivery.envelope import token_of
from kingavis.delivery.headers import message_id_for
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    DeliveryReport,
    InboundMessage,
    Reason,
    RequestState,
    ReviewRequest,
    Shop,
    Suppression,
    UTCDateTime,
    utcnow,
)
from kingavis.review_requests import lifecycle
from kingavis.review_requests.notes import NoteCode
from kingavis.shops import settings as shop_settings

log = logging.getLogger("kingavis.deliverability")

WINDOW = timedelta(days=30)
TEMPORARY_LIMIT = 3
COMPLAINT_RATE_LIMIT = 0.003  # 0.3 %
COMPLAINT_RATE_MIN_EMAILS = 1000
KEPT_BYTES = 256 * 1024
AUTO_PAUSE = "deliverability.auto_pause"
_REMINDER_ID = re.compile(r"^<review-reminder\.(\d{1,18})\.[0-9a-f]{24}@[^>]+>$")


class SuppressionError(LookupError):
    """No such suppressed address in this shop."""


@dataclass(frozen=True)
class Outcome:
    """What ``receive`` did: ``action`` is one of suppressed, counted, complained, duplicate,
    ignored (nothing to do), kept (for the operator)."""

    action: str
    why: str | None = None
    review_request_id: int | None = None
    shop_id: int | None = None


# --------------------------------------------------------------------------- finding the email


def _by_token(token: str) -> ReviewRequest | None:
    return db.session.execute(
        select(ReviewRequest).where(ReviewRequest.bounce_token == token)
    ).scalar_one_or_none()


def _by_message_id(message_id: str) -> ReviewRequest | None:
    """The request whose invitation or reminder had this Message-ID (rebuilt and compared: a
    look-alike never matches)."""
    found = db.session.execute(
        select(ReviewRequest).where(ReviewRequest.message_id == message_id)
    ).scalars().first()
    if found is not None:
        return found
    match = _REMINDER_ID.match(message_id)
    if match is None:
        return None
    request = db.session.get(ReviewRequest, int(match[1]))
    if request is None or request.reminder_sent_at is None:
        return None
    base_url = current_app.config["KINGAVIS_BASE_URL"]
    return request if message_id_for(request, base_url, reminder=True) == message_id else None


def find_request(report: Report, recipient: str | None) -> tuple[ReviewRequest | None, Why | None]:
    """The request the report is about, or why none: the envelope token it was sent to first,
    then the tokens and Message-IDs in the copy of the original's headers. Several different
    emails named: ambiguous, no guess."""
    bounce_domain = current_app.config.get("KINGAVIS_BOUNCE_DOMAIN")
    token = token_of(recipient, bounce_domain)
    if token is not None:
        request = _by_token(token)
        return (request, None) if request is not None else (None, Why.UNKNOWN_MESSAGE)
    found: dict[int, ReviewRequest] = {}
    for reference in report.tokens:
        request = _by_token(reference)
        if request is not None:
            found[request.id] = request
    if not found:
        for message_id in report.message_ids[:20]:
            request = _by_message_id(message_id)
            if request is not None:
                found[request.id] = request
    if len(found) == 1:
        return next(iter(found.values())), None
    if found:
        return None, Why.AMBIGUOUS
    if report.tokens or report.message_ids:
        return None, Why.UNKNOWN_MESSAGE
    return None, Why.NO_REFERENCE


# --------------------------------------------------------------------------- receiving


def keep(raw: bytes, recipient: str | None, why: Why | str, report: Report | None = None,
         now: datetime | None = None) -> InboundMessage:
    """Keep a message for the operator (its first bytes). Not committed."""
    row = InboundMessage(
        recipient=(recipient or None) and recipient[:320],
        sender=report.sender if report else None,
        subject=report.subject if report else None,
        why=str(why)[:64], size=len(raw), content=raw[:KEPT_BYTES], received_at=now or utcnow(),
    )
    db.session.add(row)
    return row


def receive(raw: bytes, *, recipient: str | None = None, now: datetime | None = None) -> Outcome:
    """Process one received message (bytes as received). Commits. Raises only when the
    database fails (the MTA then keeps the message and tries again)."""
    now = now or utcnow()
    report = read_report(raw, current_app.config.get("KINGAVIS_BOUNCE_DOMAIN"))
    try:
        outcome = _apply(raw, report, recipient, now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("inbound message processed", extra={"fields": {
        "action": outcome.action, "why": outcome.why, "review_request": outcome.review_request_id,
        "kind": report.kind.value if report.kind else None, "status": report.status}})
    return outcome


def _apply(raw: bytes, report: Report, recipient: str | None, now: datetime) -> Outcome:
    if report.why is Why.DELIVERED:
        return Outcome("ignored", Why.DELIVERED.value)
    if report.kind is None:
        keep(raw, recipient, report.why or Why.NOT_A_REPORT, report, now)
        return Outcome("kept", (report.why or Why.NOT_A_REPORT).value)
    request, why = find_request(report, recipient)
    if request is None:
        keep(raw, recipient, why or Why.NO_REFERENCE, report, now)
        return Outcome("kept", (why or Why.NO_REFERENCE).value)
    address = request.customer_email_normalized
    if not report.standard and (address is None or address not in report.recipients):
        # A non-standard bounce names the failed address only in free text: act only when it
        # is the one the named email went to.
        keep(raw, recipient, Why.ADDRESS_MISMATCH, report, now)
        return Outcome("kept", Why.ADDRESS_MISMATCH.value, request.id, request.shop_id)
    key = hashlib.sha256(f"{report.fingerprint}:{request.id}".encode()).hexdigest()
    inserted = db.session.execute(_ADD_REPORT, {
        "shop_id": request.shop_id, "review_request_id": request.id,
        "email_hash": request.customer_email_hash, "kind": report.kind.value,
        "status": report.status, "report_key": key, "now": now,
    }).rowcount
    if not inserted:
        return Outcome("duplicate", None, request.id, request.shop_id)
    shop = db.session.get(Shop, request.shop_id)
    assert shop is not None
    if report.kind is Kind.PERMANENT:
        lifecycle.note(request, NoteCode.BOUNCE_PERMANENT, {"status": report.status or "5.0.0"},
                       reason=Reason.BOUNCED.value, actor=lifecycle.SYSTEM, now=now)
        suppress(shop, request, Reason.BOUNCED, report.status or "5.0.0", now)
        return Outcome("suppressed", Reason.BOUNCED.value, request.id, shop.id)
    if report.kind is Kind.TEMPORARY:
        db.session.flush()
        count = int(db.session.scalar(
            select(func.count()).select_from(DeliveryReport).where(
                DeliveryReport.shop_id == shop.id,
                DeliveryReport.email_hash == request.customer_email_hash,
                DeliveryReport.kind == Kind.TEMPORARY.value,
                DeliveryReport.received_at > now - WINDOW)
        ) or 0)
        lifecycle.note(request, NoteCode.BOUNCE_TEMPORARY,
                       {"status": report.status or "4.0.0", "count": min(count, TEMPORARY_LIMIT)},
                       actor=lifecycle.SYSTEM, now=now)
        if count >= TEMPORARY_LIMIT:
            suppress(shop, request, Reason.BOUNCED, report.status or "4.0.0", now)
            return Outcome("suppressed", Reason.BOUNCED.value, request.id, shop.id)
        return Outcome("counted", None, request.id, shop.id)
    lifecycle.note(request, NoteCode.COMPLAINT, reason=Reason.COMPLAINED.value,
                   actor=lifecycle.SYSTEM, now=now)
    suppress(shop, request, Reason.COMPLAINED, "abuse", now)
    db.session.execute(_UNSUBSCRIBE, {"shop_id": shop.id, "email_normalized": address,
                                      "email_hash": request.customer_email_hash, "now": now})
    check_complaint_rate(shop, now)
    return Outcome("complained", Reason.COMPLAINED.value, request.id, shop.id)


_ADD_REPORT = text(
    "INSERT INTO delivery_reports (shop_id, review_request_id, email_hash, kind, status, "
    "report_key, received_at) VALUES (:shop_id, :review_request_id, :email_hash, :kind, "
    ":status, :report_key, :now) ON CONFLICT (report_key) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))
_ADD_SUPPRESSION = text(
    "INSERT INTO suppressions (shop_id, email_normalized, email_hash, reason, status, "
    "review_request_id, created_at) VALUES (:shop_id, :email_normalized, :email_hash, :reason, "
    ":status, :review_request_id, :now) ON CONFLICT (shop_id, email_hash) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))
_UNSUBSCRIBE = text(
    "INSERT INTO unsubscriptions (shop_id, email_normalized, email_hash, created_at) "
    "VALUES (:shop_id, :email_normalized, :email_hash, :now) "
    "ON CONFLICT (shop_id, email_hash) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))


def suppress(shop: Shop, request: ReviewRequest, reason: Reason, status: str | None,
             now: datetime) -> bool:
    """Put the request's address on the shop's suppression list with ``reason``, cancel its
    scheduled requests and drop its pending reminders there, with an audit entry. A complaint
    replaces an earlier bounce (it ranks first in rule 7). True when the list changed. Not
    committed."""
    email_hash = request.customer_email_hash
    changed = bool(db.session.execute(_ADD_SUPPRESSION, {
        "shop_id": shop.id, "email_normalized": request.customer_email_normalized,
        "email_hash": email_hash, "reason": reason.value, "status": status,
        "review_request_id": request.id, "now": now}).rowcount)
    if not changed and reason is Reason.COMPLAINED:
        changed = bool(db.session.execute(
            Suppression.__table__.update()
            .where(Suppression.shop_id == shop.id, Suppression.email_hash == email_hash,
                   Suppression.reason != Reason.COMPLAINED.value)
            .values(reason=reason.value, status=status, review_request_id=request.id)
        ).rowcount)
    scheduled = db.session.execute(
        select(ReviewRequest.id).where(ReviewRequest.shop_id == shop.id,
                                       ReviewRequest.customer_email_hash == email_hash,
                                       ReviewRequest.state == RequestState.SCHEDULED.value)
    ).scalars().all()
    cancelled = lifecycle.transition_where(
        scheduled, RequestState.CANCELLED, only_from=[RequestState.SCHEDULED],
        reason=reason.value, values={"next_attempt_at": None},
        note_code=NoteCode.ADDRESS_SUPPRESSED, note_args={"reason": reason.value},
        actor=lifecycle.SYSTEM, now=now)
    reminders = db.session.execute(
        select(ReviewRequest).where(ReviewRequest.shop_id == shop.id,
                                    ReviewRequest.customer_email_hash == email_hash,
                                    ReviewRequest.reminder_due_at.is_not(None),
                                    ReviewRequest.reminder_sent_at.is_(None))
    ).scalars().all()
    for row in reminders:
        row.reminder_due_at = None
        lifecycle.note(row, NoteCode.REMINDER_DROPPED_RULE, {"reason": reason.value},
                       reason=reason.value, actor=lifecycle.SYSTEM, now=now)
    if changed:
        audit.record(audit.SYSTEM, "deliverability.suppressed", shop=shop,
                     target_type="review_request", target_id=request.id,
                     details={"reason": reason.value, "status": status, "email_hash": email_hash,
                              "requests_cancelled": len(cancelled),
                              "reminders_dropped": len(reminders)})
    return changed


# --------------------------------------------------------------------------- the merchant's list


def suppressions(shop: Shop) -> list[Suppression]:
    """The shop's suppressed addresses, newest first."""
    return list(db.session.execute(
        select(Suppression).where(Suppression.shop_id == shop.id)
        .order_by(Suppression.created_at.desc(), Suppression.id.desc())
    ).scalars())


def remove_suppression(shop: Shop, actor: audit.Actor, suppression_id: int) -> Suppression:
    """Take an address off the shop's suppression list (its later orders are asked again;
    an address that complained stays unsubscribed). Audited. Commits."""
    row = db.session.get(Suppression, suppression_id)
    if row is None or row.shop_id != shop.id:
        raise SuppressionError(suppression_id)
    audit.record(actor, "deliverability.suppression_removed", shop=shop, target_type="suppression",
                 target_id=row.id, details={"reason": row.reason, "email_hash": row.email_hash})
    db.session.delete(row)
    db.session.commit()
    return row


# --------------------------------------------------------------------------- rates and the pause


@dataclass(frozen=True)
class Rates:
    emails: int  # invitations and reminders sent in the window
    bounces: int  # permanent failures received in the window
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.emails if self.emails else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.emails if self.emails else 0.0


def rates(shop: Shop, now: datetime | None = None) -> Rates:
    """The shop's emails, bounces and complaints over the last 30 days."""
    since = (now or utcnow()) - WINDOW
    emails = int(db.session.scalar(
        select(func.count()).select_from(ReviewRequest).where(
            ReviewRequest.shop_id == shop.id, ReviewRequest.sent_at > since)) or 0)
    emails += int(db.session.scalar(
        select(func.count()).select_from(ReviewRequest).where(
            ReviewRequest.shop_id == shop.id, ReviewRequest.reminder_sent_at > since)) or 0)
    counts = dict(db.session.execute(
        select(DeliveryReport.kind, func.count()).where(
            DeliveryReport.shop_id == shop.id, DeliveryReport.received_at > since)
        .group_by(DeliveryReport.kind)).tuples().all())
    return Rates(emails, int(counts.get(Kind.PERMANENT.value, 0)),
                 int(counts.get(Kind.COMPLAINT.value, 0)))


def complaint_rate_too_high(figures: Rates) -> bool:
    """Above 0.3 % complaints over at least 1,000 emails in 30 days: mailbox providers start
    refusing a sender's mail past that rate (docs/deliverability.md)."""
    return (figures.emails >= COMPLAINT_RATE_MIN_EMAILS
            and figures.complaints > COMPLAINT_RATE_LIMIT * figures.emails)


def check_complaint_rate(shop: Shop, now: datetime | None = None) -> bool:
    """Pause the shop's sending when its complaint rate is too high, with an audit entry that
    says why and an email to its merchants. True when it paused it now (then committed)."""
    if shop.paused:
        return False
    figures = rates(shop, now)
    if not complaint_rate_too_high(figures):
        return False
    audit.record(audit.SYSTEM, "deliverability.auto_pause", shop=shop, target_type="shop", target_id=shop.id,
                 details={"emails": figures.emails, "complaints": figures.complaints,
                          "rate": round(figures.complaint_rate * 100, 2)})
    log.warning("shop paused: complaint rate too high",
                extra={"fields": {"shop": shop.key, "emails": figures.emails,
                                  "complaints": figures.complaints}})
    shop_settings.set_paused(shop, audit.SYSTEM, True)  # commits, with the rest of the report
    tell_merchants_paused(shop, figures)
    return True


def automatic_pause(shop: Shop) -> dict[str, Any] | None:
    """When the shop is paused because of its complaint rate, the figures that paused it (for
    the banner); None when it is not paused, or was paused by someone."""
    if not shop.paused:
        return None
    entry = db.session.execute(
        select(AuditLog).where(AuditLog.shop_id == shop.id,
                               or_(AuditLog.action == AUTO_PAUSE, AuditLog.action == "shop.resume"))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(1)
    ).scalar_one_or_none()
    if entry is None or entry.action != AUTO_PAUSE:
        return None
    return dict(entry.details or {})


# --------------------------------------------------------------------------- the operator's list


def kept_messages(limit: int = 100) -> list[InboundMessage]:
    """The latest messages kept for the operator."""
    return list(db.session.execute(
        select(InboundMessage).order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(limit)).scalars())
