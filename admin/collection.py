"""Back-office: the review-collection settings of a shop (issue 5) on one page.

One form for the settings — questionnaire link, reminder, Review Balancing (share page,
automatic redirect, email split) and the ``review.created`` callback URL — so a merchant saves
them together and, when any value is invalid, every bad field gets its message and nothing is
saved. The callback signing secret has its own two buttons: show it (a POST, audited, never
cached) and regenerate it (audited).

The work is done by the shop's settings service, each function validated and committing:
``kingavis.shops.settings`` (``set_link_settings``, ``set_product_review_count``) and
``kingavis.shops.collection_settings`` (``set_reminder``, ``set_split``, ``set_balancing``,
``set_retention``, ``set_callback``). The form checks everything first (same rules, French
messages), so the services are only called with values they accept.

A new callback URL must also lead to a public server unless ``KINGAVIS_CALLBACK_ALLOW_PRIVATE``
is on (``destinations.check_destination``: the service POSTs from inside the hosting network, so a
merchant must not aim it at 127.0.0.1, 10.x or the cloud metadata address). A host name that
does not resolve yet is saved with a warning: the check is repeated on every attempt.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from admin import blueprint
from admin.access import shop_view
from kingavis.accounts import audit
from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.shops import collection_settings as shop_collection
from kingavis.shops import destinations
from kingavis.shops import settings as shop_settings
from kingavis.shops.collection_settings import (
    MAX_REDIRECT_SECONDS,
    MAX_RETENTION_MONTHS,
    MIN_RETENTION_MONTHS,
)
from kingavis.shops.service import ShopError

DEFAULT_REDIRECT_SECONDS = 30
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_WHOLE = re.compile(r"\d{1,9}", re.ASCII)

PLATFORMS = [
    ("google", "Google"),
    ("trustpilot", "Trustpilot"),
    ("other", lazy_gettext("Autre site")),
]


class WholeNumberField(StringField):
    """A whole number in [low, high] typed by the merchant; ``number`` holds it once valid.

    The message may name the bounds as ``%(min)s`` and ``%(max)s``, as WTForms' NumberRange
    does. ``required=False``: left empty, ``number`` is None (the form decides what that means).
    """

    def __init__(self, label: Any, low: int, high: int, message: Any, *,
                 required: bool = True, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.low, self.high, self.message, self.required = low, high, message, required
        self.number: int | None = None

    def parse(self) -> None:
        raw = (self.data or "").strip()
        self.number = None
        if not raw and not self.required:
            return
        if not _WHOLE.fullmatch(raw) or not self.low <= int(raw) <= self.high:
            raise ValidationError(str(self.message) % {"min": self.low, "max": self.high})
        self.number = int(raw)


class CollectionForm(FlaskForm):
    review_link_days = WholeNumberField(
        lazy_gettext("Validité du lien (jours)"),
        shop_settings.MIN_LINK_DAYS, shop_settings.MAX_LINK_DAYS,
        lazy_gettext("La validité du lien doit être un nombre entier de jours entre %(min)s et "
                     "%(max)s."),
    )
    postpone_days = WholeNumberField(
        lazy_gettext("Report « pas encore reçu » (jours)"),
        shop_settings.MIN_POSTPONE_DAYS, shop_settings.MAX_POSTPONE_DAYS,
        lazy_gettext("Le report doit être un nombre entier de jours entre %(min)s et %(max)s."),
    )
    reminder_enabled = BooleanField(lazy_gettext("Envoyer une relance"))
    reminder_days = WholeNumberField(
        lazy_gettext("Relance après (jours)"),
        shop_collection.MIN_REMINDER_DAYS, shop_collection.MAX_REMINDER_DAYS,
        lazy_gettext("La relance doit partir entre %(min)s et %(max)s jours après le premier "
                     "email."),
    )
    balancing_platform = SelectField(
        lazy_gettext("Plateforme"),
        choices=[SelectChoice(k, v) for k, v in PLATFORMS],
        validate_choice=False,
    )
    balancing_url = StringField(lazy_gettext("Adresse de la page d'avis (vide\u00a0: désactivé)"))
    redirect_enabled = BooleanField(lazy_gettext("Rediriger automatiquement après l'avis"))
    redirect_seconds = WholeNumberField(
        lazy_gettext("Redirection après (secondes)"), 1, MAX_REDIRECT_SECONDS,
        lazy_gettext("La redirection doit avoir lieu entre 1 et %(max)s secondes."),
        required=False,
    )
    split_percent = WholeNumberField(
        lazy_gettext("Part des invitations envoyées vers la plateforme (%)"), 0, 100,
        lazy_gettext("La part doit être un pourcentage entier entre 0 et 100."),
    )
    callback_url = StringField(lazy_gettext("Adresse de notification (vide\u00a0: désactivée)"))
    # Left out of a submitted form (an older page): the period is kept as it is.
    retention_months = WholeNumberField(
        lazy_gettext("Durée de conservation (mois)"),
        MIN_RETENTION_MONTHS, MAX_RETENTION_MONTHS,
        lazy_gettext("La durée de conservation doit être un nombre entier de mois entre "
                     "%(min)s et %(max)s."),
        required=False,
    )
    # Left out of a submitted form (an older page): the count is kept as it is.
    product_review_count = WholeNumberField(
        lazy_gettext("Produits à évaluer par commande"),
        shop_settings.MIN_PRODUCT_REVIEWS, shop_settings.MAX_PRODUCT_REVIEWS,
        lazy_gettext("Le nombre de produits à évaluer doit être un nombre entier entre %(min)s "
                     "et %(max)s (0 : pas d'avis produits)."),
        required=False,
    )

    # The URL already saved (not checked again: see shop_collection.set_callback), and, after
    # validate(), the host name of a new URL that does not resolve yet (saved with a warning).
    stored_callback_url: str | None = None
    callback_unresolved_host: str | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        checks: list[WholeNumberField] = [self.review_link_days, self.postpone_days,
                                          self.split_percent, self.retention_months,
                                          self.product_review_count]
        if self.reminder_enabled.data:
            checks.append(self.reminder_days)
        if self.redirect_enabled.data:
            checks.append(self.redirect_seconds)
        for field in checks:
            try:
                field.parse()
            except ValidationError as exc:
                field.errors = [*field.errors, str(exc)]
                ok = False
        ok = self._check_balancing() and ok
        ok = self._check_callback() and ok
        return ok

    # Values for the services (only meaningful once validate() returned True).
    def balancing_url_value(self) -> str | None:
        return (self.balancing_url.data or "").strip() or None

    def callback_url_value(self) -> str | None:
        return (self.callback_url.data or "").strip() or None

    def reminder_value(self) -> int | None:
        return self.reminder_days.number if self.reminder_enabled.data else None

    def redirect_value(self) -> int | None:
        if not self.redirect_enabled.data:
            return None
        return self.redirect_seconds.number or DEFAULT_REDIRECT_SECONDS

    def platform_value(self) -> str | None:
        return self.balancing_platform.data if self.balancing_url_value() else None

    def _check_balancing(self) -> bool:
        ok = True
        url = self.balancing_url_value()
        if url is None:
            if self.redirect_enabled.data:
                self.redirect_enabled.errors = [*self.redirect_enabled.errors, gettext(
                    "Une redirection automatique demande l'adresse d'une page d'avis tierce.")]
                ok = False
            if self.split_percent.number:
                self.split_percent.errors = [*self.split_percent.errors, gettext(
                    "Pour envoyer des invitations vers une plateforme tierce, indiquez d'abord "
                    "l'adresse de sa page d'avis.")]
                ok = False
            return ok
        if self.balancing_platform.data not in {k for k, _ in PLATFORMS}:
            self.balancing_platform.errors = [*self.balancing_platform.errors,
                                              gettext("Choisissez Google, Trustpilot ou Autre site.")]
            ok = False
        message = url_error(url)
        if message:
            self.balancing_url.errors = [*self.balancing_url.errors, message]
            ok = False
        return ok

    def _check_callback(self) -> bool:
        url = self.callback_url_value()
        if url is None:
            return True
        message = url_error(url) or callback_scheme_error(url)
        if not message and url != self.stored_callback_url and not destinations.allow_private():
            try:
                if not destinations.check_destination(url):
                    self.callback_unresolved_host = urlsplit(url).hostname
            except destinations.DestinationRefused as exc:
                message = destination_error(exc)
        if message:
            self.callback_url.errors = [*self.callback_url.errors, message]
            return False
        return True


class SecretForm(FlaskForm):
    """The "show" and "regenerate" buttons of the callback secret: CSRF only."""


def url_error(url: str) -> str | None:
    """The service's URL check (http(s), host, no credentials…), with a French message."""
    try:
        shop_collection.validate_http_url(url)
    except ShopError as exc:
        text = str(exc)
        if "longer than" in text:
            return gettext("L'adresse ne doit pas dépasser %(max)s caractères.",
                           max=shop_collection.MAX_URL_CHARS)
        if "spaces" in text:
            return gettext("L'adresse ne doit contenir ni espace ni caractère de contrôle.")
        if "user name" in text:
            return gettext("L'adresse ne doit pas contenir d'identifiant ni de mot de passe.")
        if "host" in text:
            return gettext("L'adresse doit contenir un nom de domaine.")
        if "https:// or http://" in text:
            return gettext("L'adresse doit commencer par https:// ou http://.")
        return gettext("Cette adresse n'est pas valable.")
    return None


def callback_scheme_error(url: str) -> str | None:
    """The callback carries the customer's review: https, except on this machine (tests).

    With private addresses refused, localhost is refused anyway, so the message says https only.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() == "https":
        return None
    if (parts.hostname or "").lower() in LOOPBACK_HOSTS:
        return None
    if not destinations.allow_private():
        return gettext("L'adresse de notification doit commencer par https://.")
    return gettext("L'adresse de notification doit commencer par https:// (http:// n'est "
                   "accepté que pour localhost, pour des essais).")


def destination_error(exc: destinations.DestinationRefused) -> str:
    """Why a callback destination was refused, naming the address (and the name behind it)."""
    if exc.literal:
        return gettext("L'adresse %(address)s n'est pas publique\u00a0: les notifications ne partent "
                       "que vers un serveur joignable sur Internet.", address=exc.address)
    return gettext("%(host)s correspond à l'adresse %(address)s, qui n'est pas publique\u00a0: les "
                   "notifications ne partent que vers un serveur joignable sur Internet.",
                   host=exc.host, address=exc.address)


def _current(shop: Shop) -> dict[str, Any]:
    return {
        "review_link_days": shop.review_link_days,
        "postpone_days": shop.postpone_days,
        "reminder_days": shop.reminder_days,
        "balancing_platform": shop.balancing_platform,
        "balancing_url": shop.balancing_url,
        "balancing_redirect_seconds": shop.balancing_redirect_seconds,
        "balancing_split_percent": shop.balancing_split_percent or 0,
        "callback_url": shop.callback_url,
        "retention_months": shop.retention_months,
        "product_review_count": shop.product_review_count,
    }


def _wanted(form: CollectionForm) -> dict[str, Any]:
    url = form.balancing_url_value()
    return {
        "review_link_days": form.review_link_days.number,
        "postpone_days": form.postpone_days.number,
        "reminder_days": form.reminder_value(),
        "balancing_platform": form.platform_value(),
        "balancing_url": url,
        "balancing_redirect_seconds": form.redirect_value() if url else None,
        "balancing_split_percent": form.split_percent.number,
        "callback_url": form.callback_url_value(),
        "retention_months": form.retention_months.number,
        "product_review_count": form.product_review_count.number,
    }


def _form(shop: Shop, formdata: Any = None) -> CollectionForm:
    if formdata is not None:
        form = CollectionForm(formdata=formdata)
        form.stored_callback_url = shop.callback_url
        return form
    return CollectionForm(formdata=None, data={
        "review_link_days": str(shop.review_link_days),
        "postpone_days": str(shop.postpone_days),
        "reminder_enabled": shop.reminder_days is not None,
        "reminder_days": str(shop.reminder_days or 7),
        "balancing_platform": shop.balancing_platform or "google",
        "balancing_url": shop.balancing_url or "",
        "redirect_enabled": shop.balancing_redirect_seconds is not None,
        "redirect_seconds": str(shop.balancing_redirect_seconds or DEFAULT_REDIRECT_SECONDS),
        "split_percent": str(shop.balancing_split_percent or 0),
        "callback_url": shop.callback_url or "",
        "retention_months": str(shop.retention_months),
        "product_review_count": str(shop.product_review_count),
    })


def aria(field: Any, hint_id: str | None = None) -> dict[str, str]:
    """ARIA attributes of an input: its error message when invalid, else its hint."""
    if field.errors:
        return {"aria-invalid": "true", "aria-describedby": f"{field.id}-error"}
    return {"aria-describedby": hint_id} if hint_id else {}


def _render(shop: Shop, form: CollectionForm, status: int = 200,
            secret: str | None = None) -> Response:
    response = make_response(render_template(
        "admin/collection.html",
        shop=shop,
        form=form,
        secret_form=SecretForm(),
        secret=secret,
        max_redirect=MAX_REDIRECT_SECONDS,
        default_redirect=DEFAULT_REDIRECT_SECONDS,
        callback_public_only=not destinations.allow_private(),
        aria=aria,
    ), status)
    if secret is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def _apply(shop: Shop, wanted: dict[str, Any], changed: set[str]) -> None:
    """Call the services for what changed; each commits (the audit entry goes with the first).

    The callback goes first: its destination check depends on DNS, which may have changed
    since the form's check, and when it refuses, nothing has been committed yet.
    """
    actor = audit.log_name(current_user)  # logged: never an address
    if "callback_url" in changed:
        shop_collection.set_callback(shop, wanted["callback_url"])
    if changed & {"review_link_days", "postpone_days"}:
        shop_settings.set_link_settings(shop, wanted["review_link_days"], wanted["postpone_days"])
    if "reminder_days" in changed:
        shop_collection.set_reminder(shop, wanted["reminder_days"], actor=actor)
    balancing = {"balancing_platform", "balancing_url", "balancing_redirect_seconds"}
    split_changed = "balancing_split_percent" in changed
    # The split needs the third-party page: lower it before that page goes, raise it after.
    if split_changed and wanted["balancing_split_percent"] == 0:
        shop_collection.set_split(shop, 0, actor=actor)
        split_changed = False
    if changed & balancing:
        shop_collection.set_balancing(shop, wanted["balancing_platform"], wanted["balancing_url"],
                              wanted["balancing_redirect_seconds"])
    if split_changed:
        shop_collection.set_split(shop, wanted["balancing_split_percent"], actor=actor)
    if "retention_months" in changed:
        shop_collection.set_retention(shop, wanted["retention_months"], actor=actor)
    if "product_review_count" in changed:  # audited by the service, as from the command line
        shop_settings.set_product_review_count(shop, wanted["product_review_count"],
                                               actor=current_user)
    db.session.commit()


@blueprint.route("/shops/<shop_key>/collection", methods=["GET", "POST"])
@shop_view
def collection_settings(shop: Shop) -> Response:
    if request.method == "GET":
        return _render(shop, _form(shop))
    form = _form(shop, request.form)
    if not form.validate():
        return _render(shop, form, 422)
    before, wanted = _current(shop), _wanted(form)
    for kept in ("retention_months", "product_review_count"):
        if wanted[kept] is None:
            wanted[kept] = before[kept]
    changed = {key for key in wanted if wanted[key] != before[key]}
    if not changed:
        flash(gettext("Aucun changement."), "success")
        return redirect(url_for("admin.collection_settings", shop_key=shop.key))
    had_secret = bool(shop.callback_secret)
    audited = sorted(changed - {"product_review_count"})
    if audited:
        audit.record(current_user, "collection.update", shop=shop, target_type="shop",
                     target_id=shop.id,
                     details={"before": {k: before[k] for k in audited},
                              "after": {k: wanted[k] for k in audited}})
    try:
        _apply(shop, wanted, changed)
    except destinations.DestinationRefused as exc:  # DNS changed since the form's check
        db.session.rollback()
        form.callback_url.errors = [*form.callback_url.errors, destination_error(exc)]
        return _render(shop, form, 422)
    except ShopError as exc:  # the form checks the same rules; kept as a safety net
        db.session.rollback()
        flash(gettext("Réglages refusés\u00a0: %(detail)s", detail=str(exc)), "error")
        return _render(shop, form, 422)
    flash(gettext("Réglages de collecte enregistrés."), "success")
    if form.callback_unresolved_host and "callback_url" in changed:
        flash(gettext("Attention\u00a0: %(host)s ne correspond encore à aucune adresse. Les "
                      "notifications échoueront tant que ce nom ne sera pas déclaré dans le DNS.",
                      host=form.callback_unresolved_host), "error")
    if shop.callback_url and not had_secret:
        flash(gettext("Une clé de signature a été créée pour les notifications\u00a0: affichez-la "
                      "ci-dessous et enregistrez-la dans votre boutique."), "success")
    return redirect(url_for("admin.collection_settings", shop_key=shop.key))


def _secret_refused(shop: Shop, message: str) -> Response:
    flash(message, "error")
    return redirect(url_for("admin.collection_settings", shop_key=shop.key))


@blueprint.route("/shops/<shop_key>/collection/secret/reveal", methods=["POST"])
@shop_view
def collection_secret_reveal(shop: Shop) -> Response:
    if not SecretForm().validate_on_submit():
        return _secret_refused(shop, gettext("Formulaire expiré\u00a0: réessayez."))
    if not shop.callback_secret:
        return _secret_refused(shop, gettext("Aucune clé de signature\u00a0: indiquez d'abord une adresse "
                                       "de notification."))
    audit.record(current_user, "callback.secret_reveal", shop=shop, target_type="shop",
                 target_id=shop.id)
    db.session.commit()
    return _render(shop, _form(shop), secret=shop.callback_secret)


@blueprint.route("/shops/<shop_key>/collection/secret/rotate", methods=["POST"])
@shop_view
def collection_secret_rotate(shop: Shop) -> Response:
    if not SecretForm().validate_on_submit():
        return _secret_refused(shop, gettext("Formulaire expiré\u00a0: réessayez."))
    if not shop.callback_url:
        return _secret_refused(shop, gettext("Indiquez d'abord une adresse de notification."))
    audit.record(current_user, "callback.secret_rotate", shop=shop, target_type="shop",
                 target_id=shop.id, details={"callback_url": shop.callback_url})
    secret = shop_collection.set_callback(shop, shop.callback_url, secret=shop_collection.new_callback_secret())
    flash(gettext("Nouvelle clé de signature créée\u00a0: l'ancienne ne signe plus rien. Enregistrez "
                  "celle-ci dans votre boutique dès maintenant."), "success")
    return _render(shop, _form(shop), secret=secret)
