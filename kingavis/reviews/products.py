"""Product reviews: the shop's setting, and what the public sees of one product's reviews.

A product review is a row of ``reviews`` with a ``product_id`` (docs/product-reviews.md): it is
stored by the questionnaire with the shop review, and moderated, replied to, reported,
withdrawn and erased by the same functions as a shop review. This module holds what only
products have: how many of an order's products the questionnaire asks about, a product's
public summary and listing, and its schema.org ``Product`` JSON-LD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from kingavis.accounts import audit
from kingavis.extensions import db
from kingavis.models import Review, ReviewState, Shop
from kingavis.reviews.public import (
    PublicReview,
    RatingSummary,
    public_url,
    rating_summary,
    review_jsonld,
)
from kingavis.shops.service import ShopError

MIN_PRODUCT_REVIEWS, MAX_PRODUCT_REVIEWS = 0, 10
MAX_PRODUCT_ID = 64
# What a product id in a URL may be: what the webhook accepts (1 to 64 characters, no control
# character), without a space or "/" (a path segment cannot hold one).
_PRODUCT_ID = re.compile(r"[^\x00-\x20\x7f-\x9f/]{1,64}")


def validate_product_review_count(value: object) -> int:
    """A whole number from 0 (product reviews off) to 10; ShopError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShopError("product reviews must be a whole number of products")
    if not MIN_PRODUCT_REVIEWS <= value <= MAX_PRODUCT_REVIEWS:
        raise ShopError(f"product reviews must be between {MIN_PRODUCT_REVIEWS} and "
                        f"{MAX_PRODUCT_REVIEWS} products (0 turns them off)")
    return value


def set_product_review_count(shop: Shop, count: object, *, actor: audit.Actor) -> Shop:
    """How many of an order's products the questionnaire asks about (0–10, default 5, 0 = no
    product reviews). Applies to every questionnaire opened from now on. The command line and
    the back-office both come here: same check, same audit entry. Raises ShopError and changes
    nothing. Commits."""
    value = validate_product_review_count(count)
    before = shop.product_review_count
    if value != before:
        audit.record(actor, "collection.update", shop=shop, target_type="shop", target_id=shop.id,
                     details={"before": {"product_review_count": before},
                              "after": {"product_review_count": value}})
        shop.product_review_count = value
    db.session.commit()
    return shop


def valid_product_id(product_id: str) -> bool:
    """Whether ``product_id`` can name a product in a public URL (never queried otherwise)."""
    return bool(_PRODUCT_ID.fullmatch(product_id or ""))


@dataclass(frozen=True)
class ProductInfo:
    """A product as its latest published review describes it (the shop's own data)."""

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
