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
address (``is_public_address``): never loopback, RFC 1918 / fc00::/7, link-local (cloud
metadata at 169.254.169.254), CGNAT, multicast, reserved… nor their IPv4-mapped IPv6 forms.
It is checked twice:

- when the URL is saved (``set_callback``, ``check_destination``), so the merchant is told at
  once; a host name that does not resolve yet is accepted (see ``check_destination``);
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

import base64
import ipaddress
import logging
import secrets
import socket
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

from kingavis.extensions import db
from kingavis.models import Order, Review, Shop
from kingavis.reviews.publication import CALLBACK_CREATED
from kingavis.reviews.questionnaire import validate_http_url
from kingavis.shops.service import ShopError

log = logging.getLogger("kingavis.delivery.callbacks")

TIMEOUT_SECONDS = 10
# Seconds before each retry: 1 min, 5 min, 30 min, 2 h, 6 h (then failed).
DEFAULT_RETRY_INTERVALS: tuple[int, ...] = (60, 300, 1800, 7200, 21600)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
USER_AGENT = "King-Avis-Callbacks/1"


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(ShopError):
    """The callback's host is, or resolves to, an address this service must not call.

    A ShopError, so the back-office shows it like any invalid setting; not an OSError, so at
    send time urllib3 and requests let it through instead of turning it into a retryable
    connection error. ``address`` is the refused IP, ``host`` the URL's host as written.
    """

    def __init__(self, host: str, address: str) -> None:
        self.host, self.address = host, address
        where = address if _same_address(host, address) else f"{address} of {host}"
        super().__init__(f"destination address {where} is not public")

    @property
    def literal(self) -> bool:
        """True when the URL names the address itself (no DNS involved)."""
        return _same_address(self.host, self.address)


def _same_address(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False


def is_public_address(ip: IPAddress) -> bool:
    """Whether a callback may connect to ``ip``: a globally routed unicast address.

    ``is_global`` alone is not enough on every Python: it lets through multicast (224/4),
    deprecated site-local fec0::/10 and some of ::/8 (IPv4-compatible ``::7f00:1``), so those
    are refused explicitly. An IPv4-mapped address (``::ffff:a.b.c.d``) reaches a.b.c.d and is
    judged as that; a 6to4 address (2002::/16) must embed a public IPv4 too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )


def allow_private() -> bool:
    """``KINGAVIS_CALLBACK_ALLOW_PRIVATE``: callbacks may reach any address (tests, intranets)."""
    return bool(current_app.config.get("CALLBACK_ALLOW_PRIVATE", False))


def _sockaddr_ip(sockaddr: tuple[Any, ...]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


def _shown(ip: IPAddress) -> str:
    """The address as a person writes it (``::ffff:127.0.0.1``, not ``::ffff:7f00:1``)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def check_destination(url: str) -> bool:
    """Refuse (DestinationRefused) a callback URL whose host is not a public address.

    An IP literal is judged as it is. A name is resolved and refused if ANY of its addresses
    is not public: the send-time check refuses such a name on every attempt, so it is better
    to tell the merchant now. Returns True when every address is public, False when the name
    does not resolve (yet): that is accepted, because a merchant may set the URL before its
    DNS record exists, and accepting it is safe since every attempt resolves and checks again
    before connecting; until the name resolves, attempts fail as network errors.
    """
    host = urlsplit(url).hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if not is_public_address(literal):
            raise DestinationRefused(host, _shown(literal))
        return True
    port = urlsplit(url).port or (443 if url.lower().startswith("https:") else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    for *_, sockaddr in infos:
        ip = _sockaddr_ip(sockaddr)
        if not is_public_address(ip):
            raise DestinationRefused(host, _shown(ip))
    return bool(infos)


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
    addresses = [_sockaddr_ip(sockaddr) for *_, sockaddr in infos]
    for ip in addresses:
        if not is_public_address(ip):
            raise DestinationRefused(conn.host, _shown(ip))
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
