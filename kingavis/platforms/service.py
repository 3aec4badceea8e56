"""Shopify and WooCommerce deliveries, carried out (docs/platforms.md); the platform secrets.

The endpoints (``webhooks.views``) read the body and find the shop, then call, in order:
``verify`` (the platform's signature, or WooCommerce's unsigned ping), ``receive`` (what the
delivery asks, done: a status change goes through ``kingavis.orders.events.apply_status_event``
exactly as a module's event; an erasure through ``kingavis.personal_data``) and
``record_delivery`` (the shop's small delivery log, the "check" of the Identifiants page).

Idempotency: the platform's delivery id is the event's webhook id, so a retried status change
answers its first outcome (``order_events``), a retried ``customers/redact`` its first summary
(``erasures``), and the other privacy topics their first answer, kept in the delivery log. A
delivery refused for its signature is logged (verdict ``invalid-signature``) but never
remembered as done, so its well-signed retry is processed.

A well-signed delivery the rules have nothing to do with (an unused topic, a fulfilment event
that is not a delivery, an order without an address, a payload the event schema refuses) is
answered 200 with outcome ``ignored`` and its reason: platforms retry any other answer and
disable webhooks that keep failing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import delete, select

from kingavis.accounts import audit
from kingavis.customer_keys import customer_key
from kingavis.extensions import db
from kingavis.models import DataRequest, Order, PlatformDelivery, Shop, utcnow
from kingavis.orders.events import apply_status_event
from kingavis.personal_data.customers import PersonalDataError, validate_email
from kingavis.personal_data.erasure import erase_customer, erase_shop
from kingavis.platforms import mapping, shopify, woocommerce
from kingavis.shops.service import ShopError, ShopSnapshot
from kingavis.shops.settings import set_platform_secrets

log = logging.getLogger("kingavis.platforms")

DELIVERY_LOG_SIZE = 100  # rows kept per shop
CHECK_SIZE = 20  # rows the Identifiants page shows
MAX_DELIVERY_ID = 255


# The order-status event's schema, given by the endpoint (webhooks.schemas): a loader that
# returns the event or raises ValidationError, and the flattener of its messages.
EventLoader = Callable[[Any], dict[str, Any]]
ErrorFlattener = Callable[[Any], dict[str, list[str]]]


class SignatureRefused(Exception):
    """The delivery is not signed with any of the shop's secrets; the message is safe to send."""


@dataclass(frozen=True)
class Verified:
    """A delivery whose signature matched (or WooCommerce's ping, ``ping`` True)."""

    platform: str
    topic: str | None
    delivery_id: str | None
    ping: bool = False


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: dict[str, Any]
    replayed: bool
    verdict: str
    order_id: str | None = None


def signing_keys(shop: ShopSnapshot) -> list[str]:
    """Every secret a platform delivery may be signed with: the secrets the merchant gave
    (Shopify's signing secret; any secret during a rotation) and the shop's own webhook
    secrets still valid (the one WooCommerce's "Secret" field holds), each as UTF-8 text."""
    return [*shop.platform_secrets, *shop.secrets]


def _visible(value: str | None, limit: int) -> str | None:
    if not value:
        return None
    text = value.strip()
    if not text or len(text) > limit or any(not 0x21 <= ord(c) <= 0x7E for c in text):
        return None
    return text


def verify(platform: str, shop: ShopSnapshot, headers: Mapping[str, str], body: bytes) -> Verified:
    """Check a delivery's signature as the platform computes it; raises SignatureRefused."""
    keys = signing_keys(shop)
    if platform == "shopify":
        if not shopify.signature_matches(keys, headers.get("X-Shopify-Hmac-Sha256"), body):
            raise SignatureRefused(
                "X-Shopify-Hmac-Sha256 does not match the body with any of the shop's secrets; "
                "give King-Avis the signing secret Shopify shows (shops configure --platform-secret)")
        delivery = shopify.delivery_id(headers)
        topic = headers.get("X-Shopify-Topic")
    else:
        if woocommerce.is_ping(headers, body):
            return Verified(platform, None, None, ping=True)
        if not woocommerce.signature_matches(keys, headers.get("X-WC-Webhook-Signature"), body):
            raise SignatureRefused(
                "X-WC-Webhook-Signature does not match the body with any of the shop's secrets; "
                "paste the shop's webhook secret into the webhook's Secret field")
        delivery = woocommerce.delivery_id(headers, body)
        topic = headers.get("X-WC-Webhook-Topic")
    # Without a usable id the body itself names the delivery: a retry sends the same bytes.
    delivery = _visible(delivery, MAX_DELIVERY_ID) or f"sha256:{hashlib.sha256(body).hexdigest()}"
    return Verified(platform, _visible(topic, 64), delivery)


def _action(shop: ShopSnapshot, verified: Verified, payload: Mapping[str, Any],
            now: datetime) -> mapping.Action:
    topic = verified.topic or ""
    if verified.platform == "shopify":
        return shopify.action_for(topic, payload, language=shop.language,
                                  require_consent=shop.require_consent)
    return woocommerce.action_for(topic, payload, language=shop.language, received_at=now)


def _ignored(verified: Verified, reason: str, order_id: str | None = None,
             **extra: Any) -> Reply:
    body = {"webhook_id": verified.delivery_id, "order_id": order_id, "outcome": "ignored",
            "reason": reason, **extra}
    return Reply(200, body, False, f"ignored:{reason}"[:64], order_id)


def _stored_customer(shop_id: int, order_id: str) -> tuple[dict[str, Any], bool | None] | None:
    """The stored order's customer (for an event that does not carry one) and whether its
    latest status was paid; None for an order never received or erased."""
    order = db.session.execute(
        select(Order.customer_email, Order.customer_first_name, Order.customer_last_name,
               Order.customer_locale, Order.latest_status_paid)
        .where(Order.shop_id == shop_id, Order.external_id == order_id)
    ).one_or_none()
    if order is None or not order.customer_email:
        return None
    customer: dict[str, Any] = {"email": order.customer_email}
    for key, value in (("first_name", order.customer_first_name),
                       ("last_name", order.customer_last_name),
                       ("locale", order.customer_locale)):
        if value:
            customer[key] = value
    return customer, order.latest_status_paid


def _status_change(shop: ShopSnapshot, verified: Verified, change: mapping.StatusChange,
                   now: datetime, load: EventLoader, flatten: ErrorFlattener) -> Reply:
    customer = change.customer
    paid = change.paid
    if customer is None:
        stored = _stored_customer(shop.id, change.order_id)
        if stored is None:
            return _ignored(verified, "order_unknown", change.order_id)
        customer, stored_paid = stored
        if change.status_id == "delivered" and paid is None:
            # Delivered does not say whether the order was paid: it stays as it was.
            paid = stored_paid
    body = replace(change, paid=paid).event(customer, now)
    try:
        event = load(body)
    except ValidationError as exc:
        return _ignored(verified, "invalid_order", change.order_id,
                        fields=sorted(flatten(exc.messages)))
    assert verified.delivery_id is not None
    result = apply_status_event(shop, event, verified.delivery_id, raw_payload=body, now=now)
    outcome = str(result.body.get("outcome"))
    return Reply(result.status_code, result.body, result.replayed, outcome, change.order_id)


def _previous_answer(shop_id: int, delivery_id: str) -> dict[str, Any] | None:
    return db.session.execute(
        select(PlatformDelivery.response)
        .where(PlatformDelivery.shop_id == shop_id, PlatformDelivery.delivery_id == delivery_id,
               PlatformDelivery.response.is_not(None))
        .order_by(PlatformDelivery.id).limit(1)
    ).scalar_one_or_none()


def receive(shop: ShopSnapshot, verified: Verified, payload: Mapping[str, Any], *,
            load: EventLoader, flatten: ErrorFlattener, now: datetime | None = None) -> Reply:
    """Carry out a verified delivery (see the module docstring). Commits.

    ``load`` validates the order-status event a status change becomes, with the schema of the
    order-status endpoint (``webhooks.schemas.load_event``), and ``flatten`` names the fields
    it refused; an event it refuses is ignored, answered 200."""
    at = now or utcnow()
    action = _action(shop, verified, payload, at)
    if isinstance(action, mapping.Ignore):
        return _ignored(verified, action.reason, action.order_id)
    if isinstance(action, mapping.TestOrder):
        body = {"webhook_id": verified.delivery_id, "order_id": action.order_id,
                "outcome": "test", "review_request": None}
        return Reply(200, body, False, "test", action.order_id)
    if isinstance(action, mapping.StatusChange):
        return _status_change(shop, verified, action, at, load, flatten)
    assert verified.delivery_id is not None
    orm_shop = db.session.get(Shop, shop.id)
    if orm_shop is None:  # deleted since the signature check
        raise ShopError("no shop has this key")
    if isinstance(action, mapping.Erase):
        try:
            result = erase_customer(orm_shop, action.email, source="webhook",
                                    webhook_id=verified.delivery_id, now=at)
        except PersonalDataError:
            return _ignored(verified, "no_customer_email")
        return Reply(result.status_code, result.body, result.replayed, "erased")
    previous = _previous_answer(shop.id, verified.delivery_id)
    if previous is not None:
        return Reply(200, previous, True, str(previous.get("outcome", "replayed")))
    if isinstance(action, mapping.ExportRequest):
        try:
            _add_data_request(orm_shop, action, at)
        except PersonalDataError:
            return _ignored(verified, "no_customer_email")
        body = {"webhook_id": verified.delivery_id, "outcome": "export_prepared"}
        return Reply(202, body, False, "export_prepared")
    assert isinstance(action, mapping.EraseShop)
    summary = erase_shop(orm_shop, now=at)
    body = {"webhook_id": verified.delivery_id, "outcome": "erased", "erased": summary}
    return Reply(202, body, False, "erased")


def _add_data_request(shop: Shop, action: mapping.ExportRequest, now: datetime) -> None:
    email = validate_email(action.email)
    db.session.add(DataRequest(shop_id=shop.id, email=email, email_hash=customer_key(shop.id, email),
                               platform_request_id=action.request_id, received_at=now))
    db.session.commit()


def record_delivery(shop_id: int, platform: str, *, delivery_id: str | None, topic: str | None,
                    status_code: int, verdict: str, order_id: str | None = None,
                    response: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    """Add one row to the shop's delivery log and drop the rows beyond its size. Commits.

    ``response`` is kept only for answers a retry must get again and that hold no personal
    data (the privacy topics' counts)."""
    db.session.add(PlatformDelivery(
        shop_id=shop_id, platform=platform, delivery_id=delivery_id, topic=topic,
        order_id=order_id, status_code=status_code, verdict=verdict[:64], response=response,
        received_at=now or utcnow()))
    db.session.flush()
    oldest_kept = db.session.execute(
        select(PlatformDelivery.id).where(PlatformDelivery.shop_id == shop_id)
        .order_by(PlatformDelivery.id.desc()).offset(DELIVERY_LOG_SIZE - 1).limit(1)
    ).scalar_one_or_none()
    if oldest_kept is not None:
        db.session.execute(delete(PlatformDelivery).where(
            PlatformDelivery.shop_id == shop_id, PlatformDelivery.id < oldest_kept))
    db.session.commit()


def last_deliveries(shop: Shop, limit: int = CHECK_SIZE) -> list[PlatformDelivery]:
    """The shop's latest deliveries, newest first (the Identifiants page's check)."""
    return list(db.session.execute(
        select(PlatformDelivery).where(PlatformDelivery.shop_id == shop.id)
        .order_by(PlatformDelivery.id.desc()).limit(limit)).scalars())


# --- data requests ------------------------------------------------------------------------


def data_requests(shop: Shop) -> list[DataRequest]:
    return list(db.session.execute(
        select(DataRequest).where(DataRequest.shop_id == shop.id)
        .order_by(DataRequest.id.desc())).scalars())


def close_data_request(shop: Shop, request_id: int, actor: audit.Actor) -> bool:
    """The merchant answered a data request: it goes (with its address). Commits."""
    row = db.session.get(DataRequest, request_id)
    if row is None or row.shop_id != shop.id:
        return False
    db.session.delete(row)
    audit.record(actor, "platform.data_request_closed", shop=shop, target_type="data_request",
                 target_id=request_id, details={"email_hash": row.email_hash})
    db.session.commit()
    return True


# --- platform secrets (checked and set by kingavis/shops/settings.py) ----------------------


def add_platform_secret(shop: Shop, secret: str, actor: audit.Actor) -> list[str]:
    """Add one platform secret to those already valid (the back-office's form)."""
    return set_platform_secrets(shop, [*(shop.platform_secrets or []), secret], actor)


def remove_platform_secret(shop: Shop, index: int, actor: audit.Actor) -> list[str]:
    """Remove the ``index``-th platform secret (as the page lists them); ShopError if none."""
    current = list(shop.platform_secrets or [])
    if not 0 <= index < len(current):
        raise ShopError("no such platform secret")
    del current[index]
    return set_platform_secrets(shop, current, actor)


def masked(secret: str) -> str:
    """A platform secret as the back-office lists it: its last four characters only."""
    return "…" + secret[-4:] if len(secret) > 8 else "…"
