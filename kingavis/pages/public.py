"""``/avis/<slug>``: a shop's public review page, ``/avis/<slug>/charte``, its charter
(docs/publication.md), and ``/avis/<slug>/produits/<product_id>``, one product's reviews
(docs/product-reviews.md).

Anyone may read these pages, so they hold only what a published review shows: the author's first
name and last-name initial, the rating, the comment, the dates and the merchant's reply. They are
indexable: one canonical address per page of reviews (the French page without parameters, or with
``?page=N``), English as a declared alternate (``?lang=en``), and every filtered or re-sorted view
marked ``noindex`` with the unfiltered page as canonical, so search engines see no duplicates.

No rating ever decides what is shown or in which order: the default order is the publication
date, and a reader's own filter or sort is the only exception.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlencode

from flask import Response, current_app, make_response, request

from kingavis import formatting
from kingavis.api.badge import _STARS as STARS
from kingavis.api.badge import GOLD, GREY, STAR_GAP, STAR_SIZE, filled_width
from kingavis.api.views import current_summary
from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.pages import blueprint
from kingavis.pages.public_text import CHARTER_TEXT, PAGE_TEXT, rejection_reasons
from kingavis.reviews.products import (
    ProductInfo,
    product_info,
    product_jsonld,
    product_page_url,
    valid_product_id,
)
from kingavis.reviews.public import (
    SORTS,
    Listing,
    ListingError,
    contact_email,
    list_published,
    parse_listing,
    public_url,
    rating_summary,
    review_jsonld,
)
from kingavis.shops.slugs import shop_by_slug

LANGS = ("fr", "en")
# Seconds a browser or proxy may keep a page: a publication, reply or withdrawal shows within
# this (docs/publication.md asks for 60 s at most).
MAX_AGE = 60


def page_language() -> str:
    """``?lang=en`` or ``?lang=fr`` when given, else the browser's preference between French and
    English, else French (docs/publication.md)."""
    asked = request.args.get("lang")
    if asked in LANGS:
        return asked
    return request.accept_languages.best_match(LANGS, default="fr") or "fr"


def _respond(template: str, status: int, lang: str, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = current_app.jinja_env.get_template(template).render(lang=lang, nonce=nonce, **context)
    db.session.rollback()
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    if status == 200:
        response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
        response.headers["Vary"] = "Accept-Language"
    else:
        response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' https:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    return response


def _not_found(lang: str) -> Response:
    return _respond("public/not_found.html", 404, lang, t=PAGE_TEXT[lang])


def _date(value: Any, lang: str, zone: str | None = None) -> str:
    return formatting.day(value, lang, zone)


def star_row(value: float, size: int = 20) -> dict[str, Any]:
    """Five stars filled to ``value`` (3.6: three stars and 60 % of the fourth), drawn as the
    badge draws them (kingavis.api.badge), ``size`` pixels high: the geometry the template's
    ``star_row`` macro draws. Decorative: the number is always written beside them."""
    scale = size / STAR_SIZE
    return {"width": round((5 * STAR_SIZE + 4 * STAR_GAP) * scale, 2), "height": size,
            "fill": round(filled_width(value) * scale, 2), "scale": round(scale, 4),
            "path": STARS, "gold": GOLD, "grey": GREY}


def _bad_parameters(errors: dict[str, str], t: dict[str, str]) -> dict[str, str]:
    """Each bad parameter with the page's own words (the listing's messages are English)."""
    return {name: t.get(f"bad_{name}", t["bad_other"]) for name in errors}


def _url(slug: str, lang: str, explicit_lang: bool, *, product_id: str | None = None,
         **params: Any) -> str:
    # Only the defaults are left out (page 1, the "recent" order): a filter equal to 1 (one
    # star) is a filter like any other.
    query = {k: v for k, v in params.items() if v is not None and v != ""}
    if query.get("page") == 1:
        query.pop("page")
    if query.get("sort") == "recent":
        query.pop("sort")
    if explicit_lang or lang != "fr":
        query["lang"] = lang
    base = f"/avis/{slug}" if product_id is None else \
        f"/avis/{slug}/produits/{quote(product_id, safe='')}"
    return f"{base}?{urlencode(query)}" if query else base


def _json_ld(shop: Shop, summary: Any, reviews: list[Any], url: str,
             anonymous: str) -> dict[str, Any]:
    """schema.org data for the page: the shop as an Organization with its AggregateRating and
    the reviews shown on this page (never more, never other ones)."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Organization",
        "name": shop.name,
        "url": url,
    }
    if summary.count:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": summary.average,
            "reviewCount": summary.count,
            "ratingCount": summary.count,
            "bestRating": 5,
            "worstRating": 1,
        }
    if reviews:
        data["review"] = [review_jsonld(r, anonymous) for r in reviews]
    return data


@blueprint.get("/avis/<slug>")
def public_reviews(slug: str) -> Response:
    lang = page_language()
    shop = shop_by_slug(slug)
    if shop is None:
        return _not_found(lang)
    return _reviews_page(shop, lang, None)


@blueprint.get("/avis/<slug>/produits/<product_id>")
def product_reviews(slug: str, product_id: str) -> Response:
    """One product's published reviews. A product id no review names yet answers the page with
    no reviews (200, ``noindex``): a link from a product page must never break; an id that
    cannot be one (characters outside letters, digits, ``. _ -``) answers 404."""
    lang = page_language()
    shop = shop_by_slug(slug)
    if shop is None or not valid_product_id(product_id):
        return _not_found(lang)
    return _reviews_page(shop, lang, product_info(shop.id, product_id))


def _reviews_page(shop: Shop, lang: str, product: ProductInfo | None) -> Response:
    """The shop's page, or with ``product`` that product's page: same layout, same rules."""
    explicit_lang = request.args.get("lang") in LANGS
    product_id = product.id if product is not None else None
    t = PAGE_TEXT[lang]
    try:
        listing = parse_listing(request.args, allow_per_page=False)
    except ListingError as exc:
        return _respond("public/bad_request.html", 400, lang, t=t,
                        errors=_bad_parameters(exc.errors, t),
                        back=_url(shop.slug, lang, explicit_lang, product_id=product_id))
    summary = current_summary(shop.slug, product_id) or rating_summary(shop.id, product_id)
    page = list_published(shop, listing, product_id, summary=summary)  # not counted again
    if listing.page > page.pages:
        # The shop exists: say that this page of it does not, and where its reviews are.
        words = t["past_end_one"] if page.pages == 1 else t["past_end_many"]
        return _respond("public/past_end.html", 404, lang, t=t, shop=shop,
                        text=formatting.elide(words.format(shop=shop.name, pages=page.pages),
                                              shop.name, lang),
                        first=_url(shop.slug, lang, explicit_lang),
                        last=_url(shop.slug, lang, explicit_lang, page=page.pages)
                        if page.pages > 1 else None)

    base = current_app.config["KINGAVIS_BASE_URL"]
    filtered = listing.rating is not None or listing.sort != "recent"
    first = 1 if filtered else listing.page
    canonical = base + _url(shop.slug, "fr", False, product_id=product_id, page=first)
    alternates = {
        "fr": base + _url(shop.slug, "fr", False, product_id=product_id, page=first),
        "en": base + _url(shop.slug, "en", True, product_id=product_id, page=first),
    }
    if lang == "en" and not filtered:
        canonical = alternates["en"]

    def link(**changes: Any) -> str:
        params = {"rating": listing.rating, "sort": listing.sort, "page": listing.page}
        params.update(changes)
        return _url(shop.slug, lang, explicit_lang, product_id=product_id, **params)

    def number(value: float) -> str:
        return formatting.one_decimal(value, lang)

    reviews = [
        {
            "id": r.id,
            "rating": r.rating,
            "comment": r.comment,
            "author": r.author or t["anonymous"],
            "experience": _date(r.experience_date, lang),
            "published": _date(r.published_at, lang, shop.timezone),
            "published_iso": r.published_at.date().isoformat(),
            "reply": r.reply_text,
            "reply_date": _date(r.reply_published_at, lang, shop.timezone),
        }
        for r in page.reviews
    ]
    if product is None:
        json_ld = _json_ld(shop, summary, page.reviews, canonical, t["anonymous"])
        title = t["title"].format(shop=shop.name)
        heading = t["heading"].format(shop=shop.name)
    else:
        name = product.name or t["product_fallback"].format(id=product.id)
        # The same author rule as the shop's page: the review's public name, else "verified
        # customer" in the page's language.
        json_ld = product_jsonld(product, summary, page.reviews,
                                 page_url=product_page_url(shop, product.id),
                                 anonymous=t["anonymous"])
        title = t["product_title"].format(product=name, shop=shop.name)
        heading = t["product_heading"].format(product=name)
    return _respond(
        "public/reviews.html", 200, lang,
        t=t, shop=shop, summary=summary, page=page, listing=listing, reviews=reviews,
        average=number(summary.average) if summary.average is not None else None,
        percents={star: round(100 * n / summary.count) if summary.count else 0
                  for star, n in summary.distribution.items()},
        canonical=canonical, alternates=alternates,
        # An unknown product's empty page is answered, never indexed.
        noindex=filtered or (product is not None and not summary.count),
        json_ld=json_ld, title=title, heading=heading, product=product,
        form_action=_url(shop.slug, "fr", False, product_id=product_id),
        shop_url=_url(shop.slug, lang, explicit_lang),
        link=link, sorts=SORTS, explicit_lang=explicit_lang,
        charter_url=_charter_url(shop, lang, explicit_lang),
        other_lang="en" if lang == "fr" else "fr",
        other_lang_url=_url(shop.slug, "en" if lang == "fr" else "fr", True, product_id=product_id,
                            rating=listing.rating, sort=listing.sort, page=listing.page),
        star_row=star_row, description=_description(shop, summary, t, lang),
        review_url=lambda review_id: review_link(shop, review_id, lang, explicit_lang),
        report_url=lambda review_id: review_link(shop, review_id, lang, explicit_lang, "/signaler"),
        brand=shop_brand(shop, lang),
    )


def _description(shop: Shop, summary: Any, t: dict[str, str], lang: str) -> str:
    """The page's meta description (and Open Graph description)."""
    if not summary.count:
        text = t["description_zero"].format(shop=shop.name)
    else:
        count = (t["count_one"] if summary.count == 1
                 else t["count"].format(count=formatting.number(summary.count, lang)))
        text = t["description"].format(shop=shop.name, count=count,
                                       average=formatting.one_decimal(summary.average, lang))
    return formatting.elide(text, shop.name, lang)


def review_link(shop: Shop, review_id: int, lang: str, explicit_lang: bool, suffix: str = "") -> str:
    """The permalink of one published review (``/avis/<slug>/<id>``), or with ``suffix`` one of
    its pages (``/signaler``, the report form)."""
    url = f"/avis/{shop.slug}/{review_id}{suffix}"
    return f"{url}?lang={lang}" if explicit_lang or lang != "fr" else url


def shop_brand(shop: Shop, lang: str) -> dict[str, str | None]:
    """The logo and the shop's own site, as the merchant set them in their email design (the
    design of the page's language, else of the other one)."""
    designs = sorted(shop.email_designs, key=lambda d: d.language != lang)
    logo = next((d.logo_url for d in designs if d.logo_url), None)
    site = next((d.shop_url for d in designs if d.shop_url), None)
    return {"logo": logo, "site": site}


def _charter_url(shop: Shop, lang: str, explicit_lang: bool) -> str:
    url = f"/avis/{shop.slug}/charte"
    return f"{url}?lang={lang}" if explicit_lang or lang != "fr" else url


@blueprint.get("/avis/<slug>/charte")
def charter(slug: str) -> Response:
    lang = page_language()
    explicit_lang = request.args.get("lang") in LANGS
    shop = shop_by_slug(slug)
    if shop is None:
        return _not_found(lang)
    base = current_app.config["KINGAVIS_BASE_URL"]
    return _respond(
        "public/charter.html", 200, lang,
        t=PAGE_TEXT[lang], c=CHARTER_TEXT[lang], shop=shop,
        reviews_url=_url(shop.slug, lang, explicit_lang),
        canonical=base + f"/avis/{shop.slug}/charte" + ("?lang=en" if lang == "en" else ""),
        alternates={"fr": base + f"/avis/{shop.slug}/charte",
                    "en": base + f"/avis/{shop.slug}/charte?lang=en"},
        noindex=False,
        rejection_reasons=rejection_reasons(lang),
        retention_months=shop.retention_months,
        contact=contact_email(),
        public_url=public_url(shop),
        review_link_days=shop.review_link_days,
        other_lang="en" if lang == "fr" else "fr",
        other_lang_url=_charter_url(shop, "en" if lang == "fr" else "fr", True),
    )


__all__ = ["Listing", "charter", "product_reviews", "public_reviews"]
