"""Orders with items and their product reviews, made the way shops and customers make them:
a signed webhook with ``data.order.items``, the dispatcher's email, the questionnaire's POST."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from factories import days_ago, post_event, status_event

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import ReviewRequest, Shop

ITEMS: list[dict[str, Any]] = [
    {"product_id": "42", "variant_id": "7", "name": "Robe en lin", "reference": "RL-38",
     "gtin": "3760123450010", "mpn": "RL38", "brand": "Atelier Zoë",
     "url": "https://boutique.example/robe-lin", "image_url": "https://boutique.example/robe.jpg",
     "quantity": 1},
    {"product_id": "42", "variant_id": "8", "name": "Robe en lin (40)", "quantity": 1},
    {"product_id": "77", "name": "Foulard <soie> & \"coton\"", "reference": "FS-1",
     "brand": "Atelier Zoë", "url": "https://boutique.example/foulard"},
    {"product_id": "90", "name": "Ceinture", "gtin": "036000291452"},
]


def items_event(order_id: str, items: list[dict[str, Any]] | None = None, *, days: float = 11,
                email: str | None = None, **kwargs: Any) -> dict[str, Any]:
    body = status_event(order_id, "5", days_ago(days),
                        email=email or f"customer-{order_id}@example.com",
                        placed_at=datetime(2026, 3, 14, 10, 0, tzinfo=UTC), **kwargs)
    body["data"]["order"]["items"] = ITEMS if items is None else items
    return body


def sent_with_items(client: Any, shop: Shop, secret: str, order_id: str = "2001",
                    items: list[dict[str, Any]] | None = None, **kwargs: Any) -> ReviewRequest:
    """The webhook with items, then the dispatcher sends the email: the request, ``sent``."""
    response = post_event(client, shop, secret, items_event(order_id, items, **kwargs))
    assert response.status_code == 202, response.get_json()
    assert tick().sent >= 1
    request_id = int(response.get_json()["review_request"]["id"])
    db.session.rollback()
    request = db.session.get(ReviewRequest, request_id)
    assert request is not None and request.state == "sent"
    return request


def form_fields(page: str) -> dict[str, str]:
    """The product id of each product block of the questionnaire, by its position."""
    return dict(re.findall(r'name="(product-\d+-id)" value="([^"]*)"', page))


def submit(client: Any, request: ReviewRequest, rating: str = "5", comment: str = "",
           products: dict[str, tuple[str, str]] | None = None) -> Any:
    """POST the questionnaire as a browser would: the shop rating and each product block."""
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    data: dict[str, str] = {"rating": rating, "comment": comment}
    for field, product_id in form_fields(page).items():
        index = field.split("-")[1]
        data[field] = product_id
        given = (products or {}).get(product_id)
        if given is not None:
            data[f"product-{index}-rating"], data[f"product-{index}-comment"] = given
    return client.post(f"/r/{request.token}", data=data)
