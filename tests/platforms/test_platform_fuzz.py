"""Fuzzing the Shopify and WooCommerce endpoints (hypothesis): any signed body, any topic, any
value in any field of the platforms' own payloads is answered without a 5xx or a traceback,
and a well-signed delivery is never refused for its content (platforms disable webhooks that
keep failing)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_helpers import fixture, platform_shop, post_shopify, post_woocommerce, wc_body

from kingavis.platforms import shopify, woocommerce

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
SHOPIFY_BODIES = ["shopify_order", "shopify_fulfillment_event", "shopify_refund",
                  "shopify_customers_redact", "shopify_customers_data_request",
                  "shopify_shop_redact"]
SHOPIFY_TOPICS = st.sampled_from([*shopify.TOPICS, "products/update", "", "orders/../x"])
WOO_TOPICS = st.sampled_from([*woocommerce.TOPICS, "order.restored", "product.updated", ""])
EXAMPLES = 60
# Answers a signed delivery may get: accepted, ignored or replayed, or a problem about the
# request itself (rate, content type, not JSON); never 401 (it is signed), never a 5xx.
SIGNED_ANSWERS = {200, 202, 400, 415, 429}


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture
def tracebacks() -> Iterator[_Tracebacks]:
    handler = _Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _mutate(body: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """``body`` with the field at ``path`` (as deep as it exists) replaced by ``value``."""
    node = body
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            break
        node = child
    node[path[-1]] = value
    return body


PATHS = st.sampled_from([
    ["id"], ["email"], ["updated_at"], ["created_at"], ["financial_status"], ["cancelled_at"],
    ["fulfillments"], ["line_items"], ["customer", "email"], ["customer"], ["status"],
    ["happened_at"], ["order_id"], ["date_modified_gmt"], ["billing", "email"], ["billing"],
    ["number"], ["name"], ["customer_locale"], ["data_request"], ["date_paid_gmt"],
])


def test_shopify_endpoint_survives_hostile_signed_deliveries(app: Flask, tracebacks: _Tracebacks) -> None:
    shop, secret = platform_shop("shopify")
    client = app.test_client()

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(name=st.sampled_from(SHOPIFY_BODIES), topic=SHOPIFY_TOPICS, path=PATHS,
           value=JSON_VALUES)
    def run(name: str, topic: str, path: list[str], value: Any) -> None:
        body = json.dumps(_mutate(fixture(name), path, value)).encode()
        response = post_shopify(client, shop, secret, topic, body)
        assert response.status_code in SIGNED_ANSWERS, (response.status_code, response.get_data())

    run()
    assert not tracebacks.records


def test_woocommerce_endpoint_survives_hostile_signed_deliveries(app: Flask, tracebacks: _Tracebacks) -> None:
    shop, secret = platform_shop("woocommerce")
    client = app.test_client()

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(topic=WOO_TOPICS, path=PATHS, value=JSON_VALUES)
    def run(topic: str, path: list[str], value: Any) -> None:
        body = wc_body(_mutate(fixture("woocommerce_order"), path, value))
        response = post_woocommerce(client, shop, secret, topic, body)
        assert response.status_code in SIGNED_ANSWERS, (response.status_code, response.get_data())

    run()
    assert not tracebacks.records


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_unsigned_or_garbled_requests_never_get_a_5xx(app: Flask, tracebacks: _Tracebacks,
                                                      platform: str) -> None:
    shop, _ = platform_shop(platform)
    client = app.test_client()
    header_names = ["X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Event-Id",
                    "X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-Delivery-ID",
                    "Content-Type"]

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(body=st.binary(max_size=300),
           headers=st.dictionaries(st.sampled_from(header_names),
                                   st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                           max_size=60), max_size=5))
    def run(body: bytes, headers: dict[str, str]) -> None:
        response = client.post(f"/webhooks/v1/{shop.key}/{platform}", data=body, headers=headers)
        assert response.status_code < 500
        if response.status_code != 401:  # only WooCommerce's ping passes unsigned
            assert platform == "woocommerce" and response.get_json() == {"outcome": "ping"}

    run()
    assert not tracebacks.records
