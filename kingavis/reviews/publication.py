"""A review's publication state: the one function that changes it and writes its timeline row.

Every caller — the questionnaire, the author's withdrawal, an operator's moderation, erasure of
the customer's data — goes through ``change_review_state`` so that a review's status, its dates
and the order timeline never disagree. Nothing here looks at the rating: no review is held
back, hidden or ordered because of it (docs/publication.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import force_locale, lazy_gettext
from sqlalchemy import bindparam, event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from kingavis.extensions import db
from kingavis.models import (
    OutgoingMessage,
    OutgoingState,
    RequestDecision,
    Review,
    ReviewRequest,
    ReviewState,
    Shop,
    utcnow,
)
from kingavis.review_requests.lifecycle import decision_row
from kingavis.review_requests.notes import VALUE_LABELS, NoteCode

# Why an operator may refuse a review: the fixed, published list (docs/publication.md), shown on the
# charter, in the moderation queue and in the email to the author. Codes are stored
# (Review.rejection_reason, the timeline) and never change; labels are French msgids with an
# English translation (``rejection_label`` words one in a given language).
REJECTION_REASONS: dict[str, Any] = {
    "personal_data": lazy_gettext(
        "données personnelles (adresse email, numéro de téléphone, adresse postale…)"),
    "insulting": lazy_gettext("propos injurieux, diffamatoires, discriminatoires ou menaçants"),
    "off_topic": lazy_gettext("hors sujet : l'avis ne porte pas sur l'expérience de consommation"),
    "advertising": lazy_gettext("publicité ou lien vers un autre site"),
    "conflict_of_interest": lazy_gettext(
        "conflit d'intérêts : l'auteur n'est pas le client ou agit pour un tiers"),
    "unintelligible": lazy_gettext("texte incompréhensible"),
}
# How the author's own withdrawal reads on the timeline ("avis retiré : par son auteur").
WITHDRAWN_BY_AUTHOR = "author"

# The timeline words these codes in the reader's language (kingavis.review_requests.notes).
VALUE_LABELS["reason"].update(REJECTION_REASONS)
VALUE_LABELS["reason"][WITHDRAWN_BY_AUTHOR] = lazy_gettext("par son auteur")


def rejection_label(code: str, lang: str = "fr") -> str:
    """The label of a rejection reason in ``lang`` ("fr" or "en"); the code itself if unknown."""
    label = REJECTION_REASONS.get(code)
    if label is None:
        return code
    with force_locale(lang):
        return str(label)

# Events on the shop's signed callback (docs/publication.md, "Callback events").
CALLBACK_CREATED = "review.created"
CALLBACK_PUBLISHED = "review.published"
CALLBACK_WITHDRAWN = "review.withdrawn"
CALLBACK_REPLIED = "review.replied"
# Emails to a review's author.
EMAIL_PUBLISHED = "published"
EMAIL_REJECTED = "rejected"
EMAIL_REPLY = "reply"

# Which state a review may move to from which: the author may withdraw at any time before
# withdrawal and restore within RESTORE_DAYS (back to the state it had); an operator publishes or
# rejects a pending review and may reject a published one after a report; the author of a
# rejected review may send a corrected comment once (back to moderation). A review withdrawn
# for another reason (erasure) is final: its text is gone (``withdrawn_from`` is None).
ALLOWED: dict[ReviewState, frozenset[ReviewState]] = {
    ReviewState.PENDING: frozenset({ReviewState.PUBLISHED, ReviewState.REJECTED, ReviewState.WITHDRAWN}),
    ReviewState.PUBLISHED: frozenset({ReviewState.REJECTED, ReviewState.WITHDRAWN}),
    ReviewState.REJECTED: frozenset({ReviewState.PUBLISHED, ReviewState.PENDING, ReviewState.WITHDRAWN}),
    ReviewState.WITHDRAWN: frozenset({ReviewState.PUBLISHED, ReviewState.PENDING, ReviewState.REJECTED}),
}
# How long the author may restore a withdrawn review from their link (docs/withdrawal.md).
RESTORE_DAYS = 30

_NOTES = {
    ReviewState.PENDING: NoteCode.REVIEW_PENDING,
    ReviewState.PUBLISHED: NoteCode.REVIEW_PUBLISHED,
    ReviewState.REJECTED: NoteCode.REVIEW_REJECTED,
    ReviewState.WITHDRAWN: NoteCode.REVIEW_WITHDRAWN,
}


class ReviewTransitionError(ValueError):
    """The review cannot move to that state from the one it is in."""


# --- The public version -----------------------------------------------------------------------
#
# ``shops.public_version`` goes up by one in the transaction of every change of what the public
# answers show of a shop: a review written, published, replied to, withdrawn, rejected, erased
# or deleted, or the shop's name, address or language changed. Every worker compares it with
# the version its cached answers were made from on each public request (kingavis/api/cache.py),
# so a change shows in every process on the very next request (docs/publication.md). It is
# written here and nowhere else: one listener on every flush (``follow_public_changes``),
# whoever the writer is (this module's ``change_review_state``, a reply, erasure in
# kingavis/privacy/personal_data.py).

_shops = Shop.__table__
_PUBLIC_SHOP_COLUMNS = ("name", "slug", "language")
_BUMP_PUBLIC = (
    _shops.update()
    .where(_shops.c.id.in_(bindparam("p_ids", expanding=True)))
    .values(public_version=_shops.c.public_version + 1)
)
_BUMP_ALL_PUBLIC = _shops.update().values(public_version=_shops.c.public_version + 1)
# Where a session notes the shops whose public version it bumped (None: every shop), so that
# the process forgets what it knew of them when the transaction commits (kingavis/api/versions.py).
CHANGED_SHOPS = "kingavis_public_changed_shops"


def _publicly_changed_shops(session: Session) -> set[int | None]:
    """The shops whose public answers this flush changed; None stands for a shop that cannot be
    told. Reads only what the objects already hold (never a lazy load: a deleted row's
    attributes may be expired, and loading them here would break the flush)."""
    ids: set[int | None] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Review):
            if obj not in session.dirty or session.is_modified(obj, include_collections=False):
                ids.add(inspect(obj).dict.get("shop_id"))
        elif isinstance(obj, Shop) and obj not in session.new:
            state = inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in _PUBLIC_SHOP_COLUMNS):
                ids.add(state.dict.get("id"))
    return ids


def follow_public_changes() -> None:
    """Keep ``public_version`` up to date from now on, in this process (every app does it when
    it starts: kingavis/api/cache.py). Idempotent."""
    if not event.contains(Session, "after_flush", _bump_public_version):
        event.listen(Session, "after_flush", _bump_public_version)


def _bump_public_version(session: Session, _flush_context: UOWTransaction) -> None:
    # new, dirty and deleted still hold what was just flushed.
    ids = _publicly_changed_shops(session)
    if ids:
        session.info.setdefault(CHANGED_SHOPS, set()).update(ids)
    if None in ids:  # rare (a review deleted with its attributes expired): every shop
        session.connection().execute(_BUMP_ALL_PUBLIC)
    elif ids:
        session.connection().execute(_BUMP_PUBLIC, {"p_ids": sorted(ids)})  # type: ignore[type-var]


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
    note_code: NoteCode | None = None,
    now: datetime | None = None,
    notify_author: bool = False,
) -> bool:
    """Move ``review`` to ``target``, set its dates and add the order-timeline row. Not committed.

    Returns False (and changes nothing) when the review already is in ``target``, so a repeated
    withdrawal or decision is harmless. Raises ReviewTransitionError for a move ``ALLOWED``
    forbids. ``published_at`` is the first publication's time and is kept if an operator
    re-publishes; ``withdrawn_at`` is set on withdrawal; a rejection keeps its ``reason`` code
    in ``rejection_reason``.

    In the same transaction it queues what the change must tell (``OutgoingMessage`` rows, sent
    by the dispatcher): a ``review.published`` or ``review.withdrawn`` event when the shop has a
    callback URL, and with ``notify_author`` (an operator's decision) the email telling the
    author the review is published or, with the reason, rejected.
    """
    now = now or utcnow()
    current = ReviewState(review.status)
    if current == target:
        return False
    if not transition_allowed(current, target):
        raise ReviewTransitionError(f"a {current.value} review cannot become {target.value}")
    if current == ReviewState.WITHDRAWN and review.withdrawn_from != target.value:
        # Only the author's restore leaves withdrawal, and only back to the state it had.
        raise ReviewTransitionError(f"this withdrawn review cannot become {target.value}")
    review.status = target.value
    if target == ReviewState.PUBLISHED and review.published_at is None:
        review.published_at = now
    if target == ReviewState.WITHDRAWN:
        review.withdrawn_at = now
        review.withdrawn_from = current.value if reason == WITHDRAWN_BY_AUTHOR else None
    elif current == ReviewState.WITHDRAWN:
        review.withdrawn_at = None
        review.withdrawn_from = None
    if target == ReviewState.REJECTED:
        review.rejection_reason = reason or review.rejection_reason
    elif target == ReviewState.PUBLISHED:
        review.rejection_reason = None
    args: dict[str, Any] = {"rating": review.rating, "reason": reason or ""}
    args.update(note_args or {})
    timeline_note(review, note_code or _NOTES[target], args, actor=actor, now=now)
    if target == ReviewState.PUBLISHED:
        queue_callback(review, CALLBACK_PUBLISHED, now=now)
    elif target == ReviewState.WITHDRAWN:
        queue_callback(review, CALLBACK_WITHDRAWN, now=now)
    if notify_author and target == ReviewState.PUBLISHED:
        queue_author_email(review, EMAIL_PUBLISHED, now=now)
    elif notify_author and target == ReviewState.REJECTED:
        queue_author_email(review, EMAIL_REJECTED, reason=reason, now=now)
    return True


def hold_for_moderation(review: Review, why: str, *, actor: str, now: datetime | None = None) -> None:
    """A new review stays ``pending`` for an operator (``why``: what the comment holds, see
    kingavis.reviews.moderation); the timeline says so. Not committed."""
    if review.status != ReviewState.PENDING.value:
        raise ReviewTransitionError(f"a {review.status} review cannot be held for moderation")
    timeline_note(review, NoteCode.REVIEW_PENDING, {"rating": review.rating, "why": why},
                  actor=actor, now=now)


def timeline_note(review: Review, code: NoteCode, args: Mapping[str, Any], *, actor: str,
                  now: datetime | None = None) -> None:
    """A row on the order timeline about ``review`` that keeps the request's state. Not committed."""
    request = db.session.get(ReviewRequest, review.review_request_id)
    db.session.add(RequestDecision(**decision_row(
        review.review_request_id,
        request.state if request is not None else "sent",
        reason=request.reason if request is not None else None,
        due_at=request.due_at if request is not None else None,
        actor=actor, note_code=code, note_args=args, now=now)))


def queue_callback(review: Review, kind: str, *, now: datetime | None = None) -> OutgoingMessage | None:
    """Queue event ``kind`` for the shop's callback, if it has one. Not committed."""
    shop = db.session.get(Shop, review.shop_id)
    if shop is None or not shop.callback_url:
        return None
    return _queue(review, "callback", kind, None, now)


def queue_review_created(review: Review, *, now: datetime | None = None) -> OutgoingMessage | None:
    """Queue the review.created event of a review just stored (flushed: it has its id), if the
    shop has a callback URL; the review shows it as pending until the outbox sends it
    (kingavis.delivery.callbacks). Not committed: it is stored with the review or not at all."""
    message = queue_callback(review, CALLBACK_CREATED, now=now)
    if message is not None:
        review.callback_state = "pending"
    return message


def queue_author_email(review: Review, kind: str, *, reason: str | None = None,
                       now: datetime | None = None) -> OutgoingMessage:
    """Queue email ``kind`` (published, rejected, reply) to the review's author. Not committed."""
    return _queue(review, "email", kind, reason, now)


def _queue(review: Review, channel: str, kind: str, reason: str | None,
           now: datetime | None) -> OutgoingMessage:
    now = now or utcnow()
    message = OutgoingMessage(
        shop_id=review.shop_id, review_id=review.id, channel=channel, kind=kind, reason=reason,
        state=OutgoingState.PENDING.value, next_attempt_at=now, attempts=0, created_at=now,
    )
    db.session.add(message)
    return message
