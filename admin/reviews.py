"""Back-office: the shop's verified reviews, shop and product reviews (filter by rating and by
product, paginated), the merchant's reply and report, each product's average and count, and
the Google product review feed (docs/product-reviews.md).

The Review Balancing settings live on one page only, **Collecte d'avis**; this page says
what they are and links there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response
from wtforms import SelectChoice, SelectField
from wtforms.validators import Optional

from admin import blueprint
from admin.access import get_or_404, shop_view
from admin.listing import QueryForm, filter_select, paginate
from admin.pending import Display
from kingavis.csp import csp_nonce, default_csp
from kingavis.models import Review, ReviewState, Shop
from kingavis.reviews.actions import (
    MAX_REPLY_CHARS,
    MAX_REPORT_CHARS,
    ActionError,
    reply_to_review,
    report_review,
    reviews_with_reports,
)
from kingavis.reviews.feed import GOOGLE_MINIMUM_REVIEWS, feed_version
from kingavis.reviews.products import product_stats
from kingavis.reviews.public import rating_summary
from kingavis.reviews.publication import rejection_label

PER_PAGE = 25
SHOP_ONLY = "__shop__"

PLATFORM_LABELS = {"google": "Google", "trustpilot": "Trustpilot", "other": lazy_gettext("Autre site")}
STATUS_LABELS = {
    ReviewState.PENDING.value: lazy_gettext("En attente de modération"),
    ReviewState.PUBLISHED.value: lazy_gettext("Publié"),
    ReviewState.REJECTED.value: lazy_gettext("Refusé par la modération"),
    ReviewState.WITHDRAWN.value: lazy_gettext("Retiré par son auteur"),
}
CALLBACK_LABELS = {
    "pending": lazy_gettext("notification en attente"),
    "delivered": lazy_gettext("notification reçue"),
    "failed": lazy_gettext("notification en échec"),
}


class ReviewFilterForm(QueryForm):
    rating = filter_select(lazy_gettext("Note"), lazy_gettext("Toutes"),
                           [SelectChoice(str(n), f"{n} ★") for n in range(5, 0, -1)])
    # "" every review, SHOP_ONLY the shop reviews, else one product's id.
    product = SelectField(lazy_gettext("Avis sur"), choices=[], validators=[Optional()])



def _filtered(shop: Shop, rating: int | None, product: str | None = None) -> Any:
    query = (
        select(Review)
        .where(Review.shop_id == shop.id)
        .options(joinedload(Review.order))
        .order_by(Review.created_at.desc(), Review.id.desc())
    )
    if rating is not None:
        query = query.where(Review.rating == rating)
    if product == SHOP_ONLY:
        query = query.where(Review.product_id.is_(None))
    elif product:
        query = query.where(Review.product_id == product)
    return query



def _page(shop: Shop, status: int = 200) -> Response:
    form = ReviewFilterForm(formdata=request.args)
    products = product_stats(shop.id)
    form.product.choices = [SelectChoice("", lazy_gettext("La boutique et ses produits")),
                            SelectChoice(SHOP_ONLY, lazy_gettext("La boutique seulement"))] + [
        SelectChoice(p.id, f"{p.name or p.id} ({p.id})") for p in products]
    pagination = None
    params: dict[str, str] = {}
    if form.validate():
        rating = int(form.rating.data) if form.rating.data else None
        product = form.product.data or None
        if rating is not None:
            params["rating"] = str(rating)
        if product:
            params["product"] = product
        pagination = paginate(_filtered(shop, rating, product), PER_PAGE)
    # The header counts what the public sees: published reviews only, the one average.
    summary = rating_summary(shop.id)
    feed = feed_version(shop)
    shown = [r.id for r in pagination.items] if pagination is not None else []
    response = make_response(render_template(
        "admin/reviews.html",
        shop=shop,
        form=form,
        params=params,
        pagination=pagination,
        total=summary.count,
        average=summary.average,
        show=Display(shop),
        platform_labels=PLATFORM_LABELS,
        callback_labels=CALLBACK_LABELS,
        has_timeline="admin.order_timeline" in blueprint_endpoints(),
        status_labels=STATUS_LABELS,
        reported=reviews_with_reports(shop, shown),
        rejection_label=lambda code: rejection_label(code, str(get_locale() or "fr")),
        max_reply=MAX_REPLY_CHARS,
        max_report=MAX_REPORT_CHARS,
        products=products,
        product_names={p.id: p.name for p in products},
        feed=feed,
        feed_url=f"{current_app.config['KINGAVIS_BASE_URL']}/feeds/v1/{shop.slug}/"
                 "google-product-reviews.xml",
        google_minimum=GOOGLE_MINIMUM_REVIEWS,
    ), status)
    # Product images come from the shop's own site (docs/product-reviews.md); the rest of the
    # policy is the default one.
    response.headers["Content-Security-Policy"] = default_csp(csp_nonce()).replace(
        "img-src 'self' data:", "img-src 'self' data: https: http:")
    return response


def blueprint_endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@blueprint.route("/shops/<shop_key>/reviews")
@shop_view
def reviews(shop: Shop) -> Response:
    return _page(shop)


# --- The merchant's reply and report (docs/publication.md): never a way to delete or hide a review ---

ACTION_ERRORS = {
    ("reply", "invalid"): lazy_gettext("La réponse doit compter de 1 à %(max)d caractères."),
    ("reply", "state"): lazy_gettext("Seul un avis publié peut recevoir une réponse."),
    ("report", "invalid"): lazy_gettext("Le motif du signalement doit compter de 3 à %(max)d caractères."),
    ("report", "state"): lazy_gettext("Seul un avis publié peut être signalé."),
    ("report", "reported"): lazy_gettext("Cet avis est déjà signalé : la modération va l'examiner."),
}


def _refused(shop: Shop, what: str, code: str) -> Response:
    limit = MAX_REPLY_CHARS if what == "reply" else MAX_REPORT_CHARS
    message = ACTION_ERRORS.get((what, code), ACTION_ERRORS[(what, "state")])
    flash(str(message) % {"max": limit}, "error")
    return _page(shop, 422 if code == "invalid" else 409)


def _row_action(shop: Shop, review_id: int, what: str,
                act: Callable[[Review], str | None]) -> Response:
    """A row form's action on one of the shop's reviews (404 for another's): the CSRF check
    (the text itself is checked by the service), then ``act``, which calls the service and
    gives the message to flash (None: nothing changed); back to the review in the list."""
    review = get_or_404(Review, review_id, shop)
    if not FlaskForm(formdata=request.form).validate():
        flash(gettext("Le formulaire a expiré : recommencez."), "error")
        return _page(shop, 400)
    try:
        done = act(review)
    except ActionError as exc:
        return _refused(shop, what, exc.code)
    if done:
        flash(done, "success")
    return redirect(url_for("admin.reviews", shop_key=shop.key) + f"#review-{review_id}")


@blueprint.route("/shops/<shop_key>/reviews/<int:review_id>/reply", methods=["POST"])
@shop_view
def review_reply(shop: Shop, review_id: int) -> Response:
    def reply(review: Review) -> str | None:
        changed = reply_to_review(shop, review.id, current_user._get_current_object(),
                                  request.form.get("text"))
        return gettext("Réponse publiée.") if changed else None

    return _row_action(shop, review_id, "reply", reply)


@blueprint.route("/shops/<shop_key>/reviews/<int:review_id>/report", methods=["POST"])
@shop_view
def review_report(shop: Shop, review_id: int) -> Response:
    def report(review: Review) -> str:
        report_review(shop, review.id, current_user._get_current_object(),
                      request.form.get("reason"))
        return gettext("Avis signalé : il reste publié jusqu'à la décision de la modération.")

    return _row_action(shop, review_id, "report", report)
