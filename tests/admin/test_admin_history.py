"""History of finished review requests in the back-office (both DBs)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from factories import days_ago, make_shop
from html_text import visible_text
from requests_helpers import event, row_ids, scheduled, set_due

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import ReviewRequest, utcnow
from kingavis.review_requests.actions import cancel


@pytest.fixture
def finished(shop) -> dict[str, int]:
    """One request in each finished state, plus one still scheduled."""
    sent = scheduled(shop, "1", reference="H-SENT", email="sent@example.com")
    set_due(sent, utcnow() - timedelta(minutes=1))
    tick()
    cancelled = scheduled(shop, "2", reference="H-CANCEL", email="cancel@example.com")
    cancel(shop, [cancelled])
    body = event(shop, "3", "5", days_ago(1), consent=False, reference="H-SUPP",
                 email="supp@example.com")
    suppressed = int(body["review_request"]["id"])
    order_cancelled = scheduled(shop, "4", reference="H-REFUND", email="refund@example.com")
    event(shop, "4", "7", days_ago(0.5), paid=False, reference="H-REFUND", email="refund@example.com")
    failed = scheduled(shop, "5", reference="H-FAIL", email="fail@example.com")
    row = db.session.get(ReviewRequest, failed)
    row.state, row.reason, row.next_attempt_at = "failed", "delivery_failed", None
    row.last_error = "550 mailbox unavailable"
    db.session.commit()
    waiting = scheduled(shop, "6", reference="H-WAIT")
    return {"sent": sent, "cancelled": cancelled, "suppressed": suppressed,
            "order_cancelled": order_cancelled, "failed": failed, "waiting": waiting}


def listed(client, shop, **query) -> list[int]:
    response = client.get(f"/admin/shops/{shop.key}/history", query_string=query)
    assert response.status_code == 200
    return sorted(row_ids(response.get_data(as_text=True)))


def test_history_lists_finished_requests_with_reasons(merchant_client, shop, finished) -> None:
    response = merchant_client.get(f"/admin/shops/{shop.key}/history")
    assert sorted(row_ids(response.get_data(as_text=True))) == sorted(
        v for k, v in finished.items() if k != "waiting")
    page = visible_text(response)
    assert "H-WAIT" not in page
    assert "Envoyée" in page and "Annulée par le marchand" in page
    assert "Pas de consentement" in page and "Commande annulée" in page
    assert "Échec de remise de l'email" in page
    assert "5 demandes." in page


def test_history_filters(merchant_client, shop, finished) -> None:
    f = finished
    assert listed(merchant_client, shop, state="sent") == [f["sent"]]
    assert listed(merchant_client, shop, state="cancelled") == sorted([f["cancelled"], f["order_cancelled"]])
    assert listed(merchant_client, shop, state="suppressed") == [f["suppressed"]]
    assert listed(merchant_client, shop, state="failed") == [f["failed"]]
    assert listed(merchant_client, shop, reason="merchant_cancelled") == [f["cancelled"]]
    assert listed(merchant_client, shop, reason="order_cancelled") == [f["order_cancelled"]]
    assert listed(merchant_client, shop, reason="no_consent") == [f["suppressed"]]
    assert listed(merchant_client, shop, state="cancelled", reason="no_consent") == []
    assert listed(merchant_client, shop, q="h-fail") == [f["failed"]]
    assert listed(merchant_client, shop, q="SUPP@EXAMPLE") == [f["suppressed"]]
    today = utcnow().astimezone(ZoneInfo(shop.timezone)).date()
    yesterday = today - timedelta(days=1)
    assert len(listed(merchant_client, shop, date_from=today.isoformat(), date_to=today.isoformat())) == 5
    assert listed(merchant_client, shop, date_to=yesterday.isoformat()) == []
    assert listed(merchant_client, shop, date_from=(today + timedelta(days=1)).isoformat()) == []
    assert listed(merchant_client, shop, date_from=today.isoformat(), q="h-sent") == [f["sent"]]


@pytest.mark.parametrize("query,message", [
    ({"date_from": "2026-05-10", "date_to": "2026-05-01"},
     "La date de fin doit être après la date de début."),
    ({"date_from": "10/05/2026"}, "date"),
    ({"state": "scheduled"}, "choix"),
    ({"reason": "because"}, "choix"),
])
def test_history_invalid_filters_are_explained(merchant_client, shop, finished, query, message) -> None:
    response = merchant_client.get(f"/admin/shops/{shop.key}/history", query_string=query)
    assert response.status_code == 200
    page = visible_text(response)
    assert "Corrigez les filtres signalés" in page
    assert message.lower() in page.lower()
    assert row_ids(response.get_data(as_text=True)) == []


def test_history_is_paginated(merchant_client, shop) -> None:
    ids = [scheduled(shop, str(i)) for i in range(1, 53)]
    cancel(shop, ids)
    first = listed(merchant_client, shop)
    second = listed(merchant_client, shop, page=2)
    assert len(first) == 50 and len(second) == 2 and sorted(first + second) == sorted(ids)


def test_another_shops_history_is_404(app, merchant_client) -> None:
    other, _ = make_shop("Autre")
    assert merchant_client.get(f"/admin/shops/{other.key}/history").status_code == 404
