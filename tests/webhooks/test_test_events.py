"""Test events (docs/webhooks.md): a body with ``"test": true`` on the order-status, customer-
erasure and order-states webhooks is checked exactly like a real one (signature, schema,
replay) and answered 200, but nothing at all is stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, post_event, sign, status_event
from jsonschema import Draft202012Validator
from personal_data_helpers import EMAIL, make_customer
from sqlalchemy import text

from kingavis.extensions import db
from webhooks.views import OPENAPI_PATH

DOC: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


def documented(path: str, method: str, value: Any) -> None:
    """``value`` matches the 200 answer the OpenAPI document describes for that operation."""
    schema = DOC["paths"][f"/webhooks/v1/{{shop_key}}/{path}"][method]["responses"]["200"][
        "content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": DOC["components"]}).validate(value)


def every_row() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read on a connection of its own."""
    db.session.commit()  # end this session's transaction (SQLite: one writer at a time)
    with db.engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(str(v) for v in row)
                 for row in conn.execute(text(f'SELECT * FROM "{table.name}"'))),  # noqa: S608
            )
            for table in db.metadata.sorted_tables
        }


def post(client: Any, shop: Any, secret: str, path: str, payload: dict[str, Any] | bytes,
         webhook_id: str | None = None, method: str = "post") -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = sign(secret, raw, webhook_id or new_webhook_id())
    return getattr(client, method)(f"/webhooks/v1/{shop.key}/{path}", data=raw, headers=headers)


def erasure(email: str = EMAIL, **extra: Any) -> dict[str, Any]:
    return {"type": "customer.erasure_requested", "timestamp": "2026-11-30T09:00:00Z",
            "data": {"customer": {"email": email}}, **extra}


def states(*entries: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"type": "order_states.synced", "timestamp": "2026-12-01T09:00:00Z",
            "data": {"states": [{"id": i, "name": n, "paid": True} for i, n in entries]}, **extra}


def test_a_test_status_event_is_answered_and_nothing_is_stored(client: Any) -> None:
    shop, secret = make_shop()
    # The order exists with another customer: a test event must not overwrite it.
    assert post_event(client, shop, secret, status_event("1234", "4", email="vraie@example.com",
                                                         status_name="Expédié")).status_code == 202
    before = every_row()

    body = status_event("1234", "5", email="client@example.com", first_name="Zoé",
                        status_name="Un statut jamais vu")
    answer = post_event(client, shop, secret, {**body, "test": True}, webhook_id="msg_test_a")
    assert answer.status_code == 200
    assert answer.get_json() == {"webhook_id": "msg_test_a", "order_id": "1234",
                                 "outcome": "test", "review_request": None}
    assert "Idempotent-Replayed" not in answer.headers
    documented("order-status", "post", answer.get_json())
    # No order, customer, request, timeline row or status learnt.
    assert every_row() == before

    # The same webhook id again: the same answer, still nothing stored.
    again = post_event(client, shop, secret, {**body, "test": True}, webhook_id="msg_test_a")
    assert (again.status_code, again.get_json()) == (200, answer.get_json())
    assert every_row() == before

    # A trigger status in a test event schedules nothing either.
    trigger = post_event(client, shop, secret, {**status_event("99", "5"), "test": True})
    assert trigger.get_json()["outcome"] == "test"
    assert every_row() == before


def test_a_test_event_is_checked_like_a_real_one(client: Any) -> None:
    shop, secret = make_shop()
    before = every_row()
    event = {**status_event(), "test": True}

    unsigned = client.post(f"/webhooks/v1/{shop.key}/order-status", json=event)
    assert unsigned.status_code == 401
    wrong_secret = post_event(client, shop, "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", event)
    assert wrong_secret.status_code == 401
    invalid = {**status_event(email="pas-une-adresse"), "test": True}
    refused = post_event(client, shop, secret, invalid)
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["data.order.customer.email"]
    raw = json.dumps(event).encode()
    headers = sign(secret, raw, new_webhook_id())
    headers["Content-Type"] = "text/plain"
    assert client.post(f"/webhooks/v1/{shop.key}/order-status", data=raw,
                       headers=headers).status_code == 415
    assert client.post("/webhooks/v1/shp_nobody/order-status", data=raw,
                       headers=sign(secret, raw, new_webhook_id())).status_code == 404
    assert every_row() == before


@pytest.mark.parametrize("value", ["true", 1, None, "yes"])
def test_the_test_flag_is_a_json_boolean(client: Any, value: Any) -> None:
    shop, secret = make_shop()
    before = every_row()
    refused = post_event(client, shop, secret, {**status_event(), "test": value})
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {"test": ["must be true or false"]}
    assert every_row() == before


def test_test_false_is_a_real_event(client: Any) -> None:
    shop, secret = make_shop()
    answer = post_event(client, shop, secret, {**status_event(), "test": False})
    assert answer.status_code == 202
    assert answer.get_json()["outcome"] == "scheduled"


def test_a_test_event_reusing_a_real_events_id_is_a_replay(client: Any) -> None:
    shop, secret = make_shop()
    first = post_event(client, shop, secret, status_event(), webhook_id="msg_real_1")
    assert first.status_code == 202
    before = every_row()
    replay = post_event(client, shop, secret, {**status_event(), "test": True},
                        webhook_id="msg_real_1")
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    assert every_row() == before


def test_a_test_erasure_erases_nothing(client: Any) -> None:
    shop, secret = make_shop()
    make_customer(shop)
    before = every_row()

    answer = post(client, shop, secret, "customer-erasure", erasure(test=True),
                  webhook_id="msg_erase_test")
    assert answer.status_code == 200
    assert answer.get_json() == {"webhook_id": "msg_erase_test", "test": True, "erased": {
        "orders": 0, "review_requests_cancelled": 0, "reviews_withdrawn": 0}}
    documented("customer-erasure", "post", answer.get_json())
    again = post(client, shop, secret, "customer-erasure", erasure(test=True),
                 webhook_id="msg_erase_test")
    assert (again.status_code, again.get_json()) == (200, answer.get_json())
    assert every_row() == before

    # Checked like a real one: a bad address is refused the same way.
    refused = post(client, shop, secret, "customer-erasure", erasure("pas-une-adresse", test=True))
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["data.customer.email"]
    assert post(client, shop, "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "customer-erasure",
                erasure(test=True)).status_code == 401
    assert every_row() == before

    # The real erasure afterwards still finds everything.
    real = post(client, shop, secret, "customer-erasure", erasure())
    assert real.status_code == 202 and real.get_json()["erased"]["orders"] == 3


def test_a_test_state_list_changes_no_status(client: Any) -> None:
    shop, secret = make_shop()
    before = every_row()
    answer = post(client, shop, secret, "order-states",
                  states(("5", "Livré"), ("31", "Livré en point relais"), test=True),
                  webhook_id="msg_states_test", method="put")
    assert answer.status_code == 200
    assert answer.get_json() == {"states": 2, "test": True}
    documented("order-states", "put", answer.get_json())
    again = post(client, shop, secret, "order-states",
                 states(("5", "Livré"), ("31", "Livré en point relais"), test=True),
                 webhook_id="msg_states_test", method="put")
    assert (again.status_code, again.get_json()) == (200, answer.get_json())
    refused = post(client, shop, secret, "order-states",
                   states(("5", "Livré"), ("5", "Encore"), test=True), method="put")
    assert refused.status_code == 422
    assert every_row() == before
