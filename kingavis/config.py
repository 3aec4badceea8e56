"""Configuration from the environment, validated at start-up (fail fast).

The public variables are those of docs/configuration.md; a few operational knobs are added
with the ``KINGAVIS_`` prefix.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.security import generate_password_hash

from kingavis.mail_settings import MailSettings, valid_domain


class ConfigError(RuntimeError):
    """A configuration value is missing or invalid; the message says which and why."""


TRUTHY = {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int_list(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        values = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated whole seconds, e.g. 60,300,900; got {raw!r}") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{name} must list delays of at least 1 second, got {raw!r}")
    return values


FALSY = {"0", "false", "no", "off"}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A yes/no switch; anything but the usual spellings stops start-up (a typo must not
    silently leave a safety switch in the state the operator did not want)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in TRUTHY:
        return True
    if value in FALSY:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(env: Mapping[str, str]) -> str:
    level = (env.get("KINGAVIS_LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"KINGAVIS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


def _secret_key(env: Mapping[str, str], instance_path: Path, debug: bool) -> str:
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    if not debug:
        raise ConfigError(
            "SECRET_KEY is not set and the instance folder holds no key: set SECRET_KEY, "
            f"or create {key_file} (the Quick start does), or run with FLASK_DEBUG=1"
        )
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def validate_mail_url(url: str) -> str:
    """Refuse a MAIL_URL the transports could not use (one parser for both)."""
    try:
        MailSettings(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return url


ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def load_env_file(path: str | Path | None = None) -> bool:
    """Read the checkout's ``.env`` (``KEY=value`` lines) into ``os.environ``.

    Flask's own convention (``flask`` commands load ``.env`` from the working directory with
    python-dotenv); read here by path as well, so gunicorn, the RQ worker and a ``flask`` run
    from another directory see the same file. A variable already set in the environment wins.
    ``FLASK_SKIP_DOTENV=1`` turns it off, as it does for Flask. True if a file was read.
    """
    if os.environ.get("FLASK_SKIP_DOTENV", "").lower() in TRUTHY:
        return False
    from dotenv import load_dotenv

    target = Path(path) if path is not None else ENV_FILE
    if not target.is_file():
        return False
    return load_dotenv(target, override=False, encoding="utf-8")


def _password_hash_method(env: Mapping[str, str]) -> str:
    """werkzeug's scrypt unless KINGAVIS_PASSWORD_HASH_METHOD names another method werkzeug has.

    Only the test suite sets it (a cheap pbkdf2, docs/tests.md): scrypt is slow on purpose.
    """
    method = (env.get("KINGAVIS_PASSWORD_HASH_METHOD") or "").strip()
    if not method:
        return "scrypt"
    try:
        generate_password_hash("", method=method)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "KINGAVIS_PASSWORD_HASH_METHOD must be scrypt[:n:r:p] or pbkdf2[:hash[:iterations]], "
            f"got {method!r}"
        ) from exc
    return method


def load_config(instance_path: str | Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and validate the configuration; raise ConfigError with a precise message."""
    env = os.environ if env is None else env
    instance = Path(instance_path)
    debug = env.get("FLASK_DEBUG", "").lower() in TRUTHY

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'kingavis.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://"):]
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    if not (database_url.startswith("sqlite") or database_url.startswith("postgresql")):
        raise ConfigError(f"DATABASE_URL must be a SQLite or PostgreSQL URL, got scheme of {database_url.split(':', 1)[0]!r}")

    redis_url = env.get("REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")

    mail_url = validate_mail_url(env.get("MAIL_URL") or f"file://{instance / 'outbox'}")
    base_url = (env.get("KINGAVIS_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    if urlsplit(base_url).scheme not in {"http", "https"} or not urlsplit(base_url).hostname:
        raise ConfigError(f"KINGAVIS_BASE_URL must be an absolute http(s) URL, got {base_url!r}")

    bounce_domain = (env.get("KINGAVIS_BOUNCE_DOMAIN") or "").strip().lower().rstrip(".") or None
    if bounce_domain is not None and not valid_domain(bounce_domain):
        raise ConfigError(f"KINGAVIS_BOUNCE_DOMAIN must be a domain name, got {bounce_domain!r}")
    dkim_selector = (env.get("KINGAVIS_DKIM_SELECTOR") or "").strip() or None
    dkim_key_file = (env.get("KINGAVIS_DKIM_KEY_FILE") or "").strip() or None
    if dkim_selector is not None and not valid_domain(dkim_selector + ".example.com"):
        raise ConfigError(f"KINGAVIS_DKIM_SELECTOR must be a DNS label, got {dkim_selector!r}")
    if dkim_selector and dkim_key_file and not os.path.isfile(dkim_key_file):
        raise ConfigError(f"KINGAVIS_DKIM_KEY_FILE does not exist: {dkim_key_file}")

    return {
        "DEBUG": debug,
        "SECRET_KEY": _secret_key(env, instance, debug),
        # Key of the customer address hash (kingavis.customer_keys); unset: derived from SECRET_KEY.
        "EMAIL_HASH_KEY": env.get("KINGAVIS_EMAIL_HASH_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "MAIL_URL": mail_url,
        "MAIL_FROM": env.get("MAIL_FROM") or "no-reply@localhost",
        # The operator's address the charter gives for questions (docs/report-a-review.md).
        "KINGAVIS_CONTACT_EMAIL": env.get("KINGAVIS_CONTACT_EMAIL") or env.get("MAIL_FROM")
        or "no-reply@localhost",
        "KINGAVIS_BASE_URL": base_url,
        # Bounces, complaints and DKIM (docs/deliverability.md).
        "KINGAVIS_BOUNCE_DOMAIN": bounce_domain,
        "KINGAVIS_DKIM_SELECTOR": dkim_selector,
        "KINGAVIS_DKIM_KEY_FILE": dkim_key_file,
        # Requests per second per shop on the webhook endpoint (0 disables the limit).
        "WEBHOOK_RATE_LIMIT": _int(env, "KINGAVIS_WEBHOOK_RATE_LIMIT", 100),
        "WEBHOOK_MAX_BYTES": 64 * 1024,
        # Shopify and WooCommerce send whole orders (docs/platforms.md): a large one is bigger.
        "PLATFORM_WEBHOOK_MAX_BYTES": 1024 * 1024,
        "WEBHOOK_TOLERANCE_SECONDS": 300,
        "DISPATCH_BATCH_SIZE": _int(env, "KINGAVIS_DISPATCH_BATCH_SIZE", 500, minimum=1),
        "DISPATCH_LEASE_SECONDS": _int(env, "KINGAVIS_DISPATCH_LEASE_SECONDS", 600, minimum=10),
        # Waits before retries after a temporary mail error (the last one repeats), and the cap.
        "DISPATCH_RETRY_DELAYS": _int_list(
            env, "KINGAVIS_DISPATCH_RETRY_DELAYS", (60, 300, 900, 3600, 10800, 21600)
        ),
        "DISPATCH_MAX_ATTEMPTS": _int(env, "KINGAVIS_DISPATCH_MAX_ATTEMPTS", 10, minimum=1),
        "LOG_LEVEL": _log_level(env),
        # False: the shop's review.created callback may only reach public (global) addresses.
        "CALLBACK_ALLOW_PRIVATE": _bool(env, "KINGAVIS_CALLBACK_ALLOW_PRIVATE", False),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
        "PROXY_COUNT": _int(env, "KINGAVIS_PROXY_COUNT", 0),
        # How back-office passwords are hashed (kingavis.accounts.passwords).
        "PASSWORD_HASH_METHOD": _password_hash_method(env),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": base_url.startswith("https://"),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }
