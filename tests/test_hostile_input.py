"""Hostile input gets a 4xx and changes nothing, never a 5xx (the README tells modules to retry
5xx forever). On SQLite and PostgreSQL, which refuse different things.

Also: the webhook refuses the addresses the mailer would refuse (one shared rule).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_shop, post_event, status_event
from flask import Flask
from sqlalchemy import func, select

from kingavis.accounts.users import create_user
from kingavis.delivery.errors import InvalidMessageError
from kingavis.delivery.headers import recipient_address
from kingavis.emails import InvalidAddress, parse_address
from kingavis.extensions import db
from kingavis.models import Order, OrderEvent, ReviewRequest

PASSWORD = "correct horse battery"


def stored() -> tuple[int, int, int]:
    counts = tuple(
        db.session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Order, OrderEvent, ReviewRequest)
    )
    db.session.commit()
    return counts  # type: ignore[return-value]


def _raw_event(**changes: Any) -> str:
    body = status_event("1234", "5", email="zoe@example.com")
    text = json.dumps(body)
    for placeholder, value in changes.items():
        text = text.replace(json.dumps(placeholder), value)
    return text


# --- webhook body ---------------------------------------------------------------------------

HOSTILE_BODIES = {
    "1e400 in an unknown field": lambda b: b.replace('"data": {', '"data": {"extra": 1e400, ', 1),
    "-1e400 nested": lambda b: b.replace('"data": {', '"data": {"x": {"y": [1, -1e400]}, ', 1),
    "1e400 as a flag": lambda b: b.replace('"paid": true', '"paid": 1e400'),
    "lone surrogate in a name": lambda b: b.replace('"first_name": "Zo\\u00eb"',
                                                    '"first_name": "Zo\\ud800"'),
    "lone surrogate in an unknown field": lambda b: b.replace('"data": {',
                                                              '"data": {"note": "\\udfff", ', 1),
    "lone surrogate in a key": lambda b: b.replace('"data": {', '"data": {"\\ud800": 1, ', 1),
    "lone surrogate in the status id": lambda b: b.replace('"id": "5"', '"id": "\\ud83d"'),
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_unstorable_json_values_are_a_400_that_stores_nothing(
    client: Any, shop_and_secret: Any, name: str
) -> None:
    shop, secret = shop_and_secret
    raw = HOSTILE_BODIES[name](json.dumps(status_event("1234", "5", email="zoe@example.com")))
    assert raw != json.dumps(status_event("1234", "5", email="zoe@example.com")), "not applied"
    before = stored()
    response = post_event(client, shop, secret, raw.encode())
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/invalid-json")
    assert stored() == before


def test_nul_characters_in_strings_are_stored_safely_or_refused(
    client: Any, shop_and_secret: Any
) -> None:
    shop, secret = shop_and_secret
    body = status_event("1234", "5", email="zoe@example.com", first_name="Zo\x00ë",
                        reference="REF")
    body["data"]["unknown"] = "a\x00b"
    response = post_event(client, shop, secret, body)
    assert response.status_code == 202, response.get_data(as_text=True)
    order = db.session.execute(select(Order)).scalar_one()
    assert "\x00" not in (order.customer_first_name or "")
    event = db.session.execute(select(OrderEvent)).scalar_one()
    assert event.payload["data"]["unknown"] == "a\x00b"
    bad_id = status_event("12\x0034", "5")
    refused = post_event(client, shop, secret, bad_id)
    assert refused.status_code == 422
    assert "data.order.id" in refused.get_json()["errors"]


@pytest.mark.parametrize("key", ["abc%00", "%00", "shp_%00abc", "shp_\u00e9t\u00e9", "a" * 65])
def test_a_shop_key_no_shop_could_have_is_a_404(client: Any, shop_and_secret: Any,
                                                key: str) -> None:
    response = client.post(f"/webhooks/v1/{key}/order-status", data=b"{}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


# --- the same address rules as the mailer ------------------------------------------------------

REFUSED_ADDRESSES = [
    "a@[127.0.0.1]",
    '"a\\"b"@example.com',
    "=?utf-8?q?x?=@example.com",
    "a" * 65 + "@example.com",
    "zoe@localhost",
    "zoe@example..com",
    "Zoe <zoe@example.com>",
]


@pytest.mark.parametrize("email", REFUSED_ADDRESSES)
def test_the_webhook_refuses_an_address_the_mailer_refuses(
    client: Any, shop_and_secret: Any, email: str
) -> None:
    shop, secret = shop_and_secret
    with pytest.raises(InvalidMessageError):
        recipient_address(email)  # the mailer's side
    before = stored()
    response = post_event(client, shop, secret, status_event("1234", "5", email=email))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.get_json()["errors"]) == ["data.order.customer.email"]
    assert stored() == before


@pytest.mark.parametrize("email", ["zoe@example.com", "Zoe.Lukasiewicz+avis@Example.COM",
                                   "zoë@exämple.fr", "a" * 64 + "@example.com"])
def test_addresses_the_mailer_accepts_are_accepted(client: Any, shop_and_secret: Any,
                                                   email: str) -> None:
    shop, secret = shop_and_secret
    assert recipient_address(email).addr_spec
    response = post_event(client, shop, secret, status_event("1234", "5", email=email))
    assert response.status_code == 202, response.get_data(as_text=True)


def test_one_rule_for_both() -> None:
    for email in REFUSED_ADDRESSES:
        with pytest.raises(InvalidAddress):
            parse_address(email)
    mailbox = parse_address("zoë@exämple.fr")
    assert mailbox.domain == "xn--exmple-cua.fr" and mailbox.smtputf8


# --- customer pages and tracking --------------------------------------------------------------

@pytest.mark.parametrize("path", ["/c/abc%00", "/c/abc%00?to=review", "/o/abc%00.gif",
                                  "/r/abc%00", "/u/abc%00", "/c/" + "%00" * 20,
                                  "/o/" + "A" * 300 + ".gif", "/c/%ff%fe"])
def test_customer_links_with_hostile_tokens_are_404(client: Any, app: Flask, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, path


def test_hostile_query_on_customer_pages_is_a_4xx(client: Any, app: Flask) -> None:
    assert client.get("/c/" + "A" * 32 + "?to=%00").status_code == 400
    assert client.get("/u/" + "A" * 32 + "?x=%00").status_code == 400


# --- back-office query parameters --------------------------------------------------------------

@pytest.fixture
def merchant_client(app: Flask, client: Any) -> tuple[Any, Any]:
    shop, _ = make_shop("Boutique Zoë")
    create_user("marie.merchant@kingavis.example", PASSWORD, shop)
    response = client.post("/admin/login", data={"email": "marie.merchant@kingavis.example",
                                                  "password": PASSWORD})
    assert response.status_code == 302
    return client, shop


NUL_QUERIES = ["q=%00", "q=a%00b", "status=%00", "page=%00", "action=%00", "date_from=%00"]
OUT_OF_RANGE_QUERIES = ["page=99999999999999999999", "page=-99999999999999999999", "page=1e400",
                        "stale_days=99999999999999999999", "date_from=0001-01-01",
                        "date_to=9999-12-31", "q=" + "%F0%9F%98%80" * 400,
                        "due=99999999999999999999"]


@pytest.mark.parametrize("page", ["pending", "history", "orders", "reviews", "audit"])
def test_hostile_back_office_queries_are_a_4xx_never_a_5xx(merchant_client: Any,
                                                          page: str) -> None:
    client, shop = merchant_client
    for query in NUL_QUERIES:
        response = client.get(f"/admin/shops/{shop.key}/{page}?{query}")
        assert response.status_code == 400, query
    for query in OUT_OF_RANGE_QUERIES:
        response = client.get(f"/admin/shops/{shop.key}/{page}?{query}")
        assert response.status_code in (200, 400), query


def test_ids_beyond_the_database_range_are_404(merchant_client: Any) -> None:
    client, shop = merchant_client
    for path in ("orders/99999999999999999999", "orders/2147483648", "orders/2147483647",
                 "orders/-1", "settings/rules/99999999999999999999"):
        assert client.get(f"/admin/shops/{shop.key}/{path}").status_code == 404, path


def test_nul_in_a_back_office_form_is_a_400(merchant_client: Any) -> None:
    client, shop = merchant_client
    response = client.post(f"/admin/shops/{shop.key}/settings/rules/new",
                           data={"name": "R\x00", "delay_days": "3", "timezone": "Europe/Paris",
                                 "trigger_status_ids": "5"})
    assert response.status_code == 400
