"""The keyed hash of a customer's address: how an address is remembered without being kept.

Every check that asks "is this the same customer?" — the unsubscribe check and the
per-customer window (docs/rules.md.7), at scheduling and at send time — compares
``customer_key(shop_id, address)`` with the hash stored beside the address
(``review_requests.customer_email_hash``, ``unsubscriptions.email_hash``). After an erasure the
address itself is gone and only the hash is left, so an unsubscribed address stays
unsubscribed and the window still applies, and nobody reading the database can get the
address back: the hash is an HMAC-SHA256 keyed with a server secret, not a plain digest that
a list of likely addresses would reverse.

- The address is normalized first (surrounding spaces removed, lower case), so matching
  ignores case.
- The shop id is part of the hashed message: the same person's hashes in two shops differ, so
  they cannot be linked across shops.
- The key is ``KINGAVIS_EMAIL_HASH_KEY`` when set, else derived from ``SECRET_KEY`` with a
  label (HMAC-SHA256(SECRET_KEY, label)); both are the same for every process of one install.
  Changing it makes every stored hash stop matching (erased unsubscriptions would be
  forgotten), so it must be kept like the database.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from flask import current_app

from kingavis.emails import normalize_email

_LABEL = b"kingavis customer email hash v1"


@lru_cache(maxsize=8)
def _derive(dedicated: str | None, secret_key: str) -> bytes:
    if dedicated:
        return dedicated.encode("utf-8")
    return hmac.new(secret_key.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def hash_key() -> bytes:
    """The HMAC key of this install (see the module docstring)."""
    config = current_app.config
    return _derive(config.get("EMAIL_HASH_KEY") or None, str(config["SECRET_KEY"]))


def customer_key(shop_id: int, email: str) -> str:
    """The lookup key of ``email`` in shop ``shop_id``: 64 hex digits of HMAC-SHA256.

    The one function every customer lookup goes through (scheduling, send time, unsubscribe,
    erasure, export).
    """
    message = f"{int(shop_id)}:{normalize_email(email)}".encode()
    return hmac.new(hash_key(), message, hashlib.sha256).hexdigest()
