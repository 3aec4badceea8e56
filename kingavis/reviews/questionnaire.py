"""Verified reviews: the questionnaire's rules, "not received yet", Review Balancing — Share.

A review link ``/r/<token>`` exists only in a review-request email, so it accepts a review only
when that email went out: the request is ``sent`` (or the customer postponed it and the new
email is pending), the link has not expired (``sent_at`` + ``shop.review_link_days``) and no
review was left yet. One shop review per request, enforced by the database (a unique index on
``review_request_id`` for shop reviews): a double click stores one review and the second gets
``AlreadyReviewed``.

The same submission may rate some of the order's products (``products_to_review``: the order's
items, distinct by product id, at most the shop's ``product_review_count``); each product review
is a row of the same table with its ``product_id``, under the same moderation rule
(docs/product-reviews.md).

Every function here commits its own change, or raises and changes nothing. The third-party
review page itself is one of the shop's settings (``kingavis.shops.collection_settings``).
"""

from __future__ import annotations

import enum
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kingavis.errors import FieldErrors
from kingavis.extensions import db
from kingavis.models import Order, RequestState, Review, ReviewRequest, ReviewState, Shop, utcnow
from kingavis.review_requests import lifecycle
from kingavis.review_requests.notes import NoteCode
from kingavis.reviews.moderation import moderation_reason
from kingavis.reviews.products import ProductInfo
from kingavis.reviews.publication import (
    change_review_state,
    hold_for_moderation,
    queue_review_created,
)

log = logging.getLogger("kingavis.reviews")

MAX_COMMENT_CHARS = 5000
RATINGS = (1, 2, 3, 4, 5)
CUSTOMER = "customer"


class LinkState(enum.StrEnum):
    OPEN = "open"            # the questionnaire accepts a review
    POSTPONED = "postponed"  # "not received yet": a new email will come; a review is still welcome
    REVIEWED = "reviewed"    # a review was left
    EXPIRED = "expired"      # sent_at + review_link_days has passed
    CLOSED = "closed"        # cancelled, suppressed or failed: no review for this request
    UNKNOWN = "unknown"      # never sent: the link cannot have reached anyone


class ReviewError(Exception):
    """The review (or the click) is refused; ``state`` says why."""

    def __init__(self, state: LinkState, message: str = "") -> None:
        super().__init__(message or state.value)
        self.state = state


class InvalidReview(FieldErrors[str]):
    """Bad form input: ``errors`` maps a field name to its message (English, for logs/tests)."""


@dataclass(frozen=True)
class CleanReview:
    rating: int
    comment: str | None


def products_to_review(items: Sequence[Mapping[str, object]] | None, limit: int) -> list[ProductInfo]:
    """The products the questionnaire asks about: the order's items in the order received,
    the first of each ``product_id`` only (two sizes of one dress are one product to review),
    at most ``limit`` (the shop's setting; 0 asks about none)."""
    products: list[ProductInfo] = []
    seen: set[str] = set()
    for item in items or ():
        if len(products) >= max(limit, 0):
            break
        product_id, name = item.get("product_id"), item.get("name")
        if not isinstance(product_id, str) or not isinstance(name, str) or product_id in seen:
            continue
        seen.add(product_id)

        def text(key: str, item: Mapping[str, object] = item) -> str | None:
            value = item.get(key)
            return value if isinstance(value, str) and value else None

        products.append(ProductInfo(id=product_id, name=name, sku=text("reference"),
                                    gtin=text("gtin"), mpn=text("mpn"), brand=text("brand"),
                                    url=text("url"), image_url=text("image_url")))
    return products


def order_products(order: Order, shop: Shop) -> list[ProductInfo]:
    """``products_to_review`` for this order and its shop's setting."""
    return products_to_review(order.items, shop.product_review_count)


def clean_product_reviews(
    products: Sequence[ProductInfo], answers: Mapping[str, tuple[object, object]]
) -> dict[str, CleanReview]:
    """The product ratings given, by product id: ``answers`` maps a product id to its
    (rating, comment) as sent. A product with neither is skipped (every product is optional);
    a comment without a rating is an error, so nothing the customer wrote is lost silently.
    Ids that are not among ``products`` are ignored. Raises InvalidReview with keys
    ``product.<id>.rating`` / ``product.<id>.comment``."""
    clean: dict[str, CleanReview] = {}
    errors: dict[str, str] = {}
    for product in products:
        rating, comment = answers.get(product.id, (None, None))
        empty_rating = rating is None or (isinstance(rating, str) and not rating.strip())
        empty_comment = comment is None or (isinstance(comment, str) and not comment.strip())
        if empty_rating and empty_comment:
            continue
        try:
            clean[product.id] = clean_review(rating, comment)
        except InvalidReview as exc:
            for key, code in exc.errors.items():
                errors[f"product.{product.id}.{key}"] = code
    if errors:
        raise InvalidReview(errors)
    return clean


def review_of(request: ReviewRequest) -> Review | None:
    """The request's shop review (not its product reviews)."""
    return db.session.execute(
        select(Review).where(Review.review_request_id == request.id, Review.product_id.is_(None))
    ).scalar_one_or_none()


def product_reviews_of(request: ReviewRequest) -> list[Review]:
    """The request's product reviews, in the order they were given."""
    return list(db.session.execute(
        select(Review).where(Review.review_request_id == request.id,
                             Review.product_id.is_not(None)).order_by(Review.id)
    ).scalars())


def expires_at(request: ReviewRequest) -> datetime | None:
    if request.sent_at is None:
        return None
    return request.sent_at + timedelta(days=request.shop.review_link_days)


def _postponed(request: ReviewRequest) -> bool:
    return request.postponed_at is not None and request.state in (
        RequestState.SCHEDULED.value,
        RequestState.SENDING.value,
    )


def link_state(request: ReviewRequest, now: datetime | None = None, *,
               review: Review | None = None, check_review: bool = True) -> LinkState:
    """What the link of ``request`` allows now."""
    now = now or utcnow()
    if check_review and (review or review_of(request)) is not None:
        return LinkState.REVIEWED
    if request.sent_at is None:
        return LinkState.UNKNOWN
    if request.state in (RequestState.CANCELLED.value, RequestState.SUPPRESSED.value,
                         RequestState.FAILED.value):
        return LinkState.CLOSED
    expiry = expires_at(request)
    if expiry is not None and now >= expiry:
        return LinkState.EXPIRED
    if request.state == RequestState.SENT.value:
        return LinkState.OPEN
    if _postponed(request):
        return LinkState.POSTPONED
    return LinkState.CLOSED


def clean_review(rating: object, comment: object) -> CleanReview:
    """Validate the form fields; raises InvalidReview with one message per bad field."""
    errors: dict[str, str] = {}
    value: int | None = None
    text = rating.strip() if isinstance(rating, str) else rating
    if text in (None, ""):
        errors["rating"] = "missing"
    elif isinstance(text, str) and text in {str(r) for r in RATINGS}:
        value = int(text)
    elif isinstance(text, int) and not isinstance(text, bool) and text in RATINGS:
        value = text
    else:
        errors["rating"] = "invalid"
    cleaned: str | None = None
    if comment is not None and not isinstance(comment, str):
        errors["comment"] = "invalid"
    elif comment:
        # Browsers send line breaks as CRLF; count them once, as the page's counter does.
        body = comment.replace("\r\n", "\n").replace("\r", "\n")
        # No NUL or other control characters (PostgreSQL refuses NUL); keep tabs and newlines.
        body = "".join(
            ch for ch in body if ch in "\n\t" or unicodedata.category(ch) != "Cc"
        ).strip()
        if len(body) > MAX_COMMENT_CHARS:
            errors["comment"] = "too_long"
        cleaned = body or None
    if errors:
        raise InvalidReview(errors)
    assert value is not None
    return CleanReview(value, cleaned)


def _locked(request_id: int) -> ReviewRequest:
    """The request, re-read under a row lock (PostgreSQL; SQLite: the write transaction)."""
    row = db.session.execute(
        select(ReviewRequest)
        .where(ReviewRequest.id == request_id)
        .with_for_update(of=ReviewRequest)
        .execution_options(populate_existing=True)
    ).scalar_one()
    return row


def _store(review: Review, comment: str | None, now: datetime, *, announce: bool = False) -> None:
    """Add a new review and publish it or hold it for moderation; with ``announce`` (the shop
    review) its review.created callback is queued first, so it leaves before review.published."""
    db.session.add(review)
    db.session.flush()
    if announce:
        queue_review_created(review, now=now)
    # Published at once, unless the comment holds an email address, a phone number or a
    # link: then it waits for an operator (docs/publication.md). The rating plays no part.
    why = moderation_reason(comment)
    if why is None:
        change_review_state(review, ReviewState.PUBLISHED, actor=CUSTOMER, now=now)
    else:
        hold_for_moderation(review, why, actor=CUSTOMER, now=now)


def submit_review(request: ReviewRequest, rating: object, comment: object, *,
                  products: Mapping[str, tuple[object, object]] | None = None,
                  locale: str | None = None, now: datetime | None = None) -> Review:
    """Store the one verified shop review of ``request``, and the product reviews given with
    it (``products``: product id → (rating, comment), see ``clean_product_reviews``), in one
    transaction. Returns the shop review. Commits.

    Raises InvalidReview (bad input, shop or product), or ReviewError with REVIEWED (a review
    exists: double click or second submission), EXPIRED, CLOSED or UNKNOWN. Nothing is stored
    on error.
    """
    now = now or utcnow()
    errors: dict[str, str] = {}
    clean: CleanReview | None = None
    try:
        clean = clean_review(rating, comment)
    except InvalidReview as exc:
        errors.update(exc.errors)
    asked = order_products(request.order, request.shop) if products else []
    try:
        product_reviews = clean_product_reviews(asked, products or {})
    except InvalidReview as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidReview(errors)
    assert clean is not None
    request_id = request.id
    try:
        locked = _locked(request_id)
        state = link_state(locked, now)
        if state not in (LinkState.OPEN, LinkState.POSTPONED):
            raise ReviewError(state)
        review = Review(
            shop_id=locked.shop_id,
            order_id=locked.order_id,
            review_request_id=locked.id,
            rating=clean.rating,
            comment=clean.comment,
            locale=locale,
            created_at=now,
            status=ReviewState.PENDING.value,
        )
        _store(review, clean.comment, now, announce=True)
        for product in asked:
            given = product_reviews.get(product.id)
            if given is None:
                continue
            _store(Review(
                shop_id=locked.shop_id, order_id=locked.order_id, review_request_id=locked.id,
                rating=given.rating, comment=given.comment, locale=locale, created_at=now,
                status=ReviewState.PENDING.value, product_id=product.id,
                product_name=product.name, product_sku=product.sku, product_gtin=product.gtin,
                product_mpn=product.mpn, product_brand=product.brand, product_url=product.url,
                product_image_url=product.image_url,
            ), given.comment, now)
        if locked.state == RequestState.SCHEDULED.value:
            # Postponed, and the order arrived after all: the second email is no longer needed.
            lifecycle.transition(locked, RequestState.SENT, note_code=NoteCode.POSTPONED_EMAIL_WITHDRAWN,
                                 now=now, actor=CUSTOMER)
            locked.next_attempt_at = None
        db.session.flush()
        fields = {"review_id": review.id, "shop_id": review.shop_id,
                  "review_request_id": request_id, "rating": review.rating,
                  "product_reviews": len(product_reviews)}
        db.session.commit()
    except IntegrityError:
        # The unique shop review per request: another submission won the race.
        db.session.rollback()
        raise ReviewError(LinkState.REVIEWED) from None
    except BaseException:
        db.session.rollback()
        raise
    log.info("review stored", extra={"fields": fields})
    return review


def postpone_not_received(request: ReviewRequest, *, now: datetime | None = None) -> datetime:
    """"I have not received my order yet": send the email again in shop.postpone_days, once.

    The request goes back to ``scheduled`` with due_at = next_attempt_at = now + N days, and
    the decision shows on the order timeline (actor "customer"). Returns the new due time.
    Raises ReviewError: POSTPONED (already done once), REVIEWED, EXPIRED, CLOSED or UNKNOWN.
    """
    now = now or utcnow()
    request_id = request.id
    try:
        locked = _locked(request_id)
        if locked.postponed_at is not None:
            raise ReviewError(LinkState.POSTPONED)
        state = link_state(locked, now)
        if state is not LinkState.OPEN:
            raise ReviewError(state)
        days = locked.shop.postpone_days
        due = now + timedelta(days=days)
        locked.due_at = due
        locked.next_attempt_at = due
        locked.postponed_at = now
        lifecycle.transition(
            locked,
            RequestState.SCHEDULED,
            note_code=NoteCode.NOT_RECEIVED_YET,
            note_args={"days": days},
            now=now,
            actor=CUSTOMER,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    log.info("review request postponed by the customer",
             extra={"fields": {"review_request_id": request_id, "days": days}})
    return due


def count_share_click(request: ReviewRequest) -> str:
    """Count one click on the thank-you page's share button; the URL to send the customer to.

    Only after a review, and only when the shop has a balancing URL (else ReviewError CLOSED).
    """
    url = request.shop.balancing_url
    if not url or review_of(request) is None:
        db.session.rollback()
        raise ReviewError(LinkState.CLOSED)
    db.session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id == request.id)
        .values(share_clicks=ReviewRequest.share_clicks + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return url
