"""Orders, their status events, and the review request each order gets (with its timeline)."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kingavis.extensions import db
from kingavis.models.columns import (
    UTCDateTime,
    cleared_with,
    deleted_with,
    hash_default,
    partial_index,
    utcnow,
)
from kingavis.models.shops import Shop


class RequestState(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"
    FAILED = "failed"


class Reason(enum.StrEnum):
    ORDER_CANCELLED = "order_cancelled"
    ORDER_UNPAID = "order_unpaid"
    NO_CONSENT = "no_consent"
    UNSUBSCRIBED = "unsubscribed"
    RECENT_REQUEST = "recent_request"
    MERCHANT_CANCELLED = "merchant_cancelled"
    DELIVERY_FAILED = "delivery_failed"
    ERASED = "erased"  # the customer's personal data was erased (docs/personal-data.md): never sent
    # The address hard-bounced, or its owner complained (marked as spam): docs/deliverability.md.
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# A request cancelled for one of these reasons may be scheduled again (docs/rules.md.3).
RESCHEDULABLE_REASONS = frozenset({Reason.ORDER_CANCELLED.value, Reason.ORDER_UNPAID.value})


def new_token() -> str:
    # 192 random bits, URL-safe.
    return secrets.token_urlsafe(24)


def new_bounce_token() -> str:
    # 128 random bits, lower-case hex: a local part survives any MTA's case folding.
    return secrets.token_hex(16)


class ShopStatus(db.Model):
    """An order status a shop has sent us (or the preset's), with its name and flags."""

    __tablename__ = "shop_statuses"
    __table_args__ = (UniqueConstraint("shop_id", "status_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops")
    status_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    paid: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    shipped: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # When an order-status event last had it (None: never; see kingavis/orders/statuses.py).
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Only the shop's declared list (PUT order-states) says whether a status means delivered.
    delivered: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # When the shop's latest declared list had it; None: not in that list (or none was sent).
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OrderStateSync(db.Model):
    """One accepted ``PUT …/order-states`` (docs/webhooks.md): its answer, replayed unchanged
    for the same ``webhook_id``, and the list's own time, so an older list delivered late
    never replaces a newer one."""

    __tablename__ = "order_state_syncs"
    __table_args__ = (UniqueConstraint("shop_id", "webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    webhook_id: Mapped[str] = mapped_column(String(255))
    # The body's ``timestamp`` (when the shop read its list); None when it sent none.
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    applied: Mapped[bool] = mapped_column(Boolean)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        # The back-office's "reference or email contains" search (ILIKE '%…%'): trigram
        # indexes on PostgreSQL (pg_trgm), plain ones on SQLite (docs/performance.md).
        *(Index(f"ix_orders_{column}_trgm", column, postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"})
          for column in ("reference", "customer_email")),
        # A customer's orders by address, any case (erasure, export).
        Index("ix_orders_shop_email_lower", "shop_id", func.lower(text("customer_email"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops")
    external_id: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Null once the customer's data is erased (erased_at set): by request or by retention.
    customer_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    customer_first_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_last_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_locale: Mapped[str | None] = mapped_column(String(16), nullable=True)
    review_consent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    latest_status_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latest_status_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    latest_status_paid: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    latest_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # When the customer's personal data was removed from this order (kingavis/personal_data/erasure.py).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What was bought (data.order.items as validated by webhooks.schemas): the latest list
    # received wins; removed with the customer's data (docs/product-reviews.md).
    items: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True)

    shop: Mapped[Shop] = relationship()
    review_request: Mapped[ReviewRequest | None] = relationship(
        back_populates="order", uselist=False
    )


class OrderEvent(db.Model):
    """Every accepted status webhook, kept for the order timeline and for idempotent replay."""

    __tablename__ = "order_events"
    __table_args__ = (
        UniqueConstraint("shop_id", "webhook_id"),
        Index("ix_order_events_order_changed", "order_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops")
    order_id: Mapped[int] = deleted_with("orders")
    webhook_id: Mapped[str] = mapped_column(String(255))
    status_id: Mapped[str] = mapped_column(String(64))
    status_name: Mapped[str] = mapped_column(String(200))
    status_paid: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status_shipped: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    previous_status_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(32))
    # The outcome object answered to the shop, replayed unchanged on the same webhook-id.
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

    order: Mapped[Order] = relationship()


def request_outcome(request_id: int, state: str, reason: str | None, due_at: datetime) -> dict[str, Any]:
    """A review request as the webhook's outcome object shows it (docs/webhooks.md)."""
    return {
        "id": str(request_id),
        "state": state,
        "due_at": due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": reason,
    }


class ReviewRequest(db.Model):
    """One per order, ever (unique order_id). The database is the source of truth for what is due."""

    __tablename__ = "review_requests"
    __table_args__ = (
        # The dispatcher's claim query: what is (re)due now, in order.
        partial_index("ix_review_requests_due", "next_attempt_at",
                      where="state IN ('scheduled', 'sending')"),
        Index("ix_review_requests_shop_email_hash", "shop_id", "customer_email_hash"),
        Index("ix_review_requests_shop_state_due", "shop_id", "state", "due_at"),
        partial_index("ix_review_requests_reminder_due", "reminder_due_at",
                      where="reminder_sent_at IS NULL AND reminder_due_at IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops")
    order_id: Mapped[int] = deleted_with("orders", unique=True)
    rule_id: Mapped[int | None] = cleared_with("invitation_rules")
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the dispatcher should next look at it: due_at, a retry time, or a lease's end.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    # The address (null once erased) and its keyed hash, which every per-customer check uses
    # (kingavis.customer_keys) and which stays after an erasure.
    customer_email_normalized: Mapped[str | None] = mapped_column(String(320), nullable=True)
    customer_email_hash: Mapped[str] = mapped_column(
        String(64), default=hash_default("shop_id", "customer_email_normalized")
    )
    trigger_status_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trigger_status_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Where the invitation sends the customer: "kingavis" or the shop's balancing platform.
    platform: Mapped[str] = mapped_column(String(32), default="kingavis", server_default="kingavis")
    # "I have not received my order yet": used at most once.
    postponed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # One optional reminder; reminder_due_at doubles as its lease while it is being sent.
    reminder_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Funnel: first open (image in the HTML part), first counted click, share clicks.
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    share_clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Names this request's emails in their envelope sender, bounces+<token>@<bounce domain>
    # (docs/deliverability.md): random, never the customer's address nor the review link's token.
    bounce_token: Mapped[str | None] = mapped_column(
        String(32), unique=True, nullable=True, default=new_bounce_token
    )

    order: Mapped[Order] = relationship(back_populates="review_request")
    shop: Mapped[Shop] = relationship()

    def to_outcome(self) -> dict[str, Any]:
        return request_outcome(self.id, self.state, self.reason, self.due_at)


class RequestDecision(db.Model):
    """Why a review request changed: one row per decision, for the order timeline."""

    __tablename__ = "request_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_request_id: Mapped[int] = deleted_with("review_requests", index=True)
    order_event_id: Mapped[int | None] = cleared_with("order_events")
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    actor: Mapped[str] = mapped_column(String(120), default="system")
    # A merchant's own words, or a note written before note_code existed: shown as stored.
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A note written by King-Avis: a kingavis.review_requests.notes.NoteCode and its parameters, worded in the
    # reader's language when shown (kingavis.review_requests.notes.describe_note).
    note_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note_args: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order_event: Mapped[OrderEvent | None] = relationship()
