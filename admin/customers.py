"""Back-office: a customer's personal data (docs/personal-data.md) — find it by email, download it, erase it.

The address travels in POST bodies only (never in a URL, so never in an access log). The
download is a JSON attachment, never cached, and audited; the erasure asks for confirmation
first and is audited too. Audit entries hold the address's keyed hash, never the address.
The work is done by ``kingavis.personal_data``; this module validates, calls it and renders.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from admin import blueprint
from admin.access import shop_view
from admin.formatting import plural
from kingavis.models import Shop
from kingavis.personal_data.customers import MAX_EMAIL, PersonalDataError, validate_email
from kingavis.personal_data.erasure import erase_customer
from kingavis.personal_data.export import export_customer, record_export


def _address(form: FlaskForm, field: Any) -> None:
    try:
        field.normalized = validate_email(field.data or "")
    except PersonalDataError:
        raise ValidationError(str(lazy_gettext(
            "Indiquez une adresse email valable, par exemple client@exemple.fr."))) from None


class CustomerForm(FlaskForm):
    email = StringField(lazy_gettext("Adresse email du client"),
                        validators=[DataRequired(lazy_gettext("Indiquez l'adresse email du client.")),
                                    Length(max=MAX_EMAIL), _address])


class EraseForm(CustomerForm):
    confirm = HiddenField()


def _page(shop: Shop, form: CustomerForm, status: int = 200, **context: Any) -> Response:
    return make_response(render_template("admin/customers.html", shop=shop, form=form,
                                         **context), status)


def _posted_address(shop: Shop, form: CustomerForm) -> str:
    """The normalized address of a posted form; an invalid form ends the request with the
    page showing its errors (422)."""
    if not form.validate():
        abort(_page(shop, form, 422))
    return form.email.normalized


def _found(shop: Shop, form: CustomerForm, email: str, **context: Any) -> Response:
    """The page with what the shop holds about ``email``, and the button that erases it."""
    document = export_customer(shop, email)
    return _page(shop, form, email=email, summary=_summary(document),
                 erase_form=EraseForm(formdata=None, data={"email": email}), **context)


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    orders = document["orders"]
    return {
        "orders": sum(1 for o in orders if o["customer"]["email"]),
        "erased_orders": sum(1 for o in orders if not o["customer"]["email"]),
        "requests": sum(1 for o in orders if o["review_request"] is not None),
        "reviews": sum(1 for o in orders if o["review"] is not None),
        "unsubscribed": document["unsubscription"] is not None,
    }


@blueprint.route("/shops/<shop_key>/customers", methods=["GET", "POST"])
@shop_view
def customers(shop: Shop) -> Response:
    from flask import request

    if request.method == "GET":
        return _page(shop, CustomerForm(formdata=None))
    form = CustomerForm()
    return _found(shop, form, _posted_address(shop, form))


@blueprint.route("/shops/<shop_key>/customers/export", methods=["POST"])
@shop_view
def customer_export(shop: Shop) -> Response:
    email = _posted_address(shop, CustomerForm())
    document = export_customer(shop, email)
    record_export(shop, email, user=current_user, source="back_office")
    response = make_response(json.dumps(document, ensure_ascii=False, indent=2))
    response.mimetype = "application/json"
    # A fixed name: the address must not end up in a header or a file name.
    response.headers["Content-Disposition"] = 'attachment; filename="customer-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/shops/<shop_key>/customers/erase", methods=["POST"])
@shop_view
def customer_erase(shop: Shop) -> Response:
    form = EraseForm()
    email = _posted_address(shop, form)
    if form.confirm.data != "yes":
        return _found(shop, CustomerForm(formdata=None, data={"email": email}), email,
                      confirm=True)
    result = erase_customer(shop, email, source="back_office", user=current_user)
    counts = result.summary
    parts = [
        plural("%(num)d commande effacée", "%(num)d commandes effacées", counts["orders"]),
        plural("%(num)d demande d'avis annulée", "%(num)d demandes d'avis annulées",
               counts["review_requests_cancelled"]),
        plural("%(num)d avis retiré", "%(num)d avis retirés", counts["reviews_withdrawn"]),
    ]
    flash(gettext("Données du client effacées\u00a0: %(parts)s.", parts=", ".join(parts)), "success")
    return redirect(url_for("admin.customers", shop_key=shop.key))
