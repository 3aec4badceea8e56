"""The public endpoints of docs/publication.md. Each view validates its parameters, takes the shop's
current row and ``public_version`` (``kingavis.api.cache.current_shop_row``: kept in memory while
the public version listener hears nothing of the shop, else one indexed statement), takes the
cache entry made from that
version (``kingavis.api.cache``; read from the database again when the version moved or the
entry expired), and answers ``304`` when the client already holds that version, else the body,
rendered once per entry and kept with it.

Every answer under ``/api/`` and ``/widget.js`` (errors included) gets the same public headers
in ``public_headers``: CORS ``*``, ``Cache-Control: public``, ``nosniff``, an ``ETag``; and no
cookie is read or set there (``kingavis.api.session``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, request
from sqlalchemy import bindparam, select
from werkzeug.http import parse_etags

from kingavis.api import blueprint
from kingavis.api.badge import LANGUAGES, badge_svg
from kingavis.api.cache import (
    EXTENSION,
    MAX_AGE_SECONDS,
    Entry,
    PublicCache,
    current_shop_row,
)
from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.problems import problem
from kingavis.reviews.products import (
    ProductInfo,
    product_info,
    product_jsonld,
    product_page_url,
    valid_product_id,
)
from kingavis.reviews.public import (
    Listing,
    ListingError,
    PublicReview,
    RatingSummary,
    ReviewPage,
    list_published,
    parse_listing,
    public_url,
    rating_summary,
)

HERE = Path(__file__).resolve().parent
WIDGET_JS = (HERE / "widget.js").read_bytes()
OPENAPI_JSON = (HERE / "openapi.json").read_bytes()
# Code and the API description change only with a deployment: the longest max-age allowed.
STATIC_MAX_AGE = 300
# Bump when a body's format changes, so clients holding the old one get the new one.
RENDER_VERSION = "1"
_SLUG = re.compile(r"[a-z0-9-]{1,80}")
_PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "If-None-Match, Cache-Control",
    "Access-Control-Max-Age": "86400",
}


def is_public_path(path: str) -> bool:
    """The paths of docs/publication.md and the product review feed (docs/product-reviews.md): public,
    no cookies, CORS for every origin."""
    return path.startswith(("/api/", "/feeds/")) or path == "/widget.js"


def tag_of(*parts: Any) -> str:
    """An opaque ETag value for the data an answer is made from (not for its rendered bytes, so
    a revalidation never renders). The same data gives the same tag in every worker."""
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=12).hexdigest()


def _static_tag(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=12).hexdigest()


WIDGET_TAG = _static_tag(WIDGET_JS)
OPENAPI_TAG = _static_tag(OPENAPI_JSON)


@dataclass(frozen=True)
class PublicShop:
    """What the public endpoints show of a shop, kept in the cache."""

    id: int
    name: str
    language: str
    public_url: str
    summary: RatingSummary


# What every request reads of the shop: five columns by the unique slug, not the whole row.
_SHOP_BY_SLUG = select(Shop.id, Shop.name, Shop.slug, Shop.language, Shop.public_version).where(
    Shop.slug == bindparam("slug"))


def _cache() -> PublicCache:
    return current_app.extensions[EXTENSION]


def _shop_entry(slug: str) -> Entry | None:
    """The cached entry of the shop with this slug, made from its current ``public_version``
    (the rating summary read from the database when the version moved or the entry expired);
    None when no shop has it."""
    if not _SLUG.fullmatch(slug):
        return None
    shop = current_shop_row(_SHOP_BY_SLUG, slug)
    if shop is None:
        return None
    cache = _cache()
    key, stamp = ("shop", slug), (shop.id, shop.public_version)
    entry = cache.get(key, stamp)
    if entry is None:
        view = PublicShop(id=shop.id, name=shop.name,
                          language=shop.language if shop.language in LANGUAGES else "fr",
                          public_url=public_url(shop),  # type: ignore[arg-type] # reads .slug
                          summary=rating_summary(shop.id))
        entry = cache.put(key, etag=tag_of("shop", RENDER_VERSION, view), value=view,
                          slug=slug, shop_id=shop.id, stamp=stamp)
        db.session.rollback()  # hand the connection back to the pool now
    return entry


def if_none_match(header: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header matches the current tag (RFC 9110 13.1.2): ``*``
    matches any current representation; otherwise any listed entity-tag whose opaque value is
    the same, weak (``W/"…"``) or strong — If-None-Match always uses the weak comparison."""
    if header is None:
        return False
    if header == f'"{tag}"':
        return True
    return parse_etags(header).contains_weak(tag)


def conditional(tag: str, body: Callable[[], bytes], mimetype: str) -> Response:
    """``304`` with the ETag when the client holds ``tag``, else the body (rendered only then)."""
    if if_none_match(request.headers.get("If-None-Match"), tag):
        response = Response(status=304)
    else:
        response = Response(body(), mimetype=mimetype)
    response.headers["ETag"] = f'"{tag}"'
    return response


def _unknown_shop() -> Response:
    return problem(404, "no shop has this public address", type_="unknown-shop")


def _invalid(errors: dict[str, str]) -> Response:
    return problem(400, "some query parameters are not valid", type_="invalid-parameters",
                   errors={name: [message] for name, message in errors.items()})


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_document(view: PublicShop) -> dict[str, Any]:
    """docs/publication.md's summary: the shop, and the average, count and distribution of ratings."""
    rating = view.summary
    return {
        "shop": {"name": view.name, "public_url": view.public_url},
        "rating": {
            "average": rating.average,
            "count": rating.count,
            "distribution": {str(star): rating.distribution.get(star, 0) for star in range(1, 6)},
        },
    }


def review_document(review: PublicReview) -> dict[str, Any]:
    """One published review as the API shows it: the author the public way (first name and
    initial, None without a name), never an email address; a reply only once published."""
    reply = None
    if review.reply_text and review.reply_published_at is not None:
        reply = {"text": review.reply_text, "published_at": _utc(review.reply_published_at)}
    return {
        "id": str(review.id),
        "rating": review.rating,
        "comment": review.comment,
        "author": review.author or None,
        "experience_date": review.experience_date.isoformat() if review.experience_date else None,
        "published_at": _utc(review.published_at),
        "verified": True,  # every review comes from a real order's personal link
        "reply": reply,
    }


def reviews_document(page: ReviewPage) -> dict[str, Any]:
    return {
        "reviews": [review_document(r) for r in page.reviews],
        "page": page.listing.page,
        "per_page": page.listing.per_page,
        "total": page.total,
    }


@blueprint.get("/api/v1/shops/<slug>/summary")
def summary(slug: str) -> Response:
    entry = _shop_entry(slug)
    if entry is None:
        return _unknown_shop()
    view: PublicShop = entry.value
    return conditional(
        "s" + entry.etag,
        lambda: entry.body("summary", lambda: _json(summary_document(view))),
        "application/json",
    )


@blueprint.get("/api/v1/shops/<slug>/reviews")
def reviews(slug: str) -> Response:
    entry = _shop_entry(slug)
    if entry is None:
        return _unknown_shop()
    try:
        listing = parse_listing(request.args)
    except ListingError as exc:
        return _invalid(exc.errors)
    cache = _cache()
    key = ("reviews", slug, listing)
    page_entry = cache.get(key, entry.stamp)
    if page_entry is None:
        shop = db.session.get(Shop, entry.shop_id)
        if shop is None:  # deleted since the shop entry was made
            cache.forget(slugs=[slug])
            return _unknown_shop()
        page = list_published(shop, listing)
        db.session.rollback()
        page_entry = cache.put(
            key, etag=tag_of("reviews", RENDER_VERSION, page.total, listing, tuple(page.reviews)),
            value=page, slug=slug, shop_id=entry.shop_id, stamp=entry.stamp,
        )
    found = page_entry
    return conditional(
        "r" + found.etag,
        lambda: found.body("reviews", lambda: _json(reviews_document(found.value))),
        "application/json",
    )


# --- One product's reviews (docs/product-reviews.md) -----------------------------------------

# The reviews a product's JSON-LD carries: the first page of its public page.
JSONLD_REVIEWS = Listing(page=1, per_page=20, sort="recent")
_ANONYMOUS = {"fr": "Client vérifié", "en": "Verified customer"}


@dataclass(frozen=True)
class PublicProduct:
    """What the product summary shows, kept in the cache like a shop's entry."""

    shop: PublicShop
    info: ProductInfo
    public_url: str
    summary: RatingSummary


def _product_entry(shop_entry: Entry, product_id: str) -> Entry:
    """The cached entry of one product of the shop: two small queries on a miss (the product's
    latest details, its rating summary). A product no published review names (or an id no
    product can have) is a product with no reviews, never an error: a shop's product page must
    not break (docs/product-reviews.md)."""
    view: PublicShop = shop_entry.value
    cache = _cache()
    key = ("product", shop_entry.slug, product_id)
    entry = cache.get(key, shop_entry.stamp)
    if entry is None:
        url = f"{view.public_url}/produits/{quote(product_id, safe='')}"
        if not valid_product_id(product_id):
            product = PublicProduct(view, ProductInfo(id=product_id), url,
                                    RatingSummary(None, 0, {s: 0 for s in range(1, 6)}))
        else:
            product = PublicProduct(view, product_info(view.id, product_id), url,
                                    rating_summary(view.id, product_id))
            db.session.rollback()
        entry = cache.put(key, etag=tag_of("product", RENDER_VERSION, product), value=product,
                          slug=shop_entry.slug, shop_id=shop_entry.shop_id,
                          stamp=shop_entry.stamp)
    return entry


def current_summary(slug: str, product_id: str | None = None) -> RatingSummary | None:
    """The shop's (or with ``product_id``, one product's) rating summary as the API answers it:
    from this worker's cache, made from the shop's current ``public_version`` (one indexed
    statement; the reviews are counted again only after a change). The public review page
    uses it, so a view of a shop with many reviews does not count them all. None when no shop
    has this slug."""
    entry = _shop_entry(slug)
    if entry is None:
        return None
    if product_id is None:
        return entry.value.summary
    return _product_entry(entry, product_id).value.summary


def _jsonld_entry(shop_entry: Entry, product: PublicProduct) -> Entry:
    """The product's JSON-LD, cached apart from its summary (it reads the latest reviews)."""
    cache = _cache()
    key = ("product-jsonld", shop_entry.slug, product.info.id)
    entry = cache.get(key, shop_entry.stamp)
    if entry is None:
        jsonld = None
        if product.summary.count and valid_product_id(product.info.id):
            shop = db.session.get(Shop, shop_entry.shop_id)
            if shop is None:
                cache.forget(slugs=[shop_entry.slug])
                raise LookupError(shop_entry.slug)
            listed = list_published(shop, JSONLD_REVIEWS, product.info.id)
            jsonld = product_jsonld(
                product.info, product.summary, listed.reviews,
                page_url=product_page_url(shop, product.info.id),
                anonymous=_ANONYMOUS.get(product.shop.language, _ANONYMOUS["fr"]))
            db.session.rollback()
        entry = cache.put(key, etag=tag_of("product-jsonld", RENDER_VERSION, jsonld),
                          value=jsonld, slug=shop_entry.slug, shop_id=shop_entry.shop_id,
                          stamp=shop_entry.stamp)
    return entry


def _product_document(product: PublicProduct) -> dict[str, Any]:
    return {"id": product.info.id, "name": product.info.name, "public_url": product.public_url}


def product_summary_document(product: PublicProduct) -> dict[str, Any]:
    """The shop summary's shape, with the product's rating and ``product``."""
    document = summary_document(PublicShop(
        id=product.shop.id, name=product.shop.name, language=product.shop.language,
        public_url=product.shop.public_url, summary=product.summary))
    document["product"] = _product_document(product)
    return document


def _product_or_unknown(slug: str, product_id: str) -> Entry | Response:
    shop_entry = _shop_entry(slug)
    if shop_entry is None:
        return _unknown_shop()
    return _product_entry(shop_entry, product_id)


@blueprint.get("/api/v1/shops/<slug>/products/<product_id>/summary")
def product_summary(slug: str, product_id: str) -> Response:
    entry = _product_or_unknown(slug, product_id)
    if isinstance(entry, Response):
        return entry
    found = entry
    return conditional(
        "ps" + found.etag,
        lambda: found.body("summary", lambda: _json(product_summary_document(found.value))),
        "application/json",
    )


@blueprint.get("/api/v1/shops/<slug>/products/<product_id>/jsonld")
def product_jsonld_view(slug: str, product_id: str) -> Response:
    """The product's schema.org ``Product`` JSON-LD alone, for a shop module to render on the
    server; ``null`` while the product has no published review (nothing to mark up)."""
    shop_entry = _shop_entry(slug)
    if shop_entry is None:
        return _unknown_shop()
    try:
        found = _jsonld_entry(shop_entry, _product_entry(shop_entry, product_id).value)
    except LookupError:
        return _unknown_shop()
    return conditional(
        "pj" + found.etag,
        lambda: found.body("jsonld", lambda: _json(found.value)),
        "application/ld+json",
    )


@blueprint.get("/api/v1/shops/<slug>/products/<product_id>/reviews")
def product_reviews(slug: str, product_id: str) -> Response:
    entry = _product_or_unknown(slug, product_id)
    if isinstance(entry, Response):
        return entry
    try:
        listing = parse_listing(request.args)
    except ListingError as exc:
        return _invalid(exc.errors)
    product: PublicProduct = entry.value
    cache = _cache()
    key = ("product-reviews", entry.slug, product_id, listing)
    page_entry = cache.get(key, entry.stamp)
    if page_entry is None:
        if not valid_product_id(product_id):
            page = ReviewPage(reviews=[], total=0, listing=listing)
        else:
            shop = db.session.get(Shop, entry.shop_id)
            if shop is None:
                cache.forget(slugs=[entry.slug])
                return _unknown_shop()
            page = list_published(shop, listing, product_id)
            db.session.rollback()
        page_entry = cache.put(
            key, etag=tag_of("product-reviews", RENDER_VERSION, product_id, page.total, listing,
                             tuple(page.reviews), product.info),
            value=page, slug=entry.slug, shop_id=entry.shop_id, stamp=entry.stamp,
        )
    found = page_entry

    def render() -> bytes:
        document = reviews_document(found.value)
        document["product"] = _product_document(product)
        return _json(document)

    return conditional("pr" + found.etag, lambda: found.body("reviews", render), "application/json")


@blueprint.get("/api/v1/shops/<slug>/badge.svg")
def badge(slug: str) -> Response:
    lang = request.args.get("lang") or None
    entry = _shop_entry(slug)
    if entry is None:
        return _unknown_shop()
    if lang is not None and lang not in LANGUAGES:
        return _invalid({"lang": "must be fr or en"})
    view: PublicShop = entry.value
    lang = lang or view.language
    response = conditional(
        f"b{lang}{entry.etag}",
        lambda: entry.body(f"badge:{lang}",
                           lambda: badge_svg(view.name, view.summary, lang).encode("utf-8")),
        "image/svg+xml",
    )
    # Opened on its own, the image may do nothing but draw itself.
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors *"
    return response


@blueprint.get("/widget.js")
def widget() -> Response:
    response = conditional(WIDGET_TAG, lambda: WIDGET_JS, "text/javascript")
    response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}"
    return response


@blueprint.get("/api/v1/openapi.json")
def openapi() -> Response:
    response = conditional(OPENAPI_TAG, lambda: OPENAPI_JSON, "application/json")
    response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}"
    return response


@blueprint.after_app_request
def public_headers(response: Response) -> Response:
    """docs/publication.md's headers on every answer of the public paths, errors and preflights included;
    an error answer (4xx, 5xx) is ``no-store`` and has no ETag."""
    if not is_public_path(request.path):
        return response
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = "*"
    headers["Access-Control-Expose-Headers"] = "ETag"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    headers.pop("Set-Cookie", None)
    if request.method == "OPTIONS":
        headers.update(_PREFLIGHT_HEADERS)
        return response
    if response.status_code >= 400:
        # An error is never kept by a shared cache nor revalidated: the next request may succeed.
        headers["Cache-Control"] = "no-store"
        headers.pop("ETag", None)
        return response
    if "Cache-Control" not in headers:
        max_age = current_app.config.get("PUBLIC_MAX_AGE", MAX_AGE_SECONDS)
        headers["Cache-Control"] = f"public, max-age={max_age}"
    if "ETag" not in headers and not response.is_streamed:
        response.add_etag()
    return response
