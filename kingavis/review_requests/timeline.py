"""An order's timeline: everything that happened to it, in time order ("why did, or didn't,
this customer get an email?")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from kingavis.customer_keys import customer_key
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.models import Order, OrderEvent, RequestDecision, Review
from kingavis.privacy.unsubscriptions import unsubscribed_at


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "event" | "decision" | "email" | "opened" | "clicked" | "review" | "unsubscribed"
    event: OrderEvent | None = None
    decision: RequestDecision | None = None
    email: dict[str, Any] | None = None
    review: Any = None  # the Review, for kind "review"


def _in_time_order(model: Any, where: Any, at: Any) -> Any:
    """The rows of ``model`` matching ``where``, by ``at`` then id."""
    return db.session.execute(select(model).where(where).order_by(at, model.id)).scalars()


def timeline(order: Order) -> list[TimelineEntry]:
    """Status events, decisions on the order's request and emails sent, in time order."""
    entries: list[TimelineEntry] = []
    for ev in _in_time_order(OrderEvent, OrderEvent.order_id == order.id, OrderEvent.received_at):
        entries.append(TimelineEntry(at=ev.received_at, kind="event", event=ev))
    request = order.review_request
    if request is not None:
        decisions = _in_time_order(RequestDecision,
                                   RequestDecision.review_request_id == request.id,
                                   RequestDecision.created_at)
        for decision in decisions:
            entries.append(TimelineEntry(at=decision.created_at, kind="decision", decision=decision))
        for what, sent_at, message_id in (("invitation", request.sent_at, request.message_id),
                                          ("reminder", request.reminder_sent_at, None)):
            if sent_at is not None:
                entries.append(TimelineEntry(
                    at=sent_at, kind="email",
                    email={"what": what, "sent_at": sent_at, "message_id": message_id},
                ))
        # After the email: the customer's side, as far as King-Avis knows it.
        if request.opened_at is not None:
            entries.append(TimelineEntry(at=request.opened_at, kind="opened"))
        if request.clicked_at is not None:
            entries.append(TimelineEntry(at=request.clicked_at, kind="clicked"))
        review = db.session.execute(
            select(Review).where(Review.review_request_id == request.id,
                                 Review.product_id.is_(None))
        ).scalar_one_or_none()
        if review is not None:
            entries.append(TimelineEntry(at=review.created_at, kind="review", review=review))
    address = normalize_email(order.customer_email)
    left_at = unsubscribed_at(order.shop_id, customer_key(order.shop_id, address)) if address else None
    if left_at is not None:
        entries.append(TimelineEntry(at=left_at, kind="unsubscribed"))
    rank = {"event": 0, "decision": 1, "email": 2, "opened": 3, "clicked": 4, "review": 5,
            "unsubscribed": 6}

    def key(entry: TimelineEntry) -> tuple[datetime, int, int]:
        row = entry.event or entry.decision
        return (entry.at, rank[entry.kind], row.id if row is not None else 0)

    return sorted(entries, key=key)
