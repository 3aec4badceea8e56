"""Back-office: the operators' moderation queue (docs/publication.md).

Operators are King-Avis accounts (``users create --operator``) that manage no shop: every
shop page answers them 404 (``shop_view``), and these pages answer 404 to merchants. The queue
shows only what moderation needs — the shop's name, the review's rating, comment and dates, a
report's reason — never the customer, the order or the shop's settings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any, TypeVar

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectChoice, SelectField

from admin import blueprint
from admin.pending import Display
from kingavis.reviews.actions import (
    ActionError,
    moderation_queue,
    operator_publish,
    operator_reject,
)
from kingavis.reviews.public import contact_email
from kingavis.reviews.publication import REJECTION_REASONS

F = TypeVar("F", bound=Callable[..., Any])
# Operators read dates on King-Avis's own clock: the service is French.
OPERATOR_CLOCK: Any = SimpleNamespace(timezone="Europe/Paris")


def operator_view(view: F) -> F:
    """Login required, and the account must be an operator's (404 for a merchant)."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_operator:
            abort(404)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class DecisionForm(FlaskForm):
    """Publish (no reason) or reject (a reason from the published list)."""

    reason = SelectField(
        lazy_gettext("Motif du refus"),
        choices=[SelectChoice(code, label) for code, label in REJECTION_REASONS.items()],
    )


STATE_ERRORS = {
    "state": lazy_gettext("Cet avis n'attend plus de décision : une autre décision a déjà été prise."),
    "invalid": lazy_gettext("Choisissez un motif de refus dans la liste."),
}


def _queue_page(status: int = 200, error: str | None = None) -> tuple[str, int]:
    items, total = moderation_queue()
    return render_template(
        "admin/moderation.html", items=items, total=total, form=DecisionForm(formdata=None),
        reasons=REJECTION_REASONS, error=error, show=Display(OPERATOR_CLOCK), lang=str(get_locale()),
        contact=contact_email(),
    ), status


@blueprint.route("/moderation")
@operator_view
def moderation() -> tuple[str, int]:
    return _queue_page()


@blueprint.route("/moderation/reviews/<int:review_id>/publish", methods=["POST"])
@operator_view
def moderation_publish(review_id: int) -> Response | tuple[str, int]:
    form = FlaskForm()
    if not form.validate():
        return _queue_page(400, gettext("Le formulaire a expiré : recommencez."))
    try:
        action = operator_publish(review_id, current_user._get_current_object())
    except ActionError as exc:
        return _queue_page(409, str(STATE_ERRORS.get(exc.code, STATE_ERRORS["state"])))
    flash(gettext("Avis publié.") if action == "moderation.publish"
          else gettext("Signalement écarté : l'avis reste publié."), "success")
    return redirect(url_for("admin.moderation"))


@blueprint.route("/moderation/reviews/<int:review_id>/reject", methods=["POST"])
@operator_view
def moderation_reject(review_id: int) -> Response | tuple[str, int]:
    form = DecisionForm(formdata=request.form)
    if not form.validate():
        if "csrf_token" in form.errors:
            return _queue_page(400, gettext("Le formulaire a expiré : recommencez."))
        return _queue_page(422, str(STATE_ERRORS["invalid"]))
    try:
        operator_reject(review_id, current_user._get_current_object(), form.reason.data)
    except ActionError as exc:
        return _queue_page(422 if exc.code == "invalid" else 409,
                           str(STATE_ERRORS.get(exc.code, STATE_ERRORS["state"])))
    flash(gettext("Avis refusé ; son auteur reçoit le motif par email."), "success")
    return redirect(url_for("admin.moderation"))
