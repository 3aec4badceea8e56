"""The event service called without the webhook (no raw body): what it keeps of the event."""

from __future__ import annotations

from datetime import UTC, datetime

from delivery_helpers import event
from factories import make_shop, new_webhook_id
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import OrderEvent
from kingavis.orders.events import apply_status_event

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
