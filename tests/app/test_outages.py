"""Outages of the services behind the app: the database (503 with Retry-After, nothing stored)
and Redis (login and the back-office keep working).

The database "goes down" by pointing an app at a port nothing listens on (PostgreSQL) or at a
file that cannot be opened (SQLite); the shared PostgreSQL server is never stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import closed_port, make_app
from factories import make_shop, sign, status_event
from flask import Flask

from kingavis.accounts.users import create_user
from kingavis.extensions import db

PASSWORD = "correct horse battery"
MERCHANT = "marie.merchant@kingavis.example"


def _signed_event() -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(status_event("1234", "5", email="zoe@example.com")).encode()
    secret = "whsec_" + "A" * 43 + "="
    return raw, sign(secret, raw, "msg_outage_1")


def test_the_webhook_answers_503_problem_with_retry_after(down: Flask) -> None:
    raw, headers = _signed_event()
    response = down.test_client().post("/webhooks/v1/shp_abcdefghijklmnop/order-status",
                                       data=raw, headers=headers)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["status"] == 503 and body["type"].endswith("/service-unavailable")
    assert "nothing was stored" in body["detail"]


@pytest.mark.parametrize("path", ["/r/" + "A" * 32, "/u/" + "A" * 32, "/c/" + "A" * 32,
                                  "/o/" + "A" * 32 + ".gif"])
def test_customer_pages_answer_a_short_503_page(down: Flask, path: str) -> None:
    response = down.test_client().get(path, headers={"Accept-Language": "en"})
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert "Service temporarily unavailable" in response.get_data(as_text=True)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    french = down.test_client().get(path, headers={"Accept-Language": "fr-FR"})
    assert "Service momentanément indisponible" in french.get_data(as_text=True)


def test_back_office_pages_answer_a_short_503_page(app: Flask, down: Flask) -> None:
    shop, _ = make_shop()
    create_user(MERCHANT, PASSWORD, shop)
    client = app.test_client()
    assert client.post("/admin/login",
                       data={"email": MERCHANT, "password": PASSWORD}).status_code == 302
    # The same browser (its session cookie) while the database is down.
    outage = down.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    outage.set_cookie("session", cookie.value)
    for path in ("/admin/", f"/admin/shops/{shop.key}/pending", f"/admin/shops/{shop.key}/"):
        response = outage.get(path)
        assert response.status_code == 503, path
        assert "Service momentanément indisponible" in response.get_data(as_text=True)
    login = outage.post("/admin/login", data={"email": MERCHANT, "password": PASSWORD})
    assert login.status_code == 503


def test_health_still_names_the_database(down: Flask) -> None:
    response = down.test_client().get("/healthz")
    assert response.status_code == 503
    assert "database" in response.get_json()["failed"]


# --- Redis down ---------------------------------------------------------------------------------


@pytest.fixture
def redis_down_app(database_url: str, tmp_path: Path) -> Any:
    app = make_app(database_url, tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
                   LOGIN_IP_MAX_FAILURES=3)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_login_and_the_back_office_work_while_redis_is_down(redis_down_app: Flask) -> None:
    shop, _ = make_shop()
    create_user(MERCHANT, PASSWORD, shop)
    client = redis_down_app.test_client()
    response = client.post("/admin/login", data={"email": MERCHANT, "password": PASSWORD})
    assert response.status_code == 302
    for path in ("/admin/", f"/admin/shops/{shop.key}", f"/admin/shops/{shop.key}/pending",
                 f"/admin/shops/{shop.key}/history", f"/admin/shops/{shop.key}/orders"):
        page = client.get(path, follow_redirects=True)
        assert page.status_code == 200, path


def test_login_limits_still_hold_in_the_process_while_redis_is_down(redis_down_app: Flask) -> None:
    shop, _ = make_shop()
    create_user(MERCHANT, PASSWORD, shop)
    client = redis_down_app.test_client()
    for n in range(3):
        failed = client.post("/admin/login", data={"email": f"guess{n}@kingavis.example",
                                                   "password": "wrong"})
        assert failed.status_code == 200
    refused = client.post("/admin/login", data={"email": MERCHANT, "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
