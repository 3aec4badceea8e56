"""A shop's review-collection settings: the reminder, Review Balancing (the third-party review
page, its automatic redirect and the email split), the ``review.created`` callback URL and the
retention period of personal data.

With ``kingavis.shops.settings`` (the link's validity, the products to review, cancel statuses,
consent, window, pause, platform secrets) this is the one service for a shop's settings: the
back-office's collection page and any other caller come here, so they get the same checks and
the same messages. Every function checks its input first and raises ``ShopError`` (English,
for the command line and logs; the back-office's form has its French messages) with nothing
changed, then commits.

What a setting then does is its user's business: the send path reads the reminder and the
split, the questionnaire the review page, the outbox the callback, the daily retention job
(``kingavis.personal_data.retention``, docs/personal-data.md) the retention period; setting it
only stores it.
"""

from __future__ import annotations

import base64
import logging
import secrets
import unicodedata
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.shops.destinations import allow_private, check_destination
from kingavis.shops.service import ShopError, whole_number

# The log lines keep the names their readers know: sending settings under delivery, the
# retention period under personal data.
log = logging.getLogger("kingavis.delivery")
personal_data_log = logging.getLogger("kingavis.personal_data")

MIN_REMINDER_DAYS = 1
MAX_REMINDER_DAYS = 60
MAX_REDIRECT_SECONDS = 300
BALANCING_PLATFORMS = ("google", "trustpilot", "other")
MAX_URL_CHARS = 500
MIN_RETENTION_MONTHS = 6
MAX_RETENTION_MONTHS = 120


def validate_http_url(url: str, *, what: str = "URL") -> str:
    """An absolute http(s) URL with a host, no credentials, no whitespace; else ShopError."""
    url = (url or "").strip()
    if not url:
        raise ShopError(f"{what} is empty")
    if len(url) > MAX_URL_CHARS:
        raise ShopError(f"{what} is longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise ShopError(f"{what} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ShopError(f"{what} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ShopError(f"{what} must start with https:// or http://")
    if not parts.hostname:
        raise ShopError(f"{what} has no host name")
    if parts.username or parts.password:
        raise ShopError(f"{what} must not contain a user name or password")
    return url


# --------------------------------------------------------------------------- reminder, split


def set_reminder(shop: Shop, days: int | None, *, actor: str = "system") -> Shop:
    """One reminder ``days`` after the first email (1–60), or None for none (the default).

    Applies to emails sent from now on. Raises ShopError and changes nothing on bad input. Commits.
    """
    if days is not None:
        whole_number(
            days,
            MIN_REMINDER_DAYS,
            MAX_REMINDER_DAYS,
            "reminder delay",
            "days",
            not_whole="reminder delay must be a whole number of days, or none",
        )
    shop.reminder_days = days
    db.session.commit()
    log.info("reminder setting changed", extra={"fields": {"shop": shop.key, "actor": actor,
                                                          "reminder_days": days}})
    return shop


def set_split(shop: Shop, percent: int, *, actor: str = "system") -> Shop:
    """Review Balancing — email split: ``percent`` (0–100) of invitations go to the shop's
    third-party review page instead. Needs that page (set_balancing) unless 0. Commits.

    Applies to requests scheduled from now on; a request keeps the platform it was given.
    """
    whole_number(percent, 0, 100, "split", "percent", not_whole="split must be a whole percentage")
    if percent > 0 and not (shop.balancing_url and shop.balancing_platform):
        raise ShopError("set a third-party review page before sending invitations to it")
    shop.balancing_split_percent = percent
    db.session.commit()
    log.info("email split changed", extra={"fields": {"shop": shop.key, "actor": actor,
                                                     "percent": percent}})
    return shop


# --------------------------------------------------------------------------- Review Balancing — Share


def set_balancing(shop: Shop, platform: str | None, url: str | None,
                  redirect_seconds: int | None) -> Shop:
    """Review Balancing — Share settings. ``url`` None/"" turns it off (and the redirect). Commits.

    platform: one of BALANCING_PLATFORMS (default "other"); redirect_seconds: None = no
    automatic redirect, else 1..MAX_REDIRECT_SECONDS. Raises ShopError and changes nothing.
    """
    if url is None or not url.strip():
        if redirect_seconds is not None:
            raise ShopError("an automatic redirect needs a review page URL")
        shop.balancing_platform = None
        shop.balancing_url = None
        shop.balancing_redirect_seconds = None
        db.session.commit()
        return shop
    clean_url = validate_http_url(url, what="review page URL")
    name = (platform or "other").strip().lower()
    if name not in BALANCING_PLATFORMS:
        raise ShopError(f"platform must be one of {', '.join(BALANCING_PLATFORMS)}")
    if redirect_seconds is not None:
        whole_number(redirect_seconds, 1, MAX_REDIRECT_SECONDS, "redirect delay", "seconds")
    shop.balancing_platform = name
    shop.balancing_url = clean_url
    shop.balancing_redirect_seconds = redirect_seconds
    db.session.commit()
    return shop


# --------------------------------------------------------------------------- callback


def new_callback_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def set_callback(shop: Shop, url: str | None, secret: str | None = None) -> str | None:
    """Set (or with url None/"" remove) the shop's callback URL. Commits; returns the secret.

    A new ``whsec_`` secret is made unless one is given or the shop already has one. Unless
    private addresses are allowed, a new URL must pass ``check_destination`` (else
    DestinationRefused, and nothing changes). The URL already stored is not checked again
    (regenerating the secret must not depend on today's DNS): every attempt checks it anyway.
    """
    if url is None or not url.strip():
        shop.callback_url = None
        db.session.commit()
        return shop.callback_secret
    clean = validate_http_url(url, what="callback URL")
    if clean != shop.callback_url and not allow_private():
        check_destination(clean)
    if secret is not None:
        Webhook(secret)  # raises on a malformed secret
    shop.callback_url = clean
    shop.callback_secret = secret or shop.callback_secret or new_callback_secret()
    db.session.commit()
    return shop.callback_secret


# --------------------------------------------------------------------------- retention


def validate_retention_months(months: object) -> int:
    """A retention period in whole months, 6 to 120, or ShopError."""
    return whole_number(months, MIN_RETENTION_MONTHS, MAX_RETENTION_MONTHS, "retention", "months")


def set_retention(shop: Shop, months: int, *, actor: str = "system") -> Shop:
    """Set how long an inactive order's contact data is kept (6–120 months). Commits;
    raises ShopError and changes nothing on bad input. The daily retention job applies it."""
    shop.retention_months = validate_retention_months(months)
    db.session.commit()
    personal_data_log.info("retention changed", extra={"fields": {"shop": shop.key,
                                                                  "actor": actor,
                                                                  "months": months}})
    return shop
