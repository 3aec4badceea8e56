"""Shopify's webhooks as King-Avis reads them (docs/platforms.md): the signature, the
delivery id, and what each topic means for a review request. Plain functions, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kingavis.platforms import items as item_fields
from kingavis.platforms.mapping import (
    Action,
    Customer,
    Erase,
    EraseShop,
    ExportRequest,
    Ignore,
    StatusChange,
    TestOrder,
    as_dict,
    as_list,
    email_of,
    locale_tag,
    parse_time,
    reference_of,
)
from kingavis.platforms.signing import base64_hmac_matches
from kingavis.shops.presets import state_name

ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled",
                "orders/fulfilled")
TOPICS = (*ORDER_TOPICS, "fulfillment_events/create", "refunds/create",
          "customers/redact", "customers/data_request", "shop/redact")
# What the merchant subscribes to (the privacy topics are an app's, not a store's webhooks).
MERCHANT_TOPICS = (*ORDER_TOPICS, "fulfillment_events/create", "refunds/create")

# Financial statuses that mean the customer paid (partially refunded: paid, some money back).
PAID = frozenset({"paid", "partially_refunded"})


def signature_matches(secrets: Iterable[str], header: str | None, body: bytes) -> bool:
    """Whether ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw body keyed with
    one of ``secrets`` (the text, UTF-8), as Shopify computes it. Every secret is compared, in
    constant time, whichever matches."""
    return base64_hmac_matches(secrets, header, body)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The idempotency key: ``X-Shopify-Event-Id`` (the same for every retry of one event),
    else ``X-Shopify-Webhook-Id`` (older API versions send only this one)."""
    for name in ("X-Shopify-Event-Id", "X-Shopify-Webhook-Id"):
        value = (headers.get(name) or "").strip()
        if value:
            return value
    return None


def order_status(order: Mapping[str, Any]) -> tuple[str, bool | None, bool]:
    """The King-Avis status of a Shopify order: (status id, paid, shipped).

    The strongest fact wins: a cancellation, then a full refund, then a parcel delivered (a
    fulfilment whose ``shipment_status`` is ``delivered``: Shopify updates it from the
    carrier's events), then fulfilled, then paid, else pending. A voided payment is a
    cancellation (nothing was ever captured). ``paid`` is Shopify's financial status (an
    order fulfilled before it is paid is still unpaid, which the send-time check sees);
    partially refunded still counts as paid: a refund of one line is not a cancelled order.
    """
    financial = order.get("financial_status")
    paid = financial in PAID
    if order.get("cancelled_at") or financial == "voided":
        return "cancelled", None, False
    if financial == "refunded":
        return "refunded", None, False
    fulfilments = [as_dict(f) for f in as_list(order.get("fulfillments"))]
    if any(f.get("shipment_status") == "delivered" for f in fulfilments):
        return "delivered", paid, True
    if order.get("fulfillment_status") == "fulfilled":
        return "fulfilled", paid, True
    if paid:
        return "paid", True, False
    return "pending", False, False


def customer_of(order: Mapping[str, Any], require_consent: bool) -> Customer:
    """The order's customer. Consent is read only when the shop requires it (otherwise the
    event carries none, which the rules read as "not refused"): Shopify's email marketing
    consent ``subscribed``, or ``buyer_accepts_marketing``."""
    customer = as_dict(order.get("customer"))
    billing = as_dict(order.get("billing_address"))
    shipping = as_dict(order.get("shipping_address"))
    found = Customer(
        email=email_of(order.get("email"), order.get("contact_email"), customer.get("email")),
        first_name=item_fields.clean_text(
            customer.get("first_name") or billing.get("first_name") or shipping.get("first_name"),
            200),
        last_name=item_fields.clean_text(
            customer.get("last_name") or billing.get("last_name") or shipping.get("last_name"),
            200),
        locale=locale_tag(order.get("customer_locale")),
    )
    if require_consent:
        consent = as_dict(customer.get("email_marketing_consent"))
        found.review_consent = bool(
            consent.get("state") == "subscribed" or order.get("buyer_accepts_marketing") is True
        )
    return found


def line_items(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's line items as event items: SKU as reference, barcode as GTIN when its check
    digit is right, vendor as brand, the product's URL when the payload has one."""
    return item_fields.first_items(
        item_fields.item(
            product_id=line.get("product_id"),
            variant_id=line.get("variant_id"),
            name=line.get("title") or line.get("name"),
            reference=line.get("sku"),
            gtin=line.get("barcode"),
            brand=line.get("vendor"),
            url=line.get("product_url") or line.get("url"),
            image_url=as_dict(line.get("image")).get("src"),
            quantity=line.get("quantity"),
        )
        for line in map(as_dict, as_list(order.get("line_items")))
    )


def _order_change(order: Mapping[str, Any], language: str, require_consent: bool) -> Action:
    order_id = item_fields.clean_id(order.get("id"))
    if order_id is None:
        return Ignore("no_order_id")
    changed_at = parse_time(order.get("updated_at")) or parse_time(order.get("created_at"))
    if changed_at is None:
        return Ignore("no_timestamp", order_id)
    customer = customer_of(order, require_consent).as_event()
    if customer is None:  # a point-of-sale order without an address: nobody to ask
        return Ignore("no_customer_email", order_id)
    if order.get("test") is True:
        return TestOrder(order_id)
    status_id, paid, shipped = order_status(order)
    return StatusChange(
        order_id=order_id,
        status_id=status_id,
        status_name=state_name("shopify", status_id, language) or status_id,
        paid=paid,
        shipped=shipped,
        changed_at=changed_at,
        customer=customer,
        reference=reference_of(order.get("name") or order.get("order_number")),
        placed_at=parse_time(order.get("created_at")),
        items=line_items(order),
    )


def _reached(order_id: str, status_id: str, language: str, *, shipped: bool | None,
             times: Iterable[object]) -> Action:
    """The order reaching ``status_id`` at the first of ``times`` that is a time (the topic's
    own time first, then the record's); no customer: the order's event gave it already."""
    changed_at = next(filter(None, map(parse_time, times)), None)
    if changed_at is None:
        return Ignore("no_timestamp", order_id)
    return StatusChange(order_id=order_id, status_id=status_id,
                        status_name=state_name("shopify", status_id, language) or status_id,
                        paid=None, shipped=shipped, changed_at=changed_at, customer=None)


def _fulfilment_event(event: Mapping[str, Any], language: str) -> Action:
    """A delivered fulfilment event is the order reaching ``delivered`` at ``happened_at``
    (when the carrier delivered it, not when Shopify heard of it); its other statuses
    (in transit, out for delivery…) change nothing a review depends on."""
    order_id = item_fields.clean_id(event.get("order_id"))
    if order_id is None:
        return Ignore("no_order_id")
    if event.get("status") != "delivered":
        return Ignore("fulfillment_not_delivered", order_id)
    return _reached(order_id, "delivered", language, shipped=True,
                    times=(event.get(key) for key in ("happened_at", "created_at", "updated_at")))


def _refund(refund: Mapping[str, Any], language: str) -> Action:
    """A refund is the order reaching ``refunded`` at the refund's own time. Shopify sends
    ``refunds/create`` for a partial refund too: a customer refunded (even in part) before
    the request is sent is not one to ask for a review, so every refund cancels it; the
    merchant who thinks otherwise removes ``refunded`` from the cancel statuses."""
    order_id = item_fields.clean_id(refund.get("order_id"))
    if order_id is None:
        return Ignore("no_order_id")
    return _reached(order_id, "refunded", language, shipped=None,
                    times=(refund.get(key) for key in ("processed_at", "created_at")))


def action_for(topic: str, payload: Mapping[str, Any], *, language: str,
               require_consent: bool) -> Action:
    """What a Shopify delivery of ``topic`` asks for (see the module docstring)."""
    if topic in ORDER_TOPICS:
        return _order_change(payload, language, require_consent)
    if topic == "fulfillment_events/create":
        return _fulfilment_event(payload, language)
    if topic == "refunds/create":
        return _refund(payload, language)
    if topic in ("customers/redact", "customers/data_request"):
        email = email_of(as_dict(payload.get("customer")).get("email"))
        if email is None:
            return Ignore("no_customer_email")
        if topic == "customers/redact":
            return Erase(email)
        request_id = item_fields.clean_id(as_dict(payload.get("data_request")).get("id"))
        return ExportRequest(email, request_id)
    if topic == "shop/redact":
        return EraseShop()
    return Ignore("topic_not_used")

