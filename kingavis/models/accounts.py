"""Back-office users, the shops they may see, and the audit log of what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kingavis.extensions import db
from kingavis.models.columns import UTCDateTime, cleared_with, deleted_with, utcnow
from kingavis.models.shops import Shop

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


class AuditLog(db.Model):
    """Who did what, when, in the back-office."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_shop_created", "shop_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = deleted_with("shops", nullable=True)
    user_id: Mapped[int | None] = cleared_with("users")
    actor_email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
