"""The links of a test email: a signed token that names the shop and the language, and never
a review request (docs/test-email.md).

A test email ("M'envoyer un email d'essai") is built for a sample order that is never stored.
Its links must still open something: the questionnaire and the unsubscribe page show a preview
that stores nothing. The token is ``essai-<lang>-<shop id>-<signature>``: the signature (an
HMAC of the rest with the app's SECRET_KEY) makes it impossible to forge a preview of another
shop, and it is checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from flask import current_app

PREFIX = "essai"
_SHAPE = re.compile(r"essai-(fr|en)-(\d{1,12})-([A-Za-z0-9_-]{22})")


def _signature(shop_id: int, language: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"sample-link:{shop_id}:{language}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def sample_token(shop_id: int, language: str) -> str:
    """The token of a test email's links for ``shop_id`` in ``language``."""
    return f"{PREFIX}-{language}-{shop_id}-{_signature(shop_id, language)}"


def read_sample_token(token: str) -> tuple[int, str] | None:
    """(shop id, language) when ``token`` is a genuine test email token, else None."""
    match = _SHAPE.fullmatch(token or "")
    if match is None:
        return None
    language, shop_id = match.group(1), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _signature(shop_id, language)):
        return None
    return shop_id, language
