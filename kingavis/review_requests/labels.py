"""What a review request's states and reasons are called, in the reader's language: one
definition for the back-office lists (a label on its own, capitalised) and for the timeline
notes, which put the same label inside a sentence with its first letter in lower case."""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString, lazy_gettext

from kingavis.models import Reason, RequestState

STATE_LABELS = {
    RequestState.SCHEDULED.value: lazy_gettext("Programmée"),
    RequestState.SENDING.value: lazy_gettext("Envoi en cours"),
    RequestState.SENT.value: lazy_gettext("Envoyée"),
    RequestState.CANCELLED.value: lazy_gettext("Annulée"),
    RequestState.SUPPRESSED.value: lazy_gettext("Non envoyée (règle)"),
    RequestState.FAILED.value: lazy_gettext("Échec d'envoi"),
}

REASON_LABELS = {
    Reason.ORDER_CANCELLED.value: lazy_gettext("Commande annulée"),
    Reason.ORDER_UNPAID.value: lazy_gettext("Commande non payée"),
    Reason.NO_CONSENT.value: lazy_gettext("Pas de consentement"),
    Reason.UNSUBSCRIBED.value: lazy_gettext("Client désinscrit"),
    Reason.RECENT_REQUEST.value: lazy_gettext("Demande récente pour ce client"),
    Reason.MERCHANT_CANCELLED.value: lazy_gettext("Annulée par le marchand"),
    Reason.DELIVERY_FAILED.value: lazy_gettext("Échec de remise de l'email"),
    Reason.ERASED.value: lazy_gettext("Données du client effacées"),
    Reason.BOUNCED.value: lazy_gettext("Adresse en échec de remise"),
    Reason.COMPLAINED.value: lazy_gettext("Le client a signalé un email comme spam"),
}


def _lower_first(label: Any) -> str:
    text = str(label)
    return text[:1].lower() + text[1:]


def in_sentence(label: Any) -> LazyString:
    """``label`` as a word inside a sentence: its first letter in lower case, translated when
    shown."""
    return LazyString(_lower_first, label)
