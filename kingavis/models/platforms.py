"""Tables of the platform webhooks (docs/platforms.md): the delivery log and the data requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kingavis.extensions import db
from kingavis.models.columns import UTCDateTime, deleted_with, utcnow


class PlatformDelivery(db.Model):
    """One delivery a platform made to the shop's endpoint, and the verdict it got.

    The merchant's "check" on the Identifiants page reads the last ones. No personal data:
    the topic, the platform's delivery id, the order id, the HTTP status, the verdict (an
    outcome or a problem type) and, for the privacy topics, the answer sent (counts only),
    which a retry of the same delivery gets again. Each shop keeps its last
    ``kingavis.platforms.service.DELIVERY_LOG_SIZE`` rows.
    """

    __tablename__ = "platform_deliveries"
    __table_args__ = (Index("ix_platform_deliveries_shop_id_id", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops")
    platform: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status_code: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataRequest(db.Model):
    """A customer's request for their data, sent by Shopify (``customers/data_request``).

    The merchant finds it on the Identifiants page and downloads the export
    (``customers export``'s document) from there, then marks it done (the row goes). The
    address is personal data: erasing the customer deletes the row (kingavis.personal_data).
    """

    __tablename__ = "platform_data_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    email: Mapped[str] = mapped_column(String(320))
    email_hash: Mapped[str] = mapped_column(String(64))
    platform_request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
