"""Helpers for the moderation, report, reply and withdrawal tests."""

from __future__ import annotations

from datetime import timedelta

from delivery_helpers import request_row, schedule

from kingavis.accounts.users import create_operator
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import OutgoingMessage, Review, Shop, User, utcnow
from kingavis.reviews.questionnaire import submit_review

PASSWORD = "correct horse battery"


def operator(email: str = "moderation@kingavis.test") -> User:
    return create_operator(email, PASSWORD)


def reviewed(shop: Shop, order_id: str, rating: int, comment: str | None, *,
             age_days: float = 0, **kwargs: object) -> Review:
    """An order whose invitation went out and whose customer left this review."""
    request_id = schedule(shop, order_id, reference=f"REF-{order_id}", **kwargs)
    assert tick().sent == 1
    return submit_review(request_row(request_id), str(rating), comment,
                         now=utcnow() - timedelta(days=age_days))


def fresh(review_id: int) -> Review:
    db.session.rollback()
    review = db.session.get(Review, review_id, populate_existing=True)
    assert review is not None
    db.session.expunge(review)  # keep its values, hold no transaction (SQLite: the write lock)
    db.session.rollback()
    return review


def outgoing(review_id: int | None = None) -> list[tuple[str, str, str]]:
    """(channel, kind, state) of the queued messages, oldest first."""
    db.session.rollback()
    query = db.select(OutgoingMessage).order_by(OutgoingMessage.id)
    if review_id is not None:
        query = query.where(OutgoingMessage.review_id == review_id)
    return [(m.channel, m.kind, m.state) for m in db.session.execute(query).scalars()]
