"""Exporting a customer's personal data (docs/personal-data.md): one JSON-ready document of
everything held about them in a shop, and the audit entry that records the export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from kingavis.accounts import audit
from kingavis.customer_keys import customer_key
from kingavis.extensions import db
from kingavis.models import (
    DeliveryReport,
    Erasure,
    Order,
    OrderEvent,
    RequestDecision,
    Review,
    ReviewRequest,
    Shop,
    Suppression,
    User,
    utcnow,
)
from kingavis.personal_data.customers import customer_order_ids, validate_email
from kingavis.privacy.unsubscriptions import unsubscribed_at
from kingavis.review_requests.notes import describe_note


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
