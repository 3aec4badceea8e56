"""Review Balancing's email split (docs/collecting-reviews.md): which platform a shop's
invitation for an order sends the customer to, King-Avis's own questionnaire or the shop's
third-party review page. A shop's setting, read when a request is scheduled (kingavis.orders.events); the request
keeps the platform it was given.
"""

from __future__ import annotations

import hashlib

from kingavis.models import Shop
from kingavis.shops.service import ShopSnapshot

KINGAVIS_PLATFORM = "kingavis"


def split_bucket(shop_key: str, external_order_id: str) -> int:
    """0–99, fixed for an order of a shop: the same order always falls in the same bucket."""
    digest = hashlib.sha256(f"{shop_key}:{external_order_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100


def choose_platform(shop: Shop | ShopSnapshot, external_order_id: str) -> str:
    """Where this order's invitation sends the customer: "kingavis" or the balancing platform."""
    percent = shop.balancing_split_percent or 0
    if percent <= 0 or not shop.balancing_url or not shop.balancing_platform:
        return KINGAVIS_PLATFORM
    if split_bucket(shop.key, external_order_id) < percent:
        return shop.balancing_platform
    return KINGAVIS_PLATFORM
