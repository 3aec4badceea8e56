"""Product reviews (docs/product-reviews.md): the order's items on the webhook, the shop's
setting, the one questionnaire that stores the shop review and the product reviews together.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from factories import make_shop, post_event
from flask import Flask
from product_helpers import form_fields, items_event, sent_with_items, submit
from requests_helpers import audit_entries, login, merchant
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import Order, Review, Shop
from kingavis.shops.service import ShopError
from kingavis.shops.settings import set_product_review_count


@pytest.fixture
def shop_secret(app: Flask) -> tuple[Shop, str]:
    return make_shop("Atelier Zoë")


def order_items(shop: Shop, order_id: str) -> Any:
    db.session.rollback()
    return db.session.execute(
        select(Order.items).where(Order.shop_id == shop.id, Order.external_id == order_id)
    ).scalar_one_or_none()


def all_reviews() -> list[Review]:
    db.session.rollback()
    return list(db.session.execute(select(Review).order_by(Review.id)).scalars())


# --- 1. Items on the order ---------------------------------------------------------------


def test_items_are_stored_with_the_order_and_the_latest_list_wins(client, shop_secret) -> None:
    shop, secret = shop_secret
    response = post_event(client, shop, secret, items_event("3001"))
    assert response.status_code == 202
    stored = order_items(shop, "3001")
    assert [i["product_id"] for i in stored] == ["42", "42", "77", "90"]
    assert stored[0]["gtin"] == "3760123450010" and stored[0]["brand"] == "Atelier Zoë"

    # A later event with another list replaces it; one without items leaves it alone.
    later = items_event("3001", [{"product_id": "5", "name": "Chapeau"}], days=10)
    assert post_event(client, shop, secret, later).status_code == 202
    assert order_items(shop, "3001") == [{"product_id": "5", "name": "Chapeau"}]
    no_items = items_event("3001", days=9)
    del no_items["data"]["order"]["items"]
    assert post_event(client, shop, secret, no_items).status_code == 202
    assert order_items(shop, "3001") == [{"product_id": "5", "name": "Chapeau"}]


def test_an_older_event_received_last_still_brings_its_items(client, shop_secret) -> None:
    """The latest list received wins, whatever the event's age: a late, older event changes
    nothing else of the order, but its items replace the list."""
    shop, secret = shop_secret
    assert post_event(client, shop, secret, items_event("3002", days=5)).status_code == 202
    older = items_event("3002", [{"product_id": "8", "name": "Écharpe"}], days=9)
    assert post_event(client, shop, secret, older).status_code == 202
    assert order_items(shop, "3002") == [{"product_id": "8", "name": "Écharpe"}]
    older_without = items_event("3002", days=8)
    del older_without["data"]["order"]["items"]
    assert post_event(client, shop, secret, older_without).status_code == 202
    assert order_items(shop, "3002") == [{"product_id": "8", "name": "Écharpe"}]


@pytest.mark.parametrize(("item", "path", "words"), [
    ({"product_id": "1", "name": "A", "gtin": "3760123450011"}, "data.order.items.0.gtin",
     "check digit"),
    ({"product_id": "1", "name": "A", "gtin": "12345670"}, "data.order.items.0.gtin", "EAN-13"),
    ({"product_id": "1", "name": "A", "gtin": "97803064061X"}, "data.order.items.0.gtin", "EAN-13"),
    ({"name": "A"}, "data.order.items.0.product_id", "required"),
    ({"product_id": "1"}, "data.order.items.0.name", "required"),
    ({"product_id": "1", "name": "A" * 201}, "data.order.items.0.name", "200"),
    ({"product_id": "1", "name": "A", "url": "javascript:alert(1)"}, "data.order.items.0.url",
     "http(s)"),
    ({"product_id": "1", "name": "A", "image_url": "ftp://x.example/a.jpg"},
     "data.order.items.0.image_url", "http(s)"),
    ({"product_id": "1", "name": "A", "url": "https://x.example/" + "a" * 500},
     "data.order.items.0.url", "500"),
    ({"product_id": 1, "name": "A"}, "data.order.items.0.product_id", "string"),
    ({"product_id": "1", "name": "A", "quantity": "2"}, "data.order.items.0.quantity", "whole"),
    ({"product_id": "1", "name": "A", "brand": "B" * 71}, "data.order.items.0.brand", "70"),
    ("not an object", "data.order.items.0", "object"),
])
def test_a_bad_item_is_refused_naming_its_field_and_nothing_is_stored(
        client, shop_secret, item: Any, path: str, words: str) -> None:
    shop, secret = shop_secret
    body = items_event("3002", [{"product_id": "9", "name": "Bon"}, item][1:])
    response = post_event(client, shop, secret, body)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert path in errors, errors
    assert words in " ".join(errors[path])
    assert order_items(shop, "3002") is None


def test_every_accepted_gtin_kind_and_too_many_items(client, shop_secret) -> None:
    shop, secret = shop_secret
    kinds = [{"product_id": str(n), "name": "P", "gtin": gtin} for n, gtin in enumerate(
        ["3760123450010", "036000291452", "00036000291452", "9780306406157", "978-0-306-40615-7"])]
    assert post_event(client, shop, secret, items_event("3003", kinds)).status_code == 202
    assert [i["gtin"] for i in order_items(shop, "3003")] == [
        "3760123450010", "036000291452", "00036000291452", "9780306406157", "9780306406157"]

    many = [{"product_id": str(n), "name": "P"} for n in range(101)]
    response = post_event(client, shop, secret, items_event("3004", many))
    assert response.status_code == 422
    assert "at most 100" in " ".join(response.get_json()["errors"]["data.order.items"])


def test_items_are_erased_and_exported_with_the_customer(client, shop_secret) -> None:
    from kingavis.personal_data.erasure import erase_customer
    from kingavis.personal_data.export import export_customer

    shop, secret = shop_secret
    assert post_event(client, shop, secret, items_event("3005", email="zoe@example.com")).status_code == 202
    exported = export_customer(shop, "zoe@example.com")
    assert [i["name"] for i in exported["orders"][0]["items"]][:1] == ["Robe en lin"]
    erase_customer(shop, "zoe@example.com", source="cli", user=None)
    assert order_items(shop, "3005") is None


# --- 2. The shop's setting ---------------------------------------------------------------


def test_product_review_count_defaults_to_five_and_is_checked(shop_secret) -> None:
    shop, _ = shop_secret
    assert shop.product_review_count == 5
    for bad in (-1, 11, "3", True, None):
        with pytest.raises(ShopError):
            set_product_review_count(shop, bad, actor="cli")
    db.session.rollback()
    assert shop.product_review_count == 5
    set_product_review_count(shop, 0, actor="cli")
    assert shop.product_review_count == 0
    entry = audit_entries(shop)[-1]
    assert entry.action == "collection.update"
    assert entry.details == {"before": {"product_review_count": 5},
                             "after": {"product_review_count": 0}}


def test_the_back_office_sets_the_count_through_the_same_service(client, shop_secret) -> None:
    shop, _ = shop_secret
    user = merchant(shop)
    login(client, user)
    page = client.get(f"/admin/shops/{shop.key}/collection").get_data(as_text=True)
    assert 'name="product_review_count"' in page and 'value="5"' in page
    form = _collection_form(page)
    form["product_review_count"] = "11"
    response = client.post(f"/admin/shops/{shop.key}/collection", data=form)
    assert response.status_code == 422
    assert "entre 0 et 10" in response.get_data(as_text=True)
    form["product_review_count"] = "2"
    response = client.post(f"/admin/shops/{shop.key}/collection", data=form)
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Shop, shop.id).product_review_count == 2
    entry = audit_entries(shop)[-1]
    assert entry.details == {"before": {"product_review_count": 5},
                             "after": {"product_review_count": 2}}
    assert entry.user_id == user.id


def _collection_form(page: str) -> dict[str, str]:
    import re

    form: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag and "checked" not in tag:
            continue
        form[name.group(1)] = value.group(1) if value else ""
    for select_name, chosen in re.findall(
            r'<select[^>]*name="([^"]+)"[^>]*>.*?<option[^>]*selected[^>]*value="([^"]*)"', page, re.S):
        form[select_name] = chosen
    return form


def test_the_command_line_sets_the_count(app: Flask, shop_secret) -> None:
    shop, _ = shop_secret
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shops", "configure", shop.key, "--product-reviews", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["product_reviews"] == 3
    result = runner.invoke(args=["shops", "configure", shop.key, "--product-reviews", "12"])
    assert result.exit_code != 0
    assert "between 0 and 10" in result.output
    db.session.rollback()
    assert db.session.get(Shop, shop.id).product_review_count == 3


# --- 3. One questionnaire ----------------------------------------------------------------


def test_the_questionnaire_lists_the_distinct_products_up_to_the_limit(client, shop_secret) -> None:
    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "4001")
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    # Distinct by product id, in the order received: 42 once, then 77 and 90.
    assert list(form_fields(page).values()) == ["42", "77", "90"]
    assert page.index("Robe en lin") < page.index("Foulard") < page.index("Ceinture")
    assert "Robe en lin (40)" not in page
    assert "Foulard &lt;soie&gt; &amp; &#34;coton&#34;" in page or \
        "Foulard &lt;soie&gt; &amp; &quot;coton&quot;" in page
    assert '<img src="https://boutique.example/robe.jpg"' in page
    assert 'referrerpolicy="no-referrer"' in page
    # Radio stars with a label each, the shop rating first and required.
    assert '<label for="product-0-rating-5">' in page
    assert page.index('name="rating"') < page.index('name="product-0-rating"')
    csp = client.get(f"/r/{request.token}").headers["Content-Security-Policy"]
    assert "img-src https: http:" in csp

    set_product_review_count(db.session.get(Shop, shop.id), 1, actor="cli")
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    assert "Robe en lin" in page and "Foulard" not in page
    set_product_review_count(db.session.get(Shop, shop.id), 0, actor="cli")
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    assert 'name="product-' not in page


def test_one_post_stores_the_shop_review_and_the_rated_products(client, shop_secret) -> None:
    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "4002")
    response = submit(client, request, "4", "Livraison rapide.",
                      {"42": ("5", "Très belle robe."), "90": ("3", "")})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Vos avis sur les produits" in page and "Très belle robe." in page
    stored = all_reviews()
    assert [(r.product_id, r.rating, r.comment, r.status) for r in stored] == [
        (None, 4, "Livraison rapide.", "published"),
        ("42", 5, "Très belle robe.", "published"),
        ("90", 3, None, "published"),
    ]
    robe = stored[1]
    assert (robe.product_name, robe.product_sku, robe.product_gtin, robe.product_mpn,
            robe.product_brand, robe.product_url, robe.product_image_url) == (
        "Robe en lin", "RL-38", "3760123450010", "RL38", "Atelier Zoë",
        "https://boutique.example/robe-lin", "https://boutique.example/robe.jpg")
    assert {r.order_id for r in stored} == {request.order_id}
    assert {r.review_request_id for r in stored} == {request.id}
    # A second POST stores nothing more.
    again = submit(client, request, "1", "", {"77": ("1", "")})
    assert again.status_code == 409
    assert len(all_reviews()) == 3


def test_the_shop_rating_stays_required_and_a_bad_product_field_stores_nothing(
        client, shop_secret) -> None:
    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "4003")
    response = submit(client, request, "", "", {"42": ("5", "")})
    assert response.status_code == 422
    assert "Choisissez une note de 1 à 5." in response.get_data(as_text=True)
    response = submit(client, request, "5", "", {"42": ("", "Un commentaire sans note"),
                                                 "77": ("9", "")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choisissez une note pour ce produit, ou laissez son commentaire vide." in page
    assert "La note doit être comprise entre 1 et 5." in page
    assert "Un commentaire sans note" in page  # kept for the customer to fix
    assert all_reviews() == []


def test_a_product_comment_with_a_phone_number_waits_for_moderation(client, shop_secret) -> None:
    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "4004")
    response = submit(client, request, "5", "", {"77": ("2", "Appelez-moi au 06 12 34 56 78")})
    assert response.status_code == 200
    shop_review, product_review = all_reviews()
    assert shop_review.status == "published"
    assert product_review.status == "pending" and product_review.published_at is None


def test_the_questionnaire_in_english(client, shop_secret) -> None:
    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "4005", locale="en")
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    assert "And the products?" in page and "Your rating for Robe en lin" in page


def test_an_order_without_items_asks_only_about_the_shop(client, shop_secret) -> None:
    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "4006", items=[])
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    assert 'name="product-' not in page
    assert submit(client, request, "5").status_code == 200
    assert len(all_reviews()) == 1


# --- 4. Where product reviews show --------------------------------------------------------


@pytest.fixture
def rated(client, shop_secret) -> Shop:
    """Two orders: the robe rated 5 and 4, the scarf 2, the shop 4 and 3."""
    shop, secret = shop_secret
    first = sent_with_items(client, shop, secret, "5001", first_name="Zoë", last_name="Łukasiewicz")
    assert submit(client, first, "4", "Bien.", {"42": ("5", "Très belle robe."),
                                                "77": ("2", "Trop fin.")}).status_code == 200
    second = sent_with_items(client, shop, secret, "5002", first_name=None, last_name=None)
    assert submit(client, second, "3", "", {"42": ("4", "")}).status_code == 200
    db.session.rollback()
    return db.session.get(Shop, shop.id)


def test_shop_pages_and_averages_count_only_shop_reviews(client, rated: Shop) -> None:
    summary = client.get(f"/api/v1/shops/{rated.slug}/summary").get_json()
    assert summary["rating"]["count"] == 2 and summary["rating"]["average"] == 3.5
    listed = client.get(f"/api/v1/shops/{rated.slug}/reviews").get_json()
    assert [r["rating"] for r in listed["reviews"]] == [3, 4]
    page = client.get(f"/avis/{rated.slug}").get_data(as_text=True)
    assert "Très belle robe." not in page and "Bien." in page


def test_the_product_page_shows_that_product_only(client, rated: Shop) -> None:
    response = client.get(f"/avis/{rated.slug}/produits/42")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Avis clients sur Robe en lin" in page
    assert "Très belle robe." in page and "Trop fin." not in page and "Bien." not in page
    assert "Zoë Ł." in page and "Łukasiewicz" not in page and "Client vérifié" in page
    assert "4,5" in page  # the average, one decimal
    data = json.loads(page.split('<script type="application/ld+json">')[1].split("</script>")[0])
    assert data["@type"] == "Product" and data["name"] == "Robe en lin"
    assert data["gtin"] == "3760123450010" and data["sku"] == "RL-38"
    assert data["brand"] == {"@type": "Brand", "name": "Atelier Zoë"}
    assert data["aggregateRating"]["ratingValue"] == 4.5
    assert data["aggregateRating"]["reviewCount"] == 2
    assert sorted(r["author"]["name"] for r in data["review"]) == ["Client vérifié", "Zoë Ł."]
    english = client.get(f"/avis/{rated.slug}/produits/42?lang=en").get_data(as_text=True)
    assert "Customer reviews of Robe en lin" in english and "Verified customer" in english


def test_an_unknown_product_has_an_empty_page_and_a_bad_id_is_not_found(client, rated) -> None:
    response = client.get(f"/avis/{rated.slug}/produits/999")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Produit 999" in page and 'content="noindex' in page
    assert "application/ld+json" not in page
    assert client.get(f"/avis/{rated.slug}/produits/a%20b").status_code == 404
    assert client.get("/avis/nobody/produits/42").status_code == 404


def test_the_product_api_answers_like_the_shop_api(client, rated: Shop) -> None:
    base = f"/api/v1/shops/{rated.slug}/products"
    response = client.get(f"{base}/42/summary")
    assert response.status_code == 200
    body = response.get_json()
    assert body["product"] == {"id": "42", "name": "Robe en lin",
                               "public_url": f"http://kingavis.test/avis/{rated.slug}/produits/42"}
    assert body["rating"] == {"average": 4.5, "count": 2,
                              "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}}
    assert body["shop"]["name"] == "Atelier Zoë"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert "Set-Cookie" not in response.headers
    tag = response.headers["ETag"]
    assert client.get(f"{base}/42/summary", headers={"If-None-Match": tag}).status_code == 304

    listed = client.get(f"{base}/42/reviews?per_page=1").get_json()
    assert listed["total"] == 2 and listed["per_page"] == 1 and len(listed["reviews"]) == 1
    assert listed["product"]["name"] == "Robe en lin"
    assert listed["reviews"][0]["verified"] is True
    assert client.get(f"{base}/42/reviews?per_page=101").status_code == 400

    ld = client.get(f"{base}/42/jsonld")
    assert ld.status_code == 200 and ld.mimetype == "application/ld+json"
    assert ld.get_json(force=True)["aggregateRating"]["reviewCount"] == 2
    assert client.get(f"{base}/42/jsonld", headers={"If-None-Match": ld.headers["ETag"]}).status_code == 304

    for unknown in ("999", "a b", "x" * 100):
        summary = client.get(f"{base}/{unknown}/summary")
        assert summary.status_code == 200
        assert summary.get_json()["rating"]["count"] == 0
        assert summary.get_json()["rating"]["average"] is None
        assert client.get(f"{base}/{unknown}/reviews").get_json()["total"] == 0
        assert client.get(f"{base}/{unknown}/jsonld").get_json(force=True) is None
    assert client.get("/api/v1/shops/nobody/products/42/summary").status_code == 404


def test_a_publication_shows_at_once_in_this_process(client, shop_secret) -> None:
    shop, secret = shop_secret
    base = f"/api/v1/shops/{shop.slug}/products/42"
    assert client.get(f"{base}/summary").get_json()["rating"]["count"] == 0
    request = sent_with_items(client, shop, secret, "5003")
    assert submit(client, request, "5", "", {"42": ("3", "")}).status_code == 200
    assert client.get(f"{base}/summary").get_json()["rating"]["count"] == 1


# --- 6. Back-office ----------------------------------------------------------------------


def test_the_avis_page_shows_product_reviews_filters_them_and_sums_them_up(client, rated) -> None:
    user = merchant(rated)
    login(client, user)
    response = client.get(f"/admin/shops/{rated.key}/reviews")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # Every review, with the product's name and image; the header counts shop reviews only.
    assert "Produit\u00a0: Robe en lin" in page and "Très belle robe." in page and "Bien." in page
    assert '<img src="https://boutique.example/robe.jpg"' in page
    assert "2 avis vérifiés" in page
    assert "img-src 'self' data: https: http:" in response.headers["Content-Security-Policy"]
    # Per product: count and average of published reviews.
    robe = re.search(r'<tr data-product-id="42">(.*?)</tr>', page, re.S).group(1)
    assert ">2</td>" in robe and "4,5" in robe
    scarf = re.search(r'<tr data-product-id="77">(.*?)</tr>', page, re.S).group(1)
    assert ">1</td>" in scarf and "2,0" in scarf
    # The feed: its address, its count, how many carry a GTIN, Google's threshold.
    assert f"http://kingavis.test/feeds/v1/{rated.slug}/google-product-reviews.xml" in page
    assert "Il contient 3 avis produits publiés, dont 2 avec un GTIN" in page
    assert "il en manque 47" in page

    only_robe = client.get(f"/admin/shops/{rated.key}/reviews?product=42").get_data(as_text=True)
    assert "Très belle robe." in only_robe and "Trop fin." not in only_robe
    assert "Bien." not in only_robe
    only_shop = client.get(f"/admin/shops/{rated.key}/reviews?product=__shop__").get_data(as_text=True)
    assert "Bien." in only_shop and "Très belle robe." not in only_shop
    assert client.get(f"/admin/shops/{rated.key}/reviews?product=nope").status_code == 200


def test_reply_and_report_work_on_a_product_review(client, rated) -> None:
    user = merchant(rated)
    login(client, user)
    robe = db.session.execute(select(Review).where(Review.product_id == "42",
                                                   Review.comment.is_not(None))).scalar_one()
    page = client.get(f"/admin/shops/{rated.key}/reviews").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/admin/shops/{rated.key}/reviews/{robe.id}/reply",
                           data={"csrf_token": token, "text": "Merci pour la robe !"})
    assert response.status_code == 302
    public = client.get(f"/avis/{rated.slug}/produits/42").get_data(as_text=True)
    assert "Merci pour la robe !" in public
    response = client.post(f"/admin/shops/{rated.key}/reviews/{robe.id}/report",
                           data={"csrf_token": token, "reason": "Ce n'est pas notre robe."})
    assert response.status_code == 302
    from kingavis.reviews.actions import open_report

    assert open_report(robe.id) is not None


def test_the_funnel_counts_product_reviews(client, rated) -> None:
    from kingavis.reviews.stats import funnel

    total = funnel(rated).total
    assert total.reviewed == 2 and total.product_reviews == 3
    login(client, merchant(rated))
    page = client.get(f"/admin/shops/{rated.key}/stats").get_data(as_text=True)
    assert re.search(r'id="total-product-reviews">3<', page)


# --- 7. The same rules as shop reviews ------------------------------------------------------


def test_a_pending_product_review_is_in_the_moderation_queue_with_its_product(client, shop_secret) -> None:
    from moderation_helpers import operator

    from kingavis.reviews.actions import moderation_queue, operator_publish

    shop, secret = shop_secret
    request = sent_with_items(client, shop, secret, "6001")
    submit(client, request, "5", "", {"77": ("3", "Écrivez-moi : zoe@example.com")})
    items, _ = moderation_queue()
    (item,) = items
    assert item.product_name == 'Foulard <soie> & "coton"' and item.rating == 3
    operator_publish(item.review_id, operator())
    summary = client.get(f"/api/v1/shops/{shop.slug}/products/77/summary").get_json()
    assert summary["rating"]["count"] == 1


def test_retention_keeps_a_published_product_review_with_its_public_name(client, rated) -> None:
    from datetime import timedelta

    from kingavis.models import utcnow
    from kingavis.personal_data.export import export_customer
    from kingavis.personal_data.retention import apply_retention

    exported = export_customer(rated, "customer-5001@example.com")
    assert [r["product"]["id"] for r in exported["orders"][0]["product_reviews"]] == ["42", "77"]
    apply_retention(rated, now=utcnow() + timedelta(days=31 * 30))
    assert order_items(rated, "5001") is None
    page = client.get(f"/avis/{rated.slug}/produits/42").get_data(as_text=True)
    assert "Zoë Ł." in page and "Très belle robe." in page
    feed = client.get(f"/feeds/v1/{rated.slug}/google-product-reviews.xml").get_data(as_text=True)
    assert "<name>Zoë Ł.</name>" in feed
