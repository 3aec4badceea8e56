"""The product's own error pages (400, 403, 404, 405, 500…) for every page that is not machine
facing, in the reader's language: the back-office user's language on ``/admin``, else the
page's ``?lang=`` or the browser's preference between French and English (French by default).
Webhooks, the API and health answer RFC 9457 problems instead (kingavis.problems).

The page needs nothing but Jinja: it must render even when the error came from the database
or from a template.

Also ``FieldErrors``, the one shape of "invalid input, field by field" that the domain packages'
own exceptions take (a shop's rule, an email design, a review form, a listing's parameters).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from flask import Response, current_app, request
from flask_babel import get_locale
from werkzeug.exceptions import HTTPException

LANGS = ("fr", "en")

TEXT: dict[str, dict[int | str, tuple[str, str]]] = {
    "fr": {
        400: ("Demande incorrecte", "Cette demande n'a pas pu être comprise. Revenez à la page précédente et réessayez."),
        403: ("Accès refusé", "Votre compte n'a pas accès à cette page."),
        404: ("Page introuvable", "Cette page n'existe pas ou plus. Vérifiez l'adresse."),
        405: ("Action impossible à cette adresse", "Cette adresse ne s'ouvre pas de cette façon. Revenez à la page précédente."),
        413: ("Envoi trop volumineux", "Ce que vous avez envoyé est trop volumineux."),
        429: ("Trop de demandes", "Trop de demandes en peu de temps. Patientez une minute, puis réessayez."),
        500: ("Erreur du service", "Une erreur inattendue s'est produite de notre côté. Réessayez dans quelques minutes."),
        "other": ("Erreur", "Cette page ne peut pas s'afficher."),
        "code": ("Erreur {code}", ""),
        "home": ("Accueil de King-Avis", ""),
        "admin": ("Espace marchand", ""),
    },
    "en": {
        400: ("Bad request", "This request could not be understood. Go back to the previous page and try again."),
        403: ("Access denied", "Your account cannot open this page."),
        404: ("Page not found", "This page does not exist or no longer exists. Check the address."),
        405: ("Not possible at this address", "This address cannot be opened this way. Go back to the previous page."),
        413: ("Too large", "What you sent is too large."),
        429: ("Too many requests", "Too many requests in a short time. Wait a minute, then try again."),
        500: ("Service error", "Something unexpected went wrong on our side. Please try again in a few minutes."),
        "other": ("Error", "This page cannot be shown."),
        "code": ("Error {code}", ""),
        "home": ("King-Avis home", ""),
        "admin": ("Merchant back-office", ""),
    },
}


def error_language() -> str:
    """The reader's language: the back-office's choice on /admin, else ?lang=, else the browser."""
    if request.path.startswith("/admin"):
        try:
            chosen = str(get_locale() or "")
        except Exception:  # the user could not be loaded (the database is the problem)
            chosen = ""
        if chosen in LANGS:
            return chosen
    asked = request.args.get("lang")
    if asked in LANGS:
        return asked
    return request.accept_languages.best_match(LANGS, default="fr") or "fr"


def error_page(code: int, headers: list[tuple[str, str]] | None = None) -> Response:
    """The product's page for HTTP status ``code``."""
    lang = error_language()
    words = TEXT[lang]
    title, text = words.get(code) or words["other"]
    html = current_app.jinja_env.get_template("pages/error.html").render(
        lang=lang, title=title, text=text, code=words["code"][0].format(code=code),
        home=words["admin"][0] if request.path.startswith("/admin") else words["home"][0],
        home_url="/admin/" if request.path.startswith("/admin") else "/",
    )
    response = Response(html, status=code, mimetype="text/html")
    for name, value in headers or []:
        if name.lower() in ("allow", "retry-after", "www-authenticate"):
            response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return response


def http_error_page(error: HTTPException) -> Response | HTTPException:
    """An HTTP error as the product's page; redirects and other non-errors pass through."""
    code = error.code or 500
    if code < 400:
        return error
    return error_page(code, list(error.get_headers()))


# What a field maps to: its one message, or its list of messages.
Messages = TypeVar("Messages", str, list[str])


class FieldErrors(ValueError, Generic[Messages]):
    """Invalid input, nothing changed: ``errors`` maps each bad field to its message (or its list
    of messages) for the caller to show; the exception's text is every "field: message", for
    logs, tests and the command line."""

    def __init__(self, errors: dict[str, Messages]) -> None:
        text = "; ".join(
            f"{name}: {said if isinstance(said, str) else ' '.join(said)}"
            for name, said in errors.items()
        )
        super().__init__(text)
        self.errors = errors
