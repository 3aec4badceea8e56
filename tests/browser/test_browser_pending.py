"""End to end in headless Chromium: filter pending requests and bulk-cancel them; the weekly
check; an order's timeline. Saves docs/screenshots/pending.png, weekly-check.png, timeline.png."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from browser import screenshot
from factories import days_ago, make_shop
from playwright.sync_api import expect
from requests_helpers import browser_login, event, merchant, request_row, scheduled, set_due

from kingavis.extensions import db
from kingavis.models import utcnow

pytestmark = pytest.mark.browser

CUSTOMERS = [
    ("1042", "KDZPQRTAB", "Zoë", "Martin", "zoe.martin@example.com"),
    ("1043", "LMWQXTRSE", "Hugo", "Bernard", "hugo.b@example.org"),
    ("1044", "PXNZGHYUA", "Léa", "Dubois", "lea.dubois@example.net"),
    ("1045", "QWERTZUIO", "Jules", "Moreau", "jules.moreau@example.com"),
    ("1046", "ASDFGHJKL", "Chloé", "Laurent", "chloe.laurent@example.fr"),
    ("1047", "YXCVBNMQA", "Louis", "Girard", "louis.girard@example.com"),
]


def seed(shop) -> dict[str, int]:
    """A realistic week: most orders delivered, two awaiting payment again, one stuck."""
    ids: dict[str, int] = {}
    for n, (order_id, ref, first, last, email) in enumerate(CUSTOMERS):
        who = {"reference": ref, "email": email, "first_name": first, "last_name": last}
        event(shop, order_id, "2", days_ago(6 + n), **who)
        ids[order_id] = scheduled(shop, order_id, delivered_days_ago=4 + n, **who)
    for order_id in ("1043", "1045"):  # back to "awaiting bank wire": unpaid
        _, ref, first, last, email = next(c for c in CUSTOMERS if c[0] == order_id)
        event(shop, order_id, "10", days_ago(1), paid=False, reference=ref, email=email,
              first_name=first, last_name=last)
    # 1047 went back to "processing" 8 days ago; a late, older event arrives too.
    _, ref, first, last, email = CUSTOMERS[-1]
    who = {"reference": ref, "email": email, "first_name": first, "last_name": last}
    event(shop, "1047", "3", days_ago(8), **who)
    event(shop, "1047", "2", days_ago(12), **who)
    set_due(ids["1047"], utcnow() + timedelta(days=3))
    return ids


def row(request_id: int) -> tuple[str, str | None]:
    """(state, reason), read without keeping a transaction open (SQLite has one writer, and
    every transaction here takes the write lock: the live server would wait for it)."""
    found = request_row(request_id)
    state, reason = found.state, found.reason
    db.session.rollback()
    return state, reason


def test_filter_pending_requests_and_bulk_cancel(app, live_server, page) -> None:  # noqa: F811
    shop, _ = make_shop("Boutique Zoë")
    user = merchant(shop)
    ids = seed(shop)
    browser_login(page, app, user)
    key = shop.key
    db.session.rollback()

    page.goto(f"/admin/shops/{key}/pending")
    expect(page.get_by_role("heading", name="Demandes en attente")).to_be_visible()
    expect(page.locator("tr[data-request-id]")).to_have_count(6)
    screenshot(page, "pending")

    page.get_by_label("Commande non payée").check()
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("tr[data-request-id]")).to_have_count(2)
    expect(page.locator("#result-count")).to_contain_text("2 demandes programmées")

    page.locator("#bulk-action").select_option("cancel")
    page.locator("#bulk-scope").select_option("filter")
    page.get_by_role("button", name="Continuer…").click()
    expect(page.get_by_role("heading", name="Annuler 2 demandes ?")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Annuler \(2\)")).click()

    expect(page.get_by_role("status").filter(has_text="2 demandes annulées.")).to_be_visible()
    expect(page.locator("tr[data-request-id]")).to_have_count(0)
    expect(page.get_by_text("Aucune demande programmée ne correspond.")).to_be_visible()
    assert row(ids["1043"]) == ("cancelled", "merchant_cancelled")
    assert row(ids["1045"]) == ("cancelled", "merchant_cancelled")

    # Without the filter: pick one row by its checkbox, cancel it after confirming.
    page.get_by_role("link", name="Effacer les filtres").click()
    expect(page.locator("tr[data-request-id]")).to_have_count(4)
    page.get_by_label("Sélectionner la commande KDZPQRTAB").check()
    page.locator("#bulk-action").select_option("cancel")
    page.get_by_role("button", name="Continuer…").click()
    expect(page.get_by_role("heading", name="Annuler 1 demande ?")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"Annuler \(1\)")).click()
    expect(page.get_by_role("status").filter(has_text="1 demande annulée.")).to_be_visible()
    expect(page.locator("tr[data-request-id]")).to_have_count(3)
    assert row(ids["1042"]) == ("cancelled", "merchant_cancelled")


def test_weekly_check_and_order_timeline(app, live_server, page) -> None:  # noqa: F811
    shop, _ = make_shop("Boutique Zoë")
    user = merchant(shop)
    seed(shop)
    browser_login(page, app, user)
    key = shop.key
    db.session.rollback()

    page.goto(f"/admin/shops/{key}/weekly")
    expect(page.get_by_role("heading", name="Contrôle de la semaine")).to_be_visible()
    stuck = page.locator("section#stuck")
    expect(stuck).to_contain_text("YXCVBNMQA")
    expect(page.locator("section#unpaid")).to_contain_text("LMWQXTRSE")
    screenshot(page, "weekly-check")

    stuck.get_by_role("link", name="YXCVBNMQA").click()
    expect(page.get_by_role("heading", name="Commande YXCVBNMQA")).to_be_visible()
    entries = page.locator("ol.timeline > li")
    expect(entries.filter(has_text="ignoré (ancien)")).to_have_count(1)
    expect(entries.filter(has_text="Livré (5)")).to_have_count(1)
    expect(entries.filter(has_text="Décision : Programmée")).to_have_count(1)
    screenshot(page, "timeline")

    # Find another order from the timeline's search box.
    page.get_by_label("Trouver une commande").fill("lea.dubois@")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="PXNZGHYUA").click()
    expect(page.get_by_role("heading", name="Commande PXNZGHYUA")).to_be_visible()
