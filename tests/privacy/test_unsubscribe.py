"""The unsubscribe link (docs/sending.md): a GET shows a button, a POST or an RFC 8058 one-click POST
unsubscribes, both idempotent. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from conftest import make_app
from factories import days_ago, make_shop, new_webhook_id, status_event
from flask import Flask
from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import ReviewRequest, Shop, Unsubscription
from kingavis.orders.events import apply_status_event

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def deliver(shop: Shop, order_id: str = "1234", **kwargs: object) -> ReviewRequest | None:
    """Apply a 'delivered' status event, as the webhook does; the order's review request."""
    body = status_event(order_id, "5", days_ago(1), **kwargs)  # type: ignore[arg-type]
    body["data"]["changed_at"] = datetime.fromisoformat(body["data"]["changed_at"])
    result = apply_status_event(shop, body, new_webhook_id())
    review = result.body["review_request"]
    return db.session.get(ReviewRequest, int(review["id"])) if review else None


def unsubscriptions() -> list[tuple[int, str]]:
    db.session.rollback()
    rows = db.session.execute(select(Unsubscription.shop_id, Unsubscription.email_normalized))
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def scheduled(app: Flask) -> ReviewRequest:
    shop, _ = make_shop("Boutique Zoë")
    request = deliver(shop, email="Zoe@Example.com")
    assert request is not None and request.state == "scheduled"
    return request


def test_get_shows_a_button_and_changes_nothing(client, scheduled: ReviewRequest) -> None:
    response = client.get(f"/u/{scheduled.token}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form method="post">' in page and "<button" in page
    assert "Me désabonner" in page and "Boutique Zoë" in page
    assert "z***@example.com" in page
    assert "Zoe@Example.com" not in page and "zoe@example.com" not in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert unsubscriptions() == []
    # Many scanners fetch the link: still nothing.
    client.get(f"/u/{scheduled.token}")
    client.head(f"/u/{scheduled.token}")
    assert unsubscriptions() == []


def test_post_unsubscribes_and_is_idempotent(client, scheduled: ReviewRequest) -> None:
    token, shop_id = scheduled.token, scheduled.shop_id
    first = client.post(f"/u/{token}")
    assert first.status_code == 200
    assert "Vous êtes désabonné" in first.get_data(as_text=True)
    assert unsubscriptions() == [(shop_id, "zoe@example.com")]

    again = client.post(f"/u/{token}")
    assert again.status_code == 200
    assert unsubscriptions() == [(shop_id, "zoe@example.com")]

    page = client.get(f"/u/{token}").get_data(as_text=True)
    assert "Vous êtes désabonné" in page and "<form" not in page


def test_one_click_post_unsubscribes_at_once(client, scheduled: ReviewRequest) -> None:
    token, shop_id = scheduled.token, scheduled.shop_id
    for _ in range(2):
        response = client.post(f"/u/{token}", data=ONE_CLICK)  # form-encoded, as RFC 8058 says
        assert response.status_code == 200
    assert unsubscriptions() == [(shop_id, "zoe@example.com")]


def test_unsubscribing_leaves_the_scheduled_request_and_later_ones_are_suppressed(
    client, scheduled: ReviewRequest
) -> None:
    token, request_id = scheduled.token, scheduled.id
    client.post(f"/u/{token}", data=ONE_CLICK)

    db.session.expire_all()
    # Not cancelled here: the dispatcher checks unsubscriptions again at send time.
    assert db.session.get(ReviewRequest, request_id).state == "scheduled"
    shop = db.session.get(Shop, scheduled.shop_id)
    later = deliver(shop, order_id="5678", email="zoe@example.com")
    assert later is not None and (later.state, later.reason) == ("suppressed", "unsubscribed")


def test_unsubscribing_concerns_one_shop_only(client, scheduled: ReviewRequest) -> None:
    other_shop, _ = make_shop("Autre boutique")
    other = deliver(other_shop, email="zoe@example.com")
    assert other is not None
    client.post(f"/u/{scheduled.token}")
    assert unsubscriptions() == [(scheduled.shop_id, "zoe@example.com")]


@pytest.mark.parametrize("token", ["unknown-token-0123456789abcdef", "x", "tok'en<script>", "%00" * 5,
                                   "A" * 200])
def test_unknown_token_is_a_404_page_and_changes_nothing(client, scheduled: ReviewRequest,
                                                         token: str) -> None:
    for response in (client.get(f"/u/{token}"), client.post(f"/u/{token}"),
                     client.post(f"/u/{token}", data=ONE_CLICK)):
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "Lien introuvable" in response.get_data(as_text=True)
    assert unsubscriptions() == []


def test_404_page_follows_the_browser_language(client, scheduled: ReviewRequest) -> None:
    response = client.get("/u/unknown-token-0123456789abcdef", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.status_code == 404
    assert "Link not found" in response.get_data(as_text=True)


@pytest.mark.parametrize(("locale", "language", "button", "done"), [
    ("en-GB", "fr", "Unsubscribe</button>", "You are unsubscribed"),
    ("fr_FR", "en", "Me désabonner</button>", "Vous êtes désabonné"),
    ("de", "en", "Unsubscribe</button>", "You are unsubscribed"),
    (None, "fr", "Me désabonner</button>", "Vous êtes désabonné"),
])
def test_pages_in_the_customers_language_else_the_shops(
    app: Flask, client, locale: str | None, language: str, button: str, done: str
) -> None:
    shop, _ = make_shop("Zoë's", language=language)
    request = deliver(shop, locale=locale)
    assert request is not None
    token = request.token
    assert button in client.get(f"/u/{token}").get_data(as_text=True)
    assert done in client.post(f"/u/{token}").get_data(as_text=True)


def test_shop_name_is_escaped(app: Flask, client) -> None:
    shop, _ = make_shop("<script>alert(1)</script> & Co")
    request = deliver(shop)
    assert request is not None
    page = client.get(f"/u/{request.token}").get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page


def test_posts_work_with_csrf_protection_on(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)

    @app.post("/_csrf_probe")
    def probe() -> str:
        return "reached"

    with app.app_context():
        try:
            shop, _ = make_shop()
            request = deliver(shop)
            assert request is not None
            token, shop_id = request.token, request.shop_id
            client = app.test_client()
            # CSRF protection is really on: an ordinary form POST without a token is refused.
            assert client.post("/_csrf_probe").status_code == 400

            assert client.post(f"/u/{token}", data=ONE_CLICK).status_code == 200
            assert client.post(f"/u/{token}").status_code == 200
            assert unsubscriptions() == [(shop_id, "zoe@example.com")]
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_email_links_reach_these_pages(client, scheduled: ReviewRequest, app: Flask) -> None:
    from kingavis.delivery.messages import build_message

    msg = build_message(scheduled, base_url=app.config["KINGAVIS_BASE_URL"], mail_from="a@b.example")
    url = re.fullmatch(r"\s*<(.+)>", msg["List-Unsubscribe"])
    assert url is not None
    path = url[1].removeprefix(app.config["KINGAVIS_BASE_URL"])
    assert client.post(path, data=ONE_CLICK).status_code == 200
    assert db.session.execute(select(func.count()).select_from(Unsubscription)).scalar_one() == 1


def test_the_pages_are_kept_out_of_indexes_caches_and_frames(client, scheduled: ReviewRequest) -> None:
    """The URL holds the secret token: no index, no cache, no Referer, no framing, no sniffing."""
    for response in (client.get(f"/u/{scheduled.token}"), client.post(f"/u/{scheduled.token}")):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert re.fullmatch(
            r"default-src 'none'; style-src 'nonce-[\w-]+'; form-action 'self'; "
            r"base-uri 'none'; frame-ancestors 'none'",
            response.headers["Content-Security-Policy"])


def test_each_unsubscription_is_logged_with_the_address_masked(client, scheduled: ReviewRequest) -> None:
    from delivery_helpers import log_lines

    token, shop_id, request_id = scheduled.token, scheduled.shop_id, scheduled.id
    with log_lines("kingavis.pages") as log:
        client.post(f"/u/{token}")
        client.post(f"/u/{token}", data=ONE_CLICK)
        client.get(f"/u/{token}")  # showing the page is not unsubscribing
    assert log.lines("unsubscribed") == [
        {"shop_id": shop_id, "review_request_id": request_id, "email": "z***@example.com",
         "one_click": one_click}
        for one_click in (False, True)
    ]


def test_the_unsubscription_is_dated_in_the_customers_export(client, scheduled: ReviewRequest) -> None:
    from kingavis.models import utcnow
    from kingavis.personal_data.export import export_customer

    before = utcnow()
    client.post(f"/u/{scheduled.token}")
    db.session.rollback()
    shop = db.session.get(Shop, scheduled.shop_id)
    dated = export_customer(shop, "zoe@example.com")["unsubscription"]["created_at"]
    assert before <= datetime.fromisoformat(dated) <= utcnow()


def test_an_erased_customers_link_still_unsubscribes_their_address(
    client, scheduled: ReviewRequest
) -> None:
    """After an erasure the request keeps only the address's key: its page shows no address,
    and its button still unsubscribes that address, so a later order of it is suppressed."""
    from kingavis.personal_data.erasure import erase_customer

    token, shop_id = scheduled.token, scheduled.shop_id
    erase_customer(db.session.get(Shop, shop_id), "zoe@example.com", source="cli")
    page = client.get(f"/u/{token}").get_data(as_text=True)
    assert "à l'adresse <strong>***</strong>" in page and "example.com" not in page
    assert "<form" in page
    assert client.post(f"/u/{token}").status_code == 200

    shop = db.session.get(Shop, shop_id)
    later = deliver(shop, order_id="5678", email="Zoe@Example.com")
    assert later is not None and (later.state, later.reason) == ("suppressed", "unsubscribed")
