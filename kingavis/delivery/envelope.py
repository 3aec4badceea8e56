"""The envelope sender of an email: ``bounces+<token>@<bounce domain>`` (docs/deliverability.md).

The token is the request's ``bounce_token`` (random, stored with the request): a bounce sent
back to that address names the email it is about without carrying the customer's address or
the review link's token. Pure functions.
"""

from __future__ import annotations

import re

LOCAL_PREFIX = "bounces"
_TOKEN = re.compile(r"[0-9a-f]{32}")


def envelope_sender(token: str | None, bounce_domain: str | None) -> str | None:
    """``bounces+<token>@<domain>``, or None when either is missing (MAIL_FROM is used)."""
    if not token or not bounce_domain:
        return None
    return f"{LOCAL_PREFIX}+{token}@{bounce_domain.strip().lower().rstrip('.')}"


def token_of(address: str | None, bounce_domain: str | None) -> str | None:
    """The token an envelope address names, or None: the address must be exactly
    ``bounces+<token>@<bounce domain>`` (case-insensitive), with a token of the right shape."""
    if not address or not bounce_domain:
        return None
    address = address.strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or domain.rstrip(".") != bounce_domain.strip().lower().rstrip("."):
        return None
    prefix, plus, token = local.partition("+")
    if prefix != LOCAL_PREFIX or not plus or not _TOKEN.fullmatch(token):
        return None
    return token


def at_bounce_domain(address: str | None, bounce_domain: str | None) -> bool:
    """Whether ``address`` is at the bounce domain (any local part)."""
    if not address or not bounce_domain:
        return False
    domain = address.strip().strip("<>").rpartition("@")[2].lower().rstrip(".")
    return domain == bounce_domain.strip().lower().rstrip(".")
