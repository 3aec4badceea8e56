"""Where a shop's callback may be sent: public addresses only (server-side request forgery guard).

The merchant chooses the callback URL and this service POSTs to it from inside the hosting
network, so unless ``CALLBACK_ALLOW_PRIVATE`` is on (``KINGAVIS_CALLBACK_ALLOW_PRIVATE``, off by
default, docs/configuration.md) a callback may only reach a public address
(``is_public_address``): never loopback, RFC 1918 / fc00::/7, link-local (cloud metadata at
169.254.169.254), CGNAT, multicast, reserved… nor their IPv4-mapped IPv6 forms.

The URL is checked when it is saved (``check_destination``, from
``kingavis.shops.collection_settings.set_callback``), so the merchant is told at once, and
again on every attempt, on the address actually connected to
(``kingavis.delivery.callbacks``), with the same ``is_public_address`` and the same
``DestinationRefused``.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from kingavis.shops.service import ShopError

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


def sockaddr_ip(sockaddr: tuple[Any, ...]) -> IPAddress:
    """The address of a ``getaddrinfo`` result (an IPv6 scope id dropped)."""
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


def shown(ip: IPAddress) -> str:
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
            raise DestinationRefused(host, shown(literal))
        return True
    port = urlsplit(url).port or (443 if url.lower().startswith("https:") else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    for *_, sockaddr in infos:
        ip = sockaddr_ip(sockaddr)
        if not is_public_address(ip):
            raise DestinationRefused(host, shown(ip))
    return bool(infos)
