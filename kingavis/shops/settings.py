"""A shop's settings: one service for the back-office and the command line.

Cancel statuses, consent, the per-customer window and the pause (``update_settings``; the
pause alone: ``set_paused``, the command line's ``shops pause``/``resume``), the active rule
and cancel statuses together (``configure``, the command line's ``shops configure``), the
questionnaire link's validity and postponement, the number of products a questionnaire asks
about, and the signing secrets a platform gives; the reminder, Review Balancing, the callback
URL and the retention period are ``kingavis.shops.collection_settings``. The back-office forms
and the command line (actor ``audit.CLI``, messages in English) both call these functions, so they
get the same validation, the same messages and the same audit entries.

Every function validates everything before changing anything. The rule's own checks and the
statuses are ``kingavis.shops.rules``; invalid rule or cancel-status input raises its
``RuleError`` (``errors`` maps a field to its messages, French msgids translated when shown),
the other settings raise ``ShopError`` with a message for the command line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext

from kingavis.accounts import audit
from kingavis.accounts.audit import Actor
from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.shops.presets import WEBHOOK_PLATFORMS
from kingavis.shops.rules import (
    RuleData,
    RuleError,
    add_error,
    changes_between,
    clean_ids,
    lock_shop,
    rule_state,
    status_sort_key,
    unknown_messages,
    validate_rule,
)
from kingavis.shops.service import ShopError, whole_number

log = logging.getLogger("kingavis.settings")

# configure(): "leave this as it is", where None means something (no send hour).
KEEP: Any = object()

MAX_WINDOW_DAYS = 365
MIN_LINK_DAYS, MAX_LINK_DAYS = 1, 365
MIN_POSTPONE_DAYS, MAX_POSTPONE_DAYS = 1, 60
MIN_PRODUCT_REVIEWS, MAX_PRODUCT_REVIEWS = 0, 10
MAX_PLATFORM_SECRETS = 5
MAX_SECRET_LENGTH = 255


@dataclass(frozen=True)
class SettingsData:
    cancel_status_ids: list[str]
    require_consent: bool
    customer_window_days: int
    paused: bool


# --------------------------------------------------------------------------- cancel statuses, consent, window


def _cancel_errors(shop: Shop, cancels: list[str], triggers: Iterable[str]) -> list[str]:
    """What is wrong with these (cleaned) cancel statuses: unknown to the shop, or also a
    trigger of the active rule (an order would be cancelled and scheduled by one event)."""
    messages = unknown_messages(shop, cancels)
    if overlap := sorted(set(cancels) & set(triggers), key=status_sort_key):
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
    cancels = clean_ids(data.cancel_status_ids)
    rule = shop.active_rule
    if triggers is None:
        triggers = () if rule is None else (rule.trigger_status_ids or ())
    if messages := _cancel_errors(shop, cancels, triggers):
        errors["cancel_status_ids"] = messages
    if not isinstance(data.customer_window_days, int) or not (
        0 <= data.customer_window_days <= MAX_WINDOW_DAYS
    ):
        add_error(errors, "customer_window_days", gettext(
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
        "cancel_status_ids": clean_ids(shop.cancel_status_ids or ()),
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
    changes = changes_between(before, after)
    if not changes:
        return {}
    shop.cancel_status_ids = clean.cancel_status_ids
    shop.require_consent = clean.require_consent
    shop.customer_window_days = clean.customer_window_days
    settings_changes = {k: v for k, v in changes.items() if k != "paused"}
    if settings_changes:
        audit.record(user, "settings.update", shop=shop, target_type="shop", target_id=shop.id,
                     details={"changes": settings_changes})
    apply_pause(shop, user, clean.paused)
    db.session.commit()
    return changes


# --------------------------------------------------------------------------- pause


def apply_pause(shop: Shop, actor: Actor, paused: bool) -> bool:
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
    changed = apply_pause(shop, actor, paused)
    db.session.commit()
    return changed


# --------------------------------------------------------------------------- shops configure


def configure(
    shop: Shop,
    actor: Actor,
    *,
    delay_days: int | None = None,
    send_hour: int | None | Any = KEEP,
    timezone: str | None = None,
    trigger_status_ids: Iterable[str] | None = None,
    cancel_status_ids: Iterable[str] | None = None,
    platform_secrets: Iterable[str] | None = None,
    product_review_count: int | None = None,
) -> dict[str, list[Any]]:
    """Change the active rule, the cancel statuses, the platform secrets and the number of
    products to review in one go (``shops configure``). Returns the rule's and cancel statuses'
    changes.

    What is not given stays. The same checks and messages as the back-office's rule form
    (``validate_rule``), settings form (its cancel statuses), Identifiants page (platform
    secrets) and collection form (products to review); everything is checked before anything
    changes, so nothing is half-written. The rule and cancel statuses are checked together: a
    status moved from the cancel statuses to the triggers in the same call is no conflict. The
    same audit entries, in this order: ``rule.update``, ``settings.update``,
    ``platform.secrets_set``, ``collection.update``. ``send_hour=None`` clears the hour
    (``KEEP``, the default, keeps it). Given only platform secrets or a product count, the rule
    is left alone (and need not exist).
    """
    secrets = None if platform_secrets is None else check_platform_secrets(shop, platform_secrets)
    if product_review_count is not None:
        validate_product_review_count(product_review_count)
    rule_given = send_hour is not KEEP or any(
        value is not None for value in (delay_days, timezone, trigger_status_ids, cancel_status_ids))
    changes: dict[str, list[Any]] = {}
    if rule_given or (secrets is None and product_review_count is None):
        changes = _configure_rule(shop, actor, delay_days=delay_days, send_hour=send_hour,
                                  timezone=timezone, trigger_status_ids=trigger_status_ids,
                                  cancel_status_ids=cancel_status_ids)
    if secrets is not None:
        set_platform_secrets(shop, secrets, actor)
    if product_review_count is not None:
        set_product_review_count(shop, product_review_count, actor=actor)
    db.session.commit()
    return changes


def _configure_rule(
    shop: Shop,
    actor: Actor,
    *,
    delay_days: int | None,
    send_hour: int | None | Any,
    timezone: str | None,
    trigger_status_ids: Iterable[str] | None,
    cancel_status_ids: Iterable[str] | None,
) -> dict[str, list[Any]]:
    """The active rule and cancel statuses of ``configure``, checked then changed. No commit."""
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
    cancels = clean_ids(shop.cancel_status_ids or () if cancel_status_ids is None
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
    lock_shop(shop)
    before = rule_state(rule)
    rule.trigger_status_ids = clean_rule.trigger_status_ids
    rule.delay_days = clean_rule.delay_days
    rule.send_hour = clean_rule.send_hour
    rule.timezone = clean_rule.timezone
    changes = changes_between(before, rule_state(rule))
    if changes:
        audit.record(actor, "rule.update", shop=shop, target_type="rule", target_id=rule.id,
                     details={"changes": dict(changes), "active": True})
    old_cancels = clean_ids(shop.cancel_status_ids or ())
    if cancels != old_cancels:
        shop.cancel_status_ids = cancels
        cancel_change = {"cancel_status_ids": [old_cancels, cancels]}
        audit.record(actor, "settings.update", shop=shop, target_type="shop", target_id=shop.id,
                     details={"changes": cancel_change})
        changes.update(cancel_change)
    return changes


# --------------------------------------------------------------------------- questionnaire link


def validate_link_settings(review_link_days: object, postpone_days: object) -> tuple[int, int]:
    """Both values checked (ShopError on the first bad one); nothing is changed."""
    return (
        whole_number(
            review_link_days, MIN_LINK_DAYS, MAX_LINK_DAYS, "review link validity", "days"
        ),
        whole_number(postpone_days, MIN_POSTPONE_DAYS, MAX_POSTPONE_DAYS, "postpone delay", "days"),
    )


def set_link_settings(shop: Shop, review_link_days: int, postpone_days: int) -> Shop:
    """How long a review link stays open after its email (1–365 days, default 60) and how far
    "not received yet" pushes the new email (1–60 days, default 7). Applies at once to every
    link (the expiry is computed from ``sent_at``). Raises ShopError and changes nothing. Commits.
    """
    link_days, postpone = validate_link_settings(review_link_days, postpone_days)
    shop.review_link_days = link_days
    shop.postpone_days = postpone
    db.session.commit()
    return shop


# --------------------------------------------------------------------------- product reviews


def validate_product_review_count(value: object) -> int:
    """A whole number from 0 (product reviews off) to 10; ShopError otherwise."""
    return whole_number(
        value,
        MIN_PRODUCT_REVIEWS,
        MAX_PRODUCT_REVIEWS,
        "product reviews",
        "products",
        aside=" (0 turns them off)",
    )


def set_product_review_count(shop: Shop, count: object, *, actor: audit.Actor) -> Shop:
    """How many of an order's products the questionnaire asks about (0–10, default 5, 0 = no
    product reviews). Applies to every questionnaire opened from now on. The command line and
    the back-office both come here: same check, same audit entry. Raises ShopError and changes
    nothing. Commits."""
    value = validate_product_review_count(count)
    before = shop.product_review_count
    if value != before:
        audit.record(actor, "collection.update", shop=shop, target_type="shop", target_id=shop.id,
                     details={"before": {"product_review_count": before},
                              "after": {"product_review_count": value}})
        shop.product_review_count = value
    db.session.commit()
    return shop


# --------------------------------------------------------------------------- platform secrets


def clean_secret(secret: Any) -> str:
    """A platform secret as given, trimmed; ShopError when it cannot be one."""
    if not isinstance(secret, str) or not secret.strip():
        raise ShopError("a platform secret must not be empty")
    text = secret.strip()
    if len(text) > MAX_SECRET_LENGTH:
        raise ShopError(f"a platform secret must be at most {MAX_SECRET_LENGTH} characters")
    if any(not 0x20 <= ord(c) <= 0x7E for c in text):
        raise ShopError("a platform secret must be printable ASCII (copy it as the platform shows it)")
    return text


def check_platform_secrets(shop: Shop, secrets: Iterable[str]) -> list[str]:
    """The secrets as they would be stored (trimmed, each once), or ShopError: a shop that
    takes no platform webhooks, an empty or odd secret, more than ``MAX_PLATFORM_SECRETS``."""
    if shop.platform not in WEBHOOK_PLATFORMS:
        raise ShopError(f"shop {shop.key} is a {shop.platform} shop: platform secrets are for "
                        "shopify and woocommerce shops")
    wanted: list[str] = []
    for secret in secrets:
        text = clean_secret(secret)
        if text not in wanted:
            wanted.append(text)
    if len(wanted) > MAX_PLATFORM_SECRETS:
        raise ShopError(f"at most {MAX_PLATFORM_SECRETS} platform secrets")
    return wanted


def set_platform_secrets(shop: Shop, secrets: Iterable[str], actor: audit.Actor) -> list[str]:
    """Make ``secrets`` the shop's platform secrets, every one valid (a rotation gives the old
    and the new one, then only the new one). All or nothing; audited (never the secrets
    themselves). Commits; every webhook received after that uses them."""
    wanted = check_platform_secrets(shop, secrets)
    before = len(shop.platform_secrets or [])
    shop.platform_secrets = wanted
    audit.record(actor, "platform.secrets_set", shop=shop, target_type="shop",
                 details={"before": before, "after": len(wanted)})
    db.session.commit()
    return wanted
