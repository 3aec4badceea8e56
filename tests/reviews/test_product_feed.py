"""The Google product review feed (docs/product-reviews.md): schema 2.4 elements and attributes
on real product reviews, escaping of hostile text, a shop without product reviews, the
conditional answers, and what leaves the feed. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from factories import make_shop
from flask import Flask
from product_helpers import sent_with_items, submit
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import Review, Shop
from kingavis.reviews.actions import withdraw_by_author

XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
# The order schema 2.4 requires inside <review> (optional ones we never send are left out).
REVIEW_ORDER = ["review_id", "reviewer", "is_verified_purchase", "review_timestamp", "content",
                "review_url", "ratings", "products", "collection_method", "transaction_id"]

HOSTILE = "]]></content><script>alert(1)</script> & \"quotes\" 'single' <b>\u0001\ufffe"


def feed(client: Any, shop: Shop, **headers: str) -> Any:
    return client.get(f"/feeds/v1/{shop.slug}/google-product-reviews.xml", headers=headers)


def parse(response: Any) -> ET.Element:
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.get_data())  # noqa: S314 - the feed King-Avis just built


@pytest.fixture
def shop_secret(app: Flask) -> tuple[Shop, str]:
    return make_shop("Atelier <Zoë> & Fils")


@pytest.fixture
def reviewed(client, shop_secret) -> dict[str, Any]:
    shop, secret = shop_secret
    first = sent_with_items(client, shop, secret, "8001", first_name="Zoë", last_name="Łukasiewicz",
                            reference="REF<1>&")
    assert submit(client, first, "5", "", {"42": ("5", "Très belle robe."),
                                           "77": ("2", HOSTILE)}).status_code == 200
    second = sent_with_items(client, shop, secret, "8002", first_name=None, last_name=None,
                             reference=None)
    assert submit(client, second, "4", "", {"42": ("4", "")}).status_code == 200
    db.session.rollback()
    return {"shop": db.session.get(Shop, shop.id), "first": first, "second": second}


def test_every_required_element_and_attribute_of_schema_2_4(client, reviewed) -> None:
    shop = reviewed["shop"]
    root = parse(feed(client, shop))
    assert root.tag == "feed"
    assert root.get(f"{XSI}noNamespaceSchemaLocation") == (
        "http://www.google.com/shopping/reviews/schema/product/2.4/product_reviews.xsd")
    assert [child.tag for child in root] == ["version", "aggregator", "publisher", "reviews"]
    assert root.findtext("version") == "2.4"
    assert root.findtext("aggregator/name") == "King-Avis"
    assert root.findtext("publisher/name") == "Atelier <Zoë> & Fils"
    reviews = root.findall("reviews/review")
    assert len(reviews) == 3
    stored = db.session.execute(select(Review.id).where(Review.product_id.is_not(None))).scalars()
    assert sorted(r.findtext("review_id") for r in reviews) == sorted(str(i) for i in stored)
    for review in reviews:
        assert [child.tag for child in review] == REVIEW_ORDER
        assert review.findtext("review_id").isdigit()
        assert review.findtext("is_verified_purchase") == "true"
        assert review.findtext("collection_method") == "post_fulfillment"
        assert review.findtext("review_timestamp").endswith("Z")
        assert review.findtext("content").strip()
        url = review.find("review_url")
        assert url.get("type") == "group"
        assert url.text.startswith(f"http://kingavis.test/avis/{shop.slug}/produits/")
        overall = review.find("ratings/overall")
        assert (overall.get("min"), overall.get("max")) == ("1", "5")
        assert overall.text in {"1", "2", "3", "4", "5"}
        product = review.find("products/product")
        assert product.findtext("product_name")
        assert product.findtext("product_url").startswith("http")

    robe_zoe, scarf, robe_anonymous = reviews
    assert robe_zoe.findtext("reviewer/name") == "Zoë Ł."
    assert robe_zoe.find("reviewer/name").get("is_anonymous") is None
    assert robe_zoe.findtext("content") == "Très belle robe."
    assert robe_zoe.findtext("transaction_id") == "REF<1>&"
    ids = robe_zoe.find("products/product/product_ids")
    assert [(c.tag, [g.tag for g in c], [g.text for g in c]) for c in ids] == [
        ("gtins", ["gtin"], ["3760123450010"]), ("mpns", ["mpn"], ["RL38"]),
        ("skus", ["sku"], ["RL-38"]), ("brands", ["brand"], ["Atelier Zoë"])]
    assert robe_zoe.findtext("products/product/product_name") == "Robe en lin"
    assert robe_zoe.findtext("products/product/product_url") == "https://boutique.example/robe-lin"
    assert robe_zoe.findtext("review_url") == f"http://kingavis.test/avis/{shop.slug}/produits/42"
    assert robe_zoe.findtext("ratings/overall") == "5"

    # Hostile text is text: escaped, characters XML cannot carry dropped.
    assert scarf.findtext("content") == HOSTILE.replace("\u0001", "").replace("\ufffe", "")
    assert scarf.findtext("products/product/product_name") == 'Foulard <soie> & "coton"'
    assert [c.tag for c in scarf.find("products/product/product_ids")] == ["skus", "brands"]

    anonymous = robe_anonymous.find("reviewer/name")
    assert anonymous.get("is_anonymous") == "true" and anonymous.text == "Client vérifié"
    assert robe_anonymous.findtext("content") == "Note\u00a0: 4 sur 5, sans commentaire."
    assert robe_anonymous.findtext("transaction_id") == "8002"
    raw = feed(client, shop).get_data(as_text=True)
    assert "<script>" not in raw and "]]></content><script>" not in raw


def test_a_shop_without_product_reviews_has_a_valid_empty_feed(client, shop_secret) -> None:
    shop, _ = shop_secret
    response = feed(client, shop)
    root = parse(response)
    assert root.findtext("version") == "2.4"
    assert root.find("reviews") is not None and root.findall("reviews/review") == []
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert "Set-Cookie" not in response.headers
    assert client.get("/feeds/v1/nobody/google-product-reviews.xml").status_code == 404


def test_an_unchanged_feed_answers_304_and_a_change_a_new_version(client, reviewed) -> None:
    shop = reviewed["shop"]
    first = feed(client, shop)
    first.get_data()
    tag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert feed(client, shop, **{"If-None-Match": tag}).status_code == 304
    assert feed(client, shop, **{"If-Modified-Since": modified}).status_code == 304
    withdraw_by_author(db.session.get(type(reviewed["second"]), reviewed["second"].id))
    changed = feed(client, shop, **{"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    changed.get_data()


def test_withdrawn_rejected_pending_and_erased_reviews_leave_the_feed(client, reviewed) -> None:
    from kingavis.personal_data.erasure import erase_customer

    shop = reviewed["shop"]
    withdraw_by_author(db.session.get(type(reviewed["second"]), reviewed["second"].id))
    root = parse(feed(client, shop))
    assert [r.findtext("ratings/overall") for r in root.findall("reviews/review")] == ["5", "2"]
    erase_customer(db.session.get(Shop, shop.id), "customer-8001@example.com", source="cli")
    assert parse(feed(client, shop)).findall("reviews/review") == []
