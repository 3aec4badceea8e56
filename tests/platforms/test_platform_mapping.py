"""The pure mapping of platform payloads (kingavis.platforms): statuses, items, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import ean

from kingavis.platforms import items, shopify, woocommerce
from kingavis.platforms.mapping import Ignore, StatusChange

ITEM_KEYS = {"product_id", "variant_id", "name", "reference", "gtin", "mpn", "brand", "url",
             "image_url", "quantity"}


@pytest.mark.parametrize("order, expected", [
    ({"financial_status": "pending"}, ("pending", False, False)),
    ({"financial_status": "authorized"}, ("pending", False, False)),
    ({"financial_status": "paid"}, ("paid", True, False)),
    ({"financial_status": "paid", "fulfillment_status": "partial"}, ("paid", True, False)),
    ({"financial_status": "paid", "fulfillment_status": "fulfilled"}, ("fulfilled", True, True)),
    ({"financial_status": "pending", "fulfillment_status": "fulfilled"}, ("fulfilled", False, True)),
    ({"financial_status": "paid", "fulfillments": [{"shipment_status": "in_transit"},
                                                   {"shipment_status": "delivered"}]},
     ("delivered", True, True)),
    ({"financial_status": "partially_refunded", "fulfillments": [{"shipment_status": "delivered"}]},
     ("delivered", True, True)),
    ({"financial_status": "refunded", "fulfillments": [{"shipment_status": "delivered"}]},
     ("refunded", None, False)),
    ({"financial_status": "paid", "cancelled_at": "2026-11-20T10:00:00Z"}, ("cancelled", None, False)),
    ({"financial_status": "voided"}, ("cancelled", None, False)),
])
def test_shopify_status_the_strongest_fact_wins(order, expected):
    assert shopify.order_status(order) == expected


def test_shopify_fulfilment_event_changed_at_is_happened_at():
    action = shopify.action_for("fulfillment_events/create", {
        "order_id": 7, "status": "delivered", "happened_at": "2026-11-20T14:30:00+01:00",
        "created_at": "2026-11-21T09:00:00+01:00"}, language="en", require_consent=False)
    assert isinstance(action, StatusChange)
    assert action.changed_at == datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    assert action.customer is None and action.status_name == "Delivered"


def test_woocommerce_changed_at_is_date_modified_gmt_read_as_utc():
    action = woocommerce.action_for("order.updated", {
        "id": 9, "status": "completed", "date_modified_gmt": "2026-11-20T23:30:00",
        "date_modified": "2026-11-21T00:30:00", "billing": {"email": "a@example.com"}},
        language="fr", received_at=datetime.now(UTC))
    assert isinstance(action, StatusChange)
    assert action.changed_at == datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert (action.status_id, action.status_name, action.paid, action.shipped) == (
        "completed", "Terminée", True, True)


@pytest.mark.parametrize("slug, paid_date, flags", [
    ("pending", None, (False, False)), ("on-hold", None, (False, False)),
    ("failed", None, (False, False)), ("processing", None, (True, False)),
    ("completed", None, (True, True)), ("refunded", None, (None, None)),
    ("awaiting-shipment", None, (None, None)),
    ("awaiting-shipment", datetime(2026, 1, 1, tzinfo=UTC), (True, None)),
])
def test_woocommerce_status_flags(slug, paid_date, flags):
    assert woocommerce.status_flags(slug, paid_date) == flags


def test_woocommerce_order_without_a_status_or_id_is_ignored():
    now = datetime.now(UTC)
    assert isinstance(woocommerce.action_for("order.updated", {"id": 0}, language="fr",
                                             received_at=now), Ignore)
    assert woocommerce.action_for("order.updated", {"id": 5, "status": "Not A Slug!"},
                                  language="fr", received_at=now) == Ignore("no_status", "5")


@pytest.mark.parametrize("barcode, gtin", [
    ("4006381333931", "4006381333931"),      # EAN-13
    ("400-6381 333931", "4006381333931"),    # spaces and hyphens dropped
    ("036000291452", "036000291452"),        # UPC-A
    ("10036000291459", "10036000291459"),    # GTIN-14
    ("9780306406157", "9780306406157"),      # ISBN-13
    (4006381333931, "4006381333931"),        # a JSON number
    ("4006381333932", None),                 # wrong check digit
    ("96385074", None),                      # EAN-8: not one the event takes
    ("ABC-123", None), ("", None), (None, None), (True, None),
])
def test_barcode_is_a_gtin_only_with_a_right_check_digit(barcode, gtin):
    assert items.clean_gtin(barcode) == gtin


def test_item_has_only_the_event_item_keys_and_skips_unusable_lines():
    assert items.item(product_id=None, name="x") is None
    assert items.item(product_id=0, name="x") is None  # WooCommerce: a deleted product
    assert items.item(product_id=5, name="  ") is None
    found = items.item(product_id=632910392, variant_id=0, name="Robe\nen lin", reference="RL-38",
                       gtin="3760123450010", brand="Atelier Zoë", url="javascript:alert(1)",
                       image_url="https://cdn.example.com/robe.jpg", quantity=2)
    assert found == {"product_id": "632910392", "name": "Robe en lin", "reference": "RL-38",
                     "gtin": "3760123450010", "brand": "Atelier Zoë",
                     "image_url": "https://cdn.example.com/robe.jpg", "quantity": 2}


@given(st.lists(st.dictionaries(
    st.sampled_from(["product_id", "variant_id", "title", "name", "sku", "barcode", "vendor",
                     "quantity", "image", "product_url"]),
    st.none() | st.booleans() | st.integers() | st.text(max_size=300)
    | st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)),
    max_size=120))
# Up to 120 lines is a large input: generating it is slow on a busy machine, which is not a fault.
@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_any_shopify_line_items_map_to_valid_event_items(lines):
    mapped = shopify.line_items({"line_items": lines})
    assert len(mapped) <= items.MAX_ITEMS
    for item in mapped:
        assert set(item) <= ITEM_KEYS
        assert isinstance(item["product_id"], str) and 0 < len(item["product_id"]) <= 64
        assert isinstance(item["name"], str) and 0 < len(item["name"]) <= 200
        if "gtin" in item:
            assert ean.is_valid(item["gtin"]) and len(item["gtin"]) in (12, 13, 14)
        if "quantity" in item:
            assert isinstance(item["quantity"], int) and item["quantity"] > 0
        for key in ("reference", "brand", "url", "image_url", "variant_id"):
            if key in item:
                assert isinstance(item[key], str) and item[key].strip() == item[key]


def test_the_mapping_keeps_within_the_order_status_webhooks_limits() -> None:
    """A platform's item must never make its whole event a 422 (the platform would retry it
    forever): every limit the mapping cuts at is at most the webhook schema's."""
    from kingavis.platforms import items
    from webhooks import schemas

    assert items.MAX_ITEMS == schemas.MAX_ITEMS
    assert items.MAX_ID <= schemas.MAX_ID
    assert items.MAX_NAME <= schemas.MAX_PRODUCT_NAME
    assert min(schemas.MAX_REFERENCE, schemas.MAX_MPN) >= items.MAX_CODE
    assert items.MAX_BRAND <= schemas.MAX_BRAND
    assert items.MAX_URL <= schemas.MAX_URL
