"""What goes out and what comes back: the outbox of messages about reviews, and the bounces,
complaints and suppressed addresses of docs/deliverability.md."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kingavis.extensions import db
from kingavis.models.columns import (
    KeyedAddress,
    UTCDateTime,
    cleared_with,
    deleted_with,
    partial_index,
    utcnow,
)
from kingavis.models.reviews import Review


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
        partial_index("ix_outgoing_messages_due", "next_attempt_at",
                      where="state IN ('pending', 'sending')"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = deleted_with("shops", index=True)
    review_id: Mapped[int] = deleted_with("reviews", index=True)
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


class Suppression(KeyedAddress, db.Model):
    """An address of a shop that must not be emailed again: it hard-bounced (``bounced``) or
    its owner complained (``complained``). Looked up by its keyed hash, like an unsubscription;
    the address is removed on erasure, the hash stays (docs/personal-data.md)."""

    __tablename__ = "suppressions"

    reason: Mapped[str] = mapped_column(String(32))
    # The status the report gave (e.g. "5.1.1"), or the feedback type of a complaint.
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    review_request_id: Mapped[int | None] = cleared_with("review_requests")
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
    shop_id: Mapped[int] = deleted_with("shops")
    review_request_id: Mapped[int | None] = cleared_with("review_requests")
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
