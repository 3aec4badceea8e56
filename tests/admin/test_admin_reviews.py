"""The back-office reviews list (issue 5 point 8) and the Review Balancing — Share form (both DBs)."""

from __future__ import annotations

import re
from datetime import timedelta

from delivery_helpers import request_row, schedule
from factories import make_shop
from html_text import visible_text
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Review, Shop, utcnow
from kingavis.reviews.questionnaire import submit_review


def review_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-review-id="(\d+)"', response.get_data(as_text=True))]


def add_review(shop: Shop, order_id: str, rating: int, comment: str | None = None, *,
               age_days: float = 0) -> int:
    request_id = schedule(shop, order_id, reference=f"REF-{order_id}")
    assert tick().sent == 1
    review = submit_review(request_row(request_id), str(rating), comment,
                           now=utcnow() - timedelta(days=age_days))
    return review.id


def test_lists_reviews_newest_first_with_rating_comment_order_and_date(merchant_client, shop) -> None:
    old = add_review(shop, "1", 2, "Livraison lente", age_days=3)
    new = add_review(shop, "2", 5, "Parfait <b>vraiment</b>")
    silent = add_review(shop, "3", 4, None, age_days=1)

    response = merchant_client.get(f"/admin/shops/{shop.key}/reviews")

    assert response.status_code == 200
    assert review_ids(response) == [new, silent, old]
    page = response.get_data(as_text=True)
    assert "Parfait &lt;b&gt;vraiment&lt;/b&gt;" in page and "<b>vraiment" not in page
    body = visible_text(response)
    assert "3 avis vérifiés" in body and "note moyenne 3,7 / 5" in body
    assert "5 / 5" in body and "2 / 5" in body and "(sans commentaire)" in body
    assert "REF-1" in body and "REF-2" in body
    order_id = db.session.execute(select(Review.order_id).where(Review.id == new)).scalar_one()
    assert f'href="/admin/shops/{shop.key}/orders/{order_id}"' in page
    assert re.search(r"\d{1,2} [a-zéû]+\.? 20\d\d, \d\d:\d\d", body)  # 7 déc. 2026, 09:30


def test_filter_by_rating(merchant_client, shop) -> None:
    five = add_review(shop, "1", 5)
    add_review(shop, "2", 1)
    response = merchant_client.get(f"/admin/shops/{shop.key}/reviews?rating=5")
    assert review_ids(response) == [five]
    assert merchant_client.get(f"/admin/shops/{shop.key}/reviews?rating=3").status_code == 200
    assert "Aucun avis avec cette note." in visible_text(merchant_client.get(f"/admin/shops/{shop.key}/reviews?rating=3"))
    bad = merchant_client.get(f"/admin/shops/{shop.key}/reviews?rating=9")
    assert bad.status_code == 200 and review_ids(bad) == []
    assert "Corrigez le filtre signalé" in visible_text(bad)


def test_paginated(merchant_client, shop, monkeypatch) -> None:
    import admin.reviews

    monkeypatch.setattr(admin.reviews, "PER_PAGE", 2)
    ids = [add_review(shop, str(n), 3, age_days=n) for n in range(1, 6)]
    first = merchant_client.get(f"/admin/shops/{shop.key}/reviews?rating=3")
    assert review_ids(first) == ids[:2]
    assert "Page 1 sur 3" in visible_text(first)
    assert f'/admin/shops/{shop.key}/reviews?page=2&amp;rating=3' in first.get_data(as_text=True)
    last = merchant_client.get(f"/admin/shops/{shop.key}/reviews?rating=3&page=3")
    assert review_ids(last) == ids[4:]


def test_another_merchants_reviews_are_not_shown(app, merchant_client, shop) -> None:
    other, _ = make_shop("Autre boutique")
    add_review(other, "9", 1, "secret")
    assert review_ids(merchant_client.get(f"/admin/shops/{shop.key}/reviews")) == []
    assert merchant_client.get(f"/admin/shops/{other.key}/reviews").status_code == 404


def test_login_required(app, shop) -> None:
    response = app.test_client().get(f"/admin/shops/{shop.key}/reviews")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_reviews_page_shows_review_balancing_and_links_to_its_one_settings_page(
        merchant_client, shop) -> None:
    """Review Balancing is set on "Collecte d'avis" only; this page says what it does."""
    from kingavis.shops.collection_settings import set_balancing

    page = merchant_client.get(f"/admin/shops/{shop.key}/reviews").get_data(as_text=True)
    assert "Désactivé" in page and 'name="url"' not in page
    assert f'href="/admin/shops/{shop.key}/collection#balancing-title"' in page
    set_balancing(shop, "google", "https://g.page/r/zoe", None)
    page = merchant_client.get(f"/admin/shops/{shop.key}/reviews").get_data(as_text=True)
    assert "le publier sur Google" in page
    assert merchant_client.post(f"/admin/shops/{shop.key}/reviews/balancing",
                       data={"platform": "google", "url": "https://g.page/r/x"}).status_code == 404


def test_the_customers_postpone_shows_on_the_order_timeline(merchant_client, shop) -> None:
    from kingavis.reviews.questionnaire import postpone_not_received

    request_id = schedule(shop, "77", reference="REF-77")
    assert tick().sent == 1
    row = request_row(request_id)
    order_id = row.order_id
    postpone_not_received(row)

    body = visible_text(merchant_client.get(f"/admin/shops/{shop.key}/orders/{order_id}"))

    assert "par le client — commande pas encore reçue : email renvoyé dans 7 jours" in body
