"""The presets of the shops whose events come from Shopify or WooCommerce (docs/platforms.md).

Same shape as ``kingavis.scheduling.prestashop_preset``: the statuses with their names
(French and English), paid/shipped flags and role, and the trigger, cancel and unpaid ids.
The delay (10 days), no send hour and the shop's time zone are the same for every platform.
"""

from __future__ import annotations

from typing import Any

PLATFORMS = ("prestashop", "shopify", "woocommerce")
WEBHOOK_PLATFORMS = ("shopify", "woocommerce")

# Shopify has no single "order status": its order carries a financial status, a fulfilment
# status and a cancellation, and fulfilment events say where the parcel is. King-Avis names
# the states a review cares about, derived from those (kingavis.platforms.shopify).
SHOPIFY_STATES: list[dict[str, Any]] = [
    {"id": "pending", "fr": "En attente de paiement", "en": "Payment pending",
     "paid": False, "shipped": False, "role": "unpaid"},
    {"id": "paid", "fr": "Payée", "en": "Paid", "paid": True, "shipped": False, "role": None},
    {"id": "fulfilled", "fr": "Expédiée", "en": "Fulfilled", "paid": True, "shipped": True,
     "role": None},
    {"id": "delivered", "fr": "Livrée", "en": "Delivered", "paid": True, "shipped": True,
     "role": "trigger"},
    {"id": "cancelled", "fr": "Annulée", "en": "Cancelled", "paid": False, "shipped": False,
     "role": "cancel"},
    {"id": "refunded", "fr": "Remboursée", "en": "Refunded", "paid": False, "shipped": False,
     "role": "cancel"},
]

# WooCommerce's own status slugs (wc_get_order_statuses() without the "wc-" prefix), with
# WooCommerce's French and English labels. Custom statuses join the list as they arrive.
WOOCOMMERCE_STATES: list[dict[str, Any]] = [
    {"id": "pending", "fr": "Attente paiement", "en": "Pending payment",
     "paid": False, "shipped": False, "role": "unpaid"},
    {"id": "processing", "fr": "En cours", "en": "Processing", "paid": True, "shipped": False,
     "role": None},
    {"id": "on-hold", "fr": "En attente", "en": "On hold", "paid": False, "shipped": False,
     "role": "unpaid"},
    {"id": "completed", "fr": "Terminée", "en": "Completed", "paid": True, "shipped": True,
     "role": "trigger"},
    {"id": "cancelled", "fr": "Annulée", "en": "Cancelled", "paid": False, "shipped": False,
     "role": "cancel"},
    {"id": "refunded", "fr": "Remboursée", "en": "Refunded", "paid": False, "shipped": False,
     "role": "cancel"},
    {"id": "failed", "fr": "Échouée", "en": "Failed", "paid": False, "shipped": False,
     "role": "cancel"},
]

_STATES = {"shopify": SHOPIFY_STATES, "woocommerce": WOOCOMMERCE_STATES}
_RULE_NAMES = {
    "shopify": {"fr": "Shopify — Livrée", "en": "Shopify — Delivered"},
    "woocommerce": {"fr": "WooCommerce — Terminée", "en": "WooCommerce — Completed"},
}


def platform_preset(platform: str) -> dict[str, Any]:
    """The preset of a webhook platform: ``states``, ``trigger``, ``cancel``, ``unpaid`` ids and
    the active rule's ``rule_name`` per language. Raises KeyError for another platform."""
    states = _STATES[platform]
    return {
        "states": states,
        "trigger": [s["id"] for s in states if s["role"] == "trigger"],
        "cancel": [s["id"] for s in states if s["role"] == "cancel"],
        "unpaid": [s["id"] for s in states if s["role"] == "unpaid"],
        "rule_name": _RULE_NAMES[platform],
    }


def state_name(platform: str, status_id: str, language: str) -> str | None:
    """The preset's name of a status in ``language`` (fr or en), or None if not a preset one."""
    for state in _STATES.get(platform, ()):
        if state["id"] == status_id:
            return str(state.get(language) or state["en"])
    return None
