"""Unsubscriptions and erasures: what a customer asked about their data (docs/personal-data.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kingavis.extensions import db
from kingavis.models.columns import KeyedAddress, UTCDateTime, deleted_with, utcnow


class Unsubscription(KeyedAddress, db.Model):
    """An address that used the unsubscribe link. Looked up by its keyed hash; the address
    itself is removed when the customer's data is erased, the hash stays (docs/personal-data.md)."""

    __tablename__ = "unsubscriptions"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Erasure(db.Model):
    """One erasure of a customer's data in a shop (docs/personal-data.md): what was done, and the answer
    given, replayed unchanged for the same ``webhook_id``. Holds the address's keyed hash only."""

    __tablename__ = "erasures"
    __table_args__ = (UniqueConstraint("shop_id", "webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    # The erasure webhook's id; None for the command line and the back-office.
    webhook_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # webhook, cli, back_office
    email_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
