"""A review's publication state: the one function that changes it and writes its timeline row.

Every caller — the questionnaire, the author's withdrawal, an operator's moderation, erasure of
the customer's data — goes through ``change_review_state`` so that a review's status, its dates
and the order timeline never disagree. Nothing here looks at the rating: no review is held
back, hidden or ordered because of it (CONTRACT 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .extensions import db
from .models import RequestDecision, Review, ReviewRequest, ReviewState, utcnow
from .notes import NoteCode

# Which state a review may move to from which: the author may withdraw at any time before
# withdrawal; an operator publishes or rejects a pending review and may reject a published one
# after a report; a withdrawn review is final (its text may be gone).
ALLOWED: dict[ReviewState, frozenset[ReviewState]] = {
    ReviewState.PENDING: frozenset({ReviewState.PUBLISHED, ReviewState.REJECTED, ReviewState.WITHDRAWN}),
    ReviewState.PUBLISHED: frozenset({ReviewState.REJECTED, ReviewState.WITHDRAWN}),
    ReviewState.REJECTED: frozenset({ReviewState.PUBLISHED, ReviewState.WITHDRAWN}),
    ReviewState.WITHDRAWN: frozenset(),
}

_NOTES = {
    ReviewState.PENDING: NoteCode.REVIEW_PENDING,
    ReviewState.PUBLISHED: NoteCode.REVIEW_PUBLISHED,
    ReviewState.REJECTED: NoteCode.REVIEW_REJECTED,
    ReviewState.WITHDRAWN: NoteCode.REVIEW_WITHDRAWN,
}


class ReviewTransitionError(ValueError):
    """The review cannot move to that state from the one it is in."""


def transition_allowed(current: ReviewState, target: ReviewState) -> bool:
    """Whether a review in ``current`` may move to ``target`` (see ``ALLOWED``). Staying in the
    same state is not a transition: callers treat it as already done (idempotent)."""
    return target in ALLOWED[current]


def change_review_state(
    review: Review,
    target: ReviewState,
    *,
    actor: str,
    reason: str | None = None,
    note_args: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Move ``review`` to ``target``, set its dates and add the order-timeline row. Not committed.

    Returns False (and changes nothing) when the review already is in ``target``, so a repeated
    withdrawal or decision is harmless. Raises ReviewTransitionError for a move ``ALLOWED``
    forbids. ``published_at`` is the first publication's time and is kept if an operator
    re-publishes; ``withdrawn_at`` is set on withdrawal.
    """
    now = now or utcnow()
    current = ReviewState(review.status)
    if current == target:
        return False
    if not transition_allowed(current, target):
        raise ReviewTransitionError(f"a {current.value} review cannot become {target.value}")
    review.status = target.value
    if target == ReviewState.PUBLISHED and review.published_at is None:
        review.published_at = now
    if target == ReviewState.WITHDRAWN:
        review.withdrawn_at = now
    args: dict[str, Any] = {"rating": review.rating, "reason": reason or ""}
    args.update(note_args or {})
    request = db.session.get(ReviewRequest, review.review_request_id)
    db.session.add(
        RequestDecision(
            review_request_id=review.review_request_id,
            state=request.state if request is not None else "sent",
            reason=request.reason if request is not None else None,
            due_at=request.due_at if request is not None else None,
            actor=actor,
            note_code=_NOTES[target],
            note_args=args,
            created_at=now,
        )
    )
    return True
