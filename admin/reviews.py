"""Back-office: the shop's verified reviews (filter by rating, paginated) and the Review
Balancing — Share settings (third-party review page, automatic redirect)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response
from wtforms import IntegerField, SelectChoice, SelectField, URLField
from wtforms.validators import NumberRange, Optional

from kingavis import audit
from kingavis.extensions import db
from kingavis.models import Review, Shop
from kingavis.reviews import MAX_REDIRECT_SECONDS, set_balancing
from kingavis.shops import ShopError

from . import blueprint
from .access import page_arg, shop_view
from .pending import Display

PER_PAGE = 25

PLATFORM_LABELS = {"google": "Google", "trustpilot": "Trustpilot", "other": lazy_gettext("Autre site")}
CALLBACK_LABELS = {
    "pending": lazy_gettext("notification en attente"),
    "delivered": lazy_gettext("notification reçue"),
    "failed": lazy_gettext("notification en échec"),
}


class ReviewFilterForm(FlaskForm):
    class Meta:
        csrf = False

    rating = SelectField(
        lazy_gettext("Note"),
        choices=[SelectChoice("", lazy_gettext("Toutes"))]
        + [SelectChoice(str(n), f"{n} ★") for n in range(5, 0, -1)],
        validators=[Optional()],
    )


class BalancingForm(FlaskForm):
    platform = SelectField(
        lazy_gettext("Plateforme"),
        choices=[SelectChoice(k, v) for k, v in PLATFORM_LABELS.items()],
    )
    url = URLField(lazy_gettext("Adresse de la page d'avis (vide : désactivé)"), validators=[Optional()])
    redirect_seconds = IntegerField(
        lazy_gettext("Redirection automatique après (secondes, vide : aucune)"),
        validators=[Optional(), NumberRange(min=1, max=MAX_REDIRECT_SECONDS)],
    )


def _filtered(shop: Shop, rating: int | None) -> Any:
    query = (
        select(Review)
        .where(Review.shop_id == shop.id)
        .options(joinedload(Review.order))
        .order_by(Review.created_at.desc(), Review.id.desc())
    )
    if rating is not None:
        query = query.where(Review.rating == rating)
    return query


def _balancing_form(shop: Shop, formdata: Any = None) -> BalancingForm:
    form = BalancingForm(formdata=formdata)
    if formdata is None:
        form.platform.data = shop.balancing_platform or "google"
        form.url.data = shop.balancing_url or ""
        form.redirect_seconds.data = shop.balancing_redirect_seconds
    return form


def _page(shop: Shop, balancing: BalancingForm, status: int = 200) -> tuple[str, int]:
    form = ReviewFilterForm(formdata=request.args)
    pagination = None
    params: dict[str, str] = {}
    if form.validate():
        rating = int(form.rating.data) if form.rating.data else None
        if rating is not None:
            params["rating"] = str(rating)
        pagination = db.paginate(
            _filtered(shop, rating),
            page=page_arg(),
            per_page=PER_PAGE,
            error_out=False,
        )
    stats = db.session.execute(
        select(func.count(Review.id), func.avg(Review.rating)).where(Review.shop_id == shop.id)
    ).one()
    return render_template(
        "admin/reviews.html",
        shop=shop,
        form=form,
        params=params,
        pagination=pagination,
        total=stats[0],
        average=float(stats[1]) if stats[1] is not None else None,
        show=Display(shop),
        balancing=balancing,
        platform_labels=PLATFORM_LABELS,
        callback_labels=CALLBACK_LABELS,
        has_timeline="admin.order_timeline" in blueprint_endpoints(),
    ), status


def blueprint_endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@blueprint.route("/shops/<shop_key>/reviews")
@shop_view
def reviews(shop: Shop) -> tuple[str, int]:
    return _page(shop, _balancing_form(shop))


@blueprint.route("/shops/<shop_key>/reviews/balancing", methods=["POST"])
@shop_view
def reviews_balancing(shop: Shop) -> Response | tuple[str, int]:
    form = _balancing_form(shop, request.form)
    if not form.validate():
        return _page(shop, form, 422)
    url = (form.url.data or "").strip() or None
    seconds = form.redirect_seconds.data
    before = {"platform": shop.balancing_platform, "url": shop.balancing_url,
              "redirect_seconds": shop.balancing_redirect_seconds}
    audit.record(current_user, "balancing.update", shop=shop, target_type="shop", target_id=shop.id,
                 details={"before": before,
                          "after": {"platform": form.platform.data if url else None, "url": url,
                                    "redirect_seconds": seconds}})
    try:
        set_balancing(shop, form.platform.data, url, seconds)
    except ShopError as exc:
        db.session.rollback()
        form.url.errors = [*form.url.errors, _translate(str(exc))]
        return _page(shop, form, 422)
    flash(gettext("Réglages de partage enregistrés."), "success")
    return redirect(url_for("admin.reviews", shop_key=shop.key))


def _translate(message: str) -> str:
    """The service's English messages, in the back-office language."""
    if "needs a review page URL" in message:
        return gettext("Une redirection automatique demande l'adresse d'une page d'avis.")
    if "http" in message:
        return gettext("L'adresse doit commencer par https:// ou http://.")
    return gettext("Adresse non valable : %(detail)s", detail=message)
