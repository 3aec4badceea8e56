"""What the public sees of a shop's reviews: the author's display name, the dates.

Pure functions (a shop's slug is kingavis/shops/slugs.py), shared by the public review
page, the public API, the widget and the back-office so every place shows the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from kingavis.errors import FieldErrors
from kingavis.extensions import db
from kingavis.models import Order, Review, ReviewRequest, ReviewState, Shop
from kingavis.reviews.moderation import moderation_reason


def public_url(shop: Shop) -> str:
    """The shop's public review page (docs/publication.md), under KINGAVIS_BASE_URL."""
    return f"{current_app.config['KINGAVIS_BASE_URL']}/avis/{shop.slug}"


_DIGITS = re.compile(r"\d")


def _is_contact_data(text: str) -> bool:
    """Whether a name holds an email address, a phone number or a link: any "@", what the
    moderation rule finds in a comment (``kingavis.reviews.moderation``), or four digits (no
    name has them; a phone number written oddly still does)."""
    return (
        "@" in text
        or "\uff20" in text  # the full-width commercial at
        or moderation_reason(text) is not None
        or len(_DIGITS.findall(text)) >= 4
    )


def contact_email() -> str | None:
    """The operator's address for the charter: KINGAVIS_CONTACT_EMAIL (MAIL_FROM by default);
    None while it is a localhost address, which nobody could write to (the charter then gives
    only the report link, and the operators' back-office says so)."""
    address = str(current_app.config.get("KINGAVIS_CONTACT_EMAIL") or "")
    domain = address.rpartition("@")[2].lower()
    if not domain or domain == "localhost" or domain.endswith(".localhost"):
        return None
    return address


def author_display(first_name: str | None, last_name: str | None) -> str:
    """How a review's author is shown publicly (docs/publication.md): the first name and the initial of
    the last name ("Zoë Ł."), never the whole last name and never the email address. With no
    first name only the initial is shown; with neither, an empty string (the page then says
    "verified customer" in its own language).

    Shops do send an email address, a phone number or a web address as a first or last name
    (a form filled in the wrong field): then nothing of the name is shown, an empty string
    too, whatever the other part holds, since the initial of an address is no name either.
    This is the one function every public place uses (page, JSON-LD, API, widget, feeds).
    """
    first = " ".join((first_name or "").split())
    last = " ".join((last_name or "").split())
    if _is_contact_data(first) or _is_contact_data(last):
        return ""
    initial = f"{last[0].upper()}." if last else ""
    return " ".join(part for part in (first, initial) if part)


def review_author(review: Review, order: Order) -> str:
    """The public name of a review's author: the one kept on the review when retention removed
    the order's names (kingavis.personal_data.retention), else made from the order's names."""
    return kept_or_made_author(review.author_display, order.customer_first_name,
                               order.customer_last_name)


def kept_or_made_author(kept: str | None, first_name: str | None, last_name: str | None) -> str:
    """``review_author`` from plain column values, for queries that read no ORM objects. A kept
    name saved before names were checked for contact data is checked again here."""
    if kept:
        return "" if _is_contact_data(kept) else kept
    return author_display(first_name, last_name)


def experience_date(placed_at: datetime | None, triggered_at: datetime | None,
                    zone: str = "UTC") -> date | None:
    """The date of the customer's experience (docs/publication.md): the order's ``placed_at``, else the
    date the order reached the trigger status, as a calendar date in the shop's time zone."""
    moment = placed_at or triggered_at
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(zone)).date()


# --- Reading published reviews: one query for the public page, the API, the badge and widget --

SORTS = ("recent", "rating_desc", "rating_asc")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class ListingError(FieldErrors[str]):
    """Bad listing parameters: ``errors`` maps each parameter to a message for the caller."""


@dataclass(frozen=True)
class Listing:
    """Which published reviews to show: a page of ``per_page``, in ``sort`` order, optionally
    only those with one ``rating``."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str = "recent"
    rating: int | None = None


# The last page number asked for that is answered (an empty page past the last one); the
# OpenAPI document says the same.
MAX_PAGE = 999_999


def _whole(value: str | None, name: str, low: int, high: int,
           errors: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        errors[name] = f"must be a whole number from {low} to {high}"
        return None
    # Digits only: a long one is too large, whatever its length (never parsed in full).
    number = int(text) if len(text.lstrip("0")) <= len(str(high)) else high + 1
    if number < low or number > high:
        errors[name] = f"must be from {low} to {high}"
        return None
    return number


def parse_listing(args: Mapping[str, str], *, max_per_page: int = MAX_PER_PAGE,
                  allow_per_page: bool = True) -> Listing:
    """Read ``page``, ``per_page``, ``sort`` and ``rating`` from query parameters (docs/publication.md). Empty parameters take their default; anything else that is not understood raises
    ListingError naming each bad parameter, so a caller never silently shows another page than
    the one asked for. ``per_page`` is at most ``max_per_page``."""
    errors: dict[str, str] = {}
    # A NUL in any parameter, read here or not, is refused by name (README, Hardening).
    pairs = args.items(multi=True) if hasattr(args, "getlist") else args.items()  # type: ignore[call-arg]
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            errors[key.replace("\x00", "\ufffd")[:40]] = "must not contain a NUL character"
    args = {k: v for k, v in args.items() if k not in errors}
    page = _whole(args.get("page"), "page", 1, MAX_PAGE, errors) or 1
    per_page = DEFAULT_PER_PAGE
    if allow_per_page:
        per_page = _whole(args.get("per_page"), "per_page", 1, max_per_page, errors) or DEFAULT_PER_PAGE
    rating = _whole(args.get("rating"), "rating", 1, 5, errors)
    sort = args.get("sort") or "recent"
    if sort not in SORTS and "sort" not in errors:
        errors["sort"] = f"must be one of {', '.join(SORTS)}"
    if errors:
        raise ListingError(errors)
    return Listing(page=page, per_page=per_page, sort=sort, rating=rating)


@dataclass(frozen=True)
class RatingSummary:
    """Average (one decimal, None without reviews), count and 1–5 distribution of a shop's
    published reviews."""

    average: float | None
    count: int
    distribution: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PublicReview:
    """A published review as anyone may see it: no email address, no whole last name."""

    id: int
    rating: int
    comment: str | None
    author: str
    experience_date: date | None
    published_at: datetime
    reply_text: str | None
    reply_published_at: datetime | None


@dataclass(frozen=True)
class ReviewPage:
    reviews: list[PublicReview]
    total: int
    listing: Listing

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.listing.per_page))




def _published(shop_id: int, product_id: str | None = None) -> Any:
    """A shop's published shop reviews, or with ``product_id`` that product's published
    reviews: the two never mix in a page, a count or an average (docs/product-reviews.md)."""
    product = Review.product_id.is_(None) if product_id is None else Review.product_id == product_id
    return (Review.shop_id == shop_id) & product & (Review.status == ReviewState.PUBLISHED.value)


def rating_summary(shop_id: int, product_id: str | None = None) -> RatingSummary:
    """One GROUP BY over the shop's (or with ``product_id``, that product's) published reviews.
    Every rating counts the same way: the average is over all of them, never a chosen subset
    (docs/publication.md)."""
    rows = db.session.execute(
        select(Review.rating, func.count()).where(_published(shop_id, product_id))
        .group_by(Review.rating)
    ).all()
    distribution = {star: 0 for star in range(1, 6)}
    for rating, n in rows:
        if rating in distribution:
            distribution[rating] += n
    count = sum(distribution.values())
    total = sum(star * n for star, n in distribution.items())
    return RatingSummary(average=average_rating(total, count), count=count,
                         distribution=distribution)


def average_rating(total: int, count: int) -> float | None:
    """The one definition of an average rating, used by every page, the API, the badge and the
    statistics: the sum of the ratings of **published** reviews over their number (callers pass
    only those), rounded half up to one decimal (4.25 → 4.3) as people read averages; None when
    there is none. Pending, rejected and withdrawn reviews never count (docs/averages.md)."""
    if not count:
        return None
    return float((Decimal(total) / Decimal(count)).quantize(Decimal("0.1"), ROUND_HALF_UP))


_ORDER = {
    "recent": (Review.published_at.desc(), Review.id.desc()),
    "rating_desc": (Review.rating.desc(), Review.published_at.desc(), Review.id.desc()),
    "rating_asc": (Review.rating.asc(), Review.published_at.desc(), Review.id.desc()),
}


# What the public sees of a review, read with its order and request: one row per review.
_PUBLIC_ROW = (
    select(Review.id, Review.rating, Review.comment, Review.published_at, Review.created_at,
           Review.reply_text, Review.author_display,
           Review.reply_published_at, Order.customer_first_name, Order.customer_last_name,
           Order.placed_at, ReviewRequest.triggered_at)
    .join(Order, Order.id == Review.order_id)
    .join(ReviewRequest, ReviewRequest.id == Review.review_request_id)
)


def _public_review(row: Any, timezone: str) -> PublicReview:
    return PublicReview(
        id=row.id, rating=row.rating, comment=row.comment,
        author=kept_or_made_author(row.author_display, row.customer_first_name,
                                   row.customer_last_name),
        experience_date=experience_date(row.placed_at, row.triggered_at, timezone),
        published_at=row.published_at or row.created_at,
        reply_text=row.reply_text, reply_published_at=row.reply_published_at,
    )


def list_published(shop: Shop, listing: Listing, product_id: str | None = None, *,
                   summary: RatingSummary | None = None) -> ReviewPage:
    """One page of the shop's published reviews (with ``product_id``: that product's), newest
    first unless the reader asked for another order; a rating filter only when the reader
    asked for one. A caller that already holds the same reviews' ``summary`` passes it: the
    total is read from it instead of counting the reviews again."""
    where = _published(shop.id, product_id)
    if listing.rating is not None:
        where = where & (Review.rating == listing.rating)
    if summary is not None:
        total = summary.count if listing.rating is None else summary.distribution.get(
            listing.rating, 0)
    else:
        total = db.session.execute(
            select(func.count()).select_from(Review).where(where)).scalar_one()
    rows = db.session.execute(
        _PUBLIC_ROW.where(where)
        .order_by(*_ORDER[listing.sort])
        .limit(listing.per_page)
        .offset((listing.page - 1) * listing.per_page)
    ).all()
    return ReviewPage(reviews=[_public_review(row, shop.timezone) for row in rows],
                      total=total, listing=listing)


def published_review(shop: Shop, review_id: int) -> PublicReview | None:
    """One published review of ``shop`` as anyone may see it (its permalink), or None."""
    row = db.session.execute(
        _PUBLIC_ROW.where(_published(shop.id), Review.id == review_id)).first()
    return _public_review(row, shop.timezone) if row is not None else None


def review_jsonld(review: PublicReview, anonymous: str) -> dict[str, Any]:
    """One review as schema.org ``Review``, for a shop's and a product's JSON-LD alike;
    ``anonymous`` names an author without a name, in the page's language."""
    return {
        "@type": "Review",
        "author": {"@type": "Person", "name": review.author or anonymous},
        "datePublished": review.published_at.date().isoformat(),
        "reviewRating": {"@type": "Rating", "ratingValue": review.rating,
                         "bestRating": 5, "worstRating": 1},
        **({"reviewBody": review.comment} if review.comment else {}),
    }
