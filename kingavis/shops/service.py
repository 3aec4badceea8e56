"""Shops: creation with the PrestaShop preset, configuration, webhook secrets."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, select

from kingavis.extensions import db
from kingavis.i18n import LANGUAGES
from kingavis.models import InvitationRule, Shop, ShopSecret, ShopStatus, utcnow
from kingavis.orders.scheduling import (
    DEFAULT_CUSTOMER_WINDOW_DAYS,
    DEFAULT_DELAY_DAYS,
    DEFAULT_TIMEZONE,
    prestashop_preset,
    validate_timezone,
)
from kingavis.reviews.public import unique_slug

# What new_shop_key() makes: "shp_" and URL-safe base64.
_SHOP_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ShopError(ValueError):
    """Invalid shop input; the message is meant for the person who gave it."""


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def webhook_url(shop: Shop) -> str:
    return f"{current_app.config['KINGAVIS_BASE_URL']}/webhooks/v1/{shop.key}/order-status"


def get_shop(key: str) -> Shop:
    shop = db.session.execute(select(Shop).where(Shop.key == key)).scalar_one_or_none()
    if shop is None:
        raise ShopError(f"no shop with key {key!r}")
    return shop


def secret_is_valid(expires_at: datetime | None, now: datetime) -> bool:
    """Whether a webhook secret still verifies webhooks: no expiry, or not reached (the old
    secret of a rotation keeps working until the overlap ends)."""
    return expires_at is None or expires_at > now


@dataclass(frozen=True)
class RuleSnapshot:
    """The active invitation rule's fields the scheduling rules read."""

    id: int
    trigger_status_ids: list[str]
    delay_days: int
    send_hour: int | None
    timezone: str


@dataclass(frozen=True)
class ShopSnapshot:
    """A shop as one webhook needs it, read in one query into plain values.

    The webhook endpoint runs for every status change of every order: loading ``Shop``, its
    secrets and its rules as ORM objects cost more CPU than the rest of the request's reads.
    ``kingavis.orders.events.apply_status_event`` takes either this or a ``Shop``.
    """

    id: int
    key: str
    cancel_status_ids: list[str]
    require_consent: bool
    customer_window_days: int
    balancing_platform: str | None
    balancing_url: str | None
    balancing_split_percent: int
    active_rule: RuleSnapshot | None
    secrets: list[str]  # the secrets a webhook may be signed with now, newest first


_shops = Shop.__table__
_secrets = ShopSecret.__table__
_rules = InvitationRule.__table__
_SNAPSHOT = (
    select(
        _shops.c.id,
        _shops.c.key,
        _shops.c.cancel_status_ids,
        _shops.c.require_consent,
        _shops.c.customer_window_days,
        _shops.c.balancing_platform,
        _shops.c.balancing_url,
        _shops.c.balancing_split_percent,
        _secrets.c.id.label("secret_id"),
        _secrets.c.secret,
        _secrets.c.expires_at,
        _rules.c.id.label("rule_id"),
        _rules.c.trigger_status_ids,
        _rules.c.delay_days,
        _rules.c.send_hour,
        _rules.c.timezone,
    )
    .select_from(
        _shops.outerjoin(_secrets, _secrets.c.shop_id == _shops.c.id).outerjoin(
            _rules, and_(_rules.c.shop_id == _shops.c.id, _rules.c.is_active.is_(True))
        )
    )
    .where(_shops.c.key == bindparam("b_key"))
)


def shop_snapshot(key: str, now: datetime | None = None) -> ShopSnapshot | None:
    """The shop with this key for the webhook (secrets valid at ``now``), or None.

    A key that no shop could have (keys are URL-safe ASCII, at most 64 characters) is not
    looked up: a NUL byte or a stray Unicode character would make the database refuse the query.
    """
    if not isinstance(key, str) or not _SHOP_KEY.fullmatch(key):
        return None
    rows = db.session.execute(_SNAPSHOT, {"b_key": key}).all()
    if not rows:
        return None
    now = now or utcnow()
    first = rows[0]
    valid = {
        row.secret_id: row.secret
        for row in rows
        if row.secret_id is not None and secret_is_valid(row.expires_at, now)
    }
    rule = None
    if first.rule_id is not None:
        rule = RuleSnapshot(
            id=first.rule_id,
            trigger_status_ids=list(first.trigger_status_ids or ()),
            delay_days=first.delay_days,
            send_hour=first.send_hour,
            timezone=first.timezone,
        )
    return ShopSnapshot(
        id=first.id,
        key=first.key,
        cancel_status_ids=list(first.cancel_status_ids or ()),
        require_consent=first.require_consent,
        customer_window_days=first.customer_window_days,
        balancing_platform=first.balancing_platform,
        balancing_url=first.balancing_url,
        balancing_split_percent=first.balancing_split_percent or 0,
        active_rule=rule,
        secrets=[valid[i] for i in sorted(valid, reverse=True)],
    )


@dataclass
class CreatedShop:
    shop: Shop
    secret: str


def create_shop(name: str, timezone: str = DEFAULT_TIMEZONE, language: str = "fr") -> CreatedShop:
    """A new shop with the PrestaShop preset (CONTRACT 4). Commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ShopError("shop name must be 1 to 200 characters")
    if any(ch in name for ch in "\r\n"):
        raise ShopError("shop name must be a single line")
    try:
        validate_timezone(timezone)
    except ValueError as exc:
        raise ShopError(str(exc)) from None
    if language not in LANGUAGES:
        raise ShopError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")

    preset = prestashop_preset()
    shop = Shop(
        name=name,
        slug=unique_slug(name),
        timezone=timezone,
        language=language,
        cancel_status_ids=list(preset["cancel"]),
        require_consent=False,
        customer_window_days=DEFAULT_CUSTOMER_WINDOW_DAYS,
        paused=False,
    )
    secret = new_webhook_secret()
    shop.secrets.append(ShopSecret(secret=secret))
    shop.rules.append(
        InvitationRule(
            name="PrestaShop — Livré" if language == "fr" else "PrestaShop — Delivered",
            trigger_status_ids=list(preset["trigger"]),
            delay_days=DEFAULT_DELAY_DAYS,
            send_hour=None,
            timezone=timezone,
            is_active=True,
        )
    )
    db.session.add(shop)
    db.session.flush()
    for state in preset["states"]:
        db.session.add(
            ShopStatus(
                shop_id=shop.id,
                status_id=state["id"],
                name=state[language],
                paid=state["paid"],
                shipped=state["shipped"],
            )
        )
    db.session.commit()
    return CreatedShop(shop=shop, secret=secret)


def describe(shop: Shop) -> dict[str, Any]:
    rule = shop.active_rule
    return {
        "key": shop.key,
        "name": shop.name,
        "language": shop.language,
        "timezone": shop.timezone,
        "paused": shop.paused,
        "rule": None
        if rule is None
        else {
            "name": rule.name,
            "trigger_status_ids": list(rule.trigger_status_ids),
            "delay_days": rule.delay_days,
            "send_hour": rule.send_hour,
            "timezone": rule.timezone,
        },
        "cancel_status_ids": list(shop.cancel_status_ids),
        "require_consent": shop.require_consent,
        "customer_window_days": shop.customer_window_days,
    }
