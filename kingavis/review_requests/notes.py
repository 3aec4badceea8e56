"""Timeline notes written by King-Avis itself: stored as a code plus parameters, worded on display.

A ``RequestDecision`` used to carry its explanation as a sentence, written once in whatever
language the code happened to use, so a merchant reading the back-office in French saw English
and nothing could translate it. The code and its parameters are stored instead
(``note_code``, ``note_args``) and ``describe_note`` words them in the reader's language.

Parameters are data, never wording: an SMTP server's reply or a status id is put into the
message as it was given. Messages use named ``%(name)s`` placeholders and are formatted once,
with a dict, so a ``%`` or ``{x}`` inside a value is never read as a format directive. The only
parameters that are translated are the ``state`` and ``reason`` codes, looked up below.

A merchant's own note stays in ``note``, shown as typed; so do notes of rows written before the
codes existed.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from flask_babel import lazy_gettext, ngettext

from kingavis.review_requests.labels import REASON_LABELS, STATE_LABELS, in_sentence

log = logging.getLogger("kingavis.review_requests.notes")


class NoteCode(enum.StrEnum):
    """Every note King-Avis writes on the timeline. Stored in request_decisions.note_code."""

    # The first email, by the dispatcher and its jobs.
    CLAIMED = "claimed"
    SHOP_PAUSED = "shop_paused"
    CANCELLED_AT_SEND_TIME = "cancelled_at_send_time"
    SUPPRESSED_AT_SEND_TIME = "suppressed_at_send_time"
    SENT = "sent"
    GAVE_UP = "gave_up"
    RETRY = "retry"
    REFUSED = "refused"
    # The reminder.
    REMINDER_SENT = "reminder_sent"
    REMINDER_PAUSED = "reminder_paused"
    REMINDER_RETRY = "reminder_retry"
    REMINDER_DROPPED_STATE = "reminder_dropped_state"
    REMINDER_DROPPED_REVIEWED = "reminder_dropped_reviewed"
    REMINDER_DROPPED_RULE = "reminder_dropped_rule"
    REMINDER_DROPPED_ADDRESS = "reminder_dropped_address"
    REMINDER_GAVE_UP = "reminder_gave_up"
    REMINDER_REFUSED = "reminder_refused"
    # The customer, from the review page.
    POSTPONED_EMAIL_WITHDRAWN = "postponed_email_withdrawn"
    NOT_RECEIVED_YET = "not_received_yet"
    # The merchant's actions, when the merchant wrote no note of their own.
    SEND_NOW_BY_MERCHANT = "send_now_by_merchant"
    POSTPONED_BY_MERCHANT = "postponed_by_merchant"
    RULE_APPLIED = "rule_applied"
    # The review left through the request's link (kingavis.reviews.publication.change_review_state).
    REVIEW_PUBLISHED = "review_published"
    REVIEW_PENDING = "review_pending"
    REVIEW_REJECTED = "review_rejected"
    REVIEW_WITHDRAWN = "review_withdrawn"
    REVIEW_RESTORED = "review_restored"
    REVIEW_RESUBMITTED = "review_resubmitted"
    # A merchant's report and reply, and an operator's decision to keep a reported review.
    REVIEW_REPORTED = "review_reported"
    REVIEW_REPORTED_BY_READER = "review_reported_by_reader"
    REVIEW_REPORT_DISMISSED = "review_report_dismissed"
    REVIEW_REPLY_PUBLISHED = "review_reply_published"
    REVIEW_REPLY_UPDATED = "review_reply_updated"
    # Bounces and complaints received about the request's emails (docs/deliverability.md).
    BOUNCE_PERMANENT = "bounce_permanent"
    BOUNCE_TEMPORARY = "bounce_temporary"
    COMPLAINT = "complaint"
    ADDRESS_SUPPRESSED = "address_suppressed"


MESSAGES: dict[str, Any] = {
    NoteCode.CLAIMED: lazy_gettext("pris en charge pour l'envoi, tentative %(attempt)s"),
    NoteCode.SHOP_PAUSED: lazy_gettext("boutique en pause\u00a0: en attente de la reprise"),
    NoteCode.CANCELLED_AT_SEND_TIME: lazy_gettext(
        "au moment de l'envoi, dernier statut de la commande\u00a0: %(status)s"),
    NoteCode.SUPPRESSED_AT_SEND_TIME: lazy_gettext("constaté au moment de l'envoi"),
    NoteCode.SENT: lazy_gettext("tentative %(attempt)s"),
    NoteCode.GAVE_UP: lazy_gettext("abandon après %(attempts)s tentatives\u00a0: %(error)s"),
    NoteCode.RETRY: lazy_gettext(
        "erreur temporaire, nouvel essai dans %(seconds)s s\u00a0: %(error)s"),
    NoteCode.REFUSED: lazy_gettext("refusé par le serveur de messagerie\u00a0: %(error)s"),
    NoteCode.REMINDER_SENT: lazy_gettext("relance envoyée, tentative %(attempt)s"),
    NoteCode.REMINDER_PAUSED: lazy_gettext("relance\u00a0: boutique en pause, en attente"),
    NoteCode.REMINDER_RETRY: lazy_gettext(
        "relance\u00a0: erreur temporaire, nouvel essai dans %(seconds)s s\u00a0: %(error)s"),
    NoteCode.REMINDER_DROPPED_STATE: lazy_gettext(
        "relance non envoyée\u00a0: la demande est à l'état « %(state)s »"),
    NoteCode.REMINDER_DROPPED_REVIEWED: lazy_gettext(
        "relance non envoyée\u00a0: un avis a été laissé"),
    NoteCode.REMINDER_DROPPED_RULE: lazy_gettext("relance non envoyée\u00a0: %(reason)s"),
    NoteCode.REMINDER_DROPPED_ADDRESS: lazy_gettext(
        "relance non envoyée\u00a0: l'adresse email de la commande a changé depuis l'invitation"),
    NoteCode.REMINDER_GAVE_UP: lazy_gettext(
        "relance non envoyée\u00a0: abandon après %(attempts)s tentatives\u00a0: %(error)s"),
    NoteCode.REMINDER_REFUSED: lazy_gettext(
        "relance non envoyée\u00a0: refusée par le serveur de messagerie\u00a0: %(error)s"),
    NoteCode.POSTPONED_EMAIL_WITHDRAWN: lazy_gettext(
        "avis laissé\u00a0: le nouvel envoi prévu est retiré"),
    NoteCode.NOT_RECEIVED_YET: lazy_gettext(
        "commande pas encore reçue\u00a0: email renvoyé dans %(days)s"),
    NoteCode.SEND_NOW_BY_MERCHANT: lazy_gettext("envoi immédiat demandé par le marchand"),
    NoteCode.POSTPONED_BY_MERCHANT: lazy_gettext("reportée de %(days)s par le marchand"),
    NoteCode.RULE_APPLIED: lazy_gettext("règle appliquée"),
    NoteCode.REVIEW_PUBLISHED: lazy_gettext("avis publié (%(rating)s/5)"),
    NoteCode.REVIEW_PENDING: lazy_gettext("avis (%(rating)s/5) en attente de modération"),
    NoteCode.REVIEW_REJECTED: lazy_gettext("avis refusé : %(reason)s"),
    NoteCode.REVIEW_WITHDRAWN: lazy_gettext("avis retiré : %(reason)s"),
    NoteCode.REVIEW_RESTORED: lazy_gettext("avis rétabli par son auteur (%(rating)s/5)"),
    NoteCode.REVIEW_RESUBMITTED: lazy_gettext(
        "avis corrigé par son auteur après refus, en attente de modération"),
    NoteCode.REVIEW_REPORTED: lazy_gettext("avis signalé par le marchand : %(report)s"),
    NoteCode.REVIEW_REPORTED_BY_READER: lazy_gettext(
        "avis signalé depuis la page publique : %(reason)s"),
    NoteCode.REVIEW_REPORT_DISMISSED: lazy_gettext(
        "signalement examiné par la modération : l'avis reste publié"),
    NoteCode.REVIEW_REPLY_PUBLISHED: lazy_gettext("réponse du marchand publiée"),
    NoteCode.REVIEW_REPLY_UPDATED: lazy_gettext("réponse du marchand modifiée"),
    NoteCode.BOUNCE_PERMANENT: lazy_gettext(
        "email refusé définitivement par le serveur du client (%(status)s)\u00a0: adresse bloquée"),
    NoteCode.BOUNCE_TEMPORARY: lazy_gettext(
        "échec temporaire de remise (%(status)s)\u00a0: %(count)s sur 3 en 30 jours"),
    NoteCode.COMPLAINT: lazy_gettext(
        "le client a signalé l'email comme spam\u00a0: adresse bloquée et désinscrite"),
    NoteCode.ADDRESS_SUPPRESSED: lazy_gettext("adresse bloquée\u00a0: %(reason)s"),
}

# The parameters that are codes themselves, worded inside a sentence (hence lower case): the
# labels of the back-office lists (kingavis.review_requests.labels).
VALUE_LABELS: dict[str, dict[str, Any]] = {
    "state": {code: in_sentence(label) for code, label in STATE_LABELS.items()},
    "reason": {code: in_sentence(label) for code, label in REASON_LABELS.items()},
}


class HasNote(Protocol):
    note: str | None
    note_code: str | None
    note_args: dict[str, Any] | None


def _value(name: str, value: Any) -> str:
    if name == "days" and isinstance(value, int) and not isinstance(value, bool):
        # "1 jour", "3 jours": the language's plural forms (docs/averages.md, formatting).
        return ngettext("%(num)d jour", "%(num)d jours", value)
    labels = VALUE_LABELS.get(name)
    if labels is not None and isinstance(value, str) and value in labels:
        return str(labels[value])
    return "" if value is None else str(value)


def render(code: str, args: Mapping[str, Any] | None = None) -> str:
    """The message of ``code`` in the current language, with ``args`` put in as given.

    An unknown code (a row written by a newer version, or a typo) shows the code itself rather
    than failing the page; so does a message whose parameters are missing.
    """
    message = MESSAGES.get(code)
    if message is None:
        return code
    values = {str(k): _value(str(k), v) for k, v in (args or {}).items()}
    try:
        # One %-formatting with a dict: a "%" in a value is inserted, never interpreted.
        return str(message) % values
    except (KeyError, ValueError, TypeError):
        log.warning("timeline note does not format", extra={"fields": {"code": code}})
        return code


def describe_note(decision: HasNote) -> str:
    """What the timeline shows for a decision: its coded note worded in the reader's language,
    else the stored text (a merchant's note, or a row older than the codes), else ""."""
    if decision.note_code:
        args = decision.note_args if isinstance(decision.note_args, Mapping) else None
        return render(decision.note_code, args)
    return decision.note or ""


__all__ = ["MESSAGES", "VALUE_LABELS", "NoteCode", "describe_note", "render"]
