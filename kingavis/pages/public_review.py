"""``/avis/<slug>/<id>``: one published review on its own page (its permalink, with its own
schema.org JSON-LD), and ``/avis/<slug>/<id>/signaler``: anyone's report of it to the King-Avis
moderators (docs/report-a-review.md).

The report form takes a reason from the published list, an address for the answer and a short
text; the review stays published until an operator decides, as for a merchant's report. The
form carries a CSRF token like every form of the app.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from kingavis import formatting
from kingavis.pages import blueprint
from kingavis.pages.public import (
    LANGS,
    _charter_url,
    _date,
    _not_found,
    _respond,
    _url,
    page_language,
    review_link,
    shop_brand,
)
from kingavis.pages.public_text import PAGE_TEXT, rejection_reasons
from kingavis.reviews.actions import (
    MAX_REPORT_CHARS,
    MIN_REPORT_CHARS,
    ActionError,
    report_by_reader,
)
from kingavis.reviews.public import PublicReview, published_review
from kingavis.shops.slugs import shop_by_slug

REPORT_TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Signaler un avis",
        "intro": "Un modérateur de King-Avis examinera votre signalement et vous répondra à l'adresse indiquée. L'avis reste publié en attendant sa décision, prise pour l'un des motifs publiés dans la charte.",
        "reason": "Motif",
        "choose": "Choisissez un motif",
        "email": "Votre adresse email, pour la réponse",
        "text": "Expliquez en quelques mots ({min} à {max} caractères)",
        "send": "Envoyer le signalement",
        "summary": "Le signalement n'a pas été envoyé\u00a0: corrigez les champs signalés.",
        "error_reason": "Choisissez un motif dans la liste.",
        "error_email": "Indiquez une adresse email valable.",
        "error_text": "Écrivez entre {min} et {max} caractères.",
        "done_title": "Signalement envoyé",
        "done": "Merci. Un modérateur de King-Avis va examiner cet avis et vous répondra à l'adresse indiquée.",
        "already": "Cet avis est déjà en cours d'examen par la modération de King-Avis\u00a0: merci, votre signalement n'est pas nécessaire.",
        "reported": "L'avis signalé",
    },
    "en": {
        "title": "Report a review",
        "intro": "A King-Avis moderator will examine your report and answer you at the address you give. The review stays published until the decision, taken for one of the reasons published in the charter.",
        "reason": "Reason",
        "choose": "Choose a reason",
        "email": "Your email address, for the answer",
        "text": "Explain in a few words ({min} to {max} characters)",
        "send": "Send the report",
        "summary": "The report was not sent: please correct the fields shown.",
        "error_reason": "Choose a reason from the list.",
        "error_email": "Give a valid email address.",
        "error_text": "Write between {min} and {max} characters.",
        "done_title": "Report sent",
        "done": "Thank you. A King-Avis moderator will examine this review and answer you at the address you gave.",
        "already": "King-Avis moderation is already examining this review: thank you, your report is not needed.",
        "reported": "The reported review",
    },
}


def _shown(review: PublicReview, lang: str, zone: str, t: dict[str, str]) -> dict[str, Any]:
    return {
        "id": review.id, "rating": review.rating, "comment": review.comment,
        "author": review.author or t["anonymous"],
        "experience": _date(review.experience_date, lang),
        "published": _date(review.published_at, lang, zone),
        "published_iso": review.published_at.date().isoformat(),
        "reply": review.reply_text,
        "reply_date": _date(review.reply_published_at, lang, zone),
    }


def review_json_ld(shop_name: str, shop_url: str, review: PublicReview, url: str) -> dict[str, Any]:
    """schema.org data for one review: the Review itself, about the shop (an Organization)."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Review",
        "url": url,
        "itemReviewed": {"@type": "Organization", "name": shop_name, "url": shop_url},
        "author": {"@type": "Person", "name": review.author or "—"},
        "datePublished": review.published_at.date().isoformat(),
        "reviewRating": {"@type": "Rating", "ratingValue": review.rating,
                         "bestRating": 5, "worstRating": 1},
    }
    if review.comment:
        data["reviewBody"] = review.comment
    return data


def _find(slug: str, review_id: int) -> tuple[Any, PublicReview] | None:
    shop = shop_by_slug(slug)
    if shop is None:
        return None
    review = published_review(shop, review_id)
    return (shop, review) if review is not None else None


def _open(slug: str, review_id: int) -> tuple[str, bool, Any, PublicReview] | Response:
    """The page's language, whether the reader chose it, the shop and the published review;
    or the not-found page in that language."""
    lang = page_language()
    found = _find(slug, review_id)
    if found is None:
        return _not_found(lang)
    return lang, request.args.get("lang") in LANGS, *found


@blueprint.get("/avis/<slug>/<int:review_id>")
def review_permalink(slug: str, review_id: int) -> Response:
    found = _open(slug, review_id)
    if isinstance(found, Response):
        return found
    lang, explicit_lang, shop, review = found
    t = PAGE_TEXT[lang]
    base = current_app.config["KINGAVIS_BASE_URL"]
    canonical = base + review_link(shop, review.id, "fr", False)
    alternates = {"fr": canonical, "en": base + review_link(shop, review.id, "en", True)}
    author = review.author or t["anonymous"]
    title = formatting.elide(t["review_title"].format(author=author, shop=shop.name), shop.name, lang)
    return _respond(
        "public/review.html", 200, lang, t=t, shop=shop, r=_shown(review, lang, shop.timezone, t),
        title=title, canonical=alternates[lang] if lang == "en" else canonical,
        alternates=alternates, noindex=False,
        json_ld=review_json_ld(shop.name, base + _url(shop.slug, "fr", False), review, canonical),
        description=(review.comment or title)[:300],
        all_url=_url(shop.slug, lang, explicit_lang),
        charter_url=_charter_url(shop, lang, explicit_lang),
        report_url=review_link(shop, review.id, lang, explicit_lang, "/signaler"),
        brand=shop_brand(shop, lang),
        other_lang="en" if lang == "fr" else "fr",
        other_lang_url=review_link(shop, review.id, "en" if lang == "fr" else "fr", True),
    )


def _report_page(shop: Any, review: PublicReview, lang: str, explicit_lang: bool, status: int,
                 **extra: Any) -> Response:
    t = PAGE_TEXT[lang]
    words = REPORT_TEXT[lang]
    limits = {"min": formatting.number(MIN_REPORT_CHARS, lang),
              "max": formatting.number(MAX_REPORT_CHARS, lang)}
    return _respond(
        "public/report.html", status, lang, t=t, w=words, limits=limits, shop=shop,
        r=_shown(review, lang, shop.timezone, t), reasons=rejection_reasons(lang),
        action=review_link(shop, review.id, lang, explicit_lang, "/signaler"),
        review_url=review_link(shop, review.id, lang, explicit_lang),
        errors=extra.pop("errors", {}), values=extra.pop("values", {}),
        max_chars=MAX_REPORT_CHARS, noindex=True, **extra,
    )


@blueprint.route("/avis/<slug>/<int:review_id>/signaler", methods=["GET", "POST"])
def report_review(slug: str, review_id: int) -> Response:
    found = _open(slug, review_id)
    if isinstance(found, Response):
        return found
    lang, explicit_lang, shop, review = found
    if request.method == "GET":
        return _report_page(shop, review, lang, explicit_lang, 200)
    words = REPORT_TEXT[lang]
    values = {k: request.form.get(k, "") for k in ("reason", "email", "text")}
    try:
        report = report_by_reader(review.id, values["reason"], values["email"], values["text"])
    except ActionError as exc:
        if exc.code != "invalid":
            return _not_found(lang)
        field = str(exc) if str(exc) in ("reason", "email") else "text"
        message = words[f"error_{field}"].format(
            min=formatting.number(MIN_REPORT_CHARS, lang), max=formatting.number(MAX_REPORT_CHARS, lang))
        return _report_page(shop, review, lang, explicit_lang, 422, errors={field: message},
                            values=values)
    return _report_page(shop, review, lang, explicit_lang, 200,
                        done=words["done"] if report is not None else words["already"])
