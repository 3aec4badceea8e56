"""``POST /webhooks/v1/<shop key>/customer-erasure`` (docs/personal-data.md): signed, checked, problems and
replay exactly as the order-status webhook, and described in webhooks/openapi.json."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, sign
from jsonschema import Draft202012Validator, FormatChecker
from marshmallow import ValidationError
from personal_data_helpers import EMAIL, make_customer
from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import Erasure, Order, ReviewRequest
from webhooks.schemas import CustomerErasureSchema, flatten_errors
from webhooks.views import OPENAPI_PATH

DOC: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
OPERATION = DOC["paths"]["/webhooks/v1/{shop_key}/customer-erasure"]["post"]
REQUEST = OPERATION["requestBody"]
EXAMPLES = REQUEST["content"]["application/json"]["examples"]
INVALID = REQUEST["x-invalid-examples"]


def body(email: str = EMAIL, **extra: Any) -> dict[str, Any]:
    return {"type": "customer.erasure_requested", "timestamp": "2026-11-30T09:00:00Z",
            "data": {"customer": {"email": email}}, **extra}


def post(client: Any, shop: Any, secret: str, payload: dict[str, Any] | bytes,
         webhook_id: str | None = None, headers: dict[str, str] | None = None) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = sign(secret, raw, webhook_id or new_webhook_id())
    all_headers.update(headers or {})
    return client.post(f"/webhooks/v1/{shop.key}/customer-erasure", data=raw, headers=all_headers)


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": DOC["components"]},
                                format_checker=FormatChecker())


def live_orders() -> int:
    db.session.expire_all()
    return int(db.session.execute(
        select(func.count()).select_from(Order).where(Order.customer_email.is_not(None))).scalar_one())


def test_erasure_is_accepted_then_replayed_unchanged(client: Any) -> None:
    shop, secret = make_shop()
    make_customer(shop)

    first = post(client, shop, secret, body(EMAIL.upper()), webhook_id="msg_erase_1")
    assert first.status_code == 202
    assert first.get_json() == {"webhook_id": "msg_erase_1", "erased": {
        "orders": 3, "review_requests_cancelled": 2, "reviews_withdrawn": 1}}
    assert "Idempotent-Replayed" not in first.headers
    validator(OPERATION["responses"]["202"]["content"]["application/json"]["schema"]).validate(
        first.get_json())

    again = post(client, shop, secret, body(EMAIL), webhook_id="msg_erase_1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert db.session.execute(select(func.count()).select_from(Erasure)).scalar_one() == 1

    # A new webhook id is a new erasure: nothing left to erase.
    other = post(client, shop, secret, body(EMAIL), webhook_id="msg_erase_2")
    assert other.status_code == 202
    assert other.get_json()["erased"] == {"orders": 0, "review_requests_cancelled": 0,
                                          "reviews_withdrawn": 0}


def test_a_bad_signature_is_refused_and_nothing_is_erased(client: Any) -> None:
    shop, secret = make_shop()
    other_shop, other_secret = make_shop("Autre boutique")
    make_customer(shop)
    before = live_orders()

    raw = json.dumps(body()).encode()
    headers = sign(secret, raw, new_webhook_id())
    tampered = client.post(f"/webhooks/v1/{shop.key}/customer-erasure",
                           data=raw.replace(b"zoeline", b"zoelinx"), headers=headers)
    unsigned = client.post(f"/webhooks/v1/{shop.key}/customer-erasure", json=body())
    # Signed with another shop's secret.
    wrong_secret = post(client, shop, other_secret, body())
    old = client.post(f"/webhooks/v1/{shop.key}/customer-erasure", data=raw,
                      headers=sign(secret, raw, new_webhook_id(), timestamp=1_000_000_000))

    for response in (tampered, unsigned, wrong_secret, old):
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.get_json(force=True)["type"].endswith("invalid-signature")
    assert live_orders() == before
    assert db.session.execute(select(Erasure)).first() is None
    assert {r.state for r in db.session.query(ReviewRequest)} == {"sent", "scheduled", "sending"}
    assert other_shop.id != shop.id


@pytest.mark.parametrize("payload, fields", [
    ({"type": "customer.erasure_requested", "data": {"customer": {}}}, ["data.customer.email"]),
    ({"type": "customer.erasure_requested", "data": {"customer": {"email": "zoe.example.com"}}},
     ["data.customer.email"]),
    ({"type": "customer.erasure_requested", "data": {"customer": {"email": 42}}},
     ["data.customer.email"]),
    ({"type": "order.status_changed", "data": {"customer": {"email": EMAIL}}}, ["type"]),
    ({"type": "customer.erasure_requested"}, ["data"]),
    ({"type": "customer.erasure_requested", "data": {"customer": "zoe"}}, ["data.customer"]),
    ({"type": "customer.erasure_requested", "timestamp": "2026-11-30T09:00:00",
      "data": {"customer": {"email": EMAIL}}}, ["timestamp"]),
    ({"type": "customer.erasure_requested", "data": {"customer": {"email": "zoe@example.com\n"}}},
     ["data.customer.email"]),
], ids=["missing-email", "bad-email", "email-number", "wrong-type", "no-data", "customer-string",
        "naive-timestamp", "line-break"])
def test_bad_bodies_are_422_naming_the_field(client: Any, payload: dict[str, Any],
                                            fields: list[str]) -> None:
    shop, secret = make_shop()
    make_customer(shop)
    before = live_orders()
    response = post(client, shop, secret, payload)
    assert response.status_code == 422
    problem = response.get_json(force=True)
    assert sorted(problem["errors"]) == sorted(fields)
    assert live_orders() == before
    assert db.session.execute(select(Erasure)).first() is None


def test_other_checks_answer_as_the_order_status_webhook(client: Any) -> None:
    shop, secret = make_shop()
    assert client.post("/webhooks/v1/shp_nope/customer-erasure", json=body()).status_code == 404
    raw = json.dumps(body()).encode()
    text_plain = post(client, shop, secret, raw, headers={"Content-Type": "text/plain"})
    assert text_plain.status_code == 415
    not_json = post(client, shop, secret, b"{not json")
    assert not_json.status_code == 400
    array = post(client, shop, secret, b"[]")
    assert array.status_code == 400
    big = post(client, shop, secret, b" " * (64 * 1024 + 1))
    assert big.status_code == 413


def test_the_rate_limit_is_the_webhook_one(client: Any) -> None:
    client.application.config["WEBHOOK_RATE_LIMIT"] = 1
    shop, secret = make_shop()
    statuses = [post(client, shop, secret, body(f"nobody{i}@example.com")).status_code
                for i in range(5)]
    assert 429 in statuses
    limited = next(r for r in (post(client, shop, secret, body()) for _ in range(3))
                   if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1


# --------------------------------------------------------------------------- the description


def test_the_openapi_document_describes_the_erasure_endpoint() -> None:
    assert set(OPERATION["responses"]) == {"200", "202", "400", "401", "404", "413", "415", "422", "429"}
    headers = {p["name"] for p in OPERATION["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "Idempotent-Replayed" in OPERATION["responses"]["200"]["headers"]
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", EXAMPLES)
def test_request_examples_load_with_the_endpoint_schema(name: str) -> None:
    value = EXAMPLES[name]["value"]
    loaded = CustomerErasureSchema().load(copy.deepcopy(value))
    assert loaded["data"]["customer"]["email"] == value["data"]["customer"]["email"]
    validator(REQUEST["content"]["application/json"]["schema"]).validate(value)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_examples_are_refused_on_the_listed_paths(name: str) -> None:
    example = INVALID[name]
    with pytest.raises(ValidationError) as caught:
        CustomerErasureSchema().load(copy.deepcopy(example["value"]))
    assert sorted(flatten_errors(caught.value.messages)) == sorted(example["x-expected-errors"])
    assert not validator(REQUEST["content"]["application/json"]["schema"]).is_valid(example["value"])


def test_response_examples_match_their_schemas() -> None:
    for status, response in OPERATION["responses"].items():
        for content in response.get("content", {}).values():
            for example in content.get("examples", {}).values():
                validator(content["schema"]).validate(example["value"])
                if "status" in example["value"]:
                    assert example["value"]["status"] == int(status)
