"""A shop's slug: the last part of its public page's address (docs/publication.md)."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import Shop

MAX_SLUG_CHARS = 80
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """The URL-safe ASCII form of a shop's name (docs/publication.md): accents dropped ("Boutique Zoë" →
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


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def shop_by_slug(slug: str) -> Shop | None:
    """The shop whose public slug this is; None for anything a slug cannot be (never queried:
    a NUL or a lone surrogate would not even reach the database)."""
    if not slug or len(slug) > MAX_SLUG_CHARS or not _SLUG.fullmatch(slug):
        return None
    return db.session.execute(select(Shop).where(Shop.slug == slug)).scalar_one_or_none()
