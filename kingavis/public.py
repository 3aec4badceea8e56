"""What the public sees of a shop's reviews: its slug, the author's display name, the dates.

Pure functions (plus ``unique_slug``, which reads the shops table), shared by the public review
page, the public API, the widget and the back-office so every place shows the same thing.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from .extensions import db
from .models import Order, Review, Shop

MAX_SLUG_CHARS = 80
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """The URL-safe ASCII form of a shop's name (CONTRACT 7): accents dropped ("Boutique Zoë" →
    "boutique-zoe"), anything else than letters and digits becomes one hyphen, no hyphen at
    either end, at most 70 characters so a numeric suffix still fits. A name with no letter or
    digit at all gives "boutique", so every shop gets a usable address."""
    ascii_name = (
        unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
    )
    slug = _NOT_SLUG.sub("-", ascii_name).strip("-")[:70].strip("-")
    return slug or "boutique"


def unique_slug(name: str) -> str:
    """``slugify(name)``, with ``-2``, ``-3``… appended when another shop already has it."""
    base = slugify(name)
    taken = set(
        db.session.execute(
            select(Shop.slug).where((Shop.slug == base) | Shop.slug.like(f"{base}-%"))
        ).scalars()
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def public_url(shop: Shop) -> str:
    """The shop's public review page (CONTRACT 7), under KINGAVIS_BASE_URL."""
    return f"{current_app.config['KINGAVIS_BASE_URL']}/avis/{shop.slug}"


def author_display(first_name: str | None, last_name: str | None) -> str:
    """How a review's author is shown publicly (CONTRACT 7): the first name and the initial of
    the last name ("Zoë Ł."), never the whole last name and never the email address. With no
    first name only the initial is shown; with neither, an empty string (the page then says
    "verified customer" in its own language)."""
    first = " ".join((first_name or "").split())
    last = " ".join((last_name or "").split())
    initial = f"{last[0].upper()}." if last else ""
    return " ".join(part for part in (first, initial) if part)


def review_author(review: Review, order: Order) -> str:
    """The public name of a review's author: the one kept on the review when retention removed
    the order's names (kingavis.personal_data), else made from the order's names."""
    return review.author_display or author_display(order.customer_first_name,
                                                   order.customer_last_name)


def experience_date(placed_at: datetime | None, triggered_at: datetime | None,
                    zone: str = "UTC") -> date | None:
    """The date of the customer's experience (CONTRACT 7): the order's ``placed_at``, else the
    date the order reached the trigger status, as a calendar date in the shop's time zone."""
    moment = placed_at or triggered_at
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(zone)).date()
