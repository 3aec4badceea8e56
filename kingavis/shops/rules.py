"""Invitation rules: the shop's statuses, rule CRUD and activation.

The one service for these: the back-office forms, the command line and any job call these
functions, so every caller gets the same validation, the same messages and the same audit
entries. A shop's other settings (cancel statuses, consent, per-customer window, the pause,
``shops configure``) are ``kingavis.shops.settings``;
applying the active rule to the requests already scheduled is
``kingavis.review_requests.replanning``.

Every function validates everything before changing anything, records an audit entry, and
commits once. Invalid input raises ``RuleError`` whose ``errors`` maps a field name to a list
of messages (French msgids, translated when shown), so a form can show them next to the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from kingavis.accounts import audit
from kingavis.accounts.audit import Actor
from kingavis.errors import FieldErrors
from kingavis.extensions import db
from kingavis.models import InvitationRule, Shop, ShopStatus
from kingavis.scheduling import MAX_DELAY_DAYS, validate_timezone

SCHEDULING_FIELDS = ("trigger_status_ids", "delay_days", "send_hour", "timezone")


class RuleError(FieldErrors[list[str]]):
    """Invalid input; ``errors`` maps each field to its messages (nothing was saved)."""


@dataclass(frozen=True)
class RuleData:
    """What a merchant gives for a rule."""

    name: str
    trigger_status_ids: list[str]
    delay_days: int
    send_hour: int | None
    timezone: str


# --------------------------------------------------------------------------- statuses


def status_sort_key(status_id: str) -> tuple[bool, int | str]:
    """Numbered statuses first, by number (PrestaShop's lifecycle order), then named ones."""
    return (False, int(status_id)) if status_id.isdigit() else (True, status_id)


def status_options(shop: Shop) -> list[tuple[str, str]]:
    """(status id, name) of the shop's statuses, in id order: the preset, those its events had
    and those it declared (kingavis/orders/statuses.py)."""
    rows = db.session.execute(
        select(ShopStatus.status_id, ShopStatus.name).where(ShopStatus.shop_id == shop.id)
    ).all()
    return sorted(((r[0], r[1]) for r in rows), key=lambda r: status_sort_key(r[0]))


@dataclass(frozen=True)
class KnownStatus:
    status_id: str
    name: str
    shipped: bool | None


@dataclass(frozen=True)
class TriggerCoverage:
    """Which of a shop's statuses a set of trigger statuses catches, and which it misses."""

    triggering: list[KnownStatus]
    missed_shipped: list[KnownStatus]  # shipped statuses not chosen: worth adding
    not_triggering: list[KnownStatus]  # every other status, cancel statuses included


def known_statuses(shop: Shop) -> list[KnownStatus]:
    """The shop's statuses with their ``shipped`` flag (preset or as the shop sent it)."""
    rows = db.session.execute(
        select(ShopStatus.status_id, ShopStatus.name, ShopStatus.shipped)
        .where(ShopStatus.shop_id == shop.id)
    ).all()
    return sorted((KnownStatus(r[0], r[1], r[2]) for r in rows),
                  key=lambda st: status_sort_key(st.status_id))


def trigger_coverage(statuses: Iterable[KnownStatus], trigger_ids: Iterable[str],
                     cancel_ids: Iterable[str]) -> TriggerCoverage:
    """Split ``statuses`` into those that trigger a review request and those that do not.

    A request is scheduled only when an order *reaches* one of the trigger statuses: an order
    that skips them never gets one. Shops often mark an order "Livré" straight after "Paiement
    accepté", so a rule on "Expédié" alone silently drops every order marked delivered at
    once. The statuses flagged ``shipped`` (the goods have left) that come *after* the
    earliest trigger status are therefore listed apart, as a suggestion to add: "after" is
    the shop's status order (PrestaShop numbers its lifecycle: 4 Expédié, 5 Livré), which
    ``statuses`` is sorted by. Earlier shipped statuses are not suggested (they would invite
    before the moment the merchant chose), nor are cancel statuses (they cancel instead).
    """
    ordered = list(statuses)
    chosen, cancels = set(trigger_ids), set(cancel_ids)
    positions = [i for i, status in enumerate(ordered) if status.status_id in chosen]
    first = min(positions) if positions else len(ordered)
    triggering, missed, others = [], [], []
    for index, status in enumerate(ordered):
        if status.status_id in chosen:
            triggering.append(status)
        elif status.shipped and status.status_id not in cancels and index > first:
            missed.append(status)
        else:
            others.append(status)
    return TriggerCoverage(triggering, missed, others)


def unknown_messages(shop: Shop, ids: Iterable[str]) -> list[str]:
    """The refusal of status ids the shop does not have, naming the ones it has: the command
    line has no list to choose from, and a module's own status ids are not guessable."""
    options = status_options(shop)
    known_ids = {status_id for status_id, _ in options}
    unknown = [status_id for status_id in ids if status_id not in known_ids]
    if not unknown:
        return []
    known = ", ".join(f"{status_id} ({name})" for status_id, name in options)
    return [gettext("Statut inconnu pour cette boutique\u00a0: %(ids)s.", ids=", ".join(unknown)),
            gettext("Statuts connus\u00a0: %(known)s.", known=known or "—")]


def clean_ids(ids: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for raw in ids:
        value = str(raw).strip()
        if value and value not in out:
            out.append(value)
    return sorted(out, key=status_sort_key)


# --------------------------------------------------------------------------- validation


def add_error(errors: dict[str, list[str]], name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def validate_rule(shop: Shop, data: RuleData, *, active: bool,
                  cancels: Iterable[str] | None = None) -> RuleData:
    """The cleaned rule, or RuleError with a French message per invalid field.

    An active rule may not trigger on a cancel status (``cancels``: the shop's, unless the same
    change replaces them): the order would be cancelled and scheduled by one event.
    """
    errors: dict[str, list[str]] = {}
    name = (data.name or "").strip()
    if not name:
        add_error(errors, "name", gettext("Donnez un nom à la règle."))
    elif len(name) > 120:
        add_error(errors, "name", gettext("Le nom ne doit pas dépasser 120 caractères."))
    elif any(ch in name for ch in "\r\n"):
        add_error(errors, "name", gettext("Le nom doit tenir sur une ligne."))
    triggers = clean_ids(data.trigger_status_ids)
    if not triggers:
        add_error(errors, "trigger_status_ids", gettext("Choisissez au moins un statut déclencheur."))
    elif unknown := unknown_messages(shop, triggers):
        errors["trigger_status_ids"] = unknown
    elif active and (overlap := sorted(
            set(triggers) & set(shop.cancel_status_ids or () if cancels is None else cancels),
            key=status_sort_key)):
        add_error(errors, "trigger_status_ids", gettext(
            "Un statut ne peut pas être à la fois déclencheur et d'annulation\u00a0: %(ids)s.",
            ids=", ".join(overlap)))
    if not isinstance(data.delay_days, int) or not 0 <= data.delay_days <= MAX_DELAY_DAYS:
        add_error(errors, "delay_days",
             gettext("Le délai doit être un nombre de jours entre 0 et %(max)s.", max=MAX_DELAY_DAYS))
    if data.send_hour is not None and (not isinstance(data.send_hour, int)
                                       or not 0 <= data.send_hour <= 23):
        add_error(errors, "send_hour", gettext("L'heure d'envoi doit être entre 0 et 23, ou aucune."))
    timezone = (data.timezone or "").strip()
    try:
        validate_timezone(timezone)
    except ValueError:
        add_error(errors, "timezone", gettext(
            "Fuseau horaire inconnu\u00a0: indiquez un nom IANA comme Europe/Paris."))
    if errors:
        raise RuleError(errors)
    return RuleData(name, triggers, data.delay_days, data.send_hour, timezone)


def lock_shop(shop: Shop) -> None:
    """Serialise rule changes of one shop (PostgreSQL; SQLite has one writer at a time)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Shop.id).where(Shop.id == shop.id).with_for_update())


def rule_state(rule: InvitationRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "trigger_status_ids": list(rule.trigger_status_ids or ()),
        "delay_days": rule.delay_days,
        "send_hour": rule.send_hour,
        "timezone": rule.timezone,
    }


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}


# --------------------------------------------------------------------------- rules


def get_rule(shop: Shop, rule_id: int) -> InvitationRule | None:
    """The shop's rule with that id (never another shop's)."""
    return db.session.execute(
        select(InvitationRule).where(InvitationRule.id == rule_id, InvitationRule.shop_id == shop.id)
    ).scalar_one_or_none()


def create_rule(shop: Shop, user: Actor, data: RuleData) -> InvitationRule:
    """A new, inactive rule. Commits."""
    clean = validate_rule(shop, data, active=False)
    rule = InvitationRule(
        shop_id=shop.id,
        name=clean.name,
        trigger_status_ids=clean.trigger_status_ids,
        delay_days=clean.delay_days,
        send_hour=clean.send_hour,
        timezone=clean.timezone,
        is_active=False,
    )
    db.session.add(rule)
    db.session.flush()
    audit.record(user, "rule.create", shop=shop, target_type="rule", target_id=rule.id,
                 details=rule_state(rule))
    db.session.commit()
    db.session.refresh(shop)
    return rule


def update_rule(shop: Shop, user: Actor, rule: InvitationRule, data: RuleData) -> bool:
    """Change a rule. Returns True when the active rule's scheduling changed. Commits."""
    if rule.shop_id != shop.id:
        raise RuleError({"rule": [gettext("Règle introuvable.")]})
    clean = validate_rule(shop, data, active=rule.is_active)
    before = rule_state(rule)
    rule.name = clean.name
    rule.trigger_status_ids = clean.trigger_status_ids
    rule.delay_days = clean.delay_days
    rule.send_hour = clean.send_hour
    rule.timezone = clean.timezone
    changes = changes_between(before, rule_state(rule))
    if not changes:
        db.session.rollback()
        return False
    audit.record(user, "rule.update", shop=shop, target_type="rule", target_id=rule.id,
                 details={"changes": changes, "active": rule.is_active})
    db.session.commit()
    return rule.is_active and any(k in changes for k in SCHEDULING_FIELDS)


def delete_rule(shop: Shop, user: Actor, rule: InvitationRule) -> None:
    """Delete an inactive rule. Commits."""
    if rule.shop_id != shop.id:
        raise RuleError({"rule": [gettext("Règle introuvable.")]})
    if rule.is_active:
        raise RuleError({"rule": [gettext(
            "La règle active ne peut pas être supprimée\u00a0: activez d'abord une autre règle.")]})
    details = rule_state(rule)
    rule_id = rule.id
    shop.rules.remove(rule)
    db.session.delete(rule)
    audit.record(user, "rule.delete", shop=shop, target_type="rule", target_id=rule_id,
                 details=details)
    db.session.commit()


def activate_rule(shop: Shop, user: Actor, rule: InvitationRule) -> bool:
    """Make ``rule`` the shop's only active rule, in one transaction. False if it already was."""
    if rule.shop_id != shop.id:
        raise RuleError({"rule": [gettext("Règle introuvable.")]})
    lock_shop(shop)
    db.session.refresh(rule)
    if rule.is_active:
        db.session.rollback()
        return False
    overlap = sorted(set(rule.trigger_status_ids or ()) & set(shop.cancel_status_ids or ()),
                     key=status_sort_key)
    if overlap:
        db.session.rollback()
        raise RuleError({"rule": [gettext(
            "Cette règle déclenche sur un statut d'annulation de la boutique (%(ids)s)\u00a0: "
            "modifiez la règle ou les statuts d'annulation avant de l'activer.",
            ids=", ".join(overlap))]})
    previous = db.session.execute(
        select(InvitationRule).where(InvitationRule.shop_id == shop.id,
                                     InvitationRule.is_active.is_(True))
    ).scalars().all()
    for old in previous:
        old.is_active = False
    # The partial unique index is checked per statement: clear the old one first.
    db.session.flush()
    rule.is_active = True
    audit.record(user, "rule.activate", shop=shop, target_type="rule", target_id=rule.id,
                 details={"name": rule.name, "previous": [r.id for r in previous]})
    db.session.commit()
    db.session.refresh(shop)
    return True
