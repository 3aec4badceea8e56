"""A review's publication state changes in one function that also writes the order timeline."""

from __future__ import annotations

import pytest
from delivery_helpers import schedule
from factories import make_shop
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import RequestDecision, Review, ReviewRequest, ReviewState
from kingavis.review_requests.notes import describe_note
from kingavis.reviews.publication import (
    ReviewTransitionError,
    change_review_state,
    transition_allowed,
)
from kingavis.reviews.questionnaire import submit_review


def timeline(request_id: int) -> list[str]:
    rows = db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id)
    ).scalars()
    with force_locale("en"):
        return [describe_note(d) for d in rows]


@pytest.fixture
def review(app: Flask) -> Review:
    shop = make_shop()[0]
    request_id = schedule(shop, "2001")
    assert tick().sent == 1
    return submit_review(db.session.get(ReviewRequest, request_id), 2, "Colis abîmé.")


def test_a_submitted_review_is_published_at_once_and_on_the_timeline(review: Review) -> None:
    assert review.status == ReviewState.PUBLISHED.value
    assert review.published_at == review.created_at
    assert timeline(review.review_request_id)[-1] == "review published (2/5)"


def test_withdrawal_is_recorded_once_and_is_final(review: Review) -> None:
    assert change_review_state(review, ReviewState.WITHDRAWN, actor="customer", reason="by the author")
    db.session.commit()
    # Withdrawing again changes nothing and writes nothing.
    assert not change_review_state(review, ReviewState.WITHDRAWN, actor="customer")
    assert review.status == "withdrawn" and review.withdrawn_at is not None
    notes = timeline(review.review_request_id)
    assert notes.count("review withdrawn: by the author") == 1
    with pytest.raises(ReviewTransitionError):
        change_review_state(review, ReviewState.PUBLISHED, actor="operator@example.com")


def test_allowed_moves() -> None:
    # Moves depend on the state alone: nothing a review says or rates can open or close one.
    for current in ReviewState:
        for target in ReviewState:
            assert transition_allowed(current, target) == (target in {
                ReviewState.PENDING: {"published", "rejected", "withdrawn"},
                ReviewState.PUBLISHED: {"rejected", "withdrawn"},
                ReviewState.REJECTED: {"published", "pending", "withdrawn"},
                # Only back to the state the author withdrew it from (change_review_state).
                ReviewState.WITHDRAWN: {"published", "pending", "rejected"},
            }[current])
