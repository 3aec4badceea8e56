"""The shop's signed callback: Standard Webhooks POSTs of review.created and the later events.

Every callback is an ``OutgoingMessage`` row (channel ``callback``) written in the transaction
of the change it tells of, review.created included: it is queued with the review itself
(kingavis.reviews.questionnaire), so a review stored is a callback owed, and a review rolled
back is none. The outbox (kingavis.delivery.outgoing) claims it and calls ``signed_post``; this
module builds the body and guards the destination. See docs/publication.md, "Callback events".

The ``webhook-id`` is the same on every attempt of one event (``review_created_<review id>``
for review.created, ``review_published_<message id>`` and so on for the others) and the body is
the same bytes, so a receiver can drop duplicates; the ``webhook-timestamp`` and the signature
are fresh on each attempt. Network errors, 5xx and 429 are retried after ``retry_intervals``;
another 4xx fails at once. For review.created, ``Review.callback_state`` (pending / delivered /
failed), ``callback_attempts`` and ``callback_last_error`` also tell the merchant what happened
(``record_created``).

Server-side request forgery guard. The merchant chooses the URL and this service POSTs to it
from inside the hosting network, so unless ``CALLBACK_ALLOW_PRIVATE`` is on
(``KINGAVIS_CALLBACK_ALLOW_PRIVATE``, off by default) a callback may only reach a public
address (``is_public_address``, kingavis.shops.destinations): never loopback, RFC 1918 / fc00::/7, link-local (cloud
metadata at 169.254.169.254), CGNAT, multicast, reserved… nor their IPv4-mapped IPv6 forms.
It is checked twice:

- when the URL is saved (``kingavis.shops.collection_settings.set_callback``,
  ``check_destination``), so the merchant is told at once; a host name that does not resolve
  yet is accepted (see ``check_destination``);
- on every attempt, on the address actually connected to: the host is resolved once, every
  address is checked, and the socket is opened to a checked address, never re-resolved, while
  the Host header, TLS SNI and certificate check keep the URL's host name (``_post``). So a
  name whose DNS changed since it was saved (or rebinds between two lookups) cannot reach a
  private address. A refused destination fails the callback at once, without retry, with
  ``callback_last_error`` like "destination address 10.0.0.5 of shop.example is not public";
  a name that does not resolve is a network error, retried like any other.

Redirects are never followed (a 3xx fails the callback at once: it could point anywhere), and
no proxy, ``.netrc`` or CA bundle from the environment is used: the POST goes straight to the
checked address and the certificate is verified against requests' bundle (the app config
``CALLBACK_VERIFY`` may name another CA file; tests use it).
"""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from typing import Any

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

from kingavis.models import Order, Review
from kingavis.reviews.publication import CALLBACK_CREATED
from kingavis.shops.destinations import (
    DestinationRefused,
    allow_private,
    is_public_address,
    shown,
    sockaddr_ip,
)

log = logging.getLogger("kingavis.delivery.callbacks")

TIMEOUT_SECONDS = 10
# Seconds before each retry: 1 min, 5 min, 30 min, 2 h, 6 h (then failed).
DEFAULT_RETRY_INTERVALS: tuple[int, ...] = (60, 300, 1800, 7200, 21600)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
USER_AGENT = "King-Avis-Callbacks/1"


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


def event(kind: str, message_id: int, review: Review, order: Order,
          occurred_at: datetime) -> tuple[str, dict[str, Any]]:
    """The webhook-id and body of one callback message. review.created keeps the id and body
    it had before the other events existed (``webhook_id``, ``payload``)."""
    if kind == CALLBACK_CREATED:
        return webhook_id(review), payload(review, order)
    return event_webhook_id(kind, message_id), event_payload(kind, review, order, occurred_at)


def record_created(review: Review, state: str, error: str | None, *, posted: bool) -> None:
    """Write what became of a review's review.created callback on the review (``state``:
    pending, delivered or failed; ``posted``: a POST was made, counted). Not committed."""
    if posted:
        review.callback_attempts = (review.callback_attempts or 0) + 1
    review.callback_state = state
    review.callback_last_error = error


def event_webhook_id(kind: str, message_id: int) -> str:
    """The webhook-id of one review.published / review.withdrawn / review.replied event: the
    same on every attempt (``review_published_<n>``), distinct for each event."""
    return f"{kind.replace('.', '_')}_{message_id}"


def event_payload(kind: str, review: Review, order: Order, occurred_at: datetime) -> dict[str, Any]:
    """The body of a review.published / review.withdrawn / review.replied event (README,
    "Callbacks"). Built when it is sent: a withdrawn review's text is never in it."""
    from kingavis.reviews.public import author_display

    data: dict[str, Any] = {"id": str(review.id), "status": review.status, "rating": review.rating}
    if kind == "review.published":
        data["comment"] = review.comment
        data["author"] = author_display(order.customer_first_name, order.customer_last_name)
        data["published_at"] = _iso(review.published_at) if review.published_at else None
    elif kind == "review.withdrawn":
        data["withdrawn_at"] = _iso(review.withdrawn_at) if review.withdrawn_at else None
    elif kind == "review.replied":
        data["reply"] = {
            "text": review.reply_text,
            "published_at": _iso(review.reply_published_at) if review.reply_published_at else None,
            "updated_at": _iso(review.reply_updated_at) if review.reply_updated_at else None,
        }
    return {
        "type": kind,
        "timestamp": _iso(occurred_at),
        "data": {"review": data, "order": {"id": order.external_id, "reference": order.reference}},
    }


def retry_intervals() -> list[int]:
    intervals = current_app.config.get("CALLBACK_RETRY_INTERVALS") or DEFAULT_RETRY_INTERVALS
    return [int(i) for i in intervals]


def signed_post(url: str, secret: str, msg_id: str, body: str, *, what: str,
                fields: dict[str, Any]) -> tuple[str | None, bool]:
    """POST ``body`` to ``url``, signed the Standard Webhooks way with ``secret`` and
    ``msg_id`` (a fresh timestamp and signature each attempt). Returns (error, retryable):
    (None, False) when the receiver answered 2xx. Network errors, 5xx and 429 are retryable;
    another status, a redirect or a refused destination is not. Call it holding no transaction.
    """
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, now, body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    try:
        response = _post(url, body.encode("utf-8"), headers)
    except DestinationRefused as exc:  # never retried: the next attempt would be refused too
        log.warning(f"{what} callback refused: destination not public", extra={"fields": {
            **fields, "host": exc.host, "address": exc.address}})
        return str(exc), False
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500], True
    if 200 <= response.status_code < 300:
        return None, False
    return f"HTTP {response.status_code}", (response.status_code >= 500
                                            or response.status_code == 429)


def _post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    """One POST, redirects not followed, through the public-only adapter unless allowed.

    ``trust_env`` off: an HTTP(S)_PROXY would make the checked connection the proxy's and
    let the proxy reach the private address; ``.netrc`` could hand credentials to the shop.
    ``CALLBACK_VERIFY`` (True: requests' CA bundle) exists for tests with a private CA.
    """
    with requests.Session() as session:
        session.trust_env = False
        if not allow_private():
            adapter = PublicOnlyAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS,
                            allow_redirects=False,
                            verify=current_app.config.get("CALLBACK_VERIFY", True))


def _connect_checked(conn: HTTPConnection) -> socket.socket:
    """Resolve the host once, refuse it unless every address is public, connect to one of
    those addresses (never by name again). Errors are urllib3's, so requests reports them
    as usual (a name that does not resolve is a retryable connection error)."""
    host = conn._dns_host.strip("[]")  # noqa: SLF001 - the name urllib3 itself would resolve
    try:
        infos = socket.getaddrinfo(host, conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    addresses = [sockaddr_ip(sockaddr) for *_, sockaddr in infos]
    for ip in addresses:
        if not is_public_address(ip):
            raise DestinationRefused(conn.host, shown(ip))
    error: OSError = OSError(f"{host} resolves to no address")
    for ip in dict.fromkeys(addresses):  # each address once, in the resolver's order
        try:
            # An IP literal: create_connection's own getaddrinfo does no DNS lookup.
            return create_connection((str(ip), conn.port), conn.timeout,
                                     source_address=conn.source_address,
                                     socket_options=conn.socket_options)
        except OSError as exc:  # as urllib3 does: try the next address, report the last error
            error = exc
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from error
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


class PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class PublicHTTPSConnection(HTTPSConnection):
    """Only the socket is opened differently: TLS still sends SNI for, and verifies the
    certificate against, ``self.host`` (the URL's name), as urllib3's ``connect`` does."""

    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PublicHTTPConnection


class PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """A requests adapter whose connections only open to public addresses (DestinationRefused)."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": PublicHTTPConnectionPool, "https": PublicHTTPSConnectionPool}
