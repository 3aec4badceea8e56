"""Product reviews: what the public sees of one product's reviews.

A product review is a row of ``reviews`` with a ``product_id`` (docs/product-reviews.md): it is
stored by the questionnaire with the shop review, and moderated, replied to, reported,
withdrawn and erased by the same functions as a shop review. This module holds what only
products have: a product's public summary and listing, and its schema.org ``Product``
JSON-LD. How many of an order's products the questionnaire asks about is a shop setting
(``kingavis.shops.settings.set_product_review_count``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import Review, ReviewState
from kingavis.reviews.public import (
    PublicReview,
    RatingSummary,
    public_url,
    rating_summary,
    review_jsonld,
)

MAX_PRODUCT_ID = 64
# What a product id in a URL may be: what the webhook accepts (1 to 64 characters, no control
# character), without a space or "/" (a path segment cannot hold one).
_PRODUCT_ID = re.compile(r"[^\x00-\x20\x7f-\x9f/]{1,64}")


def valid_product_id(product_id: str) -> bool:
    """Whether ``product_id`` can name a product in a public URL (never queried otherwise)."""
    return bool(_PRODUCT_ID.fullmatch(product_id or ""))


@dataclass(frozen=True)
class ProductInfo:
    """A product as the shop describes it: an order's item as the questionnaire shows it and a
    product review keeps it, or a product as its latest published review describes it (only
    the id when it has none)."""

    id: str
    name: str | None = None
    sku: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    brand: str | None = None
    url: str | None = None
    image_url: str | None = None


def product_info(shop_id: int, product_id: str) -> ProductInfo:
    """The product's name, identifiers and addresses from its latest published review; only
    the id when it has none (an unknown product still answers, with no reviews)."""
    row = db.session.execute(
        select(Review.product_name, Review.product_sku, Review.product_gtin, Review.product_mpn,
               Review.product_brand, Review.product_url, Review.product_image_url)
        .where(Review.shop_id == shop_id, Review.product_id == product_id,
               Review.status == ReviewState.PUBLISHED.value)
        .order_by(Review.published_at.desc(), Review.id.desc()).limit(1)
    ).first()
    if row is None:
        return ProductInfo(id=product_id)
    return ProductInfo(product_id, *row)


def product_page_url(shop: Any, product_id: str) -> str:
    """The product's public review page: the shop's page + /produits/<id> (percent-encoded)."""
    return f"{public_url(shop)}/produits/{quote(product_id, safe='')}"


def product_summary(shop_id: int, product_id: str) -> RatingSummary:
    return rating_summary(shop_id, product_id)


def product_jsonld(info: ProductInfo, summary: RatingSummary, reviews: list[PublicReview],
                   *, page_url: str, anonymous: str) -> dict[str, Any] | None:
    """schema.org ``Product`` with ``aggregateRating`` and the given reviews (name, sku, gtin,
    brand as the shop sent them); None without a published review, since a rating of nothing
    must not be marked up. ``anonymous``: the author shown when a review has no name."""
    if not summary.count:
        return None
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": info.name or info.id,
        "url": page_url,
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": summary.average,
            "reviewCount": summary.count,
            "bestRating": 5,
            "worstRating": 1,
        },
    }
    if info.sku:
        data["sku"] = info.sku
    if info.gtin:
        data["gtin"] = info.gtin
    if info.mpn:
        data["mpn"] = info.mpn
    if info.brand:
        data["brand"] = {"@type": "Brand", "name": info.brand}
    if info.image_url:
        data["image"] = info.image_url
    data["review"] = [review_jsonld(review, anonymous) for review in reviews]
    return data


@dataclass(frozen=True)
class ProductStats:
    """A product of the shop with reviews, for the back-office: its name and image as its
    latest review gave them, and its published reviews' count and average (one decimal)."""

    id: str
    name: str | None
    image_url: str | None
    count: int
    average: float | None


def product_stats(shop_id: int) -> list[ProductStats]:
    """Every product of the shop that has a review (in any state), most published first; the
    count and average are over published reviews only, as the public sees them."""
    published = Review.status == ReviewState.PUBLISHED.value
    rows = db.session.execute(
        select(Review.product_id, func.max(Review.product_name), func.max(Review.product_image_url),
               func.count(Review.id).filter(published),
               func.sum(Review.rating).filter(published))
        .where(Review.shop_id == shop_id, Review.product_id.is_not(None))
        .group_by(Review.product_id)
    ).all()
    found = [
        ProductStats(id=pid, name=name, image_url=image, count=count or 0,
                     average=float((Decimal(total) / Decimal(count)).quantize(
                         Decimal("0.1"), ROUND_HALF_UP)) if count else None)
        for pid, name, image, count, total in rows
    ]
    return sorted(found, key=lambda p: (-p.count, (p.name or p.id).lower(), p.id))
