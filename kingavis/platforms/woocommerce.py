"""WooCommerce's webhooks as King-Avis reads them (docs/platforms.md): the signature, the
delivery id, the ping, and what each order topic means. Plain functions, no database.

WooCommerce builds its deliveries in ``WC_Webhook::deliver`` (class-wc-webhook.php): the body
is the REST API's order (``/wc/v3/orders/<id>``), or ``{"id": N}`` for ``order.deleted``; the
headers ``X-WC-Webhook-Topic``, ``-Resource``, ``-Event``, ``-Signature``, ``-ID`` and
``-Delivery-ID``. When a webhook is saved it first sends an unsigned ping,
``webhook_id=N`` form-encoded, and keeps the webhook only if that answers 200.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from kingavis.platforms import items as item_fields
from kingavis.platforms.mapping import (
    Action,
    Customer,
    Ignore,
    StatusChange,
    as_dict,
    as_list,
    email_of,
    parse_time,
    reference_of,
)
from kingavis.platforms.signing import base64_hmac_matches
from kingavis.shops.presets import state_name

TOPICS = ("order.created", "order.updated", "order.deleted")
PAID_STATUSES = frozenset({"processing", "completed"})  # wc_get_is_paid_statuses()
UNPAID_STATUSES = frozenset({"pending", "on-hold", "failed"})
_PING = re.compile(rb"webhook_id=[0-9]{1,20}")
_SLUG = re.compile(r"[a-z0-9_-]{1,64}")


def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """WooCommerce's ping: no signature header and a body of exactly ``webhook_id=<digits>``."""
    return not headers.get("X-WC-Webhook-Signature") and _PING.fullmatch(body.strip()) is not None


def signature_matches(secrets: Iterable[str], header: str | None, body: bytes) -> bool:
    """Whether ``X-WC-Webhook-Signature`` is the base64 HMAC-SHA256 of the raw body keyed with
    one of ``secrets`` as UTF-8 text (``generate_signature``). Constant-time, every secret."""
    return base64_hmac_matches(secrets, header, body)


def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """The idempotency key: ``X-WC-Webhook-Delivery-ID``, qualified by the body's digest.

    WooCommerce makes the delivery id as ``wp_hash(webhook id . current second)``
    (``get_new_delivery_id``): two different orders changed in the same second get the same
    id. A retry of one delivery sends the same body again, so the id plus a digest of the body
    names one delivery, and two deliveries that only share the second stay two.
    """
    value = (headers.get("X-WC-Webhook-Delivery-ID") or "").strip()
    if not value:
        return None
    return f"{value[:180]}:{hashlib.sha256(body).hexdigest()[:16]}"


def status_name(slug: str, language: str) -> str:
    """WooCommerce's label of a core status, else the slug made readable (``awaiting-shipment``
    → ``Awaiting shipment``): a custom status's label is not in the payload."""
    known = state_name("woocommerce", slug, language)
    if known is not None:
        return known
    words = slug.removeprefix("wc-").replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else slug


def status_flags(slug: str, date_paid: datetime | None) -> tuple[bool | None, bool | None]:
    """(paid, shipped) of a status. Core statuses have WooCommerce's meaning (processing and
    completed are its paid statuses; pending, on-hold and failed are unpaid; completed is the
    shipped one). A custom status is paid when the order has a payment date, else unknown
    (the status list's flag, if the merchant set one, applies)."""
    if slug in PAID_STATUSES:
        return True, slug == "completed"
    if slug in UNPAID_STATUSES:
        return False, False
    if slug in ("cancelled", "refunded"):
        return None, None
    return (True if date_paid is not None else None), None


def customer_of(order: Mapping[str, Any]) -> Customer:
    """The billing contact is WooCommerce's customer. WooCommerce has no review or marketing
    consent of its own: none is sent (a shop that requires consent gets ``no_consent``)."""
    billing = as_dict(order.get("billing"))
    return Customer(
        email=email_of(billing.get("email")),
        first_name=item_fields.clean_text(billing.get("first_name"), 200),
        last_name=item_fields.clean_text(billing.get("last_name"), 200),
    )


def line_items(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Line items as event items: SKU as reference, the image, the variation; a GTIN when the
    line has a ``global_unique_id`` (WooCommerce 9.2's GTIN field) with a right check digit."""
    return item_fields.first_items(
        item_fields.item(
            product_id=line.get("product_id"),
            variant_id=line.get("variation_id"),
            name=line.get("name"),
            reference=line.get("sku"),
            gtin=line.get("global_unique_id"),
            url=line.get("permalink"),
            image_url=as_dict(line.get("image")).get("src"),
            quantity=line.get("quantity"),
        )
        for line in map(as_dict, as_list(order.get("line_items")))
    )


def action_for(topic: str, payload: Mapping[str, Any], *, language: str,
               received_at: datetime) -> Action:
    """What a WooCommerce delivery of ``topic`` asks for.

    ``order.created`` and ``order.updated`` carry the whole order: its status slug as the
    status, ``date_modified_gmt`` (UTC without an offset) as the time of the change.
    ``order.deleted`` (the order was trashed) carries only the id: it is the order reaching
    ``cancelled`` when it is received, with the stored order's customer; a deleted order is
    not one to ask a review for.
    """
    order_id = item_fields.clean_id(payload.get("id"))
    if order_id is None:
        return Ignore("no_order_id")
    if topic == "order.deleted":
        return StatusChange(order_id=order_id, status_id="cancelled",
                            status_name=status_name("cancelled", language), paid=None,
                            shipped=None, changed_at=received_at, customer=None)
    if topic not in ("order.created", "order.updated"):
        return Ignore("topic_not_used", order_id)
    slug = payload.get("status")
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug.removeprefix("wc-")):
        return Ignore("no_status", order_id)
    slug = slug.removeprefix("wc-")
    changed_at = (parse_time(payload.get("date_modified_gmt"), naive_is_utc=True)
                  or parse_time(payload.get("date_created_gmt"), naive_is_utc=True))
    if changed_at is None:
        return Ignore("no_timestamp", order_id)
    customer = customer_of(payload).as_event()
    if customer is None:
        return Ignore("no_customer_email", order_id)
    paid, shipped = status_flags(slug, parse_time(payload.get("date_paid_gmt"), naive_is_utc=True))
    return StatusChange(
        order_id=order_id,
        status_id=slug,
        status_name=status_name(slug, language),
        paid=paid,
        shipped=shipped,
        changed_at=changed_at,
        customer=customer,
        reference=reference_of(payload.get("number")),
        placed_at=parse_time(payload.get("date_created_gmt"), naive_is_utc=True),
        items=line_items(payload),
    )
