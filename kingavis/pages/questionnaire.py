"""``/r/<token>``: the review questionnaire, "not received yet", and the share button (docs/sending.md).

The token in the URL (192 random bits, only ever sent in the customer's email) is the secret
that authorises these POSTs, as for the unsubscribe link: they are exempt from CSRF. A forged
cross-site POST would need the token, and whoever has it can post the form anyway; a session
cookie would add nothing (the customer has no account).

Status codes: 200 questionnaire / thank-you page, 422 invalid form (message by the field,
nothing stored), 404 unknown token or a request whose email was never sent, 409 second
submission or second "not received", 410 expired link or a cancelled/suppressed request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import Response, redirect, request

from kingavis import formatting
from kingavis.csp import csp_nonce
from kingavis.delivery.rendering import choose_language
from kingavis.extensions import csrf, db
from kingavis.models import Review, ReviewRequest
from kingavis.pages import blueprint
from kingavis.pages.author_text import AUTHOR_TEXT, author_context
from kingavis.pages.views import _not_found, _page, by_token
from kingavis.private_urls import keep_private
from kingavis.review_requests.tracking import count_click, third_party_redirect
from kingavis.reviews import questionnaire as service
from kingavis.reviews.questionnaire import LinkState, ReviewError

PLATFORM_NAMES = {"google": "Google", "trustpilot": "Trustpilot"}

TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Votre avis sur {shop}",
        "intro": "Merci pour votre commande {reference} du {date}. Qu'en avez-vous pensé\u00a0?",
        "intro_no_date": "Merci pour votre commande {reference}. Qu'en avez-vous pensé\u00a0?",
        "legend": "Votre note globale",
        "required": "obligatoire",
        "r1": "Très mauvais", "r2": "Mauvais", "r3": "Moyen", "r4": "Bien", "r5": "Excellent",
        "stars": "{n} sur 5",
        "comment": "Votre commentaire",
        "optional": "facultatif",
        "counter": "{n} / {max} caractères",
        "submit": "Envoyer mon avis",
        "error_rating_missing": "Choisissez une note de 1 à 5.",
        "error_rating_invalid": "La note doit être comprise entre 1 et 5.",
        "error_comment_too_long": "Votre commentaire dépasse {max} caractères ({n} actuellement).",
        "error_comment_invalid": "Ce commentaire n'est pas valide.",
        "error_summary": "Votre avis n'a pas été envoyé\u00a0: corrigez le champ signalé.",
        "not_received_title": "Pas encore reçu votre commande\u00a0?",
        "not_received_text": "Nous vous écrirons de nouveau dans {days} jours.",
        "not_received_button": "Je n'ai pas encore reçu ma commande",
        "postponed_title": "C'est noté",
        "postponed_text": "Nous vous enverrons de nouveau l'invitation à donner votre avis le {date}.",
        "postponed_early": "Vous avez reçu votre commande entre-temps\u00a0? Vous pouvez déjà donner votre avis ci-dessous.",
        "postponed_once_title": "Déjà reporté",
        "postponed_once_text": "Vous avez déjà demandé à recevoir l'invitation plus tard\u00a0; nous vous écrirons le {date}.",
        "thanks_title": "Merci pour votre avis\u00a0!",
        "thanks_text": "Votre avis sur {shop} a bien été enregistré.",
        "already_title": "Vous avez déjà donné votre avis",
        "already_text": "Un seul avis est possible par commande\u00a0; le vôtre sur {shop} est bien enregistré.",
        "your_review": "Votre avis",
        "share_title": "Partagez-le aussi sur {platform}",
        "share_text": "Le bouton copie votre avis et ouvre la page {platform} de {shop}\u00a0: il ne reste qu'à le coller.",
        "share_button": "Copier mon avis et ouvrir {platform}",
        "copied": "Avis copié\u00a0: collez-le sur la page qui vient de s'ouvrir.",
        "copy_failed": "La copie automatique n'a pas fonctionné\u00a0: sélectionnez le texte ci-dessus pour le copier.",
        "redirect": "Vous serez redirigé vers {platform} dans {seconds} secondes.",
        "redirect_cancel": "Rester sur cette page",
        "redirect_cancelled": "Redirection annulée.",
        "expired_title": "Ce lien a expiré",
        "expired_text": "Le lien pour donner votre avis sur {shop} n'est valable que {days} jours après l'envoi de l'invitation.",
        "closed_title": "Ce lien n'est plus valable",
        "closed_text": "L'invitation à donner votre avis sur cette commande de {shop} a été annulée.",
        "platform_other": "la plateforme d'avis",
        "status_pending": "Votre avis contient des coordonnées ou un lien : il sera publié après vérification par la modération de King-Avis.",
        "status_published": "Votre avis est publié sur la page d'avis de {shop}.",
        "see_page": "Voir la page d'avis",
        "status_rejected": "La modération de King-Avis n'a pas publié votre avis, pour ce motif : {reason}.",
        "reply_title": "Réponse de {shop}",
        "withdraw_title": "Retirer mon avis",
        "withdraw_text": "Vous pouvez retirer votre avis à tout moment : il disparaît de la page d'avis de {shop} et n'est plus compté dans sa note.",
        "withdraw_button": "Retirer mon avis",
        "withdrawn_title": "Votre avis est retiré",
        "withdrawn_text": "Votre avis sur {shop} n'est plus publié ni compté dans sa note.",
        "no_review_title": "Aucun avis à retirer",
        "no_review_text": "Vous n'avez pas donné d'avis sur cette commande de {shop}.",
        "products_title": "Et les produits ?",
        "products_intro": "Notez ceux que vous voulez ; chaque produit est facultatif.",
        "product_legend": "Votre note pour {name}",
        "product_comment": "Votre commentaire sur {name}",
        "error_product_rating_missing": "Choisissez une note pour ce produit, ou laissez son commentaire vide.",
        "your_products": "Vos avis sur les produits",
        "withdraw_products": "Vos avis sur les produits de cette commande sont retirés avec lui.",
    },
    "en": {
        "title": "Your review of {shop}",
        "intro": "Thank you for your order {reference} of {date}. What did you think?",
        "intro_no_date": "Thank you for your order {reference}. What did you think?",
        "legend": "Your overall rating",
        "required": "required",
        "r1": "Very poor", "r2": "Poor", "r3": "Average", "r4": "Good", "r5": "Excellent",
        "stars": "{n} out of 5",
        "comment": "Your comment",
        "optional": "optional",
        "counter": "{n} / {max} characters",
        "submit": "Send my review",
        "error_rating_missing": "Choose a rating from 1 to 5.",
        "error_rating_invalid": "The rating must be between 1 and 5.",
        "error_comment_too_long": "Your comment is longer than {max} characters ({n} now).",
        "error_comment_invalid": "This comment is not valid.",
        "error_summary": "Your review was not sent: please correct the field shown.",
        "not_received_title": "Not received your order yet?",
        "not_received_text": "We will write to you again in {days} days.",
        "not_received_button": "I have not received my order yet",
        "postponed_title": "Noted",
        "postponed_text": "We will send you the invitation to review your order again on {date}.",
        "postponed_early": "Has your order arrived in the meantime? You can already leave your review below.",
        "postponed_once_title": "Already postponed",
        "postponed_once_text": "You already asked to be invited later; we will write to you on {date}.",
        "thanks_title": "Thank you for your review!",
        "thanks_text": "Your review of {shop} has been recorded.",
        "already_title": "You have already left a review",
        "already_text": "Only one review per order is possible; yours about {shop} is recorded.",
        "your_review": "Your review",
        "share_title": "Share it on {platform} too",
        "share_text": "The button copies your review and opens the {platform} page of {shop}: just paste it there.",
        "share_button": "Copy my review and open {platform}",
        "copied": "Review copied: paste it on the page that just opened.",
        "copy_failed": "Automatic copy did not work: select the text above to copy it.",
        "redirect": "You will be taken to {platform} in {seconds} seconds.",
        "redirect_cancel": "Stay on this page",
        "redirect_cancelled": "Redirect cancelled.",
        "expired_title": "This link has expired",
        "expired_text": "The link to review {shop} is valid for {days} days after the invitation was sent.",
        "closed_title": "This link is no longer valid",
        "closed_text": "The invitation to review this order from {shop} was cancelled.",
        "platform_other": "the review site",
        "status_pending": "Your review holds contact details or a link: it will be published once King-Avis moderation has checked it.",
        "status_published": "Your review is published on the review page of {shop}.",
        "see_page": "See the review page",
        "status_rejected": "King-Avis moderation did not publish your review, for this reason: {reason}.",
        "reply_title": "Reply from {shop}",
        "withdraw_title": "Withdraw my review",
        "withdraw_text": "You can withdraw your review at any time: it leaves the review page of {shop} and no longer counts in its rating.",
        "withdraw_button": "Withdraw my review",
        "withdrawn_title": "Your review is withdrawn",
        "withdrawn_text": "Your review of {shop} is no longer published nor counted in its rating.",
        "no_review_title": "No review to withdraw",
        "no_review_text": "You have not left a review for this order from {shop}.",
        "products_title": "And the products?",
        "products_intro": "Rate the ones you want; every product is optional.",
        "product_legend": "Your rating for {name}",
        "product_comment": "Your comment on {name}",
        "error_product_rating_missing": "Choose a rating for this product, or leave its comment empty.",
        "your_products": "Your product reviews",
        "withdraw_products": "Your reviews of this order's products are withdrawn with it.",
    },
}


# The author's pages after a review (withdraw, restore, correct): kingavis.pages.author.
for _code, _words in AUTHOR_TEXT.items():
    TEXT[_code].update(_words)


def _lang(review_request: ReviewRequest) -> str:
    lang = choose_language(review_request.order.customer_locale, review_request.shop.language)
    return lang if lang in TEXT else "fr"


def _date(value: datetime | None, lang: str, zone: str) -> str:
    if value is None:
        return ""
    return format_date(value.astimezone(ZoneInfo(zone)), format="long", locale=lang)


def _origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _render(template: str, review_request: ReviewRequest, status: int = 200, **extra: Any) -> Response:
    shop = review_request.shop
    order = review_request.order
    lang = _lang(review_request)
    nonce = csp_nonce()  # the response's one nonce, for its styles and its script
    platform = PLATFORM_NAMES.get(shop.balancing_platform or "") or _host(shop.balancing_url) \
        or TEXT[lang]["platform_other"]
    context: dict[str, Any] = {
        "lang": lang,
        "t": TEXT[lang],
        "shop_name": shop.name,
        "reference": order.reference or order.external_id,
        # Only the date the order was placed; never the day King-Avis first heard of it.
        "order_date": _date(order.placed_at, lang, shop.timezone),
        "token": review_request.token,
        "postpone_days": shop.postpone_days,
        "review_link_days": shop.review_link_days,
        "balancing_url": shop.balancing_url,
        "redirect_seconds": shop.balancing_redirect_seconds,
        "platform": platform,
        "nonce": nonce,
        "max_comment": service.MAX_COMMENT_CHARS,
        "ratings": service.RATINGS,
        "errors": {},
        "values": {},
        "products": [],
        "product_reviews": [],
    }
    context.update(extra)
    response = _page(template, status, **context)
    db.session.rollback()  # end the read transaction (SQLite: the write lock) before sending
    # Scripts by nonce only; the share form may lead (303) to the shop's review site.
    form_action = " ".join(filter(None, ["'self'", _origin(context["balancing_url"])]))
    response.headers["Content-Security-Policy"] = (
        # Product images come from the shop's own site (docs/product-reviews.md).
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src https: http:; "
        f"form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
    )
    return response


def _host(url: str | None) -> str:
    return (urlsplit(url).hostname or "") if url else ""


def _message(review_request: ReviewRequest, state: LinkState, status: int, **extra: Any) -> Response:
    return _render("pages/review_message.html", review_request, status, state=state.value, **extra)


def _thanks(review_request: ReviewRequest, review: Review, status: int = 200, *,
            again: bool = False, **extra: Any) -> Response:
    from kingavis.reviews.public import public_url
    from kingavis.reviews.publication import rejection_label

    lang = _lang(review_request)
    reason = rejection_label(review.rejection_reason, lang) if review.rejection_reason else ""
    zone = review_request.shop.timezone
    extra.update(author_context(review, lambda d: _date(d, lang, zone)))
    return _render("pages/review_thanks.html", review_request, status, review=review, again=again,
                   public_url=public_url(review_request.shop), rejection=reason,
                   product_reviews=service.product_reviews_of(review_request), **extra)


def _refusal(review_request: ReviewRequest, state: LinkState) -> Response:
    lang = _lang(review_request)
    if state is LinkState.REVIEWED:
        review = service.review_of(review_request)
        assert review is not None
        return _thanks(review_request, review, 409, again=True)
    if state is LinkState.UNKNOWN:
        return _not_found()
    if state is LinkState.POSTPONED:
        return _message(review_request, state, 409,
                        due=_date(review_request.due_at, lang, review_request.shop.timezone))
    return _message(review_request, state, 410)


def _questionnaire(review_request: ReviewRequest, state: LinkState, status: int = 200,
                   **extra: Any) -> Response:
    lang = _lang(review_request)
    extra.setdefault("due", _date(review_request.due_at, lang, review_request.shop.timezone))
    extra.setdefault("products", service.order_products(review_request.order, review_request.shop))
    return _render("pages/review.html", review_request, status,
                   postponed=state is LinkState.POSTPONED, **extra)


@blueprint.get("/r/<token>")
@by_token
def review_page(review_request: ReviewRequest) -> Response:
    elsewhere = third_party_redirect(review_request)
    if elsewhere:
        # An invitation that Review Balancing sent to the shop's third-party review page.
        db.session.rollback()
        return keep_private(redirect(elsewhere, 302))
    review = service.review_of(review_request)
    if review is not None:
        return _thanks(review_request, review)
    state = service.link_state(review_request, review=None, check_review=False)
    if state in (LinkState.OPEN, LinkState.POSTPONED):
        # The text part's link leads here directly: opening the questionnaire is a click.
        count_click(review_request, request.headers.get("User-Agent"), request.method)
        db.session.commit()
        return _questionnaire(review_request, state)
    return _refusal(review_request, state)


# The questionnaire's product fields: product-<i>-id (hidden), product-<i>-rating and
# product-<i>-comment, i the product's position (docs/product-reviews.md).
MAX_PRODUCT_FIELDS = 10


def _product_answers(form: Any) -> dict[str, tuple[str | None, str]]:
    answers: dict[str, tuple[str | None, str]] = {}
    for i in range(MAX_PRODUCT_FIELDS):
        product_id = form.get(f"product-{i}-id")
        if product_id:
            answers[product_id] = (form.get(f"product-{i}-rating"),
                                   form.get(f"product-{i}-comment", ""))
    return answers


def _field_errors(lang: str, errors: dict[str, str], comment: str,
                  answers: dict[str, tuple[str | None, str]] | None = None) -> dict[str, str]:
    """Each error worded for the customer: ``rating``/``comment`` for the shop review,
    ``product.<id>.rating``/``product.<id>.comment`` for a product."""
    t = TEXT[lang]
    worded: dict[str, str] = {}
    for field, code in errors.items():
        text = comment
        key = f"error_{field}_{code}"
        if field.startswith("product."):
            product_id, _, name = field[len("product."):].rpartition(".")
            text = (answers or {}).get(product_id, (None, ""))[1] or ""
            key = f"error_product_{name}_{code}"
            if key not in t:
                key = f"error_{name}_{code}"
        n = len(text.replace("\r\n", "\n"))
        worded[field] = t[key].format(max=formatting.number(service.MAX_COMMENT_CHARS, lang),
                                       n=formatting.number(n, lang))
    return worded


@blueprint.post("/r/<token>")
@csrf.exempt
@by_token
def submit_review(review_request: ReviewRequest) -> Response:
    rating = request.form.get("rating")
    comment = request.form.get("comment", "")
    answers = _product_answers(request.form)
    lang = _lang(review_request)
    try:
        review = service.submit_review(review_request, rating, comment, products=answers,
                                       locale=lang)
    except service.InvalidReview as exc:
        state = service.link_state(review_request)
        if state not in (LinkState.OPEN, LinkState.POSTPONED):
            return _refusal(review_request, state)
        return _questionnaire(review_request, state, 422,
                              errors=_field_errors(lang, exc.errors, comment, answers),
                              values={"rating": rating or "", "comment": comment,
                                      "products": {k: (r or "", c) for k, (r, c) in answers.items()}})
    except ReviewError as exc:
        return _refusal(review_request, exc.state)
    return _thanks(review_request, review)


@blueprint.post("/r/<token>/not-received")
@csrf.exempt
@by_token
def not_received(review_request: ReviewRequest) -> Response:
    lang = _lang(review_request)
    try:
        due = service.postpone_not_received(review_request)
    except ReviewError as exc:
        return _refusal(review_request, exc.state)
    review_request = db.session.get(ReviewRequest, review_request.id)
    assert review_request is not None
    return _questionnaire(review_request, LinkState.POSTPONED, just_postponed=True,
                          due=_date(due, lang, review_request.shop.timezone))


@blueprint.route("/r/<token>/share", methods=["POST"])
@csrf.exempt
@by_token
def share(review_request: ReviewRequest) -> Response:
    """The thank-you page's share button: count the click, then go to the shop's review site."""
    try:
        url = service.count_share_click(review_request)
    except ReviewError:
        return _not_found()
    return keep_private(redirect(url, 303))

