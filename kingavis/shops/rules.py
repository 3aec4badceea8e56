"""Invitation rules and shop settings: rule CRUD and activation, settings, and applying the
active rule to the requests already scheduled (preview first, then apply on confirmation).

The one service for these settings: the back-office forms, the command line (``shops
configure``, ``shops pause``/``resume``, actor ``audit.CLI``) and any job call these functions,
so every caller gets the same validation, the same messages and the same audit entries.

Every function validates everything before changing anything, records an audit entry, and
commits once. Invalid input raises ``RuleError`` whose ``errors`` maps a field name to a list
of messages (French msgids, translated when shown), so a form can show them next to the field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import select, update

from kingavis.accounts import audit
from kingavis.accounts.audit import Actor
from kingavis.extensions import db
from kingavis.models import (
    InvitationRule,
    Order,
    RequestDecision,
    RequestState,
    ReviewRequest,
    Shop,
    ShopStatus,
    utcnow,
)
from kingavis.review_requests.lifecycle import decision_row
from kingavis.review_requests.notes import NoteCode
from kingavis.scheduling import MAX_DELAY_DAYS, Rule, compute_due_at, validate_timezone

log = logging.getLogger("kingavis.settings")

# configure(): "leave this as it is", where None means something (no send hour).
KEEP: Any = object()

MAX_WINDOW_DAYS = 365
PREVIEW_LIMIT = 50
RULE_FIELDS = ("name", "trigger_status_ids", "delay_days", "send_hour", "timezone")
SCHEDULING_FIELDS = ("trigger_status_ids", "delay_days", "send_hour", "timezone")


class RuleError(ValueError):
    """Invalid input; ``errors`` maps each field to its messages (nothing was saved)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class RuleData:
    """What a merchant gives for a rule."""

    name: str
    trigger_status_ids: list[str]
    delay_days: int
    send_hour: int | None
    timezone: str


@dataclass(frozen=True)
class SettingsData:
    cancel_status_ids: list[str]
    require_consent: bool
    customer_window_days: int
    paused: bool


# --------------------------------------------------------------------------- statuses


def _status_sort_key(status_id: str) -> tuple[bool, int | str]:
    """Numbered statuses first, by number (PrestaShop's lifecycle order), then named ones."""
    return (False, int(status_id)) if status_id.isdigit() else (True, status_id)


def status_options(shop: Shop) -> list[tuple[str, str]]:
    """(status id, name) of the shop's statuses, in id order: the preset, those its events had
    and those it declared (kingavis/orders/statuses.py)."""
    rows = db.session.execute(
        select(ShopStatus.status_id, ShopStatus.name).where(ShopStatus.shop_id == shop.id)
    ).all()
    return sorted(((r[0], r[1]) for r in rows), key=lambda r: _status_sort_key(r[0]))


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
                  key=lambda st: _status_sort_key(st.status_id))


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


def _unknown_messages(shop: Shop, ids: Iterable[str]) -> list[str]:
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


def _clean_ids(ids: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for raw in ids:
        value = str(raw).strip()
        if value and value not in out:
            out.append(value)
    return sorted(out, key=_status_sort_key)


# --------------------------------------------------------------------------- validation


def _add(errors: dict[str, list[str]], name: str, message: str) -> None:
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
        _add(errors, "name", gettext("Donnez un nom à la règle."))
    elif len(name) > 120:
        _add(errors, "name", gettext("Le nom ne doit pas dépasser 120 caractères."))
    elif any(ch in name for ch in "\r\n"):
        _add(errors, "name", gettext("Le nom doit tenir sur une ligne."))
    triggers = _clean_ids(data.trigger_status_ids)
    if not triggers:
        _add(errors, "trigger_status_ids", gettext("Choisissez au moins un statut déclencheur."))
    elif unknown := _unknown_messages(shop, triggers):
        errors["trigger_status_ids"] = unknown
    elif active and (overlap := sorted(
            set(triggers) & set(shop.cancel_status_ids or () if cancels is None else cancels),
            key=_status_sort_key)):
        _add(errors, "trigger_status_ids", gettext(
            "Un statut ne peut pas être à la fois déclencheur et d'annulation\u00a0: %(ids)s.",
            ids=", ".join(overlap)))
    if not isinstance(data.delay_days, int) or not 0 <= data.delay_days <= MAX_DELAY_DAYS:
        _add(errors, "delay_days",
             gettext("Le délai doit être un nombre de jours entre 0 et %(max)s.", max=MAX_DELAY_DAYS))
    if data.send_hour is not None and (not isinstance(data.send_hour, int)
                                       or not 0 <= data.send_hour <= 23):
        _add(errors, "send_hour", gettext("L'heure d'envoi doit être entre 0 et 23, ou aucune."))
    timezone = (data.timezone or "").strip()
    try:
        validate_timezone(timezone)
    except ValueError:
        _add(errors, "timezone", gettext(
            "Fuseau horaire inconnu\u00a0: indiquez un nom IANA comme Europe/Paris."))
    if errors:
        raise RuleError(errors)
    return RuleData(name, triggers, data.delay_days, data.send_hour, timezone)


def _lock_shop(shop: Shop) -> None:
    """Serialise rule changes of one shop (PostgreSQL; SQLite has one writer at a time)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Shop.id).where(Shop.id == shop.id).with_for_update())


def _rule_state(rule: InvitationRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "trigger_status_ids": list(rule.trigger_status_ids or ()),
        "delay_days": rule.delay_days,
        "send_hour": rule.send_hour,
        "timezone": rule.timezone,
    }


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
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
                 details=_rule_state(rule))
    db.session.commit()
    db.session.refresh(shop)
    return rule


def update_rule(shop: Shop, user: Actor, rule: InvitationRule, data: RuleData) -> bool:
    """Change a rule. Returns True when the active rule's scheduling changed. Commits."""
    if rule.shop_id != shop.id:
        raise RuleError({"rule": [gettext("Règle introuvable.")]})
    clean = validate_rule(shop, data, active=rule.is_active)
    before = _rule_state(rule)
    rule.name = clean.name
    rule.trigger_status_ids = clean.trigger_status_ids
    rule.delay_days = clean.delay_days
    rule.send_hour = clean.send_hour
    rule.timezone = clean.timezone
    changes = _changes(before, _rule_state(rule))
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
    details = _rule_state(rule)
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
    _lock_shop(shop)
    db.session.refresh(rule)
    if rule.is_active:
        db.session.rollback()
        return False
    overlap = sorted(set(rule.trigger_status_ids or ()) & set(shop.cancel_status_ids or ()),
                     key=_status_sort_key)
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


# --------------------------------------------------------------------------- settings


def _cancel_errors(shop: Shop, cancels: list[str], triggers: Iterable[str]) -> list[str]:
    """What is wrong with these (cleaned) cancel statuses: unknown to the shop, or also a
    trigger of the active rule (an order would be cancelled and scheduled by one event)."""
    messages = _unknown_messages(shop, cancels)
    if overlap := sorted(set(cancels) & set(triggers), key=_status_sort_key):
        messages.append(gettext(
            "Un statut ne peut pas être à la fois déclencheur (règle active) et d'annulation\u00a0: "
            "%(ids)s.", ids=", ".join(overlap)))
    return messages


def validate_settings(shop: Shop, data: SettingsData,
                      triggers: Iterable[str] | None = None) -> SettingsData:
    """The cleaned settings, or RuleError with a French message per invalid field.

    A cancel status may not be a trigger of the active rule (``triggers``: its own, unless the
    same change replaces them; ``()`` when the caller checks that overlap itself).
    """
    errors: dict[str, list[str]] = {}
    cancels = _clean_ids(data.cancel_status_ids)
    rule = shop.active_rule
    if triggers is None:
        triggers = () if rule is None else (rule.trigger_status_ids or ())
    if messages := _cancel_errors(shop, cancels, triggers):
        errors["cancel_status_ids"] = messages
    if not isinstance(data.customer_window_days, int) or not (
        0 <= data.customer_window_days <= MAX_WINDOW_DAYS
    ):
        _add(errors, "customer_window_days", gettext(
            "La fenêtre par client doit être un nombre de jours entre 0 et %(max)s.",
            max=MAX_WINDOW_DAYS))
    if errors:
        raise RuleError(errors)
    return SettingsData(cancels, bool(data.require_consent), data.customer_window_days,
                        bool(data.paused))


def update_settings(shop: Shop, user: Actor, data: SettingsData) -> dict[str, list[Any]]:
    """Cancel statuses, consent, per-customer window, pause. Returns the changes. Commits."""
    clean = validate_settings(shop, data)
    before = {
        "cancel_status_ids": _clean_ids(shop.cancel_status_ids or ()),
        "require_consent": bool(shop.require_consent),
        "customer_window_days": shop.customer_window_days,
        "paused": bool(shop.paused),
    }
    after = {
        "cancel_status_ids": clean.cancel_status_ids,
        "require_consent": clean.require_consent,
        "customer_window_days": clean.customer_window_days,
        "paused": clean.paused,
    }
    changes = _changes(before, after)
    if not changes:
        return {}
    shop.cancel_status_ids = clean.cancel_status_ids
    shop.require_consent = clean.require_consent
    shop.customer_window_days = clean.customer_window_days
    settings_changes = {k: v for k, v in changes.items() if k != "paused"}
    if settings_changes:
        audit.record(user, "settings.update", shop=shop, target_type="shop", target_id=shop.id,
                     details={"changes": settings_changes})
    _pause(shop, user, clean.paused)
    db.session.commit()
    return changes


def _pause(shop: Shop, actor: Actor, paused: bool) -> bool:
    """Set the pause, with its audit entry and log line when it changes. No commit."""
    if bool(shop.paused) == paused:
        return False
    shop.paused = paused
    audit.record(actor, "shop.pause" if paused else "shop.resume", shop=shop,
                 target_type="shop", target_id=shop.id)
    log.info("shop paused" if paused else "shop resumed",
             extra={"fields": {"shop": shop.key, "actor": audit.log_name(actor)}})
    return True


def set_paused(shop: Shop, actor: Actor, paused: bool) -> bool:
    """Pause or resume a shop's automation (rule 8). True when it changed. Commits.

    While paused, due requests stay scheduled and the dispatcher does not claim them; a job
    that meets a paused shop puts its request back. On resume they are due at once.
    """
    if not isinstance(paused, bool):
        raise RuleError({"paused": [gettext("La pause vaut oui ou non.")]})
    changed = _pause(shop, actor, paused)
    db.session.commit()
    return changed


def configure(
    shop: Shop,
    actor: Actor,
    *,
    delay_days: int | None = None,
    send_hour: int | None | Any = KEEP,
    timezone: str | None = None,
    trigger_status_ids: Iterable[str] | None = None,
    cancel_status_ids: Iterable[str] | None = None,
) -> dict[str, list[Any]]:
    """Change the active rule and the cancel statuses in one go (``shops configure``).

    What is not given stays. The same checks and messages as the back-office's rule form
    (``validate_rule``) and settings form (its cancel statuses), checked together: a status
    moved from the cancel statuses to the triggers in the same call is no conflict. All or
    nothing; the same audit entries (``rule.update``, ``settings.update``). ``send_hour=None``
    clears the hour (``KEEP``, the default, keeps it). Returns the changes.
    """
    rule = shop.active_rule
    if rule is None:
        raise RuleError({"rule": [gettext("La boutique n'a pas de règle active.")]})
    wanted = RuleData(
        name=rule.name,
        trigger_status_ids=list(rule.trigger_status_ids or () if trigger_status_ids is None
                                else trigger_status_ids),
        delay_days=rule.delay_days if delay_days is None else delay_days,
        send_hour=rule.send_hour if send_hour is KEEP else send_hour,
        timezone=rule.timezone if timezone is None else timezone,
    )
    cancels = _clean_ids(shop.cancel_status_ids or () if cancel_status_ids is None
                         else cancel_status_ids)
    errors: dict[str, list[str]] = {}
    try:
        clean_rule = validate_rule(shop, wanted, active=True, cancels=cancels)
    except RuleError as exc:
        errors.update(exc.errors)
    # The overlap with the triggers was checked just above, against the new ones.
    if messages := _cancel_errors(shop, cancels, ()):
        errors["cancel_status_ids"] = messages
    if errors:
        raise RuleError(errors)
    _lock_shop(shop)
    before = _rule_state(rule)
    rule.trigger_status_ids = clean_rule.trigger_status_ids
    rule.delay_days = clean_rule.delay_days
    rule.send_hour = clean_rule.send_hour
    rule.timezone = clean_rule.timezone
    changes = _changes(before, _rule_state(rule))
    if changes:
        audit.record(actor, "rule.update", shop=shop, target_type="rule", target_id=rule.id,
                     details={"changes": dict(changes), "active": True})
    old_cancels = _clean_ids(shop.cancel_status_ids or ())
    if cancels != old_cancels:
        shop.cancel_status_ids = cancels
        cancel_change = {"cancel_status_ids": [old_cancels, cancels]}
        audit.record(actor, "settings.update", shop=shop, target_type="shop", target_id=shop.id,
                     details={"changes": cancel_change})
        changes.update(cancel_change)
    db.session.commit()
    return changes


# --------------------------------------------------------------------------- apply to pending


@dataclass(frozen=True)
class Move:
    request_id: int
    order_reference: str
    current_due: datetime
    new_due: datetime


@dataclass(frozen=True)
class Kept:
    request_id: int
    order_reference: str
    trigger_status: str
    due_at: datetime


@dataclass
class Preview:
    rule: InvitationRule
    moves: list[Move] = field(default_factory=list)
    unchanged: int = 0
    kept: list[Kept] = field(default_factory=list)

    @property
    def move_count(self) -> int:
        return len(self.moves)

    @property
    def total(self) -> int:
        return len(self.moves) + self.unchanged + len(self.kept)


def _as_rule(rule: InvitationRule) -> Rule:
    return Rule(
        trigger_status_ids=frozenset(rule.trigger_status_ids or ()),
        delay_days=rule.delay_days,
        send_hour=rule.send_hour,
        timezone=rule.timezone,
    )


def _plan(rule: InvitationRule, rows: Iterable[Any], now: datetime) -> Preview:
    target = _as_rule(rule)
    preview = Preview(rule=rule)
    for request_id, reference, external_id, due_at, triggered_at, trigger_id, trigger_name in rows:
        ref = reference or external_id
        if triggered_at is None or trigger_id not in target.trigger_status_ids:
            status = f"{trigger_name} ({trigger_id})" if trigger_name else (trigger_id or "—")
            preview.kept.append(Kept(request_id, ref, status, due_at))
            continue
        new_due = compute_due_at(triggered_at, target, now)
        if new_due == due_at or (due_at <= now and new_due == now):
            preview.unchanged += 1
        else:
            preview.moves.append(Move(request_id, ref, due_at, new_due))
    return preview


def _scheduled_rows(shop: Shop, *, lock: bool = False) -> list[Any]:
    query = (
        select(
            ReviewRequest.id,
            Order.reference,
            Order.external_id,
            ReviewRequest.due_at,
            ReviewRequest.triggered_at,
            ReviewRequest.trigger_status_id,
            ReviewRequest.trigger_status_name,
        )
        .join(Order, Order.id == ReviewRequest.order_id)
        .where(ReviewRequest.shop_id == shop.id,
               ReviewRequest.state == RequestState.SCHEDULED.value)
        .order_by(ReviewRequest.due_at, ReviewRequest.id)
    )
    if lock and db.session.get_bind().dialect.name == "postgresql":
        # Plain FOR UPDATE: wait for a dispatcher claim in progress, then see its result
        # (a claimed request is no longer 'scheduled' and is left alone).
        query = query.with_for_update(of=ReviewRequest)
    return list(db.session.execute(query).all())


def preview_apply(shop: Shop, now: datetime | None = None) -> Preview:
    """What applying the active rule to the shop's scheduled requests would do. Reads only."""
    rule = shop.active_rule
    if rule is None:
        raise RuleError({"rule": [gettext("Cette boutique n'a pas de règle active.")]})
    return _plan(rule, _scheduled_rows(shop), now or utcnow())


def apply_rule(shop: Shop, user: Actor, rule_id: int, now: datetime | None = None) -> int:
    """Move the scheduled requests to the due time of the active rule. Returns how many moved.

    ``rule_id`` is the rule the merchant previewed: if another rule became active since, nothing
    is applied. Only 'scheduled' requests move (never 'sending' or 'sent'); one transaction.
    """
    now = now or utcnow()
    _lock_shop(shop)
    rule = db.session.execute(
        select(InvitationRule).where(InvitationRule.shop_id == shop.id,
                                     InvitationRule.is_active.is_(True))
    ).scalar_one_or_none()
    if rule is None or rule.id != rule_id:
        db.session.rollback()
        raise RuleError({"rule": [gettext(
            "La règle active a changé depuis l'aperçu\u00a0: vérifiez le nouvel aperçu avant "
            "d'appliquer.")]})
    plan = _plan(rule, _scheduled_rows(shop, lock=True), now)
    actor = user.email if user is not None else "system"
    moved = 0
    for move in plan.moves:
        # Guarded on the state: a request claimed meanwhile (SQLite) is not touched.
        result = db.session.execute(
            update(ReviewRequest)
            .where(ReviewRequest.id == move.request_id,
                   ReviewRequest.state == RequestState.SCHEDULED.value)
            .values(due_at=move.new_due, next_attempt_at=move.new_due, rule_id=rule.id,
                    updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            continue
        moved += 1
        db.session.add(RequestDecision(**decision_row(
            move.request_id, RequestState.SCHEDULED.value, due_at=move.new_due, actor=actor,
            note_code=NoteCode.RULE_APPLIED, now=now)))
    audit.record(user, "rule.apply", shop=shop, target_type="rule", target_id=rule.id,
                 details={"moved": moved, "unchanged": plan.unchanged, "kept": len(plan.kept)})
    db.session.commit()
    return moved


__all__ = [
    "Kept",
    "Move",
    "Preview",
    "RuleData",
    "RuleError",
    "SettingsData",
    "KEEP",
    "activate_rule",
    "configure",
    "apply_rule",
    "create_rule",
    "delete_rule",
    "get_rule",
    "preview_apply",
    "set_paused",
    "status_options",
    "update_rule",
    "update_settings",
    "validate_rule",
    "validate_settings",
]
