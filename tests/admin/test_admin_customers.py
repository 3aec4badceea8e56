"""Back-office: a customer's personal data — search by email, JSON download, erasure with a
confirmation step — and the retention period on the collection settings page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_shop
from html_text import page_source
from personal_data_helpers import EMAIL, FIRST, make_customer
from requests_helpers import audit_entries
from sqlalchemy import select

from kingavis.customer_keys import customer_key
from kingavis.extensions import db
from kingavis.models import Erasure, Order, Shop


def test_search_shows_what_is_held_without_the_address_in_the_url(merchant_client, shop) -> None:
    make_customer(shop)
    assert merchant_client.get(f"/admin/shops/{shop.key}/customers").status_code == 200
    response = merchant_client.post(f"/admin/shops/{shop.key}/customers", data={"email": EMAIL.upper()})
    text = page_source(response)
    assert response.status_code == 200
    assert f"Données conservées pour {EMAIL}" in text
    assert "Commandes avec des données personnelles : 3" in text
    assert "Avis : 1" in text
    assert "Désinscrit des demandes d'avis : oui" in text
    # Forms post the address; no link carries it.
    assert "?email=" not in response.get_data(as_text=True)


def test_download_is_a_json_attachment_and_audited_by_hash(merchant_client, shop) -> None:
    make_customer(shop)
    response = merchant_client.post(f"/admin/shops/{shop.key}/customers/export", data={"email": EMAIL})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="customer-data.json"'
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(response.get_data(as_text=True))
    assert {o["id"] for o in document["orders"]} == {"A-1", "A-2", "A-3"}
    (entry,) = [e for e in audit_entries(shop) if e.action == "customer.export"]
    assert entry.details == {"email_hash": customer_key(shop.id, EMAIL), "source": "back_office"}
    assert EMAIL not in json.dumps(entry.details) and entry.actor_email == "marchand@example.com"


def test_erasure_asks_for_confirmation_then_erases_and_audits(merchant_client, shop) -> None:
    make_customer(shop)
    asked = merchant_client.post(f"/admin/shops/{shop.key}/customers/erase", data={"email": EMAIL})
    assert "Effacer définitivement les données de ce client ?" in page_source(asked)
    assert db.session.execute(select(Erasure)).first() is None
    assert db.session.execute(select(Order).where(Order.customer_email.is_(None))).first() is None

    done = merchant_client.post(f"/admin/shops/{shop.key}/customers/erase",
                       data={"email": EMAIL, "confirm": "yes"}, follow_redirects=True)
    text = page_source(done)
    assert "Données du client effacées : 3 commandes effacées, 2 demandes d'avis annulées, 1 avis retiré." in text
    (entry,) = [e for e in audit_entries(shop) if e.action == "customer.erase"]
    assert entry.details["email_hash"] == customer_key(shop.id, EMAIL)
    assert entry.details["source"] == "back_office"
    assert EMAIL not in json.dumps(entry.details)
    # The journal says what happened, in words.
    journal = page_source(merchant_client.get(f"/admin/shops/{shop.key}/audit"))
    assert "Données d'un client effacées" in journal and FIRST not in journal


@pytest.mark.parametrize("email", ["", "not-an-address", "a@b@c", "x" * 330 + "@example.com"])
def test_a_bad_address_is_refused_and_nothing_happens(merchant_client, shop, email: str) -> None:
    make_customer(shop)
    for path in ("", "/export", "/erase"):
        response = merchant_client.post(f"/admin/shops/{shop.key}/customers{path}",
                               data={"email": email, "confirm": "yes"})
        assert response.status_code == 422, path
        assert 'class="field-error"' in response.get_data(as_text=True)
    assert db.session.execute(select(Erasure)).first() is None
    assert not [e for e in audit_entries(shop) if e.action.startswith("customer.")]


def test_another_merchants_shop_is_not_found(app, merchant_client, shop) -> None:
    other, _ = make_shop("Autre boutique")
    make_customer(other)
    for path in ("", "/export", "/erase"):
        response = merchant_client.post(f"/admin/shops/{other.key}/customers{path}",
                               data={"email": EMAIL, "confirm": "yes"})
        assert response.status_code == 404
    assert db.session.execute(select(Erasure)).first() is None


def collection_form(**overrides: Any) -> dict[str, str]:
    data = {"review_link_days": "60", "postpone_days": "7", "reminder_days": "7",
            "balancing_platform": "google", "balancing_url": "", "redirect_seconds": "30",
            "split_percent": "0", "callback_url": ""}
    data.update(overrides)
    return data


def retention(shop: Shop) -> int:
    db.session.expire_all()
    return db.session.get(Shop, shop.id).retention_months


def test_retention_period_on_the_collection_page(merchant_client, shop) -> None:
    url = f"/admin/shops/{shop.key}/collection"
    assert 'name="retention_months"' in merchant_client.get(url).get_data(as_text=True)
    assert retention(shop) == 24
    for bad in ("5", "121", "douze", "-6"):
        response = merchant_client.post(url, data=collection_form(retention_months=bad))
        assert response.status_code == 422
        assert "entre 6 et 120" in page_source(response)
        assert retention(shop) == 24
    assert merchant_client.post(url, data=collection_form(retention_months="120")).status_code == 302
    assert retention(shop) == 120
    entry = [e for e in audit_entries(shop) if e.action == "collection.update"][-1]
    assert entry.details == {"before": {"retention_months": 24}, "after": {"retention_months": 120}}
    assert merchant_client.post(url, data=collection_form(retention_months="6")).status_code == 302
    assert retention(shop) == 6
    # A form without the field (an older page) keeps the period.
    assert merchant_client.post(url, data=collection_form(split_percent="0")).status_code == 302
    assert retention(shop) == 6
