"""The Google Merchant Center product review feed of a shop (schema 2.4), built as a stream.

``GET /feeds/v1/<slug>/google-product-reviews.xml`` (docs/product-reviews.md) lists every
published product review of the shop. A shop may hold 100,000 of them and Google fetches the
whole feed each time, so nothing here loads them all: the rows come from the database in
batches (``yield_per``: a server-side cursor on PostgreSQL) and each review is written as soon
as it is read, every text escaped on its own (``xml.sax.saxutils``), in chunks of about 64 KiB.

``feed_version`` reads one aggregate row first, so an unchanged feed answers ``304`` without
reading a review.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import Order, Review, ReviewState, Shop
from kingavis.reviews.public import kept_or_made_author, public_url

SCHEMA_LOCATION = "http://www.google.com/shopping/reviews/schema/product/2.4/product_reviews.xsd"
AGGREGATOR = "King-Avis"
BATCH = 1000
CHUNK_BYTES = 64 * 1024
# Google admits a shop to product ratings from this many reviews in all.
GOOGLE_MINIMUM_REVIEWS = 50
# Characters XML 1.0 cannot carry at all, even escaped: dropped.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
ANONYMOUS = {"fr": "Client vérifié", "en": "Verified customer"}
NO_COMMENT = {"fr": "Note\u00a0: {n} sur 5, sans commentaire.",
              "en": "Rated {n} out of 5, no comment."}


def _published_products(shop_id: int) -> object:
    return ((Review.shop_id == shop_id) & Review.product_id.is_not(None)
            & (Review.status == ReviewState.PUBLISHED.value))


@dataclass(frozen=True)
class FeedVersion:
    """What the feed is made of now: its review count, how many carry a GTIN, a tag that
    changes whenever the set of reviews (or the shop's name) changes, and the last change."""

    count: int
    with_gtin: int
    etag: str
    last_modified: datetime | None


def feed_version(shop: Shop) -> FeedVersion:
    """One aggregate query over the shop's published product reviews."""
    count, with_gtin, id_sum, last_published = db.session.execute(
        select(func.count(Review.id), func.count(Review.product_gtin), func.sum(Review.id),
               func.max(Review.published_at))
        .where(_published_products(shop.id))
    ).one()
    last_withdrawn = db.session.execute(
        select(func.max(Review.withdrawn_at))
        .where(Review.shop_id == shop.id, Review.product_id.is_not(None))
    ).scalar_one()
    moments = [m for m in (last_published, last_withdrawn) if m is not None]
    if moments and moments[0].tzinfo is None:  # an aggregate bypasses the column's type
        moments = [m.replace(tzinfo=UTC) for m in moments]
    last = max(moments) if moments else None
    tag = hashlib.blake2b(repr(("feed", 1, shop.name, shop.slug, shop.language, count, id_sum,
                                last)).encode("utf-8"), digest_size=12).hexdigest()
    return FeedVersion(count=count, with_gtin=with_gtin, etag=tag, last_modified=last)


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("", value))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _product_ids(gtin: str | None, mpn: str | None, sku: str | None, brand: str | None) -> str:
    parts = [f"<{outer}><{inner}>{_text(value)}</{inner}></{outer}>"
             for outer, inner, value in (("gtins", "gtin", gtin), ("mpns", "mpn", mpn),
                                         ("skus", "sku", sku), ("brands", "brand", brand))
             if value]
    return f"<product_ids>{''.join(parts)}</product_ids>" if parts else ""


def review_element(row: object, *, product_page: str, lang: str) -> str:
    """One ``<review>``, its elements in the order schema 2.4 requires."""
    author = kept_or_made_author(row.author_display, row.customer_first_name,  # type: ignore[attr-defined]
                                 row.customer_last_name)  # type: ignore[attr-defined]
    if author:
        reviewer = f"<name>{_text(author)}</name>"
    else:
        reviewer = f'<name is_anonymous="true">{_text(ANONYMOUS[lang])}</name>'
    comment = (row.comment or "").strip()  # type: ignore[attr-defined]
    content = comment or NO_COMMENT[lang].format(n=row.rating)  # type: ignore[attr-defined]
    page = f"{product_page}/{quote(row.product_id, safe='')}"  # type: ignore[attr-defined]
    transaction = row.reference or row.external_id  # type: ignore[attr-defined]
    return (
        "<review>"
        f"<review_id>{row.id}</review_id>"  # type: ignore[attr-defined]
        f"<reviewer>{reviewer}</reviewer>"
        "<is_verified_purchase>true</is_verified_purchase>"
        f"<review_timestamp>{_timestamp(row.published_at)}</review_timestamp>"  # type: ignore[attr-defined]
        f"<content>{_text(content)}</content>"
        f'<review_url type="group">{_text(page)}</review_url>'
        f'<ratings><overall min="1" max="5">{row.rating}</overall></ratings>'  # type: ignore[attr-defined]
        "<products><product>"
        + _product_ids(row.product_gtin, row.product_mpn, row.product_sku,  # type: ignore[attr-defined]
                       row.product_brand)  # type: ignore[attr-defined]
        + f"<product_name>{_text(row.product_name or row.product_id)}</product_name>"  # type: ignore[attr-defined]
        f"<product_url>{_text(row.product_url or page)}</product_url>"  # type: ignore[attr-defined]
        "</product></products>"
        "<collection_method>post_fulfillment</collection_method>"
        f"<transaction_id>{_text(transaction)}</transaction_id>"
        "</review>\n"
    )


def feed_chunks(shop: Shop) -> Iterator[bytes]:
    """The whole feed as UTF-8 chunks of about ``CHUNK_BYTES``, reading ``BATCH`` rows at a
    time. Must be consumed inside the application context (``stream_with_context``)."""
    lang = shop.language if shop.language in ANONYMOUS else "fr"
    product_page = f"{public_url(shop)}/produits"
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns:vc="http://www.w3.org/2007/XMLSchema-versioning" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f"xsi:noNamespaceSchemaLocation={_attr(SCHEMA_LOCATION)}>\n"
        "<version>2.4</version>\n"
        f"<aggregator><name>{_text(AGGREGATOR)}</name></aggregator>\n"
        f"<publisher><name>{_text(shop.name)}</name></publisher>\n"
        "<reviews>\n"
    )
    buffer = [head]
    size = len(head)
    rows = db.session.execute(
        select(Review.id, Review.rating, Review.comment, Review.published_at,
               Review.author_display, Review.product_id, Review.product_name,
               Review.product_sku, Review.product_gtin, Review.product_mpn,
               Review.product_brand, Review.product_url, Order.customer_first_name,
               Order.customer_last_name, Order.reference, Order.external_id)
        .join(Order, Order.id == Review.order_id)
        .where(_published_products(shop.id))
        .order_by(Review.id)
        .execution_options(yield_per=BATCH)
    )
    try:
        for row in rows:
            element = review_element(row, product_page=product_page, lang=lang)
            buffer.append(element)
            size += len(element)
            if size >= CHUNK_BYTES:
                yield "".join(buffer).encode("utf-8")
                buffer, size = [], 0
    finally:
        rows.close()
        db.session.rollback()
    buffer.append("</reviews>\n</feed>\n")
    yield "".join(buffer).encode("utf-8")
