"""The shop's ``review.created`` callback: a Standard Webhooks signed POST, from an RQ job.

When a review is stored and the shop has a ``callback_url``, ``notify_review_created`` enqueues
``deliver_review_created`` on the app's RQ queue with ``Retry`` (backoff). Without Redis
(REDIS_URL unset) it runs once after the customer's response has been sent (WSGI close), so
the customer's page never waits for the shop's server.

The ``webhook-id`` is the same on every attempt for a review (``review_created_<id>``) and the
body is the same bytes, so a receiver can drop duplicates; the ``webhook-timestamp`` and the
signature are fresh on each attempt. Network errors, 5xx and 429 are retried; another 4xx
fails at once. ``Review.callback_state`` (pending / delivered / failed), ``callback_attempts``
and ``callback_last_error`` tell the merchant what happened.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Flask, Response, current_app, has_app_context
from standardwebhooks import Webhook

from .extensions import db
from .models import Order, Review, Shop
from .reviews import validate_http_url

log = logging.getLogger("kingavis.callbacks")

TIMEOUT_SECONDS = 10
# Seconds before each retry: 1 min, 5 min, 30 min, 2 h, 6 h (then failed).
DEFAULT_RETRY_INTERVALS: tuple[int, ...] = (60, 300, 1800, 7200, 21600)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
USER_AGENT = "King-Avis-Callbacks/1"


class RetryableCallbackError(Exception):
    """The receiver may accept it later (network error, 5xx, 429): RQ retries the job."""


def new_callback_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def set_callback(shop: Shop, url: str | None, secret: str | None = None) -> str | None:
    """Set (or with url None/"" remove) the shop's callback URL. Commits; returns the secret.

    A new ``whsec_`` secret is made unless one is given or the shop already has one.
    """
    if url is None or not url.strip():
        shop.callback_url = None
        db.session.commit()
        return shop.callback_secret
    clean = validate_http_url(url, what="callback URL")
    if secret is not None:
        Webhook(secret)  # raises on a malformed secret
    shop.callback_url = clean
    shop.callback_secret = secret or shop.callback_secret or new_callback_secret()
    db.session.commit()
    return shop.callback_secret


def webhook_id(review: Review) -> str:
    return f"review_created_{review.id}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(review: Review, order: Order) -> dict[str, Any]:
    return {
        "type": "review.created",
        "timestamp": _iso(review.created_at),
        "data": {
            "review": {
                "id": str(review.id),
                "rating": review.rating,
                "comment": review.comment,
                "created_at": _iso(review.created_at),
            },
            "order": {"id": order.external_id, "reference": order.reference},
        },
    }


def retry_intervals() -> list[int]:
    intervals = current_app.config.get("CALLBACK_RETRY_INTERVALS") or DEFAULT_RETRY_INTERVALS
    return [int(i) for i in intervals]


def notify_review_created(review: Review) -> str | None:
    """After a review is committed: queue its callback if the shop has one. Returns how.

    "queued" (RQ), "after_response" (no Redis, or Redis unreachable: once the response is
    sent, one attempt), or None.
    """
    shop = db.session.get(Shop, review.shop_id)
    if shop is None or not shop.callback_url:
        return None
    review.callback_state = PENDING
    db.session.commit()
    queue = current_app.extensions.get("rq_queue")
    if queue is not None:
        from rq import Retry

        intervals = retry_intervals()
        review_id = review.id
        try:
            queue.enqueue(
                deliver_review_created,
                review_id,
                job_id=f"kingavis-callback-review-{review_id}",
                retry=Retry(max=len(intervals), interval=intervals),
                job_timeout=TIMEOUT_SECONDS * 3,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
            )
            return "queued"
        except Exception as exc:  # Redis down: the customer's page must not fail for it
            log.warning("review.created callback not queued, sent after the response instead",
                        extra={"fields": {"review_id": review_id, "error": type(exc).__name__}})
    _after_response(current_app._get_current_object(), review.id)  # type: ignore[attr-defined]
    return "after_response"


def _after_response(app: Flask, review_id: int) -> None:
    from flask import after_this_request

    @after_this_request
    def _attach(response: Response) -> Response:
        def _run() -> None:
            try:
                with app.app_context():
                    try:
                        attempt(review_id, last=True)
                    finally:
                        db.session.remove()
            except Exception:  # never let it reach the WSGI server
                log.exception("review.created callback failed", extra={"fields": {"review_id": review_id}})

        response.call_on_close(_run)
        return response


def attempt(review_id: int, *, last: bool) -> str:
    """One POST of the callback; records the outcome. Raises RetryableCallbackError unless last."""
    review = db.session.get(Review, review_id, populate_existing=True)
    if review is None:
        return "gone"
    order = db.session.get(Order, review.order_id)
    shop = db.session.get(Shop, review.shop_id)
    assert order is not None and shop is not None
    if review.callback_state == DELIVERED:
        return DELIVERED
    if not shop.callback_url or not shop.callback_secret:
        review.callback_state = FAILED
        review.callback_last_error = "no callback URL or secret set"
        db.session.commit()
        return FAILED
    body = json.dumps(payload(review, order), separators=(",", ":"), ensure_ascii=False)
    msg_id = webhook_id(review)
    now = datetime.now(UTC)
    signature = Webhook(shop.callback_secret).sign(msg_id, now, body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    url = shop.callback_url
    shop_id = shop.id
    db.session.commit()  # no transaction held during the network call
    retryable = False
    try:
        response = requests.post(url, data=body.encode("utf-8"), headers=headers,
                                 timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        error, retryable = f"{type(exc).__name__}: {exc}"[:500], True
    else:
        if 200 <= response.status_code < 300:
            error = None
        else:
            error = f"HTTP {response.status_code}"
            retryable = response.status_code >= 500 or response.status_code == 429
    review = db.session.get(Review, review_id, populate_existing=True)
    if review is None:
        return "gone"
    review.callback_attempts = (review.callback_attempts or 0) + 1
    if error is None:
        review.callback_state = DELIVERED
        review.callback_last_error = None
        outcome = DELIVERED
    else:
        review.callback_last_error = error
        review.callback_state = PENDING if retryable and not last else FAILED
        outcome = review.callback_state
    attempts = review.callback_attempts
    db.session.commit()
    log.info("review.created callback", extra={"fields": {
        "review_id": review_id, "shop_id": shop_id, "outcome": outcome,
        "attempts": attempts, "error": error}})
    if outcome == PENDING:
        raise RetryableCallbackError(error)
    return outcome


def _last_attempt() -> bool:
    from rq import get_current_job

    job = get_current_job()
    return job is None or not job.retries_left


def deliver_review_created(review_id: int) -> str:
    """RQ job: POST the review.created callback of ``review_id`` (RQ retries on a raise)."""
    if has_app_context():
        return attempt(int(review_id), last=_last_attempt())
    from .delivery.jobs import worker_app

    with worker_app().app_context():
        try:
            return attempt(int(review_id), last=_last_attempt())
        finally:
            db.session.remove()
