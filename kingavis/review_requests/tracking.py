"""Funnel tracking: the open pixel and the click redirect of the review-request email.

- ``GET /o/<token>.gif``: a 1×1 transparent GIF (never cached); the first fetch sets
  ``opened_at``.
- ``GET /c/<token>?to=review``: records the first counted click (``clicked_at``) and redirects
  (302) to the review page, or straight to the shop's third-party review page for an
  invitation that Review Balancing sent there. ``?to=unsubscribe`` only redirects to the
  unsubscribe page (the emails link it directly anyway).

Mail scanners fetch links as soon as a message arrives. A HEAD request, a known scanner's user
agent, or a client that is not a browser within ``SCANNER_WINDOW`` of the email's sending is
redirected all the same but not counted.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, redirect, request
from sqlalchemy import update

from kingavis.extensions import db
from kingavis.models import ReviewRequest, utcnow
from kingavis.private_urls import keep_private
from kingavis.review_requests.queries import request_by_token
from kingavis.shops.sample_links import read_sample_token

blueprint = Blueprint("tracking", __name__)

KINGAVIS = "kingavis"
# Clicks this soon after sending, from a client that is not a browser, are a scanner's.
SCANNER_WINDOW = timedelta(seconds=60)
# User-agent fragments of link scanners, security gateways and HTTP libraries (lower case).
SCANNER_TOKENS = (
    "barracuda", "proofpoint", "mimecast", "python-requests", "python-urllib", "curl/",
    "wget/", "go-http-client", "msoffice", "microsoft office", "ms-office", "safelinks",
    "symantec", "trendmicro", "forcepoint", "fortinet", "sophos", "cisco", "ironport",
    "zscaler", "bot", "spider", "crawler", "scan", "headlesschrome", "java/", "okhttp",
    "libwww", "httpclient", "aiohttp", "axios", "node-fetch",
)
_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def third_party_redirect(review_request: ReviewRequest) -> str | None:
    """Where ``/r/<token>`` must send the customer instead of showing the questionnaire: the
    shop's third-party review page, for an invitation that Review Balancing sent there;
    None for our own questionnaire (or when the shop has no valid page any more)."""
    if (review_request.platform or KINGAVIS) == KINGAVIS:
        return None
    url = review_request.shop.balancing_url
    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return url


def is_scanner(user_agent: str | None, method: str, sent_at: datetime | None,
               now: datetime) -> bool:
    """Whether a click on an email link is a scanner's fetch rather than the customer's."""
    if method == "HEAD":
        return True
    agent = (user_agent or "").lower()
    if any(token in agent for token in SCANNER_TOKENS):
        return True
    browser = "mozilla/" in agent
    recent = sent_at is None or now - sent_at < SCANNER_WINDOW
    return recent and not browser


def _latest_email(review_request: ReviewRequest) -> datetime | None:
    times = [t for t in (review_request.sent_at, review_request.reminder_sent_at) if t]
    return max(times) if times else None


def _first(review_request: ReviewRequest, column: str, now: datetime) -> None:
    """Set ``column`` to now unless already set; one statement, so only the first one counts."""
    attr = getattr(ReviewRequest, column)
    db.session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id == review_request.id, attr.is_(None))
        .values({column: now})
        .execution_options(synchronize_session=False)
    )


def _base() -> str:
    return str(current_app.config.get("KINGAVIS_BASE_URL") or "").rstrip("/")


def count_click(review_request: ReviewRequest, user_agent: str | None, method: str,
                now: datetime | None = None) -> None:
    """Count the first click of a person (never a link scanner or a HEAD request).

    Used by the email button's redirect and by the questionnaire itself: the text part links
    straight to the questionnaire, and opening it is the same step of the funnel.
    """
    now = now or utcnow()
    if not is_scanner(user_agent, method, _latest_email(review_request), now):
        _first(review_request, "clicked_at", now)


@blueprint.get("/o/<token>.gif")
def open_pixel(token: str) -> Response:
    review_request = request_by_token(token)
    if review_request is None and read_sample_token(token) is not None:
        return Response(_GIF, mimetype="image/gif")  # a test email: nothing to count
    if review_request is None:
        db.session.rollback()
        abort(404)
    if request.method != "HEAD":
        _first(review_request, "opened_at", utcnow())
    db.session.commit()
    response = Response(_GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@blueprint.get("/c/<token>")
def click(token: str) -> Response:
    target = request.args.get("to", "review")
    if target not in ("review", "unsubscribe"):
        abort(404)
    review_request = request_by_token(token)
    if review_request is None and read_sample_token(token) is not None:
        # A test email's link: on to its preview page, nothing counted.
        return _redirect(f"{_base()}/{'u' if target == 'unsubscribe' else 'r'}/{token}")
    if review_request is None:
        db.session.rollback()
        abort(404)
    if target == "unsubscribe":
        db.session.rollback()
        return _redirect(f"{_base()}/u/{review_request.token}")
    count_click(review_request, request.headers.get("User-Agent"), request.method)
    location = third_party_redirect(review_request) or f"{_base()}/r/{review_request.token}"
    db.session.commit()
    return _redirect(location)


def _redirect(location: str) -> Response:
    return keep_private(redirect(location, code=302))
