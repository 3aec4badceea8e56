"""``PUT /webhooks/v1/<shop key>/order-states`` (docs/webhooks.md): the shop declares every
status it has, so the merchant can choose any of them (command line and back-office) before an
order ever reaches it. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, post_event, sign, status_event
from flask import Flask
from sqlalchemy import func, select

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import OrderStateSync, ReviewRequest, Shop, ShopStatus
from kingavis.shops import rules
from kingavis.shops import settings as shop_settings
from webhooks.schemas import MAX_STATES

PROBLEM_BASE = "https://kingavis.dev/problems/"
RELAY = ("31", "Livré en point relais")


def state(status_id: str, name: str, **flags: Any) -> dict[str, Any]:
    return {"id": status_id, "name": name, **flags}


def body(*entries: dict[str, Any], timestamp: str | None = "2026-12-01T09:00:00Z",
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "order_states.synced", "data": {"states": list(entries)}, **extra}
    if timestamp is not None:
        out["timestamp"] = timestamp
    return out


PRESTASHOP = [
    state("1", "En attente de paiement par chèque", paid=False, shipped=False, delivered=False),
    state("2", "Paiement accepté", paid=True, shipped=False, delivered=False),
    state("4", "Expédié", paid=True, shipped=True, delivered=False),
    state("5", "Livré", paid=True, shipped=True, delivered=True),
    state("6", "Annulé", paid=False, shipped=False, delivered=False),
    state("7", "Remboursé", paid=True, shipped=False, delivered=False),
    state("8", "Erreur de paiement", paid=False, shipped=False, delivered=False),
    state(RELAY[0], RELAY[1], paid=True, shipped=True, delivered=True),
]


def put(client: Any, shop: Any, secret: str, payload: dict[str, Any] | bytes,
        webhook_id: str | None = None, **header_overrides: str) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = sign(secret, raw, webhook_id or new_webhook_id())
    headers.update(header_overrides)
    return client.put(f"/webhooks/v1/{shop.key}/order-states", data=raw, headers=headers)


def statuses(shop: Any) -> dict[str, tuple[str, bool | None, bool | None, bool | None, bool]]:
    """status id -> (name, paid, shipped, delivered, declared in the latest list)."""
    db.session.expire_all()
    rows = db.session.scalars(select(ShopStatus).where(ShopStatus.shop_id == shop.id)).all()
    out = {r.status_id: (r.name, r.paid, r.shipped, r.delivered, r.declared_at is not None)
           for r in rows}
    db.session.commit()
    return out


def stored() -> tuple[int, int]:
    counts = (db.session.scalar(select(func.count()).select_from(ShopStatus)),
              db.session.scalar(select(func.count()).select_from(OrderStateSync)))
    db.session.commit()
    return counts  # type: ignore[return-value]


def test_a_declared_list_adds_every_status_with_its_flags(client: Any) -> None:
    shop, secret = make_shop()
    answer = put(client, shop, secret, body(*PRESTASHOP))
    assert answer.status_code == 200
    assert answer.get_json() == {"states": len(PRESTASHOP)}
    known = statuses(shop)
    assert known[RELAY[0]] == (RELAY[1], True, True, True, True)
    assert known["5"] == ("Livré", True, True, True, True)
    # The rule pages list it with its name.
    assert (RELAY[0], RELAY[1]) in rules.status_options(shop)


def test_a_status_that_disappears_stays_only_if_a_rule_or_an_event_has_it(client: Any) -> None:
    shop, secret = make_shop()  # preset: trigger 5, cancels 6, 7, 8; statuses 1 to 12
    assert put(client, shop, secret, body(*PRESTASHOP, state("40", "Colis perdu"),
                                          state("41", "Retour reçu"), state("42", "En litige"),
                                          timestamp="2026-12-01T09:00:00Z")).status_code == 200
    # 41 becomes a cancel status; 42 reaches an order.
    shop_settings.configure(shop, None, cancel_status_ids=["6", "7", "8", "41"])
    assert post_event(client, shop, secret, status_event("77", "42", status_name="En litige"),
                      ).status_code == 202

    later = [s for s in PRESTASHOP if s["id"] not in ("6", "5")]
    answer = put(client, shop, secret, body(*later, timestamp="2026-12-02T09:00:00Z"))
    assert answer.status_code == 200
    known = statuses(shop)
    assert "40" not in known  # nothing uses it: removed
    assert known["41"][-1] is False  # a cancel status: kept, not declared any more
    assert known["42"][-1] is False  # an order has had it: kept
    assert known["5"][-1] is False and known["6"][-1] is False  # trigger and cancel: kept
    assert "3" not in known  # a preset status the shop does not have: removed
    assert known[RELAY[0]][-1] is True
    # Still accepted as trigger or cancel statuses.
    shop_settings.configure(shop, None, trigger_status_ids=["5", "42"])

    # A status seen in an event after that is added again.
    assert post_event(client, shop, secret, status_event("78", "40", status_name="Colis perdu"),
                      ).status_code == 202
    assert statuses(shop)["40"][0] == "Colis perdu"


def test_an_older_list_delivered_late_changes_nothing(client: Any) -> None:
    shop, secret = make_shop()
    assert put(client, shop, secret, body(*PRESTASHOP, timestamp="2026-12-02T09:00:00Z")
               ).status_code == 200
    before = statuses(shop)
    late = put(client, shop, secret, body(state("5", "Ancien nom"), timestamp="2026-12-01T09:00:00Z"))
    assert late.status_code == 200
    assert late.get_json() == {"states": 1, "ignored_stale": True}
    assert statuses(shop) == before


def test_the_same_webhook_id_replays_the_first_answer(client: Any) -> None:
    shop, secret = make_shop()
    first = put(client, shop, secret, body(*PRESTASHOP), webhook_id="msg_states_1")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    before = statuses(shop)
    again = put(client, shop, secret, body(state("5", "Autre")), webhook_id="msg_states_1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert statuses(shop) == before


def test_an_unknown_trigger_is_refused_naming_the_known_ones(app: Flask, client: Any) -> None:
    shop, secret = make_shop()
    key = shop.key
    assert put(client, shop, secret, body(*PRESTASHOP)).status_code == 200
    db.session.remove()
    result = app.test_cli_runner().invoke(
        args=["shops", "configure", key, "--trigger-status", "99"])
    db.session.remove()
    assert result.exit_code != 0
    assert "Unknown status for this shop: 99." in result.output
    assert "Known statuses: 1 (En attente de paiement par chèque), 2 (Paiement accepté)" in result.output
    assert f"{RELAY[0]} ({RELAY[1]})" in result.output


def test_a_declared_status_is_a_trigger_from_the_command_line(app: Flask, client: Any) -> None:
    """The merchant's own status, declared before any order reaches it, is chosen with
    ``shops configure`` and schedules the next order that reaches it."""
    shop, secret = make_shop()
    key = shop.key
    assert put(client, shop, secret, body(*PRESTASHOP)).status_code == 200
    db.session.remove()
    result = app.test_cli_runner().invoke(
        args=["shops", "configure", key, "--trigger-status", "5", "--trigger-status", RELAY[0]])
    db.session.remove()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rule"]["trigger_status_ids"] == ["5", RELAY[0]]

    shop = db.session.scalars(select(Shop).where(Shop.key == key)).one()
    answer = post_event(client, shop, secret, status_event("501", RELAY[0], status_name=RELAY[1]))
    assert answer.status_code == 202
    assert answer.get_json()["outcome"] == "scheduled"
    request = db.session.scalars(select(ReviewRequest)).one()
    assert request.trigger_status_id == RELAY[0] and request.state == "scheduled"


def test_the_rule_page_lists_and_accepts_a_declared_status(client: Any) -> None:
    shop, secret = make_shop()
    assert put(client, shop, secret, body(*PRESTASHOP)).status_code == 200
    create_user("zoe@example.com", "correct horse battery", shop)
    assert client.post("/admin/login", data={"email": "zoe@example.com",
                                             "password": "correct horse battery"}).status_code == 302
    rule = shop.active_rule
    page = client.get(f"/admin/shops/{shop.key}/settings/rules/{rule.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"{RELAY[1]} ({RELAY[0]})" in html and f'value="{RELAY[0]}"' in html

    saved = client.post(f"/admin/shops/{shop.key}/settings/rules/{rule.id}", data={
        "name": rule.name, "trigger_status_ids": [RELAY[0]], "delay_days": "3",
        "send_hour": "", "timezone": "Europe/Paris"})
    assert saved.status_code in (200, 302)
    db.session.expire_all()
    assert db.session.get(type(rule), rule.id).trigger_status_ids == [RELAY[0]]

    # The settings page lists it too and takes a declared status as a cancel status.
    assert put(client, shop, secret, body(*PRESTASHOP, state("40", "Colis perdu"),
                                          timestamp="2026-12-02T09:00:00Z")).status_code == 200
    settings = client.get(f"/admin/shops/{shop.key}/settings").get_data(as_text=True)
    assert "Colis perdu (40)" in settings
    saved = client.post(f"/admin/shops/{shop.key}/settings", data={
        "cancel_status_ids": ["6", "40"], "customer_window_days": "30"})
    assert saved.status_code in (200, 302)
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).cancel_status_ids == ["6", "40"]


# --------------------------------------------------------------------------- refusals


def _relay() -> dict[str, Any]:
    return state(*RELAY)


REFUSALS = {
    "duplicate": (body(state("5", "Livré"), state("5", "Livré bis")),
                  {"data.states.1.id": ["is already at index 0; list each status once"]}),
    "empty": (body(), {"data.states": [f"must list 1 to {MAX_STATES} statuses"]}),
    "too-many": (body(*[state(str(i), "S") for i in range(MAX_STATES + 1)]),
                 {"data.states": [f"must list 1 to {MAX_STATES} statuses"]}),
    "number-id": (body({"id": 5, "name": "Livré"}),
                  {"data.states.0.id": ['must be a string, e.g. "1234" (send ids as JSON strings, '
                                        'not numbers)']}),
    "blank-name": (body(state("5", "  ")), {"data.states.0.name": ["must not be blank"]}),
    "long-name": (body(state("5", "x" * 201)), {"data.states.0.name": ["must be 1 to 200 characters"]}),
    "long-id": (body(state("5" * 65, "Livré")), {"data.states.0.id": ["must be 1 to 64 characters"]}),
    "flag": (body(state("5", "Livré", delivered="yes")),
             {"data.states.0.delivered": ["must be true or false"]}),
    "type": ({**body(_relay()), "type": "order.status_changed"},
             {"type": ['must be "order_states.synced"']}),
    "not-a-list": ({"type": "order_states.synced", "data": {"states": {"5": "Livré"}}},
                   {"data.states": ["must be a list"]}),
}


@pytest.mark.parametrize("payload, errors", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_bad_list_is_refused_by_field_and_changes_nothing(client: Any, payload: dict[str, Any],
                                                            errors: dict[str, list[str]]) -> None:
    shop, secret = make_shop()
    before = stored()
    answer = put(client, shop, secret, payload)
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json(force=True)
    assert problem["type"] == PROBLEM_BASE + "validation-failed"
    assert problem["errors"] == errors
    assert stored() == before


def test_transport_refusals_are_the_webhooks_problems(client: Any) -> None:
    shop, secret = make_shop()
    before = stored()
    good = body(*PRESTASHOP)
    unsigned = client.put(f"/webhooks/v1/{shop.key}/order-states", json=good)
    assert unsigned.status_code == 401
    assert put(client, shop, "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", good).status_code == 401
    raw = json.dumps(good).encode()
    assert client.put("/webhooks/v1/shp_nobody/order-states", data=raw,
                      headers=sign(secret, raw, new_webhook_id())).status_code == 404
    assert put(client, shop, secret, good, **{"Content-Type": "text/plain"}).status_code == 415
    assert put(client, shop, secret, b"[1, 2]").status_code == 400
    assert put(client, shop, secret, b"{not json").status_code == 400
    huge = json.dumps(body(*[state(str(i), "x" * 200) for i in range(400)])).encode()
    assert len(huge) > 64 * 1024
    assert put(client, shop, secret, huge).status_code == 413
    # POST is not how a list is sent.
    assert client.post(f"/webhooks/v1/{shop.key}/order-states", data=raw,
                       headers=sign(secret, raw, new_webhook_id())).status_code == 405
    assert stored() == before


def test_too_many_lists_get_429(database_url: str, tmp_path: Any) -> None:
    from conftest import make_app

    app = make_app(database_url, tmp_path, WEBHOOK_RATE_LIMIT=2, WEBHOOK_RATE_WINDOW_SECONDS=60)
    with app.app_context():
        client = app.test_client()
        shop, secret = make_shop()
        answers = [put(client, shop, secret, body(*PRESTASHOP)) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        db.session.remove()
        db.engine.dispose()


def test_a_list_answers_503_while_the_database_is_down(database_url: str, tmp_path: Any) -> None:
    from conftest import make_app, unreachable

    down = make_app(unreachable(database_url, tmp_path), tmp_path)
    raw = json.dumps(body(*PRESTASHOP)).encode()
    response = down.test_client().put("/webhooks/v1/shp_abcdefghijklmnop/order-states", data=raw,
                                      headers=sign("whsec_" + "A" * 43 + "=", raw, "msg_down_1"))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    with down.app_context():
        db.engine.dispose()


def test_concurrent_deliveries_of_lists_and_events_lose_nothing(app: Flask) -> None:
    """The same list delivered twice at once is applied once; a list and an event with a new
    status at the same moment both end in the shop's list (real threads, real locks)."""
    from concurrency_helpers import run_together

    from kingavis.orders.events import apply_status_event
    from kingavis.orders.statuses import sync_declared_states
    from kingavis.shops.service import get_shop
    from webhooks.schemas import load_event, load_states

    shop, _ = make_shop()
    key = shop.key
    listed = load_states(body(*PRESTASHOP))
    event = load_event(status_event("900", "77", status_name="Statut d'un autre module"))
    results = run_together(app, [
        lambda: sync_declared_states(get_shop(key), listed, "msg_same"),
        lambda: sync_declared_states(get_shop(key), listed, "msg_same"),
        lambda: apply_status_event(get_shop(key), event, "msg_event"),
    ])
    assert sorted(r.replayed for r in results[:2]) == [False, True]
    assert results[0].body == results[1].body == {"states": len(PRESTASHOP)}
    assert results[2].status_code == 202
    assert db.session.scalar(select(func.count()).select_from(OrderStateSync)) == 1
    known = statuses(shop)
    assert known["77"][0] == "Statut d'un autre module"
    assert known[RELAY[0]][-1] is True
