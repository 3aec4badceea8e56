"""Product reviews from end to end (docs/product-reviews.md), through every real piece: the
signed webhook with items, the dispatcher's email (file outbox), the questionnaire from the
email's link, the public product page, the API the widget reads, the JSON-LD endpoint and the
Google feed; then the merchant's reply emailed to the author, the withdrawal from the link,
and the erasure webhook. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from factories import make_shop, new_webhook_id, post_event, sign
from product_helpers import items_event
from requests_helpers import merchant
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Review, Shop
from kingavis.reviews.actions import reply_to_review


def text_part(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes())
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def shown_everywhere(client: Any, shop: Shop) -> dict[str, Any]:
    base = f"/api/v1/shops/{shop.slug}/products/42"
    raw = client.get(f"/feeds/v1/{shop.slug}/google-product-reviews.xml").get_data()
    feed = ET.fromstring(raw)  # noqa: S314 - the feed King-Avis just built
    return {
        "page": client.get(f"/avis/{shop.slug}/produits/42").get_data(as_text=True),
        "summary": client.get(f"{base}/summary").get_json()["rating"]["count"],
        "reviews": [r["comment"] for r in client.get(f"{base}/reviews").get_json()["reviews"]],
        "jsonld": client.get(f"{base}/jsonld").get_json(force=True),
        "feed": [(r.findtext("products/product/product_name"), r.findtext("ratings/overall"),
                  r.findtext("content")) for r in feed.findall("reviews/review")],
        "shop_count": client.get(f"/api/v1/shops/{shop.slug}/summary").get_json()["rating"]["count"],
    }


def test_from_the_webhook_to_the_feed_and_out_again(client, app, tmp_path: Path) -> None:
    shop, secret = make_shop("Atelier Zoë")
    # 1. The shop's module sends the delivered order with its items.
    response = post_event(client, shop, secret, items_event("9001", email="zoe@example.com",
                                                            first_name="Zoë", last_name="Łukasiewicz"))
    assert response.status_code == 202 and response.get_json()["outcome"] == "scheduled"
    # 2. The dispatcher sends the email; its link opens the questionnaire listing the products.
    assert tick().sent == 1
    (message,) = (tmp_path / "outbox").glob("*.eml")
    link = re.search(r"http://kingavis\.test(/r/[A-Za-z0-9_-]+)", text_part(message)).group(1)
    page = client.get(link).get_data(as_text=True)
    blocks = dict(re.findall(r'name="(product-\d+)-id" value="([^"]*)"', page))
    assert list(blocks.values()) == ["42", "77", "90"]
    # 3. The shop rating and two product ratings in one POST; the scarf's comment holds a phone.
    response = client.post(link, data={
        "rating": "5", "comment": "Parfait.",
        "product-0-id": "42", "product-0-rating": "4", "product-0-comment": "Très belle robe.",
        "product-1-id": "77", "product-1-rating": "2",
        "product-1-comment": "Rappelez-moi au 06 12 34 56 78",
        "product-2-id": "90",
    })
    assert response.status_code == 200
    db.session.rollback()
    stored = {r.product_id: r for r in db.session.execute(select(Review)).scalars()}
    assert set(stored) == {None, "42", "77"}
    assert stored["77"].status == "pending"  # held for moderation, not shown anywhere
    assert stored["42"].status == "published"

    # 4. The product's page, API (what the widget reads), JSON-LD and the feed show the robe.
    seen = shown_everywhere(client, shop)
    assert "Très belle robe." in seen["page"] and "Zoë Ł." in seen["page"]
    assert "Rappelez-moi" not in seen["page"]
    assert seen["summary"] == 1 and seen["reviews"] == ["Très belle robe."]
    assert seen["jsonld"]["aggregateRating"]["ratingValue"] == 4.0
    assert seen["jsonld"]["gtin"] == "3760123450010"
    assert seen["feed"] == [("Robe en lin", "4", "Très belle robe.")]
    assert seen["shop_count"] == 1
    feed = client.get(f"/feeds/v1/{shop.slug}/google-product-reviews.xml").get_data(as_text=True)
    assert "<gtins><gtin>3760123450010</gtin></gtins><mpns><mpn>RL38</mpn></mpns>" in feed
    assert "<skus><sku>RL-38</sku></skus><brands><brand>Atelier Zoë</brand></brands>" in feed
    assert "<transaction_id>XKBKNABJK</transaction_id>" in feed

    # 5. The merchant replies to the product review: the author is emailed, with its page.
    user = merchant(db.session.get(Shop, shop.id))
    assert reply_to_review(db.session.get(Shop, shop.id), stored["42"].id, user, "Merci Zoë !")
    tick()
    reply_mail = [p for p in (tmp_path / "outbox").glob("*.eml") if p != message]
    assert len(reply_mail) == 1
    body = text_part(reply_mail[0])
    assert "a répondu à votre avis sur « Robe en lin »" in body and "Merci Zoë !" in body
    assert f"http://kingavis.test/avis/{shop.slug}/produits/42" in body
    assert "Merci Zoë !" in client.get(f"/avis/{shop.slug}/produits/42").get_data(as_text=True)

    # 6. Withdrawal from the link takes every review of the order away, everywhere.
    assert client.post(f"{link}/withdraw").status_code == 200
    db.session.rollback()
    assert {r.status for r in db.session.execute(select(Review)).scalars()} == {"withdrawn"}
    gone = shown_everywhere(client, shop)
    assert "Très belle robe." not in gone["page"]
    assert gone["summary"] == 0 and gone["reviews"] == [] and gone["jsonld"] is None
    assert gone["feed"] == [] and gone["shop_count"] == 0


def test_erasure_removes_product_reviews_everywhere(client, app, tmp_path: Path) -> None:
    shop, secret = make_shop("Atelier Zoë")
    assert post_event(client, shop, secret, items_event("9002", email="zoe@example.com")).status_code == 202
    tick()
    (message,) = (tmp_path / "outbox").glob("*.eml")
    link = re.search(r"http://kingavis\.test(/r/[A-Za-z0-9_-]+)", text_part(message)).group(1)
    client.post(link, data={"rating": "4", "product-0-id": "42", "product-0-rating": "5",
                            "product-0-comment": "Superbe.", "product-1-id": "77",
                            "product-1-rating": "3"})
    assert shown_everywhere(client, shop)["summary"] == 1

    body = json.dumps({"type": "customer.erasure_requested", "timestamp": "2026-12-01T10:00:00Z",
                       "data": {"customer": {"email": "zoe@example.com"}}}).encode()
    response = client.post(f"/webhooks/v1/{shop.key}/customer-erasure", data=body,
                           headers=sign(secret, body, new_webhook_id()))
    assert response.status_code == 202
    assert response.get_json()["erased"]["reviews_withdrawn"] == 3
    gone = shown_everywhere(client, shop)
    assert gone["summary"] == 0 and gone["reviews"] == [] and gone["jsonld"] is None
    assert gone["feed"] == [] and "Superbe." not in gone["page"]
    db.session.rollback()
    assert [r.comment for r in db.session.execute(select(Review)).scalars()] == [None] * 3
