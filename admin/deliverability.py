"""Back-office: deliverability (docs/deliverability.md).

For the merchant: the shop's suppressed addresses (bounced, complained), each removable after a
warning, and the bounce and complaint rates shown on the dashboard and the statistics (with the
banner of an automatic pause). For the operator: the messages kept because they could not be
read or named no email of ours, and the sending domain's DNS check. The work is done by
``kingavis.deliverability``; this module validates, calls it and renders.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from admin import blueprint
from admin.access import shop_view
from admin.moderation import operator_view
from kingavis.deliverability import service
from kingavis.deliverability.domain import DomainCheckError, check_domain
from kingavis.models import Shop


@blueprint.app_context_processor
def _deliverability_context() -> dict[str, Any]:
    def deliverability_of(shop: Shop) -> dict[str, Any]:
        """The shop's rates over 30 days and, if its sending was paused for its complaint
        rate, the figures that paused it."""
        return {"rates": service.rates(shop), "auto_pause": service.automatic_pause(shop),
                "limit": service.COMPLAINT_RATE_LIMIT,
                "min_emails": service.COMPLAINT_RATE_MIN_EMAILS}

    return {"deliverability_of": deliverability_of}


def _page(shop: Shop, status: int = 200, confirm: int | None = None) -> tuple[str, int]:
    return render_template("admin/suppressions.html", shop=shop,
                           suppressions=service.suppressions(shop), confirm=confirm), status


@blueprint.route("/shops/<shop_key>/suppressions")
@shop_view
def suppressions(shop: Shop) -> tuple[str, int]:
    return _page(shop)


@blueprint.route("/shops/<shop_key>/suppressions/<int:suppression_id>/remove", methods=["POST"])
@shop_view
def suppression_remove(shop: Shop, suppression_id: int) -> Response | tuple[str, int]:
    if not any(row.id == suppression_id for row in service.suppressions(shop)):
        abort(404)
    if request.form.get("confirm") != "yes":
        return _page(shop, confirm=suppression_id)
    try:
        service.remove_suppression(shop, current_user._get_current_object(), suppression_id)
    except service.SuppressionError:
        abort(404)
    flash(gettext("Adresse rétablie : ses prochaines commandes recevront de nouveau une demande "
                  "d'avis."), "success")
    return redirect(url_for("admin.suppressions", shop_key=shop.key))


@blueprint.route("/operator/inbound")
@operator_view
def operator_inbound() -> str:
    return render_template("admin/inbound.html", messages=service.kept_messages())


@blueprint.route("/operator/domain")
@operator_view
def operator_domain() -> tuple[str, int]:
    config = current_app.config
    try:
        findings = check_domain(config, nameserver=config.get("DELIVERABILITY_NAMESERVER"))
        error = None
    except DomainCheckError as exc:
        findings, error = [], str(exc)
    return render_template("admin/domain.html", findings=findings, error=error), 200
