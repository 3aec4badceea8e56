"""Published reviews made the way customers make them: a sent request, then the questionnaire."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from delivery_helpers import schedule
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Review, ReviewRequest, Shop, utcnow
from kingavis.reviews.questionnaire import submit_review


def reviewed(shop: Shop, order_id: str, rating: int, comment: str | None = "Très bien.", *,
             at: datetime | None = None, **order: Any) -> Review:
    """A review left on ``order_id`` (sent by the real dispatcher), published at ``at``."""
    request_id = schedule(shop, order_id, **order)
    assert tick().sent >= 1
    request = db.session.get(ReviewRequest, request_id)
    review = submit_review(request, rating, comment, now=at or utcnow())
    return db.session.execute(select(Review).where(Review.id == review.id)).scalar_one()


def minutes_ago(n: int) -> datetime:
    return utcnow() - timedelta(minutes=n)
