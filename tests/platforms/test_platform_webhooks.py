"""Shopify and WooCommerce webhooks, straight in (docs/platforms.md): the platforms' own
deliveries, signed as they sign them, follow the order-status rules.

Bodies come from tests/fixtures/platforms (see its README for where each one comes from).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from platform_helpers import (
    fixture,
    hmac_b64,
    platform_shop,
    post_shopify,
    post_woocommerce,
    wc_body,
)
from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import (
    DataRequest,
    Order,
    OrderEvent,
    PlatformDelivery,
    ReviewRequest,
    ShopStatus,
)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def wc_gmt(moment: datetime) -> str:
    # WooCommerce's *_gmt fields: UTC, no offset.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def counts() -> tuple[int, int, int]:
    return (db.session.scalar(select(func.count()).select_from(Order)),
            db.session.scalar(select(func.count()).select_from(OrderEvent)),
            db.session.scalar(select(func.count()).select_from(ReviewRequest)))


def shopify_order(at: datetime, **fields: Any) -> dict[str, Any]:
    order = fixture("shopify_order")
    order["created_at"] = iso(at - timedelta(hours=1))
    order["updated_at"] = iso(at)
    order.update(fields)
    return order


def woo_order(status: str, at: datetime, **fields: Any) -> dict[str, Any]:
    order = fixture("woocommerce_order")
    order["status"] = status
    order["date_created_gmt"] = wc_gmt(at - timedelta(hours=1))
    order["date_modified_gmt"] = wc_gmt(at)
    order.update(fields)
    return order


def request_of(order_id: str) -> ReviewRequest | None:
    db.session.expire_all()
    return db.session.execute(
        select(ReviewRequest).join(Order, Order.id == ReviewRequest.order_id)
        .where(Order.external_id == order_id)).scalar_one_or_none()


# --- Shopify --------------------------------------------------------------------------------


def shopify_delivered(client: Any, shop: Any, secret: str, start: datetime) -> tuple[Any, datetime]:
    """paid → fulfilled (order webhooks) → delivered (fulfilment event); the last response."""
    paid = post_shopify(client, shop, secret, "orders/paid",
                        shopify_order(start, financial_status="paid"))
    assert paid.status_code == 202, paid.get_json()
    assert paid.get_json()["outcome"] == "recorded"
    fulfilled = post_shopify(client, shop, secret, "orders/fulfilled", shopify_order(
        start + timedelta(hours=5), financial_status="paid", fulfillment_status="fulfilled"))
    assert fulfilled.get_json()["outcome"] == "recorded"
    delivered_at = start + timedelta(days=1)
    event = fixture("shopify_fulfillment_event")
    event["happened_at"] = iso(delivered_at)
    event["created_at"] = event["updated_at"] = iso(delivered_at + timedelta(minutes=30))
    return post_shopify(client, shop, secret, "fulfillment_events/create", event), delivered_at


def test_shopify_paid_fulfilled_delivered_schedules_at_delivery_plus_delay(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    response, delivered_at = shopify_delivered(client, shop, secret, start)
    assert response.status_code == 202
    body = response.get_json()
    assert body["outcome"] == "scheduled"
    assert body["order_id"] == "820982911946154508"
    due = datetime.fromisoformat(body["review_request"]["due_at"].replace("Z", "+00:00"))
    assert due == delivered_at.astimezone(UTC) + timedelta(days=10)
    request = request_of("820982911946154508")
    assert request is not None and request.state == "scheduled"
    assert request.customer_email_normalized == "jon@example.com"
    assert request.trigger_status_id == "delivered"


def test_shopify_refund_before_send_cancels(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    response, delivered_at = shopify_delivered(client, shop, secret, start)
    assert response.get_json()["outcome"] == "scheduled"
    refund = fixture("shopify_refund")
    refund["created_at"] = refund["processed_at"] = iso(delivered_at + timedelta(days=1))
    cancelled = post_shopify(client, shop, secret, "refunds/create", refund)
    assert cancelled.status_code == 202
    assert cancelled.get_json()["outcome"] == "cancelled"
    assert cancelled.get_json()["review_request"]["reason"] == "order_cancelled"
    assert request_of("820982911946154508").state == "cancelled"


def test_shopify_cancellation_before_send_cancels(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    response, delivered_at = shopify_delivered(client, shop, secret, start)
    assert response.get_json()["outcome"] == "scheduled"
    cancelled = post_shopify(client, shop, secret, "orders/cancelled", shopify_order(
        delivered_at + timedelta(hours=2), financial_status="paid",
        cancelled_at=iso(delivered_at + timedelta(hours=2)), cancel_reason="customer"))
    assert cancelled.get_json()["outcome"] == "cancelled"
    assert request_of("820982911946154508").state == "cancelled"


def test_shopify_order_update_showing_the_parcel_delivered_schedules(app: Flask) -> None:
    """orders/updated after the carrier's delivery carries fulfillments[].shipment_status."""
    shop, secret = platform_shop("shopify")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    order = shopify_order(at, financial_status="paid", fulfillment_status="fulfilled",
                          fulfillments=[{"id": 1, "status": "success",
                                         "shipment_status": "delivered"}])
    response = post_shopify(app.test_client(), shop, secret, "orders/updated", order)
    assert response.get_json()["outcome"] == "scheduled"


def test_shopify_events_out_of_order_follow_changed_at(app: Flask) -> None:
    """A late orders/paid (older updated_at) after the delivery changes nothing."""
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    response, _ = shopify_delivered(client, shop, secret, start)
    assert response.get_json()["outcome"] == "scheduled"
    late = post_shopify(client, shop, secret, "orders/paid",
                        shopify_order(start - timedelta(minutes=5), financial_status="pending"))
    assert late.get_json()["outcome"] == "ignored_stale"
    assert request_of("820982911946154508").state == "scheduled"


def test_shopify_wrong_signature_is_401_and_changes_nothing(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    at = datetime.now(UTC) - timedelta(hours=1)
    body = json.dumps(shopify_order(at, financial_status="paid")).encode()
    before = counts()
    wrong = post_shopify(client, shop, "not-the-secret", "orders/paid", body, event_id="evt-1")
    assert wrong.status_code == 401
    assert wrong.headers["Content-Type"] == "application/problem+json"
    assert counts() == before
    # A refused delivery is not remembered: its well-signed retry is processed.
    retry = post_shopify(client, shop, secret, "orders/paid", body, event_id="evt-1")
    assert retry.status_code == 202
    assert retry.get_json()["outcome"] == "recorded"


def test_shopify_replay_answers_the_first_outcome(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    order = shopify_order(at, financial_status="paid", fulfillment_status="fulfilled",
                          fulfillments=[{"shipment_status": "delivered"}])
    first = post_shopify(client, shop, secret, "orders/updated", order, event_id="evt-42")
    again = post_shopify(client, shop, secret, "orders/updated", order, event_id="evt-42")
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    # Without X-Shopify-Event-Id the webhook id names the delivery.
    other = shopify_order(at + timedelta(minutes=1), financial_status="paid", id=55)
    one = post_shopify(client, shop, secret, "orders/paid", other, event_id=False, webhook_id="wh-1")
    two = post_shopify(client, shop, secret, "orders/paid", other, event_id=False, webhook_id="wh-1")
    assert two.status_code == 200 and two.get_json() == one.get_json()


def test_shopify_consent_is_read_only_when_the_shop_requires_it(app: Flask) -> None:
    shop, secret = platform_shop("shopify", require_consent=True)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    delivered = {"financial_status": "paid", "fulfillment_status": "fulfilled",
                 "fulfillments": [{"shipment_status": "delivered"}]}
    no = shopify_order(at, buyer_accepts_marketing=False, id=1, **delivered)
    no["customer"]["email_marketing_consent"]["state"] = "not_subscribed"
    yes = shopify_order(at, id=2, email="ann@example.com", **delivered)
    client = app.test_client()
    assert post_shopify(client, shop, secret, "orders/updated", no).get_json()["outcome"] == "suppressed"
    assert post_shopify(client, shop, secret, "orders/updated", yes).get_json()["outcome"] == "scheduled"


def test_shopify_customers_redact_erases(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    order = shopify_order(at, email="john@example.com", financial_status="paid",
                          fulfillment_status="fulfilled",
                          fulfillments=[{"shipment_status": "delivered"}])
    assert post_shopify(client, shop, secret, "orders/updated", order).get_json()["outcome"] == "scheduled"
    response = post_shopify(client, shop, secret, "customers/redact",
                            fixture("shopify_customers_redact"), event_id="redact-1")
    assert response.status_code == 202
    assert response.get_json()["erased"] == {"orders": 1, "review_requests_cancelled": 1,
                                            "reviews_withdrawn": 0}
    db.session.expire_all()
    stored = db.session.execute(select(Order)).scalar_one()
    assert stored.customer_email is None and stored.customer_first_name is None
    assert request_of("820982911946154508").state == "cancelled"
    again = post_shopify(client, shop, secret, "customers/redact",
                         fixture("shopify_customers_redact"), event_id="redact-1")
    assert again.status_code == 200 and again.get_json() == response.get_json()


def test_shopify_data_request_and_shop_redact(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    post_shopify(client, shop, secret, "orders/paid", shopify_order(at, financial_status="paid"))
    asked = post_shopify(client, shop, secret, "customers/data_request",
                         fixture("shopify_customers_data_request"))
    assert asked.status_code == 202 and asked.get_json()["outcome"] == "export_prepared"
    request = db.session.execute(select(DataRequest)).scalar_one()
    assert request.email == "john@example.com" and request.platform_request_id == "9999"
    gone = post_shopify(client, shop, secret, "shop/redact", fixture("shopify_shop_redact"),
                        event_id="shop-redact-1")
    assert gone.status_code == 202
    assert gone.get_json()["erased"]["orders"] == 1
    db.session.expire_all()
    assert db.session.execute(select(Order.customer_email)).scalar_one() is None
    assert db.session.execute(select(DataRequest)).first() is None
    replay = post_shopify(client, shop, secret, "shop/redact", fixture("shopify_shop_redact"),
                          event_id="shop-redact-1")
    assert replay.status_code == 200 and replay.get_json() == gone.get_json()


def test_shopify_events_the_rules_ignore_still_answer_2xx(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()
    in_transit = fixture("shopify_fulfillment_event") | {"status": "in_transit"}
    unknown_order = fixture("shopify_fulfillment_event") | {"order_id": 1}
    no_email = shopify_order(datetime.now(UTC), email=None, contact_email=None, customer=None)
    for topic, body in (("fulfillment_events/create", in_transit),
                        ("fulfillment_events/create", unknown_order),
                        ("orders/create", no_email),
                        ("products/update", {"id": 1})):
        response = post_shopify(client, shop, secret, topic, body)
        assert response.status_code == 200, topic
        assert response.get_json()["outcome"] == "ignored"
    assert counts() == (0, 0, 0)


def test_shopify_items_are_mapped_into_the_event(app: Flask) -> None:
    shop, secret = platform_shop("shopify")
    at = datetime.now(UTC) - timedelta(hours=1)
    post_shopify(app.test_client(), shop, secret, "orders/create", shopify_order(at))
    payload = db.session.execute(select(OrderEvent.payload)).scalar_one()
    assert payload["data"]["order"]["items"] == [
        {"product_id": "632910392", "variant_id": "808950810", "name": "IPod Nano - 8GB",
         "reference": "IPOD2008PINK", "gtin": "4006381333931", "brand": "Apple", "quantity": 1},
        # A barcode whose check digit is wrong is no GTIN; a line without a product is skipped.
        {"product_id": "632910393", "variant_id": "457924702", "name": "IPod Nano - 8GB",
         "reference": "IPOD2008BLACK", "quantity": 1},
    ]


# --- WooCommerce ----------------------------------------------------------------------------


def test_woocommerce_processing_then_completed_schedules_and_refunded_cancels(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    client = app.test_client()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    processing = post_woocommerce(client, shop, secret, "order.created",
                                  woo_order("processing", start))
    assert processing.status_code == 202 and processing.get_json()["outcome"] == "recorded"
    completed_at = start + timedelta(days=1)
    completed = post_woocommerce(client, shop, secret, "order.updated",
                                 woo_order("completed", completed_at))
    body = completed.get_json()
    assert body["outcome"] == "scheduled" and body["order_id"] == "727"
    due = datetime.fromisoformat(body["review_request"]["due_at"].replace("Z", "+00:00"))
    assert due == completed_at + timedelta(days=10)  # date_modified_gmt read as UTC
    refunded = post_woocommerce(client, shop, secret, "order.updated",
                                woo_order("refunded", completed_at + timedelta(hours=3)))
    assert refunded.get_json()["outcome"] == "cancelled"
    assert request_of("727").state == "cancelled"


def test_woocommerce_ping_answers_200_and_stores_nothing(app: Flask) -> None:
    shop, _ = platform_shop("woocommerce")
    response = app.test_client().post(
        f"/webhooks/v1/{shop.key}/woocommerce", data=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"})
    assert response.status_code == 200
    assert counts() == (0, 0, 0)
    assert db.session.execute(select(PlatformDelivery)).first() is None


def test_woocommerce_wrong_signature_is_401_and_changes_nothing(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    client = app.test_client()
    body = wc_body(woo_order("completed", datetime.now(UTC) - timedelta(hours=1)))
    before = counts()
    forged = client.post(f"/webhooks/v1/{shop.key}/woocommerce", data=body, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Signature": hmac_b64("whsec_wrong", body),
        "X-WC-Webhook-Delivery-ID": "d1"})
    assert forged.status_code == 401
    assert counts() == before
    unsigned = client.post(f"/webhooks/v1/{shop.key}/woocommerce", data=body,
                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert counts() == before
    good = post_woocommerce(client, shop, secret, "order.updated", body, delivery_id="d1")
    assert good.status_code == 202 and good.get_json()["outcome"] == "scheduled"


def test_woocommerce_replay_answers_the_first_outcome(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    client = app.test_client()
    body = wc_body(woo_order("completed", datetime.now(UTC) - timedelta(hours=1)))
    first = post_woocommerce(client, shop, secret, "order.updated", body, delivery_id="abc")
    again = post_woocommerce(client, shop, secret, "order.updated", body, delivery_id="abc")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    # WooCommerce's delivery id is per webhook and second: another order in the same second
    # is another delivery.
    other = wc_body(woo_order("completed", datetime.now(UTC) - timedelta(hours=1), id=728))
    second = post_woocommerce(client, shop, secret, "order.updated", other, delivery_id="abc")
    assert second.status_code == 202 and second.get_json()["order_id"] == "728"


def test_woocommerce_custom_status_joins_the_status_list(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    at = datetime.now(UTC) - timedelta(hours=1)
    response = post_woocommerce(app.test_client(), shop, secret, "order.updated",
                                woo_order("awaiting-shipment", at))
    assert response.get_json()["outcome"] == "recorded"
    names = dict(db.session.execute(select(ShopStatus.status_id, ShopStatus.name)
                                    .where(ShopStatus.shop_id == shop.id)).all())
    assert names["awaiting-shipment"] == "Awaiting shipment"
    assert {"pending", "processing", "on-hold", "completed", "cancelled", "refunded",
            "failed"} <= set(names)


def test_woocommerce_deleted_order_cancels(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    client = app.test_client()
    post_woocommerce(client, shop, secret, "order.updated",
                     woo_order("completed", datetime.now(UTC) - timedelta(hours=1)))
    deleted = post_woocommerce(client, shop, secret, "order.deleted", {"id": 727})
    assert deleted.get_json()["outcome"] == "cancelled"


def test_a_shop_takes_only_its_own_platform(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    response = post_shopify(app.test_client(), shop, secret, "orders/paid",
                            shopify_order(datetime.now(UTC)))
    assert response.status_code == 404


def test_the_check_lists_deliveries_without_personal_data(app: Flask) -> None:
    shop, secret = platform_shop("woocommerce")
    client = app.test_client()
    post_woocommerce(client, shop, secret, "order.updated",
                     woo_order("completed", datetime.now(UTC) - timedelta(hours=1)))
    client.post(f"/webhooks/v1/{shop.key}/woocommerce", data=b"{}", headers={
        "Content-Type": "application/json", "X-WC-Webhook-Signature": "AAAA"})
    rows = db.session.execute(select(PlatformDelivery).order_by(PlatformDelivery.id)).scalars().all()
    assert [(r.status_code, r.verdict, r.order_id) for r in rows] == [
        (202, "scheduled", "727"), (401, "invalid-signature", None)]
    stored = json.dumps([[r.topic, r.delivery_id, r.response] for r in rows])
    assert "john.doe@example.com" not in stored and "Doe" not in stored


def test_shopify_test_order_is_answered_and_stored_nowhere(app: Flask) -> None:
    """Shopify's "Send test notification" and orders paid with the test gateway."""
    shop, secret = platform_shop("shopify")
    order = shopify_order(datetime.now(UTC) - timedelta(hours=1), test=True,
                          fulfillments=[{"shipment_status": "delivered"}])
    response = post_shopify(app.test_client(), shop, secret, "orders/updated", order)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "test"
    assert response.get_json()["review_request"] is None
    assert counts() == (0, 0, 0)
