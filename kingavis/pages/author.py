"""``/r/<token>`` for an author who already left a review: withdraw it (after a confirmation
step that works without JavaScript), restore it within 30 days, and correct a rejected review
once (docs/withdrawal.md).

The token in the URL is the secret, as for the questionnaire: these POSTs are exempt from CSRF.
Every state change goes through ``kingavis.reviews.actions`` (and so through the one review state
writer, with its timeline row); a GET never changes anything (mail scanners fetch links).
"""

from __future__ import annotations

from flask import Response, request
from sqlalchemy import select

from kingavis.extensions import csrf, db
from kingavis.models import Review, ReviewRequest, ReviewState
from kingavis.pages import blueprint
from kingavis.pages.author_text import author_context
from kingavis.pages.questionnaire import TEXT, _date, _lang, _render, _thanks
from kingavis.pages.views import by_token
from kingavis.reviews.actions import (
    ActionError,
    restore_by_author,
    resubmit_by_author,
    withdraw_by_author,
)
from kingavis.reviews.publication import RESTORE_DAYS
from kingavis.reviews.questionnaire import MAX_COMMENT_CHARS


@blueprint.get("/r/<token>/withdraw")
@by_token
def withdraw_confirm(review_request: ReviewRequest) -> Response:
    """The confirmation step: a page whose button posts the withdrawal. Changes nothing."""
    review = review_of_request(review_request)
    if review is None or review.status == ReviewState.WITHDRAWN.value:
        return _render_withdrawn(review_request, review, 200 if review else 409)
    return _render("pages/review_withdraw_confirm.html", review_request, review=review,
                   restore_days=RESTORE_DAYS)


def review_of_request(review_request: ReviewRequest) -> Review | None:
    """The review the link's pages speak of (the order's review, the first left)."""
    return db.session.execute(
        select(Review).where(Review.review_request_id == review_request.id).order_by(Review.id)
    ).scalars().first()


def _render_withdrawn(review_request: ReviewRequest, review: Review | None, status: int) -> Response:
    if review is None:
        return _render("pages/review_withdrawn.html", review_request, status, withdrawn=False)
    lang = _lang(review_request)
    zone = review_request.shop.timezone
    return _render("pages/review_withdrawn.html", review_request, status, withdrawn=True,
                   review=review, **author_context(review, lambda d: _date(d, lang, zone)))


@blueprint.post("/r/<token>/withdraw")
@csrf.exempt
@by_token
def withdraw(review_request: ReviewRequest) -> Response:
    """The author withdraws every review of the link. Idempotent: a second POST shows the same
    page, 200, and changes nothing."""
    try:
        review = withdraw_by_author(review_request)
    except ActionError:
        return _render_withdrawn(review_request, None, 409)
    return _render_withdrawn(review_request, review, 200)


@blueprint.post("/r/<token>/restore")
@csrf.exempt
@by_token
def restore(review_request: ReviewRequest) -> Response:
    """Within 30 days of the withdrawal, the reviews return to the state they had. Idempotent."""
    try:
        review = restore_by_author(review_request)
    except ActionError as exc:
        review = review_of_request(review_request)
        return _render_withdrawn(review_request, review, 409 if exc.code == "no_review" else 410)
    return _thanks(review_request, review, restored=True)


@blueprint.post("/r/<token>/correct")
@csrf.exempt
@by_token
def correct(review_request: ReviewRequest) -> Response:
    """The author of a rejected review sends a corrected comment, once (back to moderation)."""
    comment = request.form.get("comment", "")
    try:
        review = resubmit_by_author(review_request, comment)
    except ActionError as exc:
        review = review_of_request(review_request)
        if review is None:
            return _render_withdrawn(review_request, None, 409)
        if exc.code == "invalid":
            lang = _lang(review_request)
            error = TEXT[lang]["correct_error"].format(max=MAX_COMMENT_CHARS)
            return _thanks(review_request, review, 422, correct_error=error,
                           correct_value=comment)
        return _thanks(review_request, review, 409)
    return _thanks(review_request, review, corrected=True)


__all__ = ["withdraw_confirm"]
