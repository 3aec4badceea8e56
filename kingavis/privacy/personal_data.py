"""Customers' personal data (docs/personal-data.md): erasure, export and retention, one service each.

``erase_customer`` is what the erasure webhook, ``flask customers erase`` and the back-office
call; ``run_retention`` (the daily job) anonymises inactive orders through the same
``_erase_orders``. What they do, in one transaction per call:

- the customer's requests still ``scheduled`` or ``sending`` are cancelled (reason ``erased``,
  through ``lifecycle.transition``, which writes the timeline row); a reminder not yet sent
  is dropped. Rows are locked first (PostgreSQL: orders, then requests, the order the webhook
  and the dispatcher use), so a delivery in progress either finishes before (the request is
  then ``sent``) or finds the request cancelled. A job that built its message before the
  erasure and meets it only while sending (SQLite releases the row between the two) has the
  send-time check as a second guard: an erased order is never mailed (``delivery.jobs``);
- their reviews are withdrawn (``publication.change_review_state``, reason ``erased``) and
  their text, the merchant's reply and the callback's last error are deleted. Retention keeps
  a published review, its text and its public display name (first name + last-name initial,
  stored on the review) as the charter says, and deletes the text of any other review;
- the address, names and locale leave the orders; the raw webhook bodies are replaced by
  ``{}``; the request keeps only the address's keyed hash; the unsubscription keeps only the
  hash (an unsubscribed address stays unsubscribed), and so does a suppressed one (bounced,
  complained: docs/deliverability.md), while the messages kept for the operator that name the
  address are deleted; the address and names are removed from timeline notes, delivery errors and the shop's audit details wherever they appear;
- an ``Erasure`` row (the hash and the answer) and an audit entry (the hash, never the
  address) record it.

Matching ignores case: an order belongs to the customer when its address, its request's
hashed address, or one of its stored webhook bodies holds the address. Other shops are never
looked at.

``PERSONAL_COLUMNS`` says, for every column of every table, whether it can hold a customer's
personal data and how erasure and export handle it; ``tests/test_personal_data.py`` fails when
a new column is not classified.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy import Text, cast, delete, exists, func, or_, select, update

from kingavis.accounts import audit
from kingavis.customer_keys import customer_key, normalize_email
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    DeliveryReport,
    Erasure,
    InboundMessage,
    Order,
    OrderEvent,
    OutgoingMessage,
    Reason,
    RequestDecision,
    RequestState,
    Review,
    ReviewReport,
    ReviewRequest,
    ReviewState,
    Shop,
    Suppression,
    Unsubscription,
    User,
    utcnow,
)
from kingavis.platforms.models import DataRequest
from kingavis.privacy.unsubscriptions import unsubscribed_at
from kingavis.review_requests import lifecycle
from kingavis.reviews.public import review_author
from kingavis.reviews.publication import change_review_state
from kingavis.shops.service import ShopError
from kingavis.transactions import retry_on_conflict

log = logging.getLogger("kingavis.privacy.personal_data")

MIN_RETENTION_MONTHS = 6
MAX_RETENTION_MONTHS = 120
MAX_EMAIL = 320
ERASED_TEXT = "[erased]"
RETENTION_BATCH = 200
SOURCES = frozenset({"webhook", "cli", "back_office"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# How every column is handled. "erased": removed (or replaced) by erasure and retention;
# "exported": part of the export, kept because it is not personal once the address, names
# and text are gone (dates, states, counts); "hash": the keyed hash kept in place of the
# address; "scrubbed": free text or JSON from which the address and names are removed;
# "none": holds no customer data (configuration, merchants' accounts, ids).
PERSONAL_COLUMNS: dict[str, dict[str, str]] = {
    "shops": {c: "none" for c in (
        "id", "key", "name", "slug", "language", "timezone", "cancel_status_ids",
        "require_consent", "customer_window_days", "paused", "created_at", "review_link_days",
        "postpone_days", "reminder_days", "balancing_platform", "balancing_url",
        "balancing_redirect_seconds", "balancing_split_percent", "callback_url",
        "callback_secret", "retention_months", "platform", "platform_secrets",
        "product_review_count", "settings_version", "public_version")},
    "shop_secrets": {c: "none" for c in ("id", "shop_id", "secret", "created_at", "expires_at")},
    "invitation_rules": {c: "none" for c in (
        "id", "shop_id", "name", "trigger_status_ids", "delay_days", "send_hour", "timezone",
        "is_active", "created_at")},
    "shop_statuses": {c: "none" for c in (
        "id", "shop_id", "status_id", "name", "paid", "shipped", "last_seen_at", "delivered",
        "declared_at")},
    "order_state_syncs": {c: "none" for c in (
        "id", "shop_id", "webhook_id", "listed_at", "applied", "response", "received_at")},
    "orders": {
        "id": "none", "shop_id": "none", "external_id": "exported", "reference": "exported",
        "placed_at": "exported", "customer_email": "erased", "customer_first_name": "erased",
        "customer_last_name": "erased", "customer_locale": "erased",
        "review_consent": "exported", "latest_status_id": "exported",
        "latest_status_name": "exported", "latest_status_paid": "exported",
        "latest_changed_at": "exported", "created_at": "exported", "updated_at": "exported",
        "erased_at": "exported",
        # What the customer bought (docs/product-reviews.md).
        "items": "erased",
    },
    "order_events": {
        "id": "none", "shop_id": "none", "order_id": "none", "webhook_id": "exported",
        "status_id": "exported", "status_name": "exported", "status_paid": "exported",
        "status_shipped": "exported", "previous_status_id": "exported",
        "changed_at": "exported", "received_at": "exported", "stale": "exported",
        "outcome": "exported",
        # The outcome object answered to the shop: ids, states and dates, no address.
        "response": "exported",
        "payload": "erased",
    },
    "review_requests": {
        "id": "exported", "shop_id": "none", "order_id": "none", "rule_id": "none",
        "state": "exported", "reason": "exported", "due_at": "exported",
        "next_attempt_at": "none", "token": "none", "customer_email_normalized": "erased",
        "customer_email_hash": "hash", "trigger_status_id": "exported",
        "trigger_status_name": "exported", "triggered_at": "exported", "attempts": "exported",
        "last_error": "scrubbed", "message_id": "exported", "sent_at": "exported",
        "created_at": "exported", "updated_at": "none", "platform": "exported",
        "postponed_at": "exported", "reminder_due_at": "erased",
        "reminder_sent_at": "exported", "reminder_attempts": "none", "opened_at": "exported",
        "clicked_at": "exported", "share_clicks": "exported", "bounce_token": "none",
    },
    "request_decisions": {
        "id": "none", "review_request_id": "none", "order_event_id": "none",
        "state": "exported", "reason": "exported", "due_at": "exported", "actor": "exported",
        "note": "scrubbed", "note_code": "exported", "note_args": "scrubbed",
        "created_at": "exported",
    },
    "unsubscriptions": {
        "id": "none", "shop_id": "none", "email_normalized": "erased", "email_hash": "hash",
        "created_at": "exported",
    },
    # Bounces and complaints (docs/deliverability.md): the address is kept by its hash only
    # after erasure, so a bounced or complaining address stays suppressed.
    "suppressions": {
        "id": "none", "shop_id": "none", "email_normalized": "erased", "email_hash": "hash",
        "reason": "exported", "status": "exported", "review_request_id": "none",
        "created_at": "exported",
    },
    "delivery_reports": {
        "id": "none", "shop_id": "none", "review_request_id": "none", "email_hash": "hash",
        "kind": "exported", "status": "exported", "report_key": "none", "received_at": "exported",
    },
    # Messages kept for the operator: a bounce quotes the email it is about, so one that holds
    # the address is deleted on erasure.
    "inbound_messages": {
        "id": "none", "recipient": "none", "sender": "erased", "subject": "erased",
        "why": "none", "size": "none", "content": "erased", "received_at": "none",
    },
    "reviews": {
        "id": "exported", "shop_id": "none", "order_id": "none", "review_request_id": "none",
        "rating": "exported", "comment": "erased", "locale": "exported",
        "created_at": "exported", "status": "exported", "published_at": "exported",
        "withdrawn_at": "exported", "reply_text": "erased", "reply_published_at": "exported",
        "reply_updated_at": "exported", "callback_state": "exported",
        "callback_attempts": "none", "callback_last_error": "erased",
        "author_display": "erased", "rejection_reason": "exported",
        # A product review's product, as the shop describes it: not the customer's data.
        **{c: "exported" for c in (
            "product_id", "product_name", "product_sku", "product_gtin", "product_mpn",
            "product_brand", "product_url", "product_image_url")},
        "withdrawn_from": "erased", "resubmitted_at": "exported",
    },
    # The shop's own email texts: merchant content, never a customer's.
    "email_designs": {c: "none" for c in (
        "id", "shop_id", "language", "sender_name", "subject", "intro", "logo_url",
        "brand_colour", "updated_at", "shop_url")},
    # Emails to a review's author and callback events: the address is read from the order when
    # sending, never stored here; a mail server's reply may quote it.
    "outgoing_messages": {
        **{c: "none" for c in ("id", "shop_id", "review_id", "channel", "kind", "reason", "state",
                               "next_attempt_at", "attempts", "created_at", "sent_at")},
        "last_error": "erased",
    },
    # A report of a review (a merchant's, or a reader's from the public page): its text is
    # someone's words about the review; a reader's address is theirs, not the customer's.
    "review_reports": {
        **{c: "none" for c in ("id", "review_id", "shop_id", "reported_by_id", "created_at",
                               "resolved_at", "resolution", "resolved_by_id", "reason_code",
                               "reporter_email")},
        "reason": "erased",
    },
    "user_shops": {"user_id": "none", "shop_id": "none"},
    # Merchants' and operators' accounts: not customers.
    "users": {c: "none" for c in (
        "id", "email", "password_hash", "created_at", "failed_logins", "locked_until",
        "language", "is_operator")},
    "audit_log": {
        "id": "none", "shop_id": "none", "user_id": "none", "actor_email": "none",
        "action": "none", "target_type": "none", "target_id": "none", "details": "scrubbed",
        "created_at": "none",
    },
    "erasures": {
        "id": "none", "shop_id": "none", "webhook_id": "none", "source": "none",
        "email_hash": "hash", "response": "none", "created_at": "none",
    },
    # The platforms' delivery log (kingavis.platforms): topics, ids, verdicts and counts only.
    "platform_deliveries": {c: "none" for c in (
        "id", "shop_id", "platform", "delivery_id", "topic", "order_id", "status_code",
        "verdict", "response", "received_at")},
    # A customer's data request waiting for the merchant: deleted by erasure.
    "platform_data_requests": {
        "id": "none", "shop_id": "none", "email": "erased", "email_hash": "hash",
        "platform_request_id": "none", "received_at": "none",
    },
}


class PersonalDataError(ValueError):
    """Invalid input (an address that is not one); the message is for the person who gave it."""


@dataclass(frozen=True)
class ErasureResult:
    status_code: int  # 202 done now, 200 replayed (same webhook id)
    body: dict[str, Any]
    replayed: bool

    @property
    def summary(self) -> dict[str, int]:
        return dict(self.body["erased"])


@dataclass
class _Counts:
    orders: int = 0
    review_requests_cancelled: int = 0
    reviews_withdrawn: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"orders": self.orders,
                "review_requests_cancelled": self.review_requests_cancelled,
                "reviews_withdrawn": self.reviews_withdrawn}


def validate_email(email: Any) -> str:
    """The address, normalized (lower case, trimmed), or PersonalDataError.

    Accepts what the order-status webhook accepts (marshmallow's email check), so that any
    address stored from a webhook can be erased and exported."""
    if not isinstance(email, str) or not email.strip():
        raise PersonalDataError("an email address is required")
    value = normalize_email(email)
    if len(value) > MAX_EMAIL:
        raise PersonalDataError(f"the email address must be at most {MAX_EMAIL} characters")
    try:
        if _CONTROL.search(value):
            raise ValidationError("control characters")
        Email()(value)
    except ValidationError:
        raise PersonalDataError("not an email address, e.g. zoe@example.com") from None
    return value


# --------------------------------------------------------------------------- finding the data


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def customer_order_ids(shop: Shop, email: str) -> list[int]:
    """Ids of the shop's orders that hold this address (any case), however it got there."""
    normalized = normalize_email(email)
    key = customer_key(shop.id, normalized)
    by_order = select(Order.id).where(Order.shop_id == shop.id,
                                      func.lower(Order.customer_email) == normalized)
    by_request = select(ReviewRequest.order_id).where(ReviewRequest.shop_id == shop.id,
                                                      ReviewRequest.customer_email_hash == key)
    # An earlier address of the order, only in a stored webhook body: the whole JSON string
    # "zoe@example.com", quotes included, so that bzoe@example.com is not taken for it.
    by_event = select(OrderEvent.order_id).where(
        OrderEvent.shop_id == shop.id,
        func.lower(cast(OrderEvent.payload, Text)).contains(f'"{normalized}"', autoescape=True),
    )
    ids: set[int] = set()
    for query in (by_order, by_request, by_event):
        ids.update(db.session.execute(query).scalars())
    return sorted(ids)


# --------------------------------------------------------------------------- erasure


def erase_customer(
    shop: Shop,
    email: str,
    *,
    source: str,
    webhook_id: str | None = None,
    user: User | None = None,
    now: datetime | None = None,
    test: bool = False,
) -> ErasureResult:
    """Erase the customer's personal data in ``shop`` (see the module docstring). Commits.

    ``source`` is ``webhook`` (with its ``webhook_id``: a second call with the same id changes
    nothing and answers the first answer, status 200), ``cli`` or ``back_office`` (``user``).
    ``test`` (a webhook's ``"test": true``) erases nothing (``_answer_test``).
    Raises PersonalDataError for an address that is not one, and changes nothing then.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown erasure source {source!r}")
    if test:
        if webhook_id is None:
            raise ValueError("a test erasure is a webhook's, with its webhook id")
        return _answer_test(shop, email, webhook_id)
    normalized = validate_email(email)
    at = now or utcnow()
    return retry_on_conflict(lambda: _erase(shop, normalized, source, webhook_id, user, at))


def _answer_test(shop: Shop, email: str, webhook_id: str) -> ErasureResult:
    """A test erasure webhook (``"test": true``, docs/webhooks.md): the address is checked as
    for a real one, nothing is read, erased or recorded, and the answer is 200 with zero counts
    and ``"test": true``. A webhook id a real erasure already used is a replay of its answer.
    Raises PersonalDataError like a real one."""
    validate_email(email)
    replay = _replay(shop, webhook_id)
    db.session.rollback()
    if replay is not None:
        return replay
    return ErasureResult(200, {"webhook_id": webhook_id, "test": True,
                               "erased": _Counts().as_dict()}, False)


def _replay(shop: Shop, webhook_id: str) -> ErasureResult | None:
    previous = db.session.execute(
        select(Erasure.response).where(Erasure.shop_id == shop.id, Erasure.webhook_id == webhook_id)
    ).scalar_one_or_none()
    return None if previous is None else ErasureResult(200, previous, True)


def _erase(shop: Shop, email: str, source: str, webhook_id: str | None, user: User | None,
           now: datetime) -> ErasureResult:
    if webhook_id is not None:
        replay = _replay(shop, webhook_id)
        if replay is not None:
            db.session.rollback()
            return replay
    key = customer_key(shop.id, email)
    # Who did it, in the audit log and on the order timelines: the account, the command line,
    # or the shop's module (the webhook: King-Avis acting on the shop's request).
    audit_actor: audit.Actor = user if user is not None else (audit.CLI if source == "cli" else None)
    actor = audit.actor_name(audit_actor)
    counts = _erase_orders(shop, customer_order_ids(shop, email), now=now, actor=actor,
                           retention=False, extra_terms=[email])
    # The unsubscription is remembered by its hash only.
    db.session.execute(
        update(Unsubscription)
        .where(Unsubscription.shop_id == shop.id, Unsubscription.email_hash == key)
        .values(email_normalized=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(DataRequest).where(DataRequest.shop_id == shop.id, DataRequest.email_hash == key)
        .execution_options(synchronize_session=False)
    )
    _erase_deliverability(shop, email, key)
    body: dict[str, Any] = {"erased": counts.as_dict()}
    if webhook_id is not None:
        body = {"webhook_id": webhook_id, **body}
    db.session.add(Erasure(shop_id=shop.id, webhook_id=webhook_id, source=source,
                           email_hash=key, response=body, created_at=now))
    audit.record(audit_actor, "customer.erase", shop=shop, target_type="customer",
                 details={"email_hash": key, "source": source, **counts.as_dict()})
    db.session.commit()
    log.info("customer data erased", extra={"fields": {"shop": shop.key, "source": source,
                                                         **counts.as_dict()}})
    return ErasureResult(202, body, False)


def erase_shop(shop: Shop, *, now: datetime | None = None) -> dict[str, int]:
    """Erase the personal data of every customer of ``shop`` (a platform's request after the
    merchant left, docs/platforms.md), batch by batch, each committed; unsubscribed addresses
    keep their hash only. Returns the summary, as ``erase_customer`` counts it."""
    now = now or utcnow()
    total = _Counts()
    last_id = 0
    while True:
        ids = list(db.session.execute(
            select(Order.id).where(Order.shop_id == shop.id, Order.id > last_id)
            .order_by(Order.id).limit(RETENTION_BATCH)).scalars())
        if not ids:
            break
        last_id = ids[-1]
        try:
            counts = _erase_orders(shop, ids, now=now, actor="system", retention=False)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        total.orders += counts.orders
        total.review_requests_cancelled += counts.review_requests_cancelled
        total.reviews_withdrawn += counts.reviews_withdrawn
    db.session.execute(
        update(Unsubscription).where(Unsubscription.shop_id == shop.id)
        .values(email_normalized=None).execution_options(synchronize_session=False))
    db.session.execute(delete(DataRequest).where(DataRequest.shop_id == shop.id)
                       .execution_options(synchronize_session=False))
    db.session.execute(
        update(Suppression).where(Suppression.shop_id == shop.id)
        .values(email_normalized=None).execution_options(synchronize_session=False))
    audit.record(None, "customer.erase", shop=shop, target_type="shop",
                 details={"source": "webhook", **total.as_dict()})
    db.session.commit()
    log.info("shop customer data erased", extra={"fields": {"shop": shop.key, **total.as_dict()}})
    return total.as_dict()


def _erase_deliverability(shop: Shop, email: str, key: str) -> None:
    """A suppressed address is remembered by its hash only; the messages kept for the operator
    that name the address are deleted (docs/deliverability.md). Not committed."""
    db.session.execute(
        update(Suppression)
        .where(Suppression.shop_id == shop.id, Suppression.email_hash == key)
        .values(email_normalized=None)
        .execution_options(synchronize_session=False)
    )
    needle = email.encode("utf-8")
    last = 0
    while True:
        rows = db.session.execute(
            select(InboundMessage.id, InboundMessage.content, InboundMessage.sender)
            .where(InboundMessage.id > last).order_by(InboundMessage.id).limit(RETENTION_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        doomed = [row_id for row_id, content, sender in rows
                  if needle in (content or b"").lower() or (sender or "").lower() == email]
        if doomed:
            db.session.execute(delete(InboundMessage).where(InboundMessage.id.in_(doomed)))


def _terms(orders: Iterable[Order], extra: Iterable[str]) -> list[str]:
    """What must disappear from free text: the addresses and names of these orders."""
    terms = {t.strip() for t in extra if t and t.strip()}
    for order in orders:
        for value in (order.customer_email, order.customer_first_name, order.customer_last_name):
            if value and len(value.strip()) >= 2:
                terms.add(value.strip())
    # Longest first, so "zoe@example.com" goes before a name inside it.
    return sorted(terms, key=len, reverse=True)


def _redactor(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def redact(value: Any, pattern: re.Pattern[str] | None) -> Any:
    """``value`` (text or JSON) with every match of ``pattern`` replaced by ``[erased]``."""
    if pattern is None or value is None:
        return value
    if isinstance(value, str):
        return pattern.sub(ERASED_TEXT, value)
    if isinstance(value, dict):
        return {redact(k, pattern): redact(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, pattern) for v in value]
    return value


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _erase_orders(shop: Shop, order_ids: Sequence[int], *, now: datetime, actor: str,
                  retention: bool, extra_terms: Iterable[str] = ()) -> _Counts:
    """Remove the personal data of these orders of ``shop``. Not committed."""
    counts = _Counts()
    if not order_ids:
        return counts
    postgres = _is_postgres()
    orders: list[Order] = []
    requests: list[ReviewRequest] = []
    for chunk in _chunks(list(order_ids)):
        # Orders, then requests: the lock order of the webhook and the dispatcher.
        query = (select(Order).where(Order.shop_id == shop.id, Order.id.in_(chunk))
                 .order_by(Order.id).execution_options(populate_existing=True))
        if postgres:
            query = query.with_for_update(of=Order)
        orders.extend(db.session.execute(query).scalars())
        query_r = (select(ReviewRequest)
                   .where(ReviewRequest.shop_id == shop.id, ReviewRequest.order_id.in_(chunk))
                   .order_by(ReviewRequest.id).execution_options(populate_existing=True))
        if postgres:
            query_r = query_r.with_for_update(of=ReviewRequest)
        requests.extend(db.session.execute(query_r).scalars())
    pattern = _redactor(_terms(orders, extra_terms))
    by_order = {o.id: o for o in orders}
    request_ids = [r.id for r in requests]

    for request in requests:
        if request.state in (RequestState.SCHEDULED.value, RequestState.SENDING.value):
            lifecycle.transition(request, RequestState.CANCELLED, reason=Reason.ERASED.value,
                                 now=now, actor=actor)
            request.next_attempt_at = None
            counts.review_requests_cancelled += 1
        if request.reminder_sent_at is None:
            request.reminder_due_at = None
        request.customer_email_normalized = None
        request.last_error = redact(request.last_error, pattern)

    for chunk in _chunks(request_ids):
        for decision in db.session.execute(
            select(RequestDecision).where(RequestDecision.review_request_id.in_(chunk))
        ).scalars():
            note, args = redact(decision.note, pattern), redact(decision.note_args, pattern)
            if note != decision.note:
                decision.note = note
            if args != decision.note_args:
                decision.note_args = args

    reviews = [r for chunk in _chunks(list(by_order)) for r in db.session.execute(
        select(Review).where(Review.shop_id == shop.id, Review.order_id.in_(chunk))
        .order_by(Review.id)).scalars()]
    for review in reviews:
        order = by_order[review.order_id]
        if retention and review.status == ReviewState.PUBLISHED.value:
            # The charter: a published review keeps its public name and its text.
            review.author_display = review_author(review, order)
        else:
            if not retention and change_review_state(
                review, ReviewState.WITHDRAWN, actor=actor, reason=Reason.ERASED.value, now=now
            ):
                counts.reviews_withdrawn += 1
            review.comment = None
            review.withdrawn_from = None  # nothing left to restore
            review.reply_text = None
            review.author_display = None
        review.callback_last_error = None
    review_ids = [review.id for review in reviews]
    for chunk in _chunks(review_ids):
        # A mail server's refusal may quote the author's address; a merchant's report may
        # name the customer.
        db.session.execute(
            update(OutgoingMessage).where(OutgoingMessage.review_id.in_(chunk))
            .values(last_error=None).execution_options(synchronize_session=False)
        )
        if not retention:
            db.session.execute(
                update(ReviewReport).where(ReviewReport.review_id.in_(chunk))
                .values(reason="").execution_options(synchronize_session=False)
            )

    for chunk in _chunks(list(by_order)):
        db.session.execute(
            update(OrderEvent).where(OrderEvent.order_id.in_(chunk))
            .values(payload={}).execution_options(synchronize_session=False)
        )
    for order in orders:
        # Counted when it held data: not erased yet, or described again since.
        if order.erased_at is None or order.updated_at > order.erased_at:
            counts.orders += 1
        order.customer_email = None
        order.customer_first_name = None
        order.customer_last_name = None
        order.customer_locale = None
        order.items = None
        # The same instant for both: something arriving later makes updated_at the greater.
        order.erased_at = now
        order.updated_at = now
    db.session.flush()
    _scrub_audit(shop, pattern)
    return counts


def _scrub_audit(shop: Shop, pattern: re.Pattern[str] | None) -> None:
    """The address and names out of the shop's audit details (wherever a merchant typed them)."""
    if pattern is None:
        return
    rows = db.session.execute(
        select(AuditLog).where(AuditLog.shop_id == shop.id)
    ).scalars()
    for entry in rows:
        details = redact(entry.details, pattern)
        if details != entry.details:
            entry.details = details


# --------------------------------------------------------------------------- export


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def export_customer(shop: Shop, email: str) -> dict[str, Any]:
    """Every piece of personal data held about this customer in ``shop``, as one JSON-ready
    document: orders with their events and webhook bodies, review requests with the emails
    sent and their timeline, reviews, the unsubscription. Raises PersonalDataError for an
    address that is not one. Reads only."""
    normalized = validate_email(email)
    key = customer_key(shop.id, normalized)
    orders = []
    for order_id in customer_order_ids(shop, normalized):
        order = db.session.get(Order, order_id)
        if order is not None:
            orders.append(_export_order(order))
    left_at = unsubscribed_at(shop.id, key)
    erasures = db.session.execute(
        select(Erasure.created_at, Erasure.source).where(Erasure.shop_id == shop.id,
                                                         Erasure.email_hash == key)
        .order_by(Erasure.id)
    ).all()
    suppression = db.session.execute(
        select(Suppression).where(Suppression.shop_id == shop.id, Suppression.email_hash == key)
    ).scalar_one_or_none()
    reports = db.session.execute(
        select(DeliveryReport.kind, DeliveryReport.status, DeliveryReport.received_at)
        .where(DeliveryReport.shop_id == shop.id, DeliveryReport.email_hash == key)
        .order_by(DeliveryReport.id)
    ).all()
    return {
        "shop": {"key": shop.key, "name": shop.name},
        "email": normalized,
        "generated_at": _iso(utcnow()),
        "orders": orders,
        "unsubscription": None if left_at is None else {"created_at": _iso(left_at)},
        "suppression": None if suppression is None else {
            "reason": suppression.reason, "status": suppression.status,
            "created_at": _iso(suppression.created_at)},
        "delivery_reports": [{"kind": kind, "status": status, "received_at": _iso(at)}
                             for kind, status, at in reports],
        "erasures": [{"created_at": _iso(at), "source": source} for at, source in erasures],
    }


def _export_order(order: Order) -> dict[str, Any]:
    events = db.session.execute(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).scalars()
    request = order.review_request
    review = None
    product_reviews: list[Review] = []
    if request is not None:
        for found in db.session.execute(
            select(Review).where(Review.review_request_id == request.id).order_by(Review.id)
        ).scalars():
            if found.product_id is None:
                review = found
            else:
                product_reviews.append(found)
    return {
        "id": order.external_id,
        "reference": order.reference,
        "placed_at": _iso(order.placed_at),
        "customer": {
            "email": order.customer_email,
            "first_name": order.customer_first_name,
            "last_name": order.customer_last_name,
            "locale": order.customer_locale,
            "review_consent": order.review_consent,
        },
        "latest_status": {"id": order.latest_status_id, "name": order.latest_status_name,
                          "paid": order.latest_status_paid,
                          "changed_at": _iso(order.latest_changed_at)},
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "erased_at": _iso(order.erased_at),
        "events": [
            {"webhook_id": e.webhook_id, "status": {"id": e.status_id, "name": e.status_name,
                                                    "paid": e.status_paid,
                                                    "shipped": e.status_shipped},
             "previous_status_id": e.previous_status_id, "changed_at": _iso(e.changed_at),
             "received_at": _iso(e.received_at), "stale": e.stale, "outcome": e.outcome,
             "response": e.response, "payload": e.payload}
            for e in events
        ],
        "review_request": None if request is None else _export_request(request),
        "items": order.items or [],
        "review": None if review is None else _export_review(review),
        "product_reviews": [_export_review(r) for r in product_reviews],
    }


def _export_request(request: ReviewRequest) -> dict[str, Any]:
    from kingavis.review_requests.notes import describe_note

    decisions = db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request.id)
        .order_by(RequestDecision.created_at, RequestDecision.id)
    ).scalars()
    emails = []
    if request.sent_at is not None:
        emails.append({"kind": "invitation", "sent_at": _iso(request.sent_at),
                       "message_id": request.message_id})
    if request.reminder_sent_at is not None:
        emails.append({"kind": "reminder", "sent_at": _iso(request.reminder_sent_at),
                       "message_id": None})
    return {
        "id": str(request.id),
        "email": request.customer_email_normalized,
        "state": request.state,
        "reason": request.reason,
        "due_at": _iso(request.due_at),
        "trigger_status": {"id": request.trigger_status_id, "name": request.trigger_status_name,
                           "reached_at": _iso(request.triggered_at)},
        "platform": request.platform,
        "attempts": request.attempts,
        "last_error": request.last_error,
        "created_at": _iso(request.created_at),
        "postponed_at": _iso(request.postponed_at),
        "emails_sent": emails,
        "tracking": {"opened_at": _iso(request.opened_at), "clicked_at": _iso(request.clicked_at),
                     "share_clicks": request.share_clicks},
        "timeline": [
            {"at": _iso(d.created_at), "state": d.state, "reason": d.reason,
             "due_at": _iso(d.due_at), "actor": d.actor, "note": describe_note(d) or None}
            for d in decisions
        ],
    }


def _export_review(review: Review) -> dict[str, Any]:
    return {
        "id": str(review.id),
        "rating": review.rating,
        "comment": review.comment,
        "locale": review.locale,
        "status": review.status,
        "created_at": _iso(review.created_at),
        "published_at": _iso(review.published_at),
        "withdrawn_at": _iso(review.withdrawn_at),
        "author_display": review.author_display,
        "reply": None if review.reply_text is None else {
            "text": review.reply_text, "published_at": _iso(review.reply_published_at),
            "updated_at": _iso(review.reply_updated_at)},
        "callback_state": review.callback_state,
        **({} if review.product_id is None else {
            "product": {"id": review.product_id, "name": review.product_name}}),
    }


def record_export(shop: Shop, email: str, *, user: User | None, source: str) -> None:
    """The audit entry of an export (the address's hash, never the address). Commits."""
    key = customer_key(shop.id, validate_email(email))
    actor: audit.Actor = user if user is not None else (audit.CLI if source == "cli" else None)
    audit.record(actor, "customer.export", shop=shop, target_type="customer",
                 details={"email_hash": key, "source": source})
    db.session.commit()


# --------------------------------------------------------------------------- retention


def validate_retention_months(months: Any) -> int:
    """A retention period in whole months, 6 to 120, or ShopError."""
    if isinstance(months, bool) or not isinstance(months, int):
        raise ShopError("retention must be a whole number of months")
    if not MIN_RETENTION_MONTHS <= months <= MAX_RETENTION_MONTHS:
        raise ShopError(f"retention must be between {MIN_RETENTION_MONTHS} and "
                        f"{MAX_RETENTION_MONTHS} months")
    return months


def set_retention(shop: Shop, months: int, *, actor: str = "system") -> Shop:
    """Set how long an inactive order's contact data is kept (6–120 months). Commits;
    raises ShopError and changes nothing on bad input."""
    shop.retention_months = validate_retention_months(months)
    db.session.commit()
    log.info("retention changed", extra={"fields": {"shop": shop.key, "actor": actor,
                                                   "months": months}})
    return shop


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months; a day past the target month's end becomes its
    last day (31 March − 1 month = 28 or 29 February)."""
    import calendar

    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def inactive_order_ids(shop: Shop, cutoff: datetime, limit: int | None = None) -> list[int]:
    """The shop's orders still holding personal data with no activity since ``cutoff``.

    Activity: a webhook event for the order (``orders.updated_at``), a change of its request
    (sent, cancelled, retried…) or a request or reminder still due after the cutoff, and a
    review or reply. An order already erased counts again when an event came after it.
    """
    recent_request = exists().where(
        ReviewRequest.order_id == Order.id,
        or_(ReviewRequest.updated_at >= cutoff, ReviewRequest.due_at >= cutoff,
            ReviewRequest.reminder_due_at >= cutoff, ReviewRequest.sent_at >= cutoff),
    )
    recent_review = exists().where(
        Review.order_id == Order.id,
        or_(Review.created_at >= cutoff, Review.reply_updated_at >= cutoff),
    )
    query = (
        select(Order.id)
        .where(
            Order.shop_id == shop.id,
            or_(Order.erased_at.is_(None), Order.updated_at > Order.erased_at),
            Order.updated_at < cutoff,
            ~recent_request,
            ~recent_review,
        )
        .order_by(Order.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).scalars())


def apply_retention(shop: Shop, *, now: datetime | None = None) -> int:
    """Anonymise the shop's orders inactive for longer than its retention period, batch by
    batch, each committed. Returns how many orders were anonymised."""
    now = now or utcnow()
    cutoff = months_before(now, shop.retention_months)
    total = 0
    while True:
        ids = inactive_order_ids(shop, cutoff, RETENTION_BATCH)
        if not ids:
            break
        try:
            hashes = set(db.session.execute(
                select(ReviewRequest.customer_email_hash).where(ReviewRequest.order_id.in_(ids))
            ).scalars())
            emails = {normalize_email(e) for e in db.session.execute(
                select(Order.customer_email).where(Order.id.in_(ids),
                                                   Order.customer_email.is_not(None))
            ).scalars()}
            hashes |= {customer_key(shop.id, e) for e in emails}
            counts = _erase_orders(shop, ids, now=now, actor="retention", retention=True)
            _forget_unsubscribed_addresses(shop, hashes)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        total += counts.orders
    if total:
        log.info("retention applied", extra={"fields": {"shop": shop.key, "orders": total,
                                                       "months": shop.retention_months}})
    return total


def _forget_unsubscribed_addresses(shop: Shop, hashes: set[str]) -> None:
    """Unsubscribed addresses that no order of the shop holds any more keep their hash only."""
    for key in hashes:
        still_used = db.session.execute(
            select(exists().where(ReviewRequest.shop_id == shop.id,
                                  ReviewRequest.customer_email_hash == key,
                                  ReviewRequest.customer_email_normalized.is_not(None)))
        ).scalar()
        if not still_used:
            db.session.execute(
                update(Unsubscription)
                .where(Unsubscription.shop_id == shop.id, Unsubscription.email_hash == key)
                .values(email_normalized=None)
                .execution_options(synchronize_session=False)
            )


def run_retention(*, now: datetime | None = None) -> dict[str, int]:
    """The daily job: retention applied to every shop. Returns {shop key: orders anonymised}."""
    now = now or utcnow()
    done: dict[str, int] = {}
    for shop in db.session.execute(select(Shop).order_by(Shop.id)).scalars().all():
        done[shop.key] = apply_retention(shop, now=now)
    return done
