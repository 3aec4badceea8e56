"""Erasing a customer's personal data (docs/personal-data.md).

``erase_customer`` is what the erasure webhook, ``flask customers erase`` and the back-office
call; ``run_retention`` (the daily job) anonymises inactive orders through the same
``erase_orders``. What they do, in one transaction per call:

- the customer's requests still ``scheduled`` or ``sending`` are cancelled (reason ``erased``,
  through ``lifecycle.transition``, which writes the timeline row); a reminder not yet sent
  is dropped. Rows are locked first (PostgreSQL: orders, then requests, the order the webhook
  and the dispatcher use), so a delivery in progress either finishes before (the request is
  then ``sent``) or finds the request cancelled. A job that built its message before the
  erasure and meets it only while sending (SQLite releases the row between the two) has the
  send-time check as a second guard: an erased order is never mailed (``delivery/send_time.py``);
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

Which orders are the customer's (matching ignores case, other shops are never looked at):
``kingavis.personal_data.customers``. Retention: ``kingavis.personal_data.retention``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from kingavis.accounts import audit
from kingavis.customer_keys import customer_key
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    DataRequest,
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
from kingavis.personal_data.customers import customer_order_ids, validate_email
from kingavis.review_requests import lifecycle
from kingavis.reviews.public import review_author
from kingavis.reviews.publication import change_review_state
from kingavis.transactions import retry_on_conflict

log = logging.getLogger("kingavis.personal_data")

ERASED_TEXT = "[erased]"
BATCH = 200  # orders per transaction when erasing a whole shop or applying retention
SOURCES = frozenset({"webhook", "cli", "back_office"})


@dataclass(frozen=True)
class ErasureResult:
    status_code: int  # 202 done now, 200 replayed (same webhook id)
    body: dict[str, Any]
    replayed: bool

    @property
    def summary(self) -> dict[str, int]:
        return dict(self.body["erased"])


@dataclass
class Counts:
    orders: int = 0
    review_requests_cancelled: int = 0
    reviews_withdrawn: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"orders": self.orders,
                "review_requests_cancelled": self.review_requests_cancelled,
                "reviews_withdrawn": self.reviews_withdrawn}


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


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
                               "erased": Counts().as_dict()}, False)


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
    counts = erase_orders(shop, customer_order_ids(shop, email), now=now, actor=actor,
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
    total = Counts()
    last_id = 0
    while True:
        ids = list(db.session.execute(
            select(Order.id).where(Order.shop_id == shop.id, Order.id > last_id)
            .order_by(Order.id).limit(BATCH)).scalars())
        if not ids:
            break
        last_id = ids[-1]
        try:
            counts = erase_orders(shop, ids, now=now, actor="system", retention=False)
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
            .where(InboundMessage.id > last).order_by(InboundMessage.id).limit(BATCH)
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


def erase_orders(shop: Shop, order_ids: Sequence[int], *, now: datetime, actor: str,
                  retention: bool, extra_terms: Iterable[str] = ()) -> Counts:
    """Remove the personal data of these orders of ``shop``. Not committed."""
    counts = Counts()
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
