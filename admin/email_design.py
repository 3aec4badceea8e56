"""Back-office: the merchant's own review-request email, one language at a time.

The editor shows the five fields (sender name, subject, introduction, logo, colour) starting
from the default texts, a preview of the HTML and text parts for a sample order, and a button
that sends the saved email to the merchant's own address.

The preview is rendered by the server (``kingavis.delivery.email_design.preview``, the same builder the
dispatcher uses). The page shows its HTML part only inside an ``<iframe sandbox>`` without
``allow-scripts`` or ``allow-same-origin``: even a script in the email could not run, let alone
in the back-office's origin. The text part is shown as text.

The work is done by ``kingavis.delivery.email_design``; these views parse forms, call one function and
render.
"""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField, TextAreaField

from admin import blueprint
from admin.access import shop_view
from kingavis.csp import csp_nonce
from kingavis.delivery import email_design
from kingavis.delivery.design import (
    BODY_PLACEHOLDERS,
    DEFAULT_COLOUR,
    HEADER_PLACEHOLDERS,
    MAX_INTRO,
    MAX_LOGO_URL,
    MAX_SENDER_NAME,
    MAX_SUBJECT,
)
from kingavis.i18n import LANGUAGES
from kingavis.models import Shop

LANGUAGE_NAMES = {"fr": lazy_gettext("Français"), "en": lazy_gettext("Anglais")}
KINDS = ("invitation", "reminder")


class DesignForm(FlaskForm):
    lang = HiddenField()
    sender_name = StringField(lazy_gettext("Nom d'expéditeur"))
    subject = StringField(lazy_gettext("Objet de l'email"))
    intro = TextAreaField(lazy_gettext("Introduction"))
    logo_url = StringField(lazy_gettext("Adresse du logo (https, vide : pas de logo)"))
    brand_colour = StringField(lazy_gettext("Couleur du bouton et des liens"))
    shop_url = StringField(lazy_gettext("Adresse de votre boutique (https, pour la page d'avis publique)"))

    def data_input(self) -> email_design.DesignInput:
        return email_design.DesignInput(
            sender_name=self.sender_name.data or "",
            subject=self.subject.data or "",
            intro=self.intro.data or "",
            logo_url=self.logo_url.data or "",
            brand_colour=self.brand_colour.data or "",
            shop_url=self.shop_url.data or "",
        )


class TestSendForm(FlaskForm):
    """The "send me a test email" button: CSRF, the language and invitation or reminder."""

    lang = HiddenField()
    kind = HiddenField()


def _language(value: str | None) -> str:
    return value if value in LANGUAGES else "fr"


def _kind(value: str | None) -> str:
    return value if value in KINDS else "invitation"


def _form(shop: Shop, language: str, formdata: Any = None) -> DesignForm:
    if formdata is not None:
        return DesignForm(formdata=formdata)
    values = email_design.editor_values(shop, language)
    return DesignForm(formdata=None, data={"lang": language, **values.__dict__})


def _merge_errors(form: DesignForm, errors: dict[str, list[str]]) -> None:
    for name, messages in errors.items():
        field = getattr(form, name, None)
        if field is None or name == "lang":
            for message in messages:
                flash(message, "error")
            continue
        field.errors = [*field.errors, *messages]


def _render(shop: Shop, language: str, form: DesignForm, status: int = 200,
            kind: str = "invitation") -> Response:
    shown = None
    if not form.errors:
        try:
            shown = email_design.preview(shop, language, form.data_input(),
                                         reminder=kind == "reminder")
        except email_design.DesignError as exc:
            _merge_errors(form, exc.errors)
    response = make_response(render_template(
        "admin/email_design.html",
        shop=shop,
        form=form,
        language=language,
        languages=[(code, str(LANGUAGE_NAMES[code])) for code in LANGUAGES],
        kind=kind,
        preview=shown,
        test_form=TestSendForm(formdata=None, data={"lang": language, "kind": kind}),
        header_placeholders=HEADER_PLACEHOLDERS,
        body_placeholders=BODY_PLACEHOLDERS,
        limits={"sender_name": MAX_SENDER_NAME, "subject": MAX_SUBJECT, "intro": MAX_INTRO,
                "logo_url": MAX_LOGO_URL},
        default_colour=DEFAULT_COLOUR,
    ), status)
    # The preview frame (srcdoc) inherits this page's policy, and an email styles itself with
    # style attributes: styles may be inline here, while scripts stay nonce-only and the frame
    # is sandboxed (no script runs in it). The logo of the preview is any https image.
    nonce = csp_nonce()
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return response


@blueprint.route("/shops/<shop_key>/email", methods=["GET", "POST"])
@shop_view
def email_design_edit(shop: Shop) -> Response:
    if request.method == "GET":
        language = _language(request.args.get("lang"))
        return _render(shop, language, _form(shop, language), kind=_kind(request.args.get("kind")))
    form = _form(shop, "fr", request.form)
    language = _language(form.lang.data)
    if not form.validate():
        return _render(shop, language, form, 400)
    try:
        changed = email_design.save_design(shop, current_user, form.lang.data or "",
                                           form.data_input())
    except email_design.DesignError as exc:
        _merge_errors(form, exc.errors)
        return _render(shop, language, form, 422)
    if changed:
        flash(gettext("Email enregistré (%(language)s).", language=LANGUAGE_NAMES[language]),
              "success")
    else:
        flash(gettext("Aucun changement."), "success")
    return redirect(url_for("admin.email_design_edit", shop_key=shop.key, lang=language))


@blueprint.route("/shops/<shop_key>/email/preview", methods=["POST"])
@shop_view
def email_design_preview(shop: Shop) -> Response:
    """The preview of the fields as typed (not saved), as JSON: ``from``, ``subject``, ``text``
    and ``html`` (to be shown in a sandboxed frame), or 422 with ``errors`` per field."""
    form = DesignForm(formdata=request.form)
    language = form.lang.data or ""
    try:
        shown = email_design.preview(shop, language, form.data_input(),
                                     reminder=request.form.get("kind") == "reminder")
    except email_design.DesignError as exc:
        response = jsonify({"errors": exc.errors})
        response.status_code = 422
    else:
        response = jsonify({
            "from": shown.sender, "to": shown.to, "subject": shown.subject,
            "text": shown.text, "html": shown.html,
            "list_unsubscribe": shown.list_unsubscribe,
        })
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/shops/<shop_key>/email/test", methods=["POST"])
@shop_view
def email_design_test(shop: Shop) -> Response:
    form = TestSendForm()
    language = _language(form.lang.data)
    kind = _kind(form.kind.data)
    if not form.validate() or form.lang.data not in LANGUAGES:
        flash(gettext("Formulaire expiré ou incomplet : réessayez."), "error")
        return _render(shop, language, _form(shop, language), 400, kind=kind)
    try:
        result = email_design.send_test_email(shop, current_user, language,
                                              reminder=kind == "reminder")
    except email_design.TestEmailRefused as exc:
        minutes = max(1, (exc.retry_after + 59) // 60)
        flash(gettext("Trop d'emails d'essai : réessayez dans %(minutes)s min.", minutes=minutes),
              "error")
        response = _render(shop, language, _form(shop, language), 429, kind=kind)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if result.sent:
        flash(gettext("Email d'essai envoyé à %(address)s.", address=result.recipient), "success")
    else:
        flash(gettext("L'email d'essai n'a pas pu être envoyé : %(detail)s", detail=result.error),
              "error")
    return redirect(url_for("admin.email_design_edit", shop_key=shop.key, lang=language,
                            kind=kind))
