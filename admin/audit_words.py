"""The audit log's entries worded in the merchant's language, never as stored data.

An entry keeps its ``details`` as data (field names, ids, before/after pairs) so that it can be
worded in whatever language the reader chose. This module turns them into sentences:
``{"changes": {"delay_days": [3, 5]}}`` becomes "Délai : 3 → 5 jours", a cancel of two
requests "2 demandes annulées", a rule id the rule's name. Status ids are shown with their
names, yes/no switches as "oui"/"non", numbers and dates through Flask-Babel in the reader's
locale. A key this module does not know is still shown as "key : value" with plain values
(never a Python repr), so a new action is readable before it gets its own wording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import (
    format_datetime,
    format_decimal,
    get_locale,
    gettext,
    lazy_gettext,
    ngettext,
)
from sqlalchemy import select

from admin.formatting import plural
from kingavis.extensions import db
from kingavis.models import AuditLog, InvitationRule, Order, ReviewRequest, Shop, ShopStatus
from kingavis.reviews.publication import rejection_label

FIELD_LABELS: dict[str, Any] = {
    "name": lazy_gettext("Nom"),
    "trigger_status_ids": lazy_gettext("Statuts déclencheurs"),
    "delay_days": lazy_gettext("Délai"),
    "send_hour": lazy_gettext("Heure d'envoi"),
    "timezone": lazy_gettext("Fuseau horaire"),
    "cancel_status_ids": lazy_gettext("Statuts d'annulation"),
    "require_consent": lazy_gettext("Consentement explicite exigé"),
    "customer_window_days": lazy_gettext("Fenêtre par client"),
    "review_link_days": lazy_gettext("Validité du lien"),
    "postpone_days": lazy_gettext("Report « pas encore reçu »"),
    "reminder_days": lazy_gettext("Relance"),
    "balancing_platform": lazy_gettext("Site d'avis"),
    "platform": lazy_gettext("Site d'avis"),
    "balancing_url": lazy_gettext("Adresse du site d'avis"),
    "url": lazy_gettext("Adresse du site d'avis"),
    "balancing_redirect_seconds": lazy_gettext("Redirection automatique"),
    "redirect_seconds": lazy_gettext("Redirection automatique"),
    "balancing_split_percent": lazy_gettext("Part des invitations vers le site d'avis"),
    "callback_url": lazy_gettext("Adresse de notification des nouveaux avis"),
    "product_review_count": lazy_gettext("Produits à évaluer par commande"),
    "ip": lazy_gettext("Adresse IP"),
    "minutes": lazy_gettext("Durée du blocage"),
    "language": lazy_gettext("Langue"),
    "reason": lazy_gettext("Motif"),
    "chars": lazy_gettext("Longueur"),
}

# What the entries keep only to be checked later and never show: an address's keyed hash, ids.
HIDDEN_KEYS = {"email_hash", "report_id", "webhook_id", "ids"}
SOURCES: dict[str, Any] = {
    "cli": lazy_gettext("depuis la ligne de commande"),
    "back_office": lazy_gettext("depuis l'espace marchand"),
    "webhook": lazy_gettext("à la demande de la boutique (webhook)"),
}
LANGUAGES: dict[str, Any] = {"fr": lazy_gettext("français"), "en": lazy_gettext("anglais")}

PLATFORMS = {"google": "Google", "trustpilot": "Trustpilot"}


@dataclass
class Lookups:
    """Names for the ids the entries of one page mention (one query per kind)."""

    statuses: dict[str, str] = field(default_factory=dict)
    rules: dict[int, str] = field(default_factory=dict)
    references: dict[int, tuple[int, str]] = field(default_factory=dict)  # request → (order, ref)
    zone: str = "UTC"

    @classmethod
    def for_entries(cls, shop: Shop, entries: Iterable[AuditLog]) -> Lookups:
        entries = list(entries)
        statuses = dict(db.session.execute(
            select(ShopStatus.status_id, ShopStatus.name).where(ShopStatus.shop_id == shop.id)
        ).all())
        rules = dict(db.session.execute(
            select(InvitationRule.id, InvitationRule.name).where(InvitationRule.shop_id == shop.id)
        ).all())
        request_ids: set[int] = set()
        for entry in entries:
            if entry.target_type == "review_request" and (entry.target_id or "").isdigit():
                request_ids.add(int(entry.target_id or 0))
            for value in (entry.details or {}).get("ids") or ():
                if isinstance(value, int):
                    request_ids.add(value)
        references: dict[int, tuple[int, str]] = {}
        if request_ids:
            rows = db.session.execute(
                select(ReviewRequest.id, Order.id, Order.reference, Order.external_id)
                .join(Order, Order.id == ReviewRequest.order_id)
                .where(ReviewRequest.shop_id == shop.id, ReviewRequest.id.in_(request_ids))
            ).all()
            references = {r[0]: (r[1], r[2] or r[3]) for r in rows}
        return cls(statuses=statuses, rules=rules, references=references,
                   zone=shop.timezone or "UTC")


def _yes_no(value: Any) -> str:
    return gettext("oui") if value else gettext("non")


def _number(value: Any) -> str:
    return format_decimal(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else str(value)


def _days(value: Any) -> str:
    if value is None:
        return gettext("désactivée")
    if isinstance(value, int):
        return ngettext("%(num)d jour", "%(num)d jours", value)
    return str(value)


def _plain(value: Any) -> str:
    """Any stored value as text a merchant reads: no brackets, quotes or None."""
    if value is None or value == "" or value == []:
        return gettext("aucun")
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(_pair(_label(k), _plain(v)) for k, v in value.items())
    return str(value)


def _label(key: str) -> str:
    return str(FIELD_LABELS.get(key, key.replace("_", " ")))


def _pair(label: str, value: str) -> str:
    return gettext("%(field)s\u00a0: %(value)s", field=label, value=value)


class Wording:
    """Words the entries of one page (see the module docstring)."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    # ---- values -----------------------------------------------------------------------

    @staticmethod
    def actor(entry: AuditLog) -> str:
        """Who: the account's email, or the command line, or King-Avis itself (a job)."""
        if entry.user_id is None and entry.actor_email == "cli":
            return gettext("Ligne de commande")
        if entry.user_id is None and entry.actor_email == "system":
            return gettext("King-Avis (automatique)")
        return entry.actor_email

    def statuses(self, ids: Any) -> str:
        if not ids:
            return gettext("aucun")
        names = self.lookups.statuses
        return ", ".join(f"{names[i]} ({i})" if i in names else str(i) for i in ids)

    def value(self, key: str, value: Any) -> str:
        formats: dict[str, Callable[[Any], str]] = {
            "trigger_status_ids": self.statuses,
            "cancel_status_ids": self.statuses,
            "delay_days": _days,
            "customer_window_days": _days,
            "review_link_days": _days,
            "postpone_days": _days,
            "reminder_days": _days,
            "send_hour": lambda v: gettext("aucune") if v is None else gettext("%(h)s\u00a0h", h=v),
            "require_consent": _yes_no,
            "balancing_platform": self.platform,
            "platform": self.platform,
            "balancing_redirect_seconds": self.seconds,
            "redirect_seconds": self.seconds,
            "balancing_split_percent": lambda v: gettext("%(n)s\u00a0%%", n=_number(v or 0)),
            "minutes": lambda v: ngettext("%(num)d minute", "%(num)d minutes", v)
            if isinstance(v, int) else _plain(v),
            "name": lambda v: gettext("«\u00a0%(name)s\u00a0»", name=v) if v else gettext("aucun"),
        }
        return formats.get(key, _plain)(value)

    @staticmethod
    def platform(value: Any) -> str:
        if not value:
            return gettext("aucun")
        return PLATFORMS.get(value, gettext("autre site") if value == "other" else str(value))

    @staticmethod
    def seconds(value: Any) -> str:
        if value is None:
            return gettext("désactivée")
        return ngettext("%(num)d seconde", "%(num)d secondes", value) \
            if isinstance(value, int) else str(value)

    def change(self, key: str, before: Any, after: Any) -> str:
        """"Délai : 3 → 5 jours" — the unit said once, after the new value, when it is the same."""
        if key in ("delay_days", "customer_window_days", "review_link_days", "postpone_days") \
                and isinstance(before, int) and isinstance(after, int):
            return gettext("%(field)s\u00a0: %(before)s → %(after)s", field=_label(key),
                           before=_number(before), after=_days(after))
        return gettext("%(field)s\u00a0: %(before)s → %(after)s", field=_label(key),
                       before=self.value(key, before), after=self.value(key, after))

    def changes(self, pairs: Mapping[str, Any]) -> list[str]:
        out = []
        for key, pair in pairs.items():
            if isinstance(pair, list | tuple) and len(pair) == 2:
                out.append(self.change(key, pair[0], pair[1]))
            else:
                out.append(_pair(_label(key), self.value(key, pair)))
        return out

    def before_after(self, details: Mapping[str, Any]) -> list[str]:
        before, after = details.get("before") or {}, details.get("after") or {}
        keys = [k for k in after if before.get(k) != after.get(k)] or list(after)
        return [self.change(k, before.get(k), after.get(k)) for k in keys]

    def rule_state(self, state: Mapping[str, Any]) -> list[str]:
        out = []
        if state.get("name"):
            out.append(self.value("name", state["name"]))
        for key in ("trigger_status_ids", "delay_days", "send_hour", "timezone"):
            if key in state:
                out.append(_pair(_label(key), self.value(key, state[key])))
        return out

    def orders(self, ids: Iterable[Any]) -> str:
        refs = [self.lookups.references[i][1] for i in ids if i in self.lookups.references]
        return gettext("Commandes\u00a0: %(refs)s", refs=", ".join(refs)) if refs else ""

    # ---- entries ------------------------------------------------------------------------

    def details(self, entry: AuditLog) -> list[str]:
        """The entry's details as short sentences in the reader's language."""
        d: dict[str, Any] = dict(entry.details or {})
        action = entry.action
        if action.startswith("review_requests."):
            count = d.get("count", 0)
            lines = [{
                "review_requests.cancel": ngettext("%(num)s demande annulée",
                                                   "%(num)s demandes annulées", count),
                "review_requests.send_now": ngettext("%(num)s demande envoyée maintenant",
                                                     "%(num)s demandes envoyées maintenant", count),
                "review_requests.postpone": ngettext(
                    "%(num)s demande reportée de %(days)s",
                    "%(num)s demandes reportées de %(days)s", count, days=_days(d.get("days"))),
            }.get(action, ngettext("%(num)s demande", "%(num)s demandes", count))]
            requested = d.get("requested")
            if isinstance(requested, int) and requested != count:
                lines.append(ngettext("sur %(num)s sélectionnée", "sur %(num)s sélectionnées",
                                      requested))
            if orders := self.orders(d.get("ids") or ()):
                lines.append(orders)
            return lines
        if action == "rule.update":
            lines = self.changes(d.get("changes") or {})
            if d.get("active"):
                lines.append(gettext("règle active"))
            return lines
        if action in ("rule.create", "rule.delete"):
            return self.rule_state(d)
        if action == "rule.activate":
            lines = [self.value("name", d.get("name"))] if d.get("name") else []
            previous = [self.lookups.rules.get(i) for i in d.get("previous") or ()]
            if names := [gettext("«\u00a0%(name)s\u00a0»", name=n) for n in previous if n]:
                lines.append(gettext("à la place de %(rules)s", rules=", ".join(names)))
            return lines
        if action == "rule.apply":
            return [ngettext("%(num)s demande déplacée", "%(num)s demandes déplacées",
                             d.get("moved", 0)),
                    ngettext("%(num)s déjà à la bonne date", "%(num)s déjà à la bonne date",
                             d.get("unchanged", 0)),
                    ngettext("%(num)s laissée telle quelle (autre statut déclencheur)",
                             "%(num)s laissées telles quelles (autre statut déclencheur)",
                             d.get("kept", 0))]
        if action == "settings.update":
            return self.changes(d.get("changes") or {})
        if action in ("collection.update", "balancing.update"):
            return self.before_after(d)
        if action == "secret.rotate":
            until = d.get("old_valid_until")
            try:
                when = format_datetime(datetime.fromisoformat(until), "short") if until else ""
            except (TypeError, ValueError):
                when = str(until)
            return [gettext("l'ancien secret reste valable jusqu'au %(when)s", when=when)] \
                if when else []
        if action in ("customer.erase", "customer.export"):
            lines = [str(SOURCES.get(d.get("source"), "")).capitalize()] if d.get("source") in SOURCES else []
            if action == "customer.erase":
                lines += [
                    plural("%(num)d commande effacée", "%(num)d commandes effacées", d.get("orders", 0)),
                    plural("%(num)d demande d'avis annulée", "%(num)d demandes d'avis annulées",
                           d.get("review_requests_cancelled", 0)),
                    plural("%(num)d avis retiré", "%(num)d avis retirés", d.get("reviews_withdrawn", 0)),
                ]
            return lines
        if action == "email_design.test_send":
            sent = d.get("outcome") == "sent"
            which = gettext("relance") if d.get("reminder") else gettext("invitation")
            language = str(LANGUAGES.get(d.get("language"), d.get("language") or ""))
            return [gettext("Email d'essai (%(which)s, %(language)s) envoyé", which=which,
                            language=language) if sent else
                    gettext("Email d'essai (%(which)s, %(language)s) non envoyé : échec de l'envoi",
                            which=which, language=language)]
        if action == "email_design.update":
            language = str(LANGUAGES.get(d.get("language"), d.get("language") or ""))
            changed = list((d.get("after") or {}).keys())
            return [gettext("Email en %(language)s", language=language),
                    ngettext("%(num)d élément modifié", "%(num)d éléments modifiés", len(changed))]
        if action == "moderation.reject":
            reason = d.get("reason")
            lines = [_pair(_label("reason"), rejection_label(reason, str(get_locale() or "fr")))] \
                if reason else []
            if d.get("reported"):
                lines.append(gettext("après un signalement"))
            return lines
        if action in ("review.reply", "review.reply_update"):
            return [ngettext("%(num)d caractère", "%(num)d caractères", d.get("chars", 0))]
        if action == "review.report":
            return []
        if action == "login.locked":
            return [_pair(_label("minutes"), self.value("minutes", d.get("minutes"))),
                    _pair(_label("ip"), _plain(d.get("ip")))]
        return [_pair(_label(k), self.value(k, v)) for k, v in d.items()
                if k not in HIDDEN_KEYS and not k.endswith("_hash")]

    def target(self, entry: AuditLog) -> tuple[str, int | None]:
        """What the entry is about, and the order to link to (if any)."""
        kind, raw = entry.target_type, entry.target_id or ""
        if kind == "rule":
            name = self.lookups.rules.get(int(raw)) if raw.isdigit() else None
            name = name or (entry.details or {}).get("name")
            return (gettext("Règle «\u00a0%(name)s\u00a0»", name=name) if name
                    else gettext("Règle supprimée")), None
        if kind == "review_request" and raw.isdigit():
            found = self.lookups.references.get(int(raw))
            if found:
                return gettext("Commande %(ref)s", ref=found[1]), found[0]
            return gettext("Demande d'avis"), None
        if kind == "review_request":
            return gettext("Plusieurs demandes d'avis"), None
        if kind == "shop_secret":
            return gettext("Secret du webhook"), None
        if kind == "shop":
            return gettext("Boutique"), None
        if kind == "customer":
            return gettext("Données d'un client"), None
        if kind == "review":
            return gettext("Avis n° %(id)s", id=raw), None
        return "", None
