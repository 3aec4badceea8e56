"""A change shows in every worker on its very next request (docs/publication.md): two apps on
the same database stand for two gunicorn workers, each with its own cache. The change is made
through the first; the second, whose cache holds every answer, must answer the new one at once
(no waiting for its cache's lifetime) for the shop summary, the product summary, the first page
of reviews and the badge, while ``widget.js`` keeps its ETag."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from factories import make_shop
from flask import Flask
from publication_helpers import reviewed

from kingavis.api.cache import cache_of
from kingavis.extensions import db
from kingavis.models import Review, ReviewRequest, ReviewState, Shop, utcnow
from kingavis.personal_data.erasure import erase_customer
from kingavis.reviews.actions import withdraw_by_author

PRODUCT = "42"


@pytest.fixture
def other(database_url: str, tmp_path: Path) -> Iterator[Any]:
    """The second worker's client: its own app, engine and cache on the same database."""
    second = make_app(database_url, tmp_path / "second")
    yield second.test_client()
    with second.app_context():
        db.engine.dispose()


def with_product_review(review: Review, rating: int) -> Review:
    """A published review of product 42 on the same order as ``review``."""
    product = Review(shop_id=review.shop_id, order_id=review.order_id,
                     review_request_id=review.review_request_id, rating=rating,
                     comment="La robe.", status=ReviewState.PUBLISHED.value,
                     published_at=utcnow(), product_id=PRODUCT, product_name="Robe en lin")
    db.session.add(product)
    db.session.commit()
    return product


class Worker:
    """What the second worker answers, and the ETags it answered last."""

    def __init__(self, client: Any, slug: str) -> None:
        self.client = client
        self.paths = {
            "summary": f"/api/v1/shops/{slug}/summary",
            "product": f"/api/v1/shops/{slug}/products/{PRODUCT}/summary",
            "reviews": f"/api/v1/shops/{slug}/reviews",
            "badge": f"/api/v1/shops/{slug}/badge.svg",
            "widget": "/widget.js",
        }
        self.tags: dict[str, str] = {}

    def get(self, name: str) -> Any:
        # The first worker's session holds no transaction meanwhile (SQLite has one writer).
        db.session.rollback()
        response = self.client.get(self.paths[name],
                                   headers={"If-None-Match": self.tags.get(name, '"none"')})
        assert response.status_code in (200, 304), name
        self.tags[name] = response.headers["ETag"]
        return response

    def warm(self) -> None:
        for name in self.paths:
            self.get(name)
            assert self.get(name).status_code == 304  # cached, and the client holds it

    def changed(self, name: str) -> Any:
        response = self.get(name)
        assert response.status_code == 200, f"{name}: the old answer after the change"
        return response


def counts(worker: Worker) -> tuple[int, int, int]:
    return (worker.changed("summary").get_json()["rating"]["count"],
            worker.changed("product").get_json()["rating"]["count"],
            worker.changed("reviews").get_json()["total"])


def test_every_change_shows_on_the_next_request_of_another_worker(app: Flask, other) -> None:
    shop = make_shop("Boutique Zoë")[0]
    first = reviewed(shop, "100", 5)
    with_product_review(first, 5)
    worker = Worker(other, shop.slug)
    worker.warm()
    assert cache_of(other.application).ttl == 25  # far longer than this test: no expiry helps
    widget_tag = worker.tags["widget"]

    # A publication.
    second = reviewed(shop, "101", 3)
    with_product_review(second, 3)
    assert counts(worker) == (2, 2, 2)
    assert "2 avis" in worker.changed("badge").get_data(as_text=True)
    assert worker.get("widget").status_code == 304 and worker.tags["widget"] == widget_tag

    # A reply.
    review = db.session.get(Review, second.id)
    review.reply_text = "Merci pour votre confiance."
    review.reply_published_at = utcnow()
    db.session.commit()
    replies = [r["reply"] for r in worker.changed("reviews").get_json()["reviews"]]
    assert {"text": "Merci pour votre confiance."} in [
        {"text": r["text"]} for r in replies if r is not None]
    # Nothing else it shows changed: the same ETags, so 304.
    for name in ("summary", "product", "badge", "widget"):
        assert worker.get(name).status_code == 304, name

    # A withdrawal by the author (the order's review and its product's).
    withdraw_by_author(db.session.get(ReviewRequest, second.review_request_id))
    assert counts(worker) == (1, 1, 1)
    assert "1 avis" in worker.changed("badge").get_data(as_text=True)

    # An erasure of the first customer's data.
    erase_customer(db.session.get(Shop, shop.id), "customer-100@example.com", source="cli")
    db.session.commit()
    assert counts(worker) == (0, 0, 0)
    assert "Pas encore d&#39;avis" in worker.changed("badge").get_data(as_text=True)
    assert worker.get("widget").status_code == 304 and worker.tags["widget"] == widget_tag


def test_a_renamed_shop_shows_in_another_worker_at_once(app: Flask, other) -> None:
    shop = make_shop("Boutique Zoë")[0]
    worker = Worker(other, shop.slug)
    worker.warm()
    shop.name = "Boutique Zoë & fils"
    db.session.commit()
    assert worker.changed("summary").get_json()["shop"]["name"] == "Boutique Zoë & fils"
    assert "Boutique Zoë &amp; fils" in worker.changed("badge").get_data(as_text=True)


def test_an_unrelated_commit_keeps_the_other_workers_answers(app: Flask, other) -> None:
    shop = make_shop("Boutique Zoë")[0]
    reviewed(shop, "100", 5)
    worker = Worker(other, shop.slug)
    worker.warm()
    reviewed(make_shop("Une autre boutique")[0], "900", 1)
    for name in worker.paths:
        assert worker.get(name).status_code == 304, name


def review_count(client: Any, path: str) -> int | None:
    """The review count the public page states in its JSON-LD (None: it states none)."""
    db.session.rollback()
    response = client.get(path)
    assert response.status_code == 200, path
    found = re.search(r'"reviewCount":\s*(\d+)', response.get_data(as_text=True))
    return int(found.group(1)) if found else None


def test_the_public_pages_count_from_the_same_fresh_summary(app: Flask, other) -> None:
    """The review page and a product's page take their counts from the worker's cached summary:
    a publication or a withdrawal made through another worker shows on the very next view."""
    shop = make_shop("Boutique Zoë")[0]
    first = reviewed(shop, "100", 5)
    with_product_review(first, 5)
    page, product_page = f"/avis/{shop.slug}", f"/avis/{shop.slug}/produits/{PRODUCT}"
    assert (review_count(other, page), review_count(other, product_page)) == (1, 1)
    assert (review_count(other, page), review_count(other, product_page)) == (1, 1)

    second = reviewed(shop, "101", 3)
    with_product_review(second, 3)
    assert (review_count(other, page), review_count(other, product_page)) == (2, 2)

    withdraw_by_author(db.session.get(ReviewRequest, second.review_request_id))
    assert (review_count(other, page), review_count(other, product_page)) == (1, 1)
