"""Shops: creation with the PrestaShop preset, configuration, webhook secrets, and the
webhook's short-lived per-process cache of what it reads about a shop (``ShopSnapshotCache``)."""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, bindparam, event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from kingavis.extensions import db
from kingavis.i18n import LANGUAGES
from kingavis.mail_headers import CONTROL, header_text_problem
from kingavis.models import InvitationRule, Shop, ShopSecret, ShopStatus, utcnow
from kingavis.scheduling import (
    DEFAULT_CUSTOMER_WINDOW_DAYS,
    DEFAULT_DELAY_DAYS,
    DEFAULT_TIMEZONE,
    prestashop_preset,
    validate_timezone,
)
from kingavis.shops.presets import PLATFORMS, WEBHOOK_PLATFORMS, platform_preset
from kingavis.shops.slugs import unique_slug

# What new_shop_key() makes: "shp_" and URL-safe base64.
_SHOP_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ShopError(ValueError):
    """Invalid shop input; the message is meant for the person who gave it."""


def whole_number(
    value: object,
    low: int,
    high: int,
    what: str,
    unit: str,
    *,
    not_whole: str | None = None,
    aside: str = "",
) -> int:
    """``value`` when it is a whole number from ``low`` to ``high`` (not True, not 1.0), for a
    setting's check; else ShopError: "{what} must be a whole number of {unit}" (or ``not_whole``)
    or "{what} must be between {low} and {high} {unit}{aside}"."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShopError(not_whole or f"{what} must be a whole number of {unit}")
    if not low <= value <= high:
        raise ShopError(f"{what} must be between {low} and {high} {unit}{aside}")
    return value


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def webhook_url(shop: Shop) -> str:
    """Where the shop's events go: its module's endpoint, or its platform's (docs/platforms.md)."""
    endpoint = shop.platform if shop.platform in WEBHOOK_PLATFORMS else "order-status"
    return f"{current_app.config['KINGAVIS_BASE_URL']}/webhooks/v1/{shop.key}/{endpoint}"


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
    platform: str = "prestashop"
    platform_secrets: tuple[str, ...] = ()  # the signing secrets a platform gave (Shopify)
    language: str = "fr"
    # shops.settings_version when read: the webhook checks it against the database's in a
    # statement it makes anyway, and starts again from a fresh read when they differ.
    settings_version: int = 0


class ShopChanged(Exception):
    """The shop's settings changed since its snapshot was read (``settings_version``): the
    work done with it was rolled back; read the shop again and start over."""


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
        _shops.c.platform,
        _shops.c.platform_secrets,
        _shops.c.language,
        _shops.c.settings_version,
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


SecretRow = tuple[int, str, datetime | None]  # (id, secret, expires_at)


def _read_snapshot(key: str) -> tuple[ShopSnapshot, tuple[SecretRow, ...]] | None:
    """One query: the shop (``secrets`` left empty) and every secret with its expiry, or None."""
    if not isinstance(key, str) or not _SHOP_KEY.fullmatch(key):
        return None
    rows = db.session.execute(_SNAPSHOT, {"b_key": key}).all()
    if not rows:
        return None
    first = rows[0]
    secret_rows = tuple(
        (row.secret_id, row.secret, row.expires_at) for row in rows if row.secret_id is not None
    )
    rule = None
    if first.rule_id is not None:
        rule = RuleSnapshot(
            id=first.rule_id,
            trigger_status_ids=list(first.trigger_status_ids or ()),
            delay_days=first.delay_days,
            send_hour=first.send_hour,
            timezone=first.timezone,
        )
    shop = ShopSnapshot(
        id=first.id,
        key=first.key,
        cancel_status_ids=list(first.cancel_status_ids or ()),
        require_consent=first.require_consent,
        customer_window_days=first.customer_window_days,
        balancing_platform=first.balancing_platform,
        balancing_url=first.balancing_url,
        balancing_split_percent=first.balancing_split_percent or 0,
        active_rule=rule,
        secrets=[],
        platform=first.platform or "prestashop",
        platform_secrets=tuple(s for s in first.platform_secrets or () if isinstance(s, str)),
        language=first.language or "fr",
        settings_version=first.settings_version,
    )
    return shop, secret_rows


def _with_secrets_valid_at(
    shop: ShopSnapshot, secret_rows: tuple[SecretRow, ...], now: datetime
) -> ShopSnapshot:
    valid = {sid: secret for sid, secret, expires_at in secret_rows if secret_is_valid(expires_at, now)}
    return replace(shop, secrets=[valid[i] for i in sorted(valid, reverse=True)])


def shop_snapshot(key: str, now: datetime | None = None) -> ShopSnapshot | None:
    """The shop with this key for the webhook (secrets valid at ``now``), read now, or None.

    A key that no shop could have (keys are URL-safe ASCII, at most 64 characters) is not
    looked up: a NUL byte or a stray Unicode character would make the database refuse the query.
    The webhook reads it through ``shop_cache(app).get`` instead (at most a few seconds old).
    """
    loaded = _read_snapshot(key)
    if loaded is None:
        return None
    return _with_secrets_valid_at(loaded[0], loaded[1], now or utcnow())


# --- the webhook's cache of shop snapshots ------------------------------------------------
#
# Every webhook needs its shop's secrets, rule and guards; reading them is one more round trip
# per request, for values that change a few times a year. Each process keeps what it read for
# ``WEBHOOK_SHOP_CACHE_SECONDS`` (app config, default 5 s; 0 reads on every request), and a
# change is used by the next webhook in every process (docs/settings-version.md):
#
# - every flush that changes a shop, one of its secrets or its rules (back-office, CLI, the
#   secret rotation: all go through the ORM) adds one to ``shops.settings_version`` in the same
#   transaction (``_bump_versions``, the one place that writes it);
# - the webhook reads the version in a statement it makes anyway (the order upsert's
#   RETURNING, ``kingavis.orders.events``) and, when it is not the snapshot's, rolls back and
#   starts again from a fresh read (``ShopChanged``); the erasure webhook compares it with the
#   shop row it loads;
# - a change made through this process's ORM also empties every cache of the process at its
#   flush, commit and rollback, so nothing read inside a rolled-back transaction is kept;
# - a secret's expiry is checked on every request against the clock, not against the cache;
# - a new secret is seen at once: a signature that does not verify with the cached secrets is
#   checked again with the shop read afresh (see ``webhooks.views``);
# - only shops found are kept (a stranger's unknown keys cost a query each, as before, and take
#   no memory), under their exact key: a shop's entry never serves another key.

DEFAULT_SHOP_CACHE_SECONDS = 5.0
SHOP_CACHE_EXTENSION = "kingavis_shop_snapshots"
_SNAPSHOT_SOURCES = (Shop, ShopSecret, InvitationRule)
_CHANGED = "kingavis_shops_changed"

# Bumped on every change to a shop, secret or rule made in this process: an entry read before
# the change is no longer used.
_generations = itertools.count(1)
_generation = 0


def _shops_changed() -> None:
    global _generation
    _generation = next(_generations)


@dataclass(frozen=True)
class _Entry:
    shop: ShopSnapshot
    secret_rows: tuple[SecretRow, ...]
    loaded_at: float
    generation: int


class ShopSnapshotCache:
    """Shop snapshots kept per process for ``ttl_seconds`` (``clock``: monotonic seconds)."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_SHOP_CACHE_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: datetime | None = None) -> tuple[ShopSnapshot | None, bool]:
        """The shop with this key (secrets valid at ``now``) or None, and whether it was read
        from the database by this call (False: from the cache)."""
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.generation == _generation
            and self.clock() - entry.loaded_at < self.ttl_seconds
        ):
            return _with_secrets_valid_at(entry.shop, entry.secret_rows, now or utcnow()), False
        return self.load(key, now), True

    def load(self, key: str, now: datetime | None = None) -> ShopSnapshot | None:
        """The shop read from the database now; kept for the next requests if found."""
        generation = _generation  # before the read: a change committed meanwhile voids it
        loaded_at = self.clock()
        loaded = _read_snapshot(key)
        if loaded is None:
            self._entries.pop(key, None)
            return None
        shop, secret_rows = loaded
        if self.ttl_seconds > 0:
            with self._lock:
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
                self._entries[key] = _Entry(shop, secret_rows, loaded_at, generation)
        return _with_secrets_valid_at(shop, secret_rows, now or utcnow())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def shop_cache(app: Flask) -> ShopSnapshotCache:
    """The app's cache of shop snapshots, made on first use (``WEBHOOK_SHOP_CACHE_SECONDS``)."""
    cache = app.extensions.get(SHOP_CACHE_EXTENSION)
    if cache is None:
        ttl = app.config.get("WEBHOOK_SHOP_CACHE_SECONDS", DEFAULT_SHOP_CACHE_SECONDS)
        cache = app.extensions.setdefault(
            SHOP_CACHE_EXTENSION, ShopSnapshotCache(float(ttl or 0))
        )
    return cache


def _touches_shops(objects: Any) -> bool:
    return any(isinstance(obj, _SNAPSHOT_SOURCES) for obj in objects)


_BUMP_VERSION = (
    _shops.update()
    .where(_shops.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(settings_version=_shops.c.settings_version + 1)
)


def _changed_shop_ids(session: Session) -> set[int]:
    """The shops whose row, secrets or rules this flush wrote (a new shop starts at 1)."""
    ids: set[int] = set()
    for obj in session.dirty:
        if isinstance(obj, Shop) and session.is_modified(obj, include_collections=False):
            ids.add(obj.id)
        elif isinstance(obj, (ShopSecret, InvitationRule)) and session.is_modified(
            obj, include_collections=False
        ):
            ids.add(obj.shop_id)
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, (ShopSecret, InvitationRule)):
            ids.add(obj.shop_id)
    ids.discard(None)  # type: ignore[arg-type]
    return ids


def _bump_versions(session: Session) -> None:
    """Add one to ``settings_version`` of every shop this flush changed, in its transaction:
    the one place the version is written (docs/settings-version.md)."""
    ids = _changed_shop_ids(session)
    if ids:
        session.connection().execute(_BUMP_VERSION, {"b_ids": sorted(ids)})


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    # new, dirty and deleted still hold what was just flushed.
    if (
        _touches_shops(session.new)
        or _touches_shops(session.dirty)
        or _touches_shops(session.deleted)
    ):
        session.info[_CHANGED] = True
        _shops_changed()
        _bump_versions(session)


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state: ORMExecuteState) -> None:
    # UPDATE or DELETE statements run through the session (none today; cheap to guard).
    if (state.is_update or state.is_delete) and any(
        mapper.class_ in _SNAPSHOT_SOURCES for mapper in state.all_mappers
    ):
        state.session.info[_CHANGED] = True
        _shops_changed()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Again once committed: a webhook may have read the old rows between flush and commit.
    if session.info.pop(_CHANGED, False):
        _shops_changed()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    # A webhook in this transaction may have read rows that are now rolled back.
    if session.info.pop(_CHANGED, False):
        _shops_changed()


@dataclass
class CreatedShop:
    shop: Shop
    secret: str


def create_shop(name: str, timezone: str = DEFAULT_TIMEZONE, language: str = "fr",
                platform: str = "prestashop") -> CreatedShop:
    """A new shop with its platform's preset: PrestaShop's (docs/rules), Shopify's or
    WooCommerce's (docs/platforms.md). Commits."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ShopError("shop name must be 1 to 200 characters")
    # The name is the default sender name of every email: judged as a mail program shows
    # it, encoded words decoded (docs/email-headers.md).
    problem = header_text_problem(name)
    if problem == CONTROL:
        raise ShopError("shop name must be a single line without control characters")
    if problem is not None:
        raise ShopError("shop name must not contain an encoded word (=?…?=): "
                        "write the name as it should be shown")
    try:
        validate_timezone(timezone)
    except ValueError as exc:
        raise ShopError(str(exc)) from None
    if language not in LANGUAGES:
        raise ShopError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")

    if platform not in PLATFORMS:
        raise ShopError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    preset = prestashop_preset() if platform == "prestashop" else platform_preset(platform)
    rule_name = (preset["rule_name"][language] if "rule_name" in preset
                 else "PrestaShop — Livré" if language == "fr" else "PrestaShop — Delivered")
    shop = Shop(
        platform=platform,
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
            name=rule_name,
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
        "product_reviews": shop.product_review_count,
    }
