"""Application factory: a list of steps, as in cookiecutter-flask."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from flask_babel import lazy_gettext
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from kingavis.config import load_config
from kingavis.csp import csp_nonce, default_csp
from kingavis.extensions import babel, csrf, db, login_manager, migrate
from kingavis.i18n import LANGUAGES
from kingavis.logging import configure_logging
from kingavis.mail_headers import check_python_email


def create_app(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Flask:
    """Build the app. ``overrides`` wins over the environment (tests use it)."""
    app = Flask("kingavis", instance_path=_instance_path())
    app.config.update(load_config(app.instance_path, env))
    if overrides:
        app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app.config["LOG_LEVEL"])
    # The serving processes check their Python's email package at start: the web process
    # before its first request, the worker and the dispatcher when they start (a one-line
    # CLI error must stay one line). See docs/email-headers.md.
    app.before_request(_check_python_email)
    register_proxy(app)
    register_input_guards(app)
    register_extensions(app)
    register_queue(app)
    register_blueprints(app)
    register_security_headers(app)
    register_errorhandlers(app)
    register_formatting(app)
    register_commands(app)
    return app


def _check_python_email() -> None:
    check_python_email()  # cached: logs once per process; a request hook must return None


POOL_RECYCLE_SECONDS = 300


def _instance_path() -> str:
    # The project root's instance/ folder (next to wsgi.py), unless KINGAVIS_INSTANCE_PATH says.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("KINGAVIS_INSTANCE_PATH") or os.path.join(root, "instance")


def _engine_options(uri: str) -> dict[str, Any]:
    # hide_parameters: database errors must not carry customer emails into logs.
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}, "hide_parameters": True}
    # No pre-ping: a `SELECT 1` on every checkout was one round trip in seven of every webhook
    # (bench/README.md). A connection is replaced after POOL_RECYCLE_SECONDS instead (before a
    # server or firewall drops it idle), and a connection found dead by a statement makes
    # SQLAlchemy replace every connection of the pool; the unit of work that met it is run
    # again once (kingavis.transactions.retry_on_conflict).
    return {
        "pool_recycle": POOL_RECYCLE_SECONDS,
        "pool_size": 10,
        "max_overflow": 20,
        "hide_parameters": True,
        "connect_args": {"connect_timeout": 5},
    }


def register_proxy(app: Flask) -> None:
    """Behind N trusted reverse proxies, take the client's address and scheme from them.

    Without it, the login slow-down would see every visitor as the proxy's address.
    """
    count = int(app.config.get("PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


# Ids in URLs are the database's INTEGER (32-bit signed) columns.
MAX_URL_ID = 2**31 - 1
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class IdConverter(IntegerConverter):
    """``<int:…>`` capped at the largest id the database holds: a larger one is not found
    (404) rather than an integer the database refuses."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_URL_ID)
        super().__init__(map, *args, **kwargs)


# The review listings: they read every query parameter through parse_listing.
_NAMES_ITS_PARAMETERS = re.compile(r"/avis/[^/]+|/api/v1/shops/[^/]+(/products/[^/]+)?/reviews")


def _holds_nul(pairs: Any) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def register_input_guards(app: Flask) -> None:
    """Refuse (400) a NUL character in the query string or a submitted form, and ids in URLs
    too large for the database (404).

    No text column can hold a NUL (PostgreSQL refuses it in any string), so no valid request
    carries one; stopping it at the door keeps every query safe from it. Path segments are
    checked by their routes, which answer their own 404 page (tokens and shop keys are
    URL-safe ASCII, see ``pages``, ``tracking`` and ``shops.shop_snapshot``).
    """
    app.url_map.converters["int"] = IdConverter

    @app.before_request
    def _refuse_nul() -> None:
        from flask import abort, request

        # Every path. The review listings (public page and API) answer it themselves, naming
        # the parameter (``reviews.public.parse_listing`` refuses a NUL in any of them).
        if (not _NAMES_ITS_PARAMETERS.fullmatch(request.path)
                and ("\x00" in request.query_string.decode("latin-1")
                     or _holds_nul(request.args.items(multi=True)))):
            abort(400, description="NUL characters are not allowed in a URL")
        # The webhook reads its raw body itself (the signature covers the bytes): never parsed here.
        if (request.mimetype in FORM_MIMETYPES and not request.path.startswith("/webhooks/")
                and _holds_nul(request.form.items(multi=True))):
            abort(400, description="NUL characters are not allowed in a form")


def register_extensions(app: Flask) -> None:
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    # Whatever the options given: a statement's parameters never go into an exception's text.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "hide_parameters": True
    }
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    # Flask-Login flashes this when a page needs a login; worded in the page's language.
    login_manager.login_message = lazy_gettext("Connectez-vous pour accéder à cette page.")
    login_manager.localize_callback = str
    login_manager.session_protection = "strong"
    babel.init_app(app, locale_selector=select_locale, default_locale="fr", default_timezone="Europe/Paris")
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_single_writer(db.engine)



def select_locale() -> str:
    """Back-office language: a page's own choice (g.locale), the user's, the session's, else French."""
    from flask import g, has_request_context, session
    from flask_login import current_user

    if not has_request_context():
        return "fr"
    chosen = getattr(g, "locale", None)
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return "fr"


@login_manager.user_loader
def load_user(user_id: str) -> Any:
    from kingavis.models import User

    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None


def _sqlite_single_writer(engine: Engine) -> None:
    """SQLite: real transactions that take the write lock up front (BEGIN IMMEDIATE).

    pysqlite's own transaction handling starts a transaction only before DML, so a
    read-then-write would run its read outside the transaction. With BEGIN IMMEDIATE every
    transaction is serialised against other writers, the single-writer equivalent of
    PostgreSQL's row locks; WAL keeps readers of other connections going meanwhile.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        # Leaving autocommit sets pysqlite's own transaction handling back: keep it off.
        if dbapi_connection is not None:
            dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A connection asked for autocommit (the public API's version check) reads alone: in
        # WAL mode it neither waits for nor blocks the writer.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def register_queue(app: Flask) -> None:
    """RQ on the app (microblog style), only when REDIS_URL is set."""
    app.extensions["redis"] = None
    app.extensions["rq_queue"] = None
    if app.config.get("REDIS_URL"):
        from redis import Redis
        from rq import Queue

        from kingavis.delivery import QUEUE_NAME

        # Bounded waits: a dead or unreachable Redis makes a request fail, never hang.
        # (An RQ worker raises socket_timeout above its own blocking-pop timeout itself.)
        connection = Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=5, socket_timeout=10
        )
        app.extensions["redis"] = connection
        app.extensions["rq_queue"] = Queue(
            QUEUE_NAME, connection=connection
        )


def register_blueprints(app: Flask) -> None:
    from admin import blueprint as admin_bp
    from kingavis import api
    from kingavis.api import cache as api_cache
    from kingavis.api import session as api_session
    from kingavis.health import blueprint as health_bp
    from kingavis.pages import blueprint as pages_bp
    from kingavis.review_requests.tracking import blueprint as tracking_bp
    from webhooks import blueprint as webhooks_bp

    app.register_blueprint(health_bp)
    # docs/publication.md: the public API, badge and widget.js; no cookies there, a per-process cache.
    app.register_blueprint(api.blueprint)
    api_session.init_app(app)
    api_cache.init_app(app)
    app.register_blueprint(webhooks_bp)
    csrf.exempt(webhooks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(tracking_bp)
    app.add_url_rule("/favicon.ico", "favicon", _favicon)


def _favicon() -> Any:
    """The site icon browsers ask for on every page (back-office and customer pages)."""
    from flask import current_app, send_from_directory

    response = send_from_directory(os.path.join(current_app.root_path, "static"), "favicon.ico",
                                   mimetype="image/vnd.microsoft.icon", max_age=86400)
    return response




def register_formatting(app: Flask) -> None:
    """Dates and numbers worded in one place (kingavis.formatting), for every template."""
    from kingavis import formatting

    app.jinja_env.filters["elide"] = formatting.elide
    app.jinja_env.globals.update(fmt=formatting)


def register_security_headers(app: Flask) -> None:
    """Headers on every response: no MIME sniffing, HSTS when the public URL is https, and on
    HTML pages a Content-Security-Policy (pages may set a stricter one of their own), a
    Referrer-Policy and no framing."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    https = str(app.config.get("KINGAVIS_BASE_URL") or "").lower().startswith("https://")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        from flask import request

        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.blueprint == "admin":
            # The back-office shows orders, customers and reviews: never kept by any cache.
            headers["Cache-Control"] = "no-store"
        if response.status_code >= 400:
            # Errors are never cached publicly nor revalidated (README, Hardening).
            headers["Cache-Control"] = "no-store"
            headers.pop("ETag", None)
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html":
            if "Content-Security-Policy" not in headers:
                headers["Content-Security-Policy"] = default_csp(csp_nonce())
            headers.setdefault("Referrer-Policy", "same-origin")
            headers.setdefault("X-Frame-Options", "DENY")
        return response


def register_errorhandlers(app: Flask) -> None:
    from kingavis import outages
    from kingavis.problems import problem

    outages.register(app)

    from kingavis.errors import http_error_page

    def handle_http(error: HTTPException) -> Any:
        # Machine-facing paths get RFC 9457 problems; pages get the product's own page.
        from flask import request

        if request.path.startswith(("/webhooks/", "/healthz", "/api/", "/widget.js")):
            response = problem(error.code or 500, error.description or "")
            # A 405 says what is allowed (RFC 9110 15.5.6), as werkzeug's own answer does.
            allowed = getattr(error, "valid_methods", None)
            if error.code == 405 and allowed:
                response.headers["Allow"] = ", ".join(allowed)
            return response
        return http_error_page(error)

    app.register_error_handler(HTTPException, handle_http)


def register_commands(app: Flask) -> None:
    from kingavis.cli import register

    register(app)
