"""Back-office: log in, log out, the list of the user's shops, and the language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext, lazy_gettext, refresh
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from admin import blueprint
from kingavis.accounts import service as accounts


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/admin/…``), else None.

    Refuses absolute and scheme-relative URLs (``//evil``), backslashes (browsers read ``/\\evil``
    as ``//evil``) and control characters.
    """
    if not target or len(target) > 2000:
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


class LoginForm(FlaskForm):
    email = StringField(
        lazy_gettext("Email"),
        validators=[DataRequired(message=lazy_gettext("Saisissez votre email.")), Length(max=320)],
        render_kw={"autocomplete": "username", "autofocus": True, "type": "email"},
    )
    password = PasswordField(
        lazy_gettext("Mot de passe"),
        validators=[DataRequired(message=lazy_gettext("Saisissez votre mot de passe.")),
                    Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class LogoutForm(FlaskForm):
    pass


class LanguageForm(FlaskForm):
    language = SelectField(
        lazy_gettext("Langue"),
        choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")],
        validators=[AnyOf(["fr", "en"])],
    )
    next = HiddenField()


def _back_here() -> str:
    """Where to return after switching language: this page, or its shop's dashboard after a POST."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    shop = getattr(g, "shop", None)
    if shop is not None:
        return url_for("admin.dashboard", shop_key=shop.key)
    return url_for("admin.index")


@blueprint.app_context_processor
def _userlinks_context() -> dict[str, Any]:
    """``get_locale`` for base.html's lang attribute, and the forms of _userlinks.html."""

    def userlinks_forms() -> dict[str, Any]:
        language = LanguageForm(formdata=None, language=str(get_locale() or "fr"),
                                next=_back_here())
        return {"logout": LogoutForm(formdata=None), "language": language}

    return {"userlinks_forms": userlinks_forms, "get_locale": get_locale}


def _login_page(form: LoginForm, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("admin/login.html", form=form, error=error), status


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        return _login_page(form)
    if not form.validate():
        return _login_page(form)

    result = accounts.authenticate(form.email.data or "", form.password.data or "",
                                   request.remote_addr)
    if result.outcome == "throttled":
        minutes = max(1, result.retry_after // 60)
        page, _ = _login_page(form, gettext(
            "Trop de tentatives de connexion depuis votre adresse. Réessayez dans %(minutes)d minutes.",
            minutes=minutes))
        return page, 429, {"Retry-After": str(result.retry_after)}
    if result.outcome == "locked":
        # Shown the same way whether the account exists or not.
        return _login_page(form, gettext(
            "Trop d'échecs de connexion\u00a0: la connexion à ce compte est bloquée pendant "
            "%(minutes)d minutes. Réessayez plus tard.", minutes=accounts.LOCK_MINUTES))
    if not result.ok or result.user is None:
        return _login_page(form, gettext("Email ou mot de passe incorrect."))

    target = safe_next(form.next.data)
    lang = session.get("lang")
    session.clear()  # a fresh session: nothing from before the login carries over
    if lang:
        session["lang"] = lang
    login_user(result.user, remember=False)
    refresh()  # the user's own language from now on
    return redirect(target or url_for("admin.index"))


@blueprint.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    form = LogoutForm()
    if not form.validate():
        return redirect(url_for("admin.index"))
    accounts.record_logout(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(gettext("Vous êtes déconnecté."), "success")
    return redirect(url_for("admin.login"))


@blueprint.route("/")
@login_required
def index() -> Any:
    if current_user.is_operator:
        return redirect(url_for("admin.moderation"))
    shops = list(current_user.shops)
    if len(shops) == 1:
        return redirect(url_for("admin.dashboard", shop_key=shops[0].key))
    return render_template("admin/index.html", shops=shops)


@blueprint.route("/language", methods=["POST"])
@login_required
def language() -> Response:
    form = LanguageForm()
    target = safe_next(form.next.data) or url_for("admin.index")
    if not form.validate():
        flash(gettext("Langue inconnue."), "error")
        return redirect(target)
    accounts.set_language(current_user._get_current_object(), form.language.data)
    session["lang"] = form.language.data
    refresh()  # the locale cached for this request is out of date now
    return redirect(target)
