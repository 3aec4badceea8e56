"""Standard Webhooks signatures (https://www.standardwebhooks.com), checked on the raw body.

A shop signs ``{webhook-id}.{webhook-timestamp}.{raw body}`` with HMAC-SHA256, keyed with the
base64-decoded part of its ``whsec_`` secret, and sends ``v1,<base64 digest>`` entries separated
by spaces in ``webhook-signature``. This is the scheme of the ``standardwebhooks`` package; it
is implemented here on bytes (the package decodes the body as text first) so that every
malformed input, a bad header, an odd secret or a non-UTF-8 body, ends as a
:class:`SignatureError` rather than an exception, and so that several secrets (rotation) can
be tried against one request. Digests are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
MAX_WEBHOOK_ID_LENGTH = 255
DEFAULT_TOLERANCE_SECONDS = 300

# Visible ASCII only: the id is stored, logged and compared, never interpreted.
_WEBHOOK_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_WEBHOOK_ID_LENGTH}}}")
# Unix seconds as the specification says: digits only (no sign, fraction or exponent).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """The request is not signed by the shop; ``str(error)`` is safe to send back."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret, decoded as the standardwebhooks package does."""
    encoded = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not valid base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` entry (``v1,<base64>``) for one secret."""
    return "v1," + base64.b64encode(_digest(decode_secret(secret), webhook_id, timestamp, body)).decode()


def _digest(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode("ascii") + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    return value.strip() if isinstance(value, str) else ""


def webhook_id_of(headers: Mapping[str, str]) -> str | None:
    """The ``webhook-id`` header when it is well formed, for logging before verification."""
    value = _header(headers, "webhook-id")
    return value if _WEBHOOK_ID.fullmatch(value) else None


def _signatures(header: str) -> list[bytes]:
    """The decodable ``v1`` digests of a signature header; anything else is skipped."""
    found: list[bytes] = []
    for entry in header.split():
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check a request's signature against every secret; return its webhook id.

    ``headers`` is looked up by lower-case name (Werkzeug's headers are case-insensitive).
    Raises :class:`SignatureError` with a message fit for the 401 problem.
    """
    webhook_id = _header(headers, "webhook-id")
    timestamp_text = _header(headers, "webhook-timestamp")
    signature_header = _header(headers, "webhook-signature")
    missing = [
        name
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", timestamp_text),
            ("webhook-signature", signature_header),
        )
        if not value
    ]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise SignatureError(
            f"webhook-id must be 1 to {MAX_WEBHOOK_ID_LENGTH} visible ASCII characters"
        )
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise SignatureError("webhook-timestamp must be Unix time in whole seconds")
    timestamp = int(timestamp_text)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"webhook-timestamp is more than {tolerance} seconds away from the server's clock"
        )
    candidates = _signatures(signature_header)
    if not candidates:
        raise SignatureError("webhook-signature holds no v1,<base64> entry")

    matched = False
    for secret in secrets:
        try:
            key = decode_secret(secret)
        except ValueError:
            continue
        expected = _digest(key, webhook_id, timestamp, body)
        for candidate in candidates:
            # Every comparison runs; the result does not depend on which one matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("no signature matches the shop's webhook secret")
    return webhook_id
