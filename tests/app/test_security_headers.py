"""Security headers on every HTML page: a Content-Security-Policy that forbids framing and
inline code without the page's nonce, no MIME sniffing, a Referrer-Policy, and HSTS when the
public URL is https. The pages themselves hold no inline code the policy would block (the
browser tests check that they still work)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from delivery_helpers import schedule
from flask import Flask
from requests_helpers import ADMIN_PAGES

from kingavis.accounts.users import create_user
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import ReviewRequest, utcnow

PASSWORD = "correct horse battery"
MERCHANT = "marie.merchant@kingavis.example"


def check_html_headers(response: Any) -> str:
    """The policy of an HTML response, after checking the headers every page must have."""
    assert response.mimetype == "text/html"
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in _directive(policy, "script-src")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    return policy


def _directive(policy: str, name: str) -> str:
    for part in policy.split(";"):
        if part.strip().startswith(name + " "):
            return part.strip()
    return ""


@pytest.fixture
def merchant(app: Flask, client: Any) -> Any:
    from factories import make_shop

    shop, _ = make_shop("Boutique Zoë")
    create_user(MERCHANT, PASSWORD, shop)
    assert client.post("/admin/login", data={"email": MERCHANT,
                                             "password": PASSWORD}).status_code == 302
    return shop


def test_login_page_has_the_headers_and_no_hsts_over_http(client: Any, app: Flask) -> None:
    response = client.get("/admin/login")
    policy = check_html_headers(response)
    assert "default-src 'self'" in policy
    assert "Strict-Transport-Security" not in response.headers


def test_every_back_office_page_carries_them_and_no_inline_code_without_nonce(
    client: Any, merchant: Any
) -> None:
    for suffix in ADMIN_PAGES:
        response = client.get(f"/admin/shops/{merchant.key}{suffix}", follow_redirects=True)
        assert response.status_code == 200, suffix
        policy = check_html_headers(response)
        nonce = re.search(r"'nonce-([^']+)'", _directive(policy, "style-src"))
        assert nonce, suffix
        html = response.get_data(as_text=True)
        for tag in re.findall(r"<(?:style|script)\b[^>]*>", html):
            assert f'nonce="{nonce.group(1)}"' in tag or " src=" in tag, (suffix, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), suffix  # no inline event handler
        assert not re.search(r"\sstyle\s*=", html), suffix  # no inline style attribute
    # A fresh nonce for every response.
    first = client.get(f"/admin/shops/{merchant.key}/pending").headers["Content-Security-Policy"]
    second = client.get(f"/admin/shops/{merchant.key}/pending").headers["Content-Security-Policy"]
    assert first != second


def test_error_pages_carry_them_too(client: Any, merchant: Any) -> None:
    check_html_headers(client.get(f"/admin/shops/{merchant.key}/orders/123"))  # 404
    check_html_headers(client.get("/admin/shops/unknown/pending"))


def test_customer_pages_carry_them(app: Flask, client: Any) -> None:
    from factories import make_shop

    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    assert tick(utcnow()).sent == 1
    token = db.session.get(ReviewRequest, request_id).token
    for path in (f"/r/{token}", f"/u/{token}", "/u/unknown-token-0123456789abcdef",
                 "/r/unknown-token-0123456789abcdef"):
        check_html_headers(client.get(path))
    gif = client.get(f"/o/{token}.gif")
    assert gif.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_when_the_public_url_is_https(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, KINGAVIS_BASE_URL="https://avis.example.com")
    with app.app_context():
        client = app.test_client()
        for path in ("/admin/login", "/healthz", "/u/unknown-token-0123456789abcdef"):
            hsts = client.get(path).headers.get("Strict-Transport-Security", "")
            assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 15552000
        db.session.remove()
        db.engine.dispose()
