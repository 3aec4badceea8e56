"""A shop and what belongs to it alone: its signing secrets, its email designs, its invitation rules."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kingavis.extensions import db
from kingavis.models.columns import UTCDateTime, at_most_one, deleted_with, utcnow

# How long a customer's contact data is kept after the order's last activity (docs/personal-data.md).
DEFAULT_RETENTION_MONTHS = 24

# How many of an order's products the questionnaire asks about by default (docs/product-reviews.md).
DEFAULT_PRODUCT_REVIEW_COUNT = 5


def new_shop_key() -> str:
    return "shp_" + secrets.token_urlsafe(12)


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
    # The merchant's own review-request email, per language (kingavis.delivery.email_design). The
    # sending path loads them with the request in one query (delivery/sending.py).
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
    shop_id: Mapped[int] = deleted_with("shops", index=True)
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
    shop_id: Mapped[int] = deleted_with("shops")
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
        at_most_one("uq_invitation_rules_active_per_shop", "shop_id", where="is_active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    name: Mapped[str] = mapped_column(String(120))
    trigger_status_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    delay_days: Mapped[int] = mapped_column(Integer, default=10)
    send_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    shop: Mapped[Shop] = relationship(back_populates="rules")
