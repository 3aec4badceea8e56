"""Order timeline and order search in the back-office (both DBs)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from factories import days_ago, make_shop
from html_text import visible_text
from requests_helpers import event, login, merchant, request_row, scheduled, set_due

from kingavis.delivery.dispatcher import tick
from kingavis.models import Order, utcnow


def items(response) -> list[str]:
    """The timeline's entries as plain text, in page order."""
    body = response.get_data(as_text=True)
    listing = re.search(r'<ol class="timeline">(.*?)</ol>', body, re.S).group(1)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li))).strip()
            for li in re.findall(r"<li[^>]*>(.*?)</li>", listing, re.S)]


def timeline_url(shop, order_id: int) -> str:
    return f"/admin/shops/{shop.key}/orders/{order_id}"


def order_id(shop, external_id: str) -> int:
    from sqlalchemy import select

    from kingavis.extensions import db

    return db.session.execute(
        select(Order.id).where(Order.shop_id == shop.id, Order.external_id == external_id)
    ).scalar_one()


def test_timeline_of_a_cancelled_order_explains_why_no_email(merchant_client, shop) -> None:
    common = {"reference": "KDZPQRT", "email": "zoe@example.com"}
    event(shop, "77", "2", days_ago(5), **common)  # payment accepted
    event(shop, "77", "5", days_ago(3), **common)  # delivered: request scheduled
    # A late delivery of an older event: stored, changes nothing.
    event(shop, "77", "3", days_ago(4), status_name="En cours de préparation", **common)
    event(shop, "77", "7", days_ago(1), paid=False, **common)  # refunded: cancelled

    response = merchant_client.get(timeline_url(shop, order_id(shop, "77")))

    assert response.status_code == 200
    page = visible_text(response)
    assert "Commande KDZPQRT" in page and "zoe@example.com" in page
    assert "Statut actuel : Remboursé" in page
    entries = items(response)
    assert len(entries) == 6
    assert "Paiement accepté (2)" in entries[0] and "payée" in entries[0]
    assert "Livré (5)" in entries[1]
    assert "Programmée" in entries[2] and "envoi prévu le" in entries[2]
    assert "En cours de préparation (3)" in entries[3] and "ignoré (ancien)" in entries[3]
    assert "Remboursé (7)" in entries[4] and "non payée" in entries[4]
    assert "Annulée" in entries[5] and "Commande annulée" in entries[5]
    assert "statut d'annulation" in entries[5]  # the reason in plain French
    assert "par King-Avis" in entries[5]
    # Only the stale one is marked.
    assert sum("ignoré (ancien)" in e for e in entries) == 1
    # The summary answers "why?" at the top.
    assert page.index("Demande d'avis Annulée Commande annulée") < page.index("Chronologie")


def test_timeline_of_a_sent_request_shows_the_email(merchant_client, shop) -> None:
    request_id = scheduled(shop, "5", reference="SENT-5", delivered_days_ago=11)
    tick()
    row = request_row(request_id)
    assert row.state == "sent"

    response = merchant_client.get(timeline_url(shop, row.order_id))

    entries = items(response)
    assert "Email de demande d'avis envoyé" in entries[-1]
    assert row.message_id in entries[-1]
    assert any("Envoyée" in e for e in entries)
    assert "Email envoyé le" in visible_text(response)


def test_timeline_shows_merchant_decisions_with_who(merchant_client, shop) -> None:
    request_id = scheduled(shop, "6", reference="M-6")
    merchant_client.post(f"/admin/shops/{shop.key}/pending/actions",
                data={"action": "postpone", "scope": "one", "ids": str(request_id), "days": "4"})
    merchant_client.post(f"/admin/shops/{shop.key}/pending/actions",
                data={"action": "cancel", "scope": "one", "ids": str(request_id)})

    entries = items(merchant_client.get(timeline_url(shop, request_row(request_id).order_id)))

    assert "par marchand@example.com — reportée de 4 jours par le marchand" in entries[-2]
    assert "Annulée par le marchand" in entries[-1]
    assert "n'est jamais reprogrammée" in entries[-1]


@pytest.mark.parametrize("consent,reason", [(False, "Pas de consentement")])
def test_timeline_of_a_suppressed_request(merchant_client, shop, consent, reason) -> None:
    body = event(shop, "8", "5", days_ago(1), consent=consent, reference="S-8",
                 email="client8@example.com")
    assert body["outcome"] == "suppressed"
    entries = items(merchant_client.get(timeline_url(shop, order_id(shop, "8"))))
    assert reason in entries[-1] and "Non envoyée (règle)" in entries[-1]


def test_order_without_request(merchant_client, shop) -> None:
    event(shop, "9", "2", days_ago(1), reference="NOREQ")
    page = visible_text(merchant_client.get(timeline_url(shop, order_id(shop, "9"))))
    assert "Aucune demande d'avis pour cette commande" in page


def test_another_shops_order_is_404(app, merchant_client, shop) -> None:
    other, _ = make_shop("Autre")
    event(other, "1", "5", days_ago(1))
    assert merchant_client.get(timeline_url(shop, order_id(other, "1"))).status_code == 404
    assert merchant_client.get(timeline_url(shop, 999999)).status_code == 404
    assert merchant_client.get(f"/admin/shops/{other.key}/orders").status_code == 404


def test_order_search_by_reference_or_email(merchant_client, shop) -> None:
    event(shop, "1", "5", days_ago(1), reference="ALPHA-1", email="Anne@Example.com")
    event(shop, "2", "5", days_ago(1), reference="BETA_2", email="bruno@example.com")
    other, _ = make_shop("Autre")
    event(other, "3", "5", days_ago(1), reference="ALPHA-3", email="anne@example.com")

    def found(q: str) -> list[str]:
        response = merchant_client.get(f"/admin/shops/{shop.key}/orders", query_string={"q": q})
        assert response.status_code == 200
        return re.findall(r'/orders/\d+">([^<]+)</a>', response.get_data(as_text=True))

    assert found("alpha") == ["ALPHA-1"]
    assert found("ANNE@example") == ["ALPHA-1"]
    assert found("a_2") == ["BETA_2"]
    assert found("_") == ["BETA_2"]  # literal underscore
    assert sorted(found("")) == ["ALPHA-1", "BETA_2"]
    assert found("nothing-like-this") == []
    page = visible_text(merchant_client.get(f"/admin/shops/{shop.key}/orders", query_string={"q": "zzz"}))
    assert "Aucune commande ne correspond à « zzz »." in page


def test_due_time_is_shown_in_the_shop_time_zone(app) -> None:
    shop, _ = make_shop("Kiwi", timezone="Pacific/Auckland")
    merchant_client = app.test_client()
    login(merchant_client, merchant(shop, "kiwi@example.com"))
    request_id = scheduled(shop, "1", reference="NZ-1")
    due = utcnow().replace(microsecond=0) + timedelta(days=3)
    set_due(request_id, due)
    page = visible_text(merchant_client.get(timeline_url(shop, request_row(request_id).order_id)))
    from kingavis import formatting

    local = formatting.moment(due, "fr", "Pacific/Auckland")
    assert f"Envoi prévu le {local}" in page
    assert "Pacific/Auckland" in page
