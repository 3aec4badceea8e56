"""The event service called without the webhook (no raw body): what it keeps of the event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from delivery_helpers import event
from factories import make_shop, new_webhook_id
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import OrderEvent
from kingavis.orders.events import apply_status_event
from kingavis.personal_data.erasure import erase_customer
from kingavis.personal_data.export import export_customer

CHANGED = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def test_without_a_raw_body_the_event_itself_is_kept_as_json(app) -> None:
    shop, _ = make_shop()
    body = event("1", "5", CHANGED, email="zoe@example.com",
                 previous_status={"id": "4", "name": "Expédié"},
                 parcels=[{"carrier": "colissimo", "delivered_at": CHANGED}, "note"])
    result = apply_status_event(shop, body, new_webhook_id())
    assert result.body["outcome"] == "scheduled"

    db.session.expire_all()
    stored = db.session.execute(select(OrderEvent)).scalar_one()
    assert stored.previous_status_id == "4"
    payload = stored.payload
    assert payload["data"]["changed_at"] == "2026-11-20T15:30:00+00:00"
    assert payload["data"]["previous_status"] == {"id": "4", "name": "Expédié"}
    assert payload["data"]["parcels"] == [
        {"carrier": "colissimo", "delivered_at": "2026-11-20T15:30:00+00:00"}, "note"]
    assert payload["data"]["order"]["customer"]["email"] == "zoe@example.com"
    assert payload["data"]["status"] == {"id": "5", "name": "Livré", "paid": True}


def _order_export(shop, email: str) -> dict:
    db.session.rollback()
    (order,) = export_customer(shop, email)["orders"]
    return order


def test_the_order_is_what_its_newest_event_says_and_keeps_what_later_ones_omit(app) -> None:
    """The customer's data export (docs/personal-data.md) shows the order as the events described it."""
    shop, _ = make_shop()
    placed = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    apply_status_event(shop, event("1", "3", CHANGED - timedelta(days=2), email="zoe@example.com",
                                   first_name="Zoë", last_name="Łukasiewicz", locale="fr",
                                   consent=True, reference="REF-A", placed_at=placed),
                       new_webhook_id())
    order = _order_export(shop, "zoe@example.com")
    assert (order["reference"], order["placed_at"]) == ("REF-A", "2026-11-02T09:00:00Z")
    assert order["customer"] == {"email": "zoe@example.com", "first_name": "Zoë",
                                 "last_name": "Łukasiewicz", "locale": "fr",
                                 "review_consent": True}

    # The newest event changes each detail it carries, the address included.
    apply_status_event(shop, event("1", "4", CHANGED - timedelta(days=1),
                                   email="Zoe.Martin@example.com", first_name="Zoé",
                                   last_name="Martin", locale="en", consent=False,
                                   reference="REF-B", placed_at=placed + timedelta(hours=1),
                                   status_name="Expédié", paid=True),
                       new_webhook_id())
    order = _order_export(shop, "zoe.martin@example.com")
    assert (order["reference"], order["placed_at"]) == ("REF-B", "2026-11-02T10:00:00Z")
    assert order["customer"] == {"email": "Zoe.Martin@example.com", "first_name": "Zoé",
                                 "last_name": "Martin", "locale": "en", "review_consent": False}
    assert order["latest_status"] == {"id": "4", "name": "Expédié", "paid": True,
                                      "changed_at": "2026-11-19T15:30:00Z"}

    # An event that omits them keeps what was known; its status is recorded all the same.
    apply_status_event(shop, event("1", "5", CHANGED, email="Zoe.Martin@example.com",
                                   first_name=None, last_name=None, locale=None, consent=None,
                                   reference=None, status_name="Livré", paid=False),
                       new_webhook_id())
    order = _order_export(shop, "zoe.martin@example.com")
    assert (order["reference"], order["placed_at"]) == ("REF-B", "2026-11-02T10:00:00Z")
    assert order["customer"] == {"email": "Zoe.Martin@example.com", "first_name": "Zoé",
                                 "last_name": "Martin", "locale": "en", "review_consent": False}
    assert order["latest_status"] == {"id": "5", "name": "Livré", "paid": False,
                                      "changed_at": "2026-11-20T15:30:00Z"}

    # An older event arriving late changes nothing of the order.
    result = apply_status_event(shop, event("1", "2", CHANGED - timedelta(days=3),
                                            email="late@example.com", first_name="Late",
                                            reference="REF-OLD"),
                                new_webhook_id())
    assert result.body["outcome"] == "ignored_stale"
    assert _order_export(shop, "zoe.martin@example.com")["reference"] == "REF-B"


def test_an_order_described_again_after_its_erasure_is_no_longer_erased(app) -> None:
    shop, _ = make_shop()
    apply_status_event(shop, event("1", "3", CHANGED - timedelta(days=1), email="zoe@example.com"),
                       new_webhook_id())
    erase_customer(shop, "zoe@example.com", source="cli")
    # The shop sends the order again: it holds personal data again, like any other order.
    apply_status_event(shop, event("1", "4", CHANGED, email="zoe@example.com", first_name="Zoë"),
                       new_webhook_id())
    order = _order_export(shop, "zoe@example.com")
    assert order["erased_at"] is None
    assert order["customer"]["first_name"] == "Zoë"


def test_each_event_and_its_decision_are_kept_as_received(app) -> None:
    """The export (docs/personal-data.md) lists each event as received and the timeline of the request."""
    shop, _ = make_shop()
    received = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    first = apply_status_event(
        shop, event("1", "4", CHANGED - timedelta(days=1), email="zoe@example.com",
                    status_name="Expédié", paid=True, shipped=True),
        "msg_first", now=received)
    delivered = apply_status_event(
        shop, event("1", "5", CHANGED, email="zoe@example.com", status_name="Livré", paid=None,
                    previous_status={"id": "4", "name": "Expédié"}),
        "msg_delivered", now=received + timedelta(minutes=5))
    late = apply_status_event(
        shop, event("1", "3", CHANGED - timedelta(days=2), email="zoe@example.com"),
        "msg_late", now=received + timedelta(minutes=10))
    assert delivered.body["outcome"] == "scheduled"

    order = _order_export(shop, "zoe@example.com")
    shown = [(e["webhook_id"], e["status"], e["previous_status_id"], e["changed_at"],
              e["received_at"], e["stale"], e["outcome"]) for e in order["events"]]
    assert shown == [
        ("msg_first", {"id": "4", "name": "Expédié", "paid": True, "shipped": True}, None,
         "2026-11-19T15:30:00Z", "2026-11-21T08:00:00Z", False, "recorded"),
        ("msg_delivered", {"id": "5", "name": "Livré", "paid": None, "shipped": None}, "4",
         "2026-11-20T15:30:00Z", "2026-11-21T08:05:00Z", False, "scheduled"),
        ("msg_late", {"id": "3", "name": "En cours de préparation", "paid": True,
                      "shipped": None}, None,
         "2026-11-18T15:30:00Z", "2026-11-21T08:10:00Z", True, "ignored_stale"),
    ]
    assert [e["response"] for e in order["events"]] == [first.body, delivered.body, late.body]
    # The delivered event's decision, on the request's timeline: what, when, by whom.
    request = order["review_request"]
    assert request["timeline"][0] == {
        "at": "2026-11-21T08:05:00Z", "state": "scheduled", "reason": None,
        "due_at": request["due_at"], "actor": "system", "note": None}
    assert request["trigger_status"] == {"id": "5", "name": "Livré",
                                         "reached_at": "2026-11-20T15:30:00Z"}
    assert (request["email"], request["platform"]) == ("zoe@example.com", "kingavis")


def test_a_new_status_is_added_to_the_shops_list_with_its_shipped_flag(app) -> None:
    """The rule page's list of statuses (and its "shipped but not a trigger" hint) learns a
    status of the shop's own from its first event, flags included."""
    from kingavis.shops.rules import KnownStatus, known_statuses

    shop, _ = make_shop()
    apply_status_event(shop, event("1", "41", CHANGED, email="zoe@example.com",
                                   status_name="Remis au transporteur", shipped=True),
                       new_webhook_id())
    db.session.rollback()
    statuses = {s.status_id: s for s in known_statuses(shop)}
    assert statuses["41"] == KnownStatus("41", "Remis au transporteur", True)


def _statuses(shop) -> dict[str, tuple[str, bool | None, bool | None]]:
    from kingavis.models import ShopStatus

    db.session.expire_all()
    return {row.status_id: (row.name, row.paid, row.shipped) for row in db.session.execute(
        select(ShopStatus).where(ShopStatus.shop_id == shop.id)).scalars()}


def test_each_shop_learns_its_own_statuses_even_when_another_sent_the_same(app) -> None:
    """Two shops with the same custom status: each one's list gets it (the back-office offers
    it as a trigger), however the service remembers what it has already written."""
    first, _ = make_shop("Première")
    second, _ = make_shop("Seconde")
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    for shop in (first, second):
        apply_status_event(shop, event("1", "42", at, status_name="Retiré en relais", paid=True,
                                       shipped=True), new_webhook_id())

    assert _statuses(first)["42"] == _statuses(second)["42"] == ("Retiré en relais", True, True)


def test_a_status_whose_flags_change_is_written_again(app) -> None:
    """The module's configuration changed: the same status now says not paid, then not
    shipped. The shop's list follows (the rule book reads it for rule 2)."""
    shop, _ = make_shop()
    at = datetime(2026, 3, 1, 10, tzinfo=UTC)
    apply_status_event(shop, event("1", "42", at, status_name="Relais", paid=True, shipped=True),
                       new_webhook_id())
    apply_status_event(shop, event("2", "42", at, status_name="Relais", paid=False,
                                   shipped=True), new_webhook_id())
    assert _statuses(shop)["42"] == ("Relais", False, True)

    apply_status_event(shop, event("3", "42", at, status_name="Relais", paid=False,
                                   shipped=False), new_webhook_id())
    assert _statuses(shop)["42"] == ("Relais", False, False)
