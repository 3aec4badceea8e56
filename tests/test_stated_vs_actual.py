"""What the README and the OpenAPI documents say, the code does (issue 21):

- every back-office page, once logged in, is ``Cache-Control: no-store`` (orders, timeline,
  pending, reviews, customer search…);
- a 405 says what is allowed (``Allow``); an error answer is never publicly cacheable and has
  no ETag, on the API as everywhere;
- the questionnaire, unsubscribe and outage pages allow styles by nonce only, never
  ``'unsafe-inline'``, and every ``<style>`` of theirs carries the nonce;
- the API takes an empty ``per_page``/``page``/``sort``/``rating``/``lang`` as the default, as
  its OpenAPI document now says, and refuses ``page=1000000`` with the right range;
- a NUL in a query string is a 400 on every path (README, Hardening).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import schedule
from factories import make_shop, post_event, status_event
from flask import Flask
from requests_helpers import ADMIN_PAGES, login, merchant

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import ReviewRequest, utcnow


def _logged_in(app: Flask) -> tuple[Any, Any]:
    shop, secret = make_shop("Boutique Zoë")
    client = app.test_client()
    login(client, merchant(shop))
    db.session.rollback()
    return shop, client


def test_every_back_office_page_is_no_store(app: Flask) -> None:
    shop, client = _logged_in(app)
    schedule(shop, "1")
    order_id = db.session.scalar(db.select(ReviewRequest.order_id))
    pages = [*ADMIN_PAGES, f"/orders/{order_id}", "/customers", "/email"]
    for suffix in pages:
        response = client.get(f"/admin/shops/{shop.key}{suffix}", follow_redirects=True)
        assert response.status_code == 200, suffix
        assert response.headers["Cache-Control"] == "no-store", suffix
    search = client.post(f"/admin/shops/{shop.key}/customers",
                         data={"email": "customer-1@example.com"})
    assert search.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("delete", "/webhooks/v1/shp_abcdefghijklmnop/order-status", {"POST"}),
    ("get", "/webhooks/v1/shp_abcdefghijklmnop/order-status", {"POST"}),
    ("put", "/api/v1/shops/boutique/summary", {"GET", "HEAD"}),
    ("post", "/healthz", {"GET", "HEAD"}),
    ("post", "/avis/boutique", {"GET", "HEAD"}),
    ("delete", "/r/" + "A" * 32, {"GET", "POST"}),
])
def test_a_405_says_what_is_allowed_and_is_not_cached(
    client: Any, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers


def test_api_errors_are_never_publicly_cached_nor_etagged(app: Flask, client: Any) -> None:
    shop, _ = make_shop("Boutique Zoë")
    for path in (f"/api/v1/shops/{shop.slug}/reviews?per_page=1000",
                 "/api/v1/shops/no-such-shop/summary",
                 f"/api/v1/shops/{shop.slug}/badge.svg?lang=de"):
        response = client.get(path)
        assert 400 <= response.status_code < 500, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert "ETag" not in response.headers, path
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    ok = client.get(f"/api/v1/shops/{shop.slug}/summary")
    assert ok.headers["Cache-Control"].startswith("public, max-age=") and "ETag" in ok.headers


def _nonce_only(response: Any) -> None:
    policy = response.headers["Content-Security-Policy"]
    style = next(p.strip() for p in policy.split(";") if p.strip().startswith("style-src"))
    assert "'unsafe-inline'" not in policy
    nonce = re.search(r"'nonce-([^']+)'", style)
    assert nonce is not None, policy
    html = response.get_data(as_text=True)
    tags = re.findall(r"<style\b[^>]*>", html)
    assert tags and all(f'nonce="{nonce.group(1)}"' in tag for tag in tags), tags
    assert not re.search(r"\sstyle\s*=", html)


def test_customer_pages_allow_styles_by_nonce_only(app: Flask, client: Any) -> None:
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    assert tick(utcnow()).sent == 1
    token = db.session.get(ReviewRequest, request_id).token
    for path in (f"/r/{token}", f"/u/{token}", "/u/unknown-token-0123456789abcdef",
                 "/r/unknown-token-0123456789abcdef"):
        _nonce_only(client.get(path))
    thanks = client.post(f"/r/{token}", data={"rating": "5", "comment": "Parfait."})
    _nonce_only(thanks)


def test_the_outage_page_allows_styles_by_nonce_only(down: Flask) -> None:  # noqa: F811
    response = down.test_client().get("/r/" + "A" * 32)
    assert response.status_code == 503
    _nonce_only(response)


def test_empty_parameters_are_the_defaults_as_the_openapi_document_says(
    app: Flask, client: Any
) -> None:
    shop, _ = make_shop("Boutique Zoë")
    response = client.get(f"/api/v1/shops/{shop.slug}/reviews?page=&per_page=&sort=&rating=")
    assert response.status_code == 200
    assert response.get_json()["per_page"] == 20 and response.get_json()["page"] == 1
    assert client.get(f"/api/v1/shops/{shop.slug}/badge.svg?lang=").status_code == 200
    document = json.loads((Path(__file__).parent.parent / "kingavis/api/openapi.json").read_text())
    for path in document["paths"].values():
        for parameter in path["get"].get("parameters", []):
            if parameter["in"] == "query":
                assert {"type": "string", "const": ""} in parameter["schema"]["oneOf"], parameter


@pytest.mark.parametrize("page", ["1000000", "100000000000000", "0"])
def test_a_page_out_of_range_names_the_range(app: Flask, client: Any, page: str) -> None:
    shop, _ = make_shop("Boutique Zoë")
    response = client.get(f"/api/v1/shops/{shop.slug}/reviews?page={page}")
    assert response.status_code == 400
    assert response.get_json()["errors"]["page"] == ["must be from 1 to 999999"]
    assert client.get(f"/api/v1/shops/{shop.slug}/reviews?page=999999").status_code == 200
    assert client.get(f"/api/v1/shops/{shop.slug}/reviews?page=0000001").status_code == 200


@pytest.mark.parametrize("query", ["x=%00", "page=1%00", "lang=%00en", "%00=1"])
def test_a_nul_in_a_query_string_is_a_400_everywhere(app: Flask, client: Any, query: str) -> None:
    shop, secret = make_shop("Boutique Zoë")
    for path in (f"/avis/{shop.slug}", f"/api/v1/shops/{shop.slug}/summary",
                 f"/api/v1/shops/{shop.slug}/reviews", "/healthz", "/admin/login"):
        assert client.get(f"{path}?{query}").status_code == 400, path
    response = post_event(client, shop, secret, status_event("o1", "2"))
    assert response.status_code == 202
