"""Reviews, and the reports readers and merchants make about them (docs/publication.md)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kingavis.extensions import db
from kingavis.models.columns import (
    UTCDateTime,
    at_most_one,
    cleared_with,
    deleted_with,
    partial_index,
    utcnow,
)
from kingavis.models.orders import Order, ReviewRequest


class ReviewState(enum.StrEnum):
    """A review's publication state (docs/publication.md). Only ``published`` reviews are shown."""

    PENDING = "pending"
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


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
        # A page of them in its own order (newest first, ties by id), read from the index
        # without a sort however many share a publication time: the shop's reviews, and a
        # product's (its page, API and the feed).
        partial_index("ix_reviews_shop_page", "shop_id", "status", "published_at", "id",
                      where="product_id IS NULL"),
        Index("ix_reviews_shop_product_status", "shop_id", "product_id", "status", "published_at",
              "id"),
        at_most_one("uq_reviews_shop_review_per_request", "review_request_id",
                    where="product_id IS NULL"),
        at_most_one("uq_reviews_product_review_per_request", "review_request_id", "product_id",
                    where="product_id IS NOT NULL"),
        # The rating summary (count by rating) and the pages sorted by rating, read from the
        # index alone; the back-office's list, newest first (docs/performance.md).
        Index("ix_reviews_shop_status_rating", "shop_id", "status", "rating", "published_at"),
        Index("ix_reviews_shop_created", "shop_id", "created_at", "id"),
        partial_index("ix_reviews_products_by_shop", "shop_id", "status", "published_at",
                      where="product_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    order_id: Mapped[int] = deleted_with("orders")
    review_request_id: Mapped[int] = deleted_with("review_requests")
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


class ReviewReport(db.Model):
    """A merchant's report of a review (docs/publication.md). The review stays published until an
    operator decides: ``resolution`` "upheld" (the review was rejected) or "dismissed".
    At most one open report (``resolved_at`` NULL) per review, enforced by the database."""

    __tablename__ = "review_reports"
    __table_args__ = (
        at_most_one("uq_review_reports_open_per_review", "review_id", where="resolved_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = deleted_with("reviews", index=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    reason: Mapped[str] = mapped_column(Text)
    # A reader's report from the public page: a code of the published rejection reasons and the
    # address the operator answers (None for a merchant's report).
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reporter_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    reported_by_id: Mapped[int | None] = cleared_with("users")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resolved_by_id: Mapped[int | None] = cleared_with("users")

    review: Mapped[Review] = relationship()
