"""What a platform says was bought, as the order items of docs/webhooks (``data.order.items``).

Each platform's line item becomes one item object with only the keys the order-status event
defines: ``product_id``, ``variant_id``, ``name``, ``reference``, ``gtin``, ``mpn``, ``brand``,
``url``, ``image_url``, ``quantity``. A value that the event would refuse is left out rather
than sent: a platform event must never be refused for one odd line (the platform would retry
it, then disable the webhook), and an item without a usable product id or name is skipped.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from stdnum import ean
from stdnum.exceptions import ValidationError as StdnumError

MAX_ITEMS = 100
MAX_ID = 64
MAX_NAME = 200
# The order-status webhook's own limits (webhooks/schemas.py; tests/platforms/test_platform_mapping.py
# checks they agree): a value past them is left out, so the event is never refused for it.
MAX_CODE = 64  # reference, mpn
MAX_BRAND = 70
MAX_URL = 500
# EAN-13 (and ISBN-13, which is one), UPC-A (12 digits) and GTIN-14; not EAN-8.
GTIN_LENGTHS = (12, 13, 14)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_id(value: Any) -> str | None:
    """A platform id (a JSON number or string) as the event's string id, or None.

    Platforms send numbers (Shopify's 64-bit ids, WooCommerce's post ids); 0 and negative
    numbers mean "none" for WooCommerce (a deleted product, no variation).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str):
        text = value.strip()
        if text and len(text) <= MAX_ID and not _CONTROL.search(text) and text != "0":
            return text
    return None


def clean_text(value: Any, limit: int) -> str | None:
    """A single-line text of at most ``limit`` characters, or None (empty, too long, not text)."""
    if not isinstance(value, str):
        return None
    text = _CONTROL.sub(" ", value).strip()
    if not text or len(text) > limit:
        return None
    return text


def clean_name(value: Any) -> str | None:
    """A product name: cut at ``MAX_NAME`` characters (a long name is still the product's)."""
    if not isinstance(value, str):
        return None
    text = _CONTROL.sub(" ", value).strip()
    if not text:
        return None
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1].rstrip() + "…"


def clean_gtin(value: Any) -> str | None:
    """A barcode as a GTIN when it is one: 12, 13 or 14 digits (spaces and hyphens removed)
    whose check digit is right (python-stdnum). Anything else (an internal code, a typo) is
    not a GTIN, and a wrong GTIN would misfile the product's reviews at Google: None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    try:
        number = ean.validate(value)
    except StdnumError:
        return None
    return number if len(number) in GTIN_LENGTHS else None


def clean_url(value: Any) -> str | None:
    """An absolute http(s) URL, or None."""
    text = clean_text(value, MAX_URL)
    if text is None or " " in text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return text


def clean_quantity(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= 1_000_000 else None


def item(
    *,
    product_id: Any,
    name: Any,
    variant_id: Any = None,
    reference: Any = None,
    gtin: Any = None,
    mpn: Any = None,
    brand: Any = None,
    url: Any = None,
    image_url: Any = None,
    quantity: Any = None,
) -> dict[str, Any] | None:
    """One item object (only the keys that have a usable value), or None without a product
    id or a name (the two required keys)."""
    pid = clean_id(product_id)
    title = clean_name(name)
    if pid is None or title is None:
        return None
    found: dict[str, Any] = {"product_id": pid}
    optional = {
        "variant_id": clean_id(variant_id),
        "name": title,
        "reference": clean_text(reference, MAX_CODE),
        "gtin": clean_gtin(gtin),
        "mpn": clean_text(mpn, MAX_CODE),
        "brand": clean_text(brand, MAX_BRAND),
        "url": clean_url(url),
        "image_url": clean_url(image_url),
        "quantity": clean_quantity(quantity),
    }
    found.update({key: value for key, value in optional.items() if value is not None})
    return found


def first_items(candidates: Any) -> list[dict[str, Any]]:
    """The usable items among ``candidates`` (None skipped), at most ``MAX_ITEMS``, in order."""
    found = [c for c in candidates if c is not None]
    return found[:MAX_ITEMS]
