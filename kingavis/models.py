"""Database models. Every schema change goes through a Flask-Migrate migration."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kingavis.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC datetimes on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware (UTC) datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


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


class ReviewState(enum.StrEnum):
    """A review's publication state (docs/publication.md). Only ``published`` reviews are shown."""

    PENDING = "pending"
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


# How long a customer's contact data is kept after the order's last activity (docs/personal-data.md).
DEFAULT_RETENTION_MONTHS = 24

# How many of an order's products the questionnaire asks about by default (docs/product-reviews.md).
DEFAULT_PRODUCT_REVIEW_COUNT = 5

# A request cancelled for one of these reasons may be scheduled again (docs/rules.md.3).
RESCHEDULABLE_REASONS = frozenset({Reason.ORDER_CANCELLED.value, Reason.ORDER_UNPAID.value})


def _hash_default(shop_column: str, email_column: str) -> Any:
    """Column default: the keyed hash of the row's address (kingavis.customer_keys), so every
    insert that gives the address also stores the key lookups use."""

    def default(context: Any) -> str | None:
        from kingavis.customer_keys import customer_key

        params = context.get_current_parameters()
        email = params.get(email_column)
        if email is None:
            return None
        return customer_key(params[shop_column], email)

    return default


def new_shop_key() -> str:
    return "shp_" + secrets.token_urlsafe(12)


def new_token() -> str:
    # 192 random bits, URL-safe.
    return secrets.token_urlsafe(24)


def new_bounce_token() -> str:
    # 128 random bits, lower-case hex: a local part survives any MTA's case folding.
    return secrets.token_hex(16)


class Shop(db.Model):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, default=new_shop_key)
    name: Mapped[str] = mapped_column(String(200))
    # The public review page's address: /avis/<slug> (docs/publication.md). Made from the name, unique.
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    cancel_status_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    require_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_window_days: Mapped[int] = mapped_column(Integer, default=30)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Review collection settings.
    review_link_days: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    postpone_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    # Days after the first email for one reminder; None = no reminder (the default).
    reminder_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Review Balancing: a third-party review page (Google, Trustpilot or any URL).
    balancing_platform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    balancing_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Seconds before the thank-you page redirects there; None = no automatic redirect.
    balancing_redirect_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Percentage of invitations sent as invitations to the third-party platform instead.
    balancing_split_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Optional review.created callback, signed the Standard Webhooks way with callback_secret.
    callback_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    callback_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Personal data retention: contact data of orders inactive this long is removed (docs/personal-data.md).
    retention_months: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_RETENTION_MONTHS, server_default=str(DEFAULT_RETENTION_MONTHS)
    )
    # How the shop's events arrive (docs/platforms.md): its own module (prestashop) or the
    # platform's webhooks (shopify, woocommerce), and the signing secrets the platform uses.
    platform: Mapped[str] = mapped_column(String(16), default="prestashop",
                                          server_default="prestashop")
    platform_secrets: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # How many of an order's products the questionnaire asks about; 0 = no product reviews
    # (docs/product-reviews.md).
    product_review_count: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_PRODUCT_REVIEW_COUNT,
        server_default=str(DEFAULT_PRODUCT_REVIEW_COUNT),
    )
    # Bumped in the database by every flush that changes the shop, its secrets or its rules
    # (kingavis.shops.service, one listener): the webhook's cache of shops is keyed on it
    # (docs/settings-version.md).
    settings_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Bumped in the database by every flush that changes what the public answers show of the
    # shop (kingavis.reviews.publication, one listener): the public API's cache is keyed on it.
    public_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    secrets: Mapped[list[ShopSecret]] = relationship(
        back_populates="shop", cascade="all, delete-orphan", order_by="ShopSecret.id"
    )
    rules: Mapped[list[InvitationRule]] = relationship(
        back_populates="shop", cascade="all, delete-orphan", order_by="InvitationRule.id"
    )
    # The merchant's own review-request email, per language (kingavis.shops.email_design). The
    # sending path loads them with the request in one query (delivery.jobs._load).
    email_designs: Mapped[list[EmailDesign]] = relationship(
        back_populates="shop", cascade="all, delete-orphan", order_by="EmailDesign.language"
    )

    @property
    def active_rule(self) -> InvitationRule | None:
        return next((r for r in self.rules if r.is_active), None)

    def __repr__(self) -> str:
        return f"<Shop {self.key} {self.name!r}>"


class ShopSecret(db.Model):
    """A webhook signing secret. During a rotation the old one keeps working until expires_at."""

    __tablename__ = "shop_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    shop: Mapped[Shop] = relationship(back_populates="secrets")

    def __repr__(self) -> str:  # never show the secret itself
        return f"<ShopSecret {self.id} shop={self.shop_id}>"


class EmailDesign(db.Model):
    """A shop's customisation of the review-request email in one language.

    Every column left NULL keeps King-Avis's default: the shop's name as sender name, the
    default subject and introduction, no logo, the default colour.
    """

    __tablename__ = "email_designs"
    __table_args__ = (UniqueConstraint("shop_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    sender_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    intro: Mapped[str | None] = mapped_column(Text, nullable=True)
    logo_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    brand_colour: Mapped[str | None] = mapped_column(String(7), nullable=True)
    # The shop's own site (https), linked from the public review page with the logo.
    shop_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    shop: Mapped[Shop] = relationship(back_populates="email_designs")


class InvitationRule(db.Model):
    """When to ask: trigger statuses, a delay, an optional send hour. One active per shop."""

    __tablename__ = "invitation_rules"
    __table_args__ = (
        # At most one active rule per shop, enforced by the database.
        Index(
            "uq_invitation_rules_active_per_shop",
            "shop_id",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    trigger_status_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    delay_days: Mapped[int] = mapped_column(Integer, default=10)
    send_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    shop: Mapped[Shop] = relationship(back_populates="rules")


class ShopStatus(db.Model):
    """An order status a shop has sent us (or the preset's), with its name and flags."""

    __tablename__ = "shop_statuses"
    __table_args__ = (UniqueConstraint("shop_id", "status_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
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
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
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
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
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
    # When the customer's personal data was removed from this order (kingavis.privacy.personal_data).
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
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
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
        Index(
            "ix_review_requests_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('scheduled', 'sending')"),
            sqlite_where=text("state IN ('scheduled', 'sending')"),
        ),
        Index("ix_review_requests_shop_email_hash", "shop_id", "customer_email_hash"),
        Index("ix_review_requests_shop_state_due", "shop_id", "state", "due_at"),
        Index(
            "ix_review_requests_reminder_due",
            "reminder_due_at",
            postgresql_where=text("reminder_sent_at IS NULL AND reminder_due_at IS NOT NULL"),
            sqlite_where=text("reminder_sent_at IS NULL AND reminder_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), unique=True
    )
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation_rules.id", ondelete="SET NULL"), nullable=True
    )
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
        String(64), default=_hash_default("shop_id", "customer_email_normalized")
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
    review_request_id: Mapped[int] = mapped_column(
        ForeignKey("review_requests.id", ondelete="CASCADE"), index=True
    )
    order_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_events.id", ondelete="SET NULL"), nullable=True
    )
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


class Unsubscription(db.Model):
    """An address that used the unsubscribe link. Looked up by its keyed hash; the address
    itself is removed when the customer's data is erased, the hash stays (docs/personal-data.md)."""

    __tablename__ = "unsubscriptions"
    __table_args__ = (UniqueConstraint("shop_id", "email_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email_normalized: Mapped[str | None] = mapped_column(String(320), nullable=True)
    email_hash: Mapped[str] = mapped_column(
        String(64), default=_hash_default("shop_id", "email_normalized")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(db.Model):
    """A verified review: tied to a real order through its review request.

    A shop review has ``product_id`` NULL (one per request); a product review names the
    product (one per request and product) and keeps the product's details as the order's
    items gave them, for its page, its JSON-LD and the Google feed (docs/product-reviews.md).
    """

    __tablename__ = "reviews"
    __table_args__ = (
        # The public page and API: a shop's published reviews, newest first.
        Index("ix_reviews_shop_status_published", "shop_id", "status", "published_at"),
        # A product's published reviews (its page, API and the feed).
        Index("ix_reviews_shop_product_status", "shop_id", "product_id", "status", "published_at"),
        Index("uq_reviews_shop_review_per_request", "review_request_id", unique=True,
              sqlite_where=text("product_id IS NULL"), postgresql_where=text("product_id IS NULL")),
        Index("uq_reviews_product_review_per_request", "review_request_id", "product_id",
              unique=True, sqlite_where=text("product_id IS NOT NULL"),
              postgresql_where=text("product_id IS NOT NULL")),
        # The rating summary (count by rating) and the pages sorted by rating, read from the
        # index alone; the back-office's list, newest first (docs/performance.md).
        Index("ix_reviews_shop_status_rating", "shop_id", "status", "rating", "published_at"),
        Index("ix_reviews_shop_created", "shop_id", "created_at", "id"),
        Index("ix_reviews_products_by_shop", "shop_id", "status", "published_at",
              sqlite_where=text("product_id IS NOT NULL"),
              postgresql_where=text("product_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    review_request_id: Mapped[int] = mapped_column(
        ForeignKey("review_requests.id", ondelete="CASCADE")
    )
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Publication (docs/publication.md): a ReviewState; published_at is set when it first goes public.
    status: Mapped[str] = mapped_column(
        String(16), default=ReviewState.PUBLISHED.value, server_default=ReviewState.PUBLISHED.value
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The state the author withdrew it from: a restore within RESTORE_DAYS returns it there
    # (None once restored, erased, or withdrawn for another reason).
    withdrawn_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # When the author of a rejected review sent a corrected comment (allowed once).
    resubmitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The merchant's one public reply, editable.
    reply_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reply_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why an operator rejected it: a code of kingavis.reviews.publication.REJECTION_REASONS.
    rejection_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The shop's review.created callback: pending / delivered / failed (None: no callback set).
    callback_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    callback_last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The author's public name (first name + last-name initial), kept here when the order's
    # names are removed by retention so a published review still shows it (docs/publication.md, docs/personal-data.md).
    author_display: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Product reviews only (None for a shop review): the product as the order's items said.
    product_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    product_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    product_sku: Mapped[str | None] = mapped_column(String(64), nullable=True)
    product_gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)
    product_mpn: Mapped[str | None] = mapped_column(String(70), nullable=True)
    product_brand: Mapped[str | None] = mapped_column(String(70), nullable=True)
    product_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    product_image_url: Mapped[str | None] = mapped_column(String(500), nullable=True)

    order: Mapped[Order] = relationship()
    review_request: Mapped[ReviewRequest] = relationship()

    @property
    def is_product_review(self) -> bool:
        return self.product_id is not None


user_shops = db.Table(
    "user_shops",
    db.Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    db.Column("shop_id", ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True),
)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Back-office language (fr by default, en available).
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # A King-Avis operator (moderation, docs/publication.md) rather than a shop's merchant.
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    shops: Mapped[list[Shop]] = relationship(secondary=user_shops, order_by="Shop.id")

    # Flask-Login protocol
    is_active = True
    is_anonymous = False
    is_authenticated = True

    def get_id(self) -> str:
        return str(self.id)


class ReviewReport(db.Model):
    """A merchant's report of a review (docs/publication.md). The review stays published until an
    operator decides: ``resolution`` "upheld" (the review was rejected) or "dismissed".
    At most one open report (``resolved_at`` NULL) per review, enforced by the database."""

    __tablename__ = "review_reports"
    __table_args__ = (
        Index(
            "uq_review_reports_open_per_review",
            "review_id",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    # A reader's report from the public page: a code of the published rejection reasons and the
    # address the operator answers (None for a merchant's report).
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reporter_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    reported_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    review: Mapped[Review] = relationship()


class OutgoingState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"  # no longer to be sent (e.g. the review was withdrawn meanwhile)


class OutgoingMessage(db.Model):
    """A message about a review waiting to go out: an email to its author or an event on the
    shop's signed callback. Written in the same transaction as the change it tells of; the
    dispatcher tick claims it with a lease (``next_attempt_at``), like a review request, so
    nothing is lost if a worker dies and nothing is sent twice."""

    __tablename__ = "outgoing_messages"
    __table_args__ = (
        Index(
            "ix_outgoing_messages_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'sending')"),
            sqlite_where=text("state IN ('pending', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    # "email" (to the review's author) or "callback" (the shop's callback URL).
    channel: Mapped[str] = mapped_column(String(16))
    # email: published / rejected / reply; callback: review.published / review.withdrawn / review.replied.
    kind: Mapped[str] = mapped_column(String(32))
    # A rejection reason code, for the email that tells it.
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=OutgoingState.PENDING.value)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    review: Mapped[Review] = relationship()


class AuditLog(db.Model):
    """Who did what, when, in the back-office."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_shop_created", "shop_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    actor_email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Erasure(db.Model):
    """One erasure of a customer's data in a shop (docs/personal-data.md): what was done, and the answer
    given, replayed unchanged for the same ``webhook_id``. Holds the address's keyed hash only."""

    __tablename__ = "erasures"
    __table_args__ = (UniqueConstraint("shop_id", "webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    # The erasure webhook's id; None for the command line and the back-office.
    webhook_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # webhook, cli, back_office
    email_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Deliverability: bounces, complaints, suppressed addresses (docs/deliverability.md) -------


class Suppression(db.Model):
    """An address of a shop that must not be emailed again: it hard-bounced (``bounced``) or
    its owner complained (``complained``). Looked up by its keyed hash, like an unsubscription;
    the address is removed on erasure, the hash stays (docs/personal-data.md)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("shop_id", "email_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email_normalized: Mapped[str | None] = mapped_column(String(320), nullable=True)
    email_hash: Mapped[str] = mapped_column(
        String(64), default=_hash_default("shop_id", "email_normalized")
    )
    reason: Mapped[str] = mapped_column(String(32))
    # The status the report gave (e.g. "5.1.1"), or the feedback type of a complaint.
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    review_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_requests.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryReport(db.Model):
    """One bounce or complaint received about one of a shop's emails: what the rates and the
    "3 temporary failures within 30 days" rule count. ``kind``: permanent, temporary, complaint.
    ``report_key`` keeps a report delivered twice from counting twice."""

    __tablename__ = "delivery_reports"
    __table_args__ = (
        UniqueConstraint("report_key"),
        Index("ix_delivery_reports_shop_received", "shop_id", "received_at"),
        Index("ix_delivery_reports_shop_hash", "shop_id", "email_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    review_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_requests.id", ondelete="SET NULL"), nullable=True
    )
    email_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    report_key: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundMessage(db.Model):
    """A message received at the bounce domain that was not recognised (or named no message
    of ours): kept for the operator, never acted on."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_received", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    why: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    # The first bytes of the message, as received.
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
