"""The presets of the shops whose events come from Shopify or WooCommerce (docs/platforms.md).

Same shape as ``kingavis.scheduling.prestashop_preset``: the statuses with their names
(French and English), paid/shipped flags and role, and the trigger, cancel and unpaid ids.
The delay (10 days), no send hour and the shop's time zone are the same for every platform.
"""

from __future__ import annotations

from typing import Any

PLATFORMS = ("prestashop", "shopify", "woocommerce")
WEBHOOK_PLATFORMS = ("shopify", "woocommerce")

# What a status means for a review, by kind: paid and shipped flags and role.
_KINDS: dict[str, dict[str, Any]] = {
    "unpaid": {"paid": False, "shipped": False, "role": "unpaid"},
    "paid": {"paid": True, "shipped": False, "role": None},
    "shipped": {"paid": True, "shipped": True, "role": None},
    "trigger": {"paid": True, "shipped": True, "role": "trigger"},
    "cancel": {"paid": False, "shipped": False, "role": "cancel"},
}


def _states(table: str) -> list[dict[str, Any]]:
    """The states of a preset from a table of lines ``id | French name | English name | kind``."""
    states = []
    for line in table.strip().splitlines():
        id_, fr, en, kind = (cell.strip() for cell in line.split("|"))
        states.append({"id": id_, "fr": fr, "en": en, **_KINDS[kind]})
    return states


# Shopify has no single "order status": its order carries a financial status, a fulfilment
# status and a cancellation, and fulfilment events say where the parcel is. King-Avis names
# the states a review cares about, derived from those (kingavis.platforms.shopify).
SHOPIFY_STATES = _states("""
    pending   | En attente de paiement | Payment pending | unpaid
    paid      | Payée                  | Paid            | paid
    fulfilled | Expédiée               | Fulfilled       | shipped
    delivered | Livrée                 | Delivered       | trigger
    cancelled | Annulée                | Cancelled       | cancel
    refunded  | Remboursée             | Refunded        | cancel
""")

# WooCommerce's own status slugs (wc_get_order_statuses() without the "wc-" prefix), with
# WooCommerce's French and English labels. Custom statuses join the list as they arrive.
WOOCOMMERCE_STATES = _states("""
    pending    | Attente paiement | Pending payment | unpaid
    processing | En cours         | Processing      | paid
    on-hold    | En attente       | On hold         | unpaid
    completed  | Terminée         | Completed       | trigger
    cancelled  | Annulée          | Cancelled       | cancel
    refunded   | Remboursée       | Refunded        | cancel
    failed     | Échouée          | Failed          | cancel
""")

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
