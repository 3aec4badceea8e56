"""When the database cannot be reached: 503 answers instead of 500s.

A database that is down, restarting, out of connections or locked for too long is a moment's
outage, not a bug: the webhook answers an RFC 9457 problem with ``Retry-After`` (a module sends
the same request again; nothing was stored), and pages answer a short 503 page. Errors that are
not outages (a bad statement, a constraint) stay 500s.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request
from sqlalchemy import exc as sa_exc

from kingavis.csp import csp_nonce
from kingavis.problems import problem

log = logging.getLogger("kingavis.outages")

# Seconds a client should wait before trying again.
RETRY_AFTER_SECONDS = 30

# OperationalError: no connection, a connection lost, the server shutting down, too many
# clients, a lock or statement timeout, SQLite's "unable to open" and "database is locked".
# InterfaceError: a connection closed under us. TimeoutError: no connection free in the pool.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
)

TEXT = {
    "fr": ("Service momentanément indisponible",
           "King-Avis ne peut pas répondre pour le moment. Réessayez dans quelques minutes."),
    "en": ("Service temporarily unavailable",
           "King-Avis cannot answer right now. Please try again in a few minutes."),
}


def is_database_outage(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) means the database cannot be used for a moment."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def unavailable_problem() -> Response:
    """The webhook's 503: a problem document with Retry-After."""
    return problem(
        503,
        "the service is unavailable for a moment; nothing was stored, "
        "send the same request again later",
        type_="service-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def unavailable_page() -> Response:
    """A short 503 page, in French or English, that needs nothing but Jinja."""
    lang = request.accept_languages.best_match(["fr", "en"]) or "fr"
    title, text = TEXT[lang]
    html = current_app.jinja_env.get_template("pages/unavailable.html").render(
        lang=lang, title=title, text=text
    )
    response = Response(html, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{csp_nonce()}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    return response


def _rollback() -> None:
    from kingavis.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be gone too; the session is reset all the same
        db.session.remove()


def register(app: Flask) -> None:
    """Answer 503 for a database outage anywhere in the app."""

    def handle_outage(error: Exception) -> Response:
        _rollback()
        log.warning(
            "database unavailable",
            extra={"fields": {"path": request.path[:200], "method": request.method,
                              "error": type(error).__name__}},
        )
        if request.path.startswith(("/webhooks/", "/healthz")):
            return unavailable_problem()
        return unavailable_page()

    for error_class in OUTAGE_ERRORS:
        app.register_error_handler(error_class, handle_outage)
