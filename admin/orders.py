"""Back-office: find an order, and its timeline ("why did, or didn't, this customer get an email?")."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext

from admin import blueprint
from admin.access import get_or_404, shop_view
from admin.listing import QueryForm, paginate, search_field
from admin.pending import Display
from kingavis.models import Order, Shop, utcnow
from kingavis.review_requests.notes import describe_note
from kingavis.review_requests.queries import search_orders
from kingavis.review_requests.timeline import timeline
from kingavis.shops.rules import status_options

PER_PAGE = 50

OUTCOME_LABELS = {
    "scheduled": lazy_gettext("demande programmée"),
    "cancelled": lazy_gettext("demande annulée"),
    "suppressed": lazy_gettext("demande non envoyée (règle)"),
    "unchanged": lazy_gettext("aucun changement pour la demande"),
    "recorded": lazy_gettext("enregistré, pas de demande concernée"),
    "ignored_stale": lazy_gettext("ignoré (ancien)"),
}


class OrderSearchForm(QueryForm):
    q = search_field(lazy_gettext("Référence ou email"))


@blueprint.route("/shops/<shop_key>/orders")
@shop_view
def orders(shop: Shop) -> str:
    form = OrderSearchForm(formdata=request.args)
    pagination = None
    q = ""
    if form.validate():
        q = (form.q.data or "").strip()
        pagination = paginate(search_orders(shop, q), PER_PAGE)
    return render_template(
        "admin/timeline_search.html",
        shop=shop,
        form=form,
        q=q,
        params={"q": q} if q else {},
        pagination=pagination,
        show=Display(shop),
    )


@blueprint.route("/shops/<shop_key>/orders/<int:order_id>")
@shop_view
def order_timeline(shop: Shop, order_id: int) -> str:
    order: Order = get_or_404(Order, order_id, shop)
    now = utcnow()
    rule = shop.active_rule
    names = dict(status_options(shop))
    trigger_names = ", ".join(
        f"{names[i]} ({i})" if i in names else i for i in (rule.trigger_status_ids or ())
    ) if rule is not None else ""
    return render_template(
        "admin/timeline.html",
        shop=shop,
        order=order,
        rule=rule,
        trigger_names=trigger_names,
        request_=order.review_request,
        entries=timeline(order),
        show=Display(shop, now),
        outcome_labels=OUTCOME_LABELS,
        describe_note=describe_note,
        search_form=OrderSearchForm(formdata=None),
    )
