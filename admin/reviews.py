"""Back-office: the shop's verified reviews (filter by rating, paginated).

The Review Balancing settings live on one page only, **Collecte d'avis**; this page says
what they are and links there."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice, SelectField
from wtforms.validators import Optional

from kingavis.extensions import db
from kingavis.models import Review, Shop

from . import blueprint
from .access import shop_view
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


def _page(shop: Shop, status: int = 200) -> tuple[str, int]:
    form = ReviewFilterForm(formdata=request.args)
    pagination = None
    params: dict[str, str] = {}
    if form.validate():
        rating = int(form.rating.data) if form.rating.data else None
        if rating is not None:
            params["rating"] = str(rating)
        pagination = db.paginate(
            _filtered(shop, rating),
            page=max(request.args.get("page", 1, type=int) or 1, 1),
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
    return _page(shop)
