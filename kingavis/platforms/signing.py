"""The signature Shopify and WooCommerce both put on their webhooks (docs/platforms.md)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable


def base64_hmac_matches(secrets: Iterable[str], header: str | None, body: bytes) -> bool:
    """Whether ``header`` is the base64 HMAC-SHA256 of the raw ``body`` keyed with one of
    ``secrets`` (each as UTF-8 text), as both platforms compute it. Every secret is compared,
    in constant time, whichever matches: a rotation's old and new secrets cost the same."""
    if not header:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, given)
    return matched
