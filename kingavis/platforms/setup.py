"""What a merchant pastes into their platform's webhook settings (docs/platforms.md).

The back-office's Identifiants page shows, for the shop's platform, the URL, one line per topic
to subscribe (the platform's own name for it and its code) and which secret goes where.
"""

from __future__ import annotations

from dataclasses import dataclass

# (code the platform sends, the event's name in the platform's admin, in English and French)
SHOPIFY_TOPICS = (
    ("orders/create", "Order creation", "Création de commande"),
    ("orders/updated", "Order update", "Mise à jour de commande"),
    ("orders/paid", "Order payment", "Paiement de commande"),
    ("orders/fulfilled", "Order fulfillment", "Traitement de commande"),
    ("orders/cancelled", "Order cancellation", "Annulation de commande"),
    ("fulfillment_events/create", "Fulfillment event creation",
     "Création d'un événement de traitement"),
    ("refunds/create", "Refund create", "Création de remboursement"),
)
WOOCOMMERCE_TOPICS = (
    ("order.created", "Order created", "Commande créée"),
    ("order.updated", "Order updated", "Commande mise à jour"),
    ("order.deleted", "Order deleted", "Commande supprimée"),
)

@dataclass(frozen=True)
class Topic:
    code: str
    label: str


@dataclass(frozen=True)
class Setup:
    platform: str
    topics: list[Topic]


def setup_for(platform: str, language: str) -> Setup | None:
    """The topics to subscribe for a webhook platform, labelled in ``language``; None for a
    shop with its own module."""
    table = {"shopify": SHOPIFY_TOPICS, "woocommerce": WOOCOMMERCE_TOPICS}.get(platform)
    if table is None:
        return None
    return Setup(platform, [Topic(code, fr if language == "fr" else en)
                            for code, en, fr in table])

