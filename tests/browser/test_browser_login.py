"""End to end in headless Chromium: a wrong password, then logging in lands on the dashboard;
revealing the webhook secret. Saves docs/screenshots/login.png, dashboard.png, credentials.png."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from browser import screenshot
from factories import make_shop
from playwright.sync_api import expect

from admin.dashboard import week_starts
from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import Order, Review, ReviewRequest, utcnow

pytestmark = pytest.mark.browser


PASSWORD = "correct horse battery"
# Requests sent and reviews received in each of the last 12 weeks (oldest first).
WEEKLY = [(14, 5), (18, 7), (11, 4), (22, 9), (19, 8), (25, 11), (21, 7), (27, 12), (24, 10),
          (30, 14), (26, 12), (9, 3)]


def seed(shop) -> None:
    now = utcnow()
    starts = week_starts(shop, now)
    n = 0
    for start, (sent, reviews) in zip(starts, WEEKLY, strict=True):
        for i in range(sent):
            n += 1
            at = max(start, min(start + timedelta(hours=8 + i * 150 / sent), now - timedelta(minutes=5)))
            order = Order(shop_id=shop.id, external_id=str(1000 + n), customer_email=f"client{n}@example.com")
            db.session.add(order)
            db.session.flush()
            request = ReviewRequest(shop_id=shop.id, order_id=order.id, state="sent", due_at=at,
                                    sent_at=at, customer_email_normalized=order.customer_email)
            db.session.add(request)
            db.session.flush()
            if i < reviews:
                db.session.add(Review(shop_id=shop.id, order_id=order.id, review_request_id=request.id,
                                      rating=5 - i % 2, created_at=at + timedelta(hours=3)))
    for i in range(7):
        n += 1
        order = Order(shop_id=shop.id, external_id=str(1000 + n), customer_email=f"client{n}@example.com")
        db.session.add(order)
        db.session.flush()
        db.session.add(ReviewRequest(shop_id=shop.id, order_id=order.id, state="scheduled",
                                     due_at=now + timedelta(days=i + 1), next_attempt_at=now + timedelta(days=i + 1),
                                     customer_email_normalized=order.customer_email))
    db.session.commit()


def test_login_dashboard_and_secret(app, live_server, page) -> None:  # noqa: F811
    shop, secret = make_shop("Boutique Zoë")
    create_user("zoe@example.com", PASSWORD, shop)
    seed(shop)
    key = shop.key
    db.session.rollback()  # SQLite: no transaction open while the live server writes

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    expect(page.get_by_role("heading", name="Connexion à l'espace marchand")).to_be_visible()
    page.get_by_label("Email").fill("zoe@example.com")
    page.get_by_label("Mot de passe").fill("not the password")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("Email ou mot de passe incorrect.")
    screenshot(page, "login")

    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(rf"/admin/shops/{re.escape(key)}/$"))
    expect(page.get_by_role("heading", name="Tableau de bord — Boutique Zoë")).to_be_visible()
    expect(page.locator("#stat-scheduled")).to_have_text("7")
    expect(page.locator("#stat-sent")).to_have_text("9")
    expect(page.locator("svg .bar-sent")).to_have_count(12)
    screenshot(page, "dashboard")

    page.get_by_role("link", name="Identifiants").click()
    expect(page.get_by_role("heading", name="Identifiants du webhook")).to_be_visible()
    expect(page.locator("#webhook-url")).to_have_text(f"{live_server.url}/webhooks/v1/{key}/order-status")
    assert secret not in page.content()
    page.get_by_role("button", name="Afficher le secret").click()
    expect(page.locator("#webhook-secret")).to_have_text(secret)
    screenshot(page, "credentials")

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    expect(page.get_by_text("Vous êtes déconnecté.")).to_be_visible()
