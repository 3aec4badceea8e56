"""End to end in headless Chromium: change the delay and the trigger status and see a new
webhook scheduled accordingly; apply a new rule to pending requests after the preview.
Saves docs/screenshots/settings.png and rule-preview.png."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from browser import screenshot
from factories import configure, days_ago, make_shop, post_event, status_event
from playwright.sync_api import expect
from requests_helpers import PASSWORD, event, merchant, request_row, scheduled
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import InvitationRule, Shop
from kingavis.shops import rules

pytestmark = pytest.mark.browser

CUSTOMERS = [
    ("2041", "KDZPQRTAB", "Zoë", "Martin", "zoe.martin@example.com", 1),
    ("2042", "LMWQXTRSE", "Hugo", "Bernard", "hugo.b@example.org", 2),
    ("2043", "PXNZGHYUA", "Léa", "Dubois", "lea.dubois@example.net", 3),
    ("2044", "QWERTZUIO", "Jules", "Moreau", "jules.moreau@example.com", 4),
    ("2045", "ASDFGHJKL", "Chloé", "Laurent", "chloe.laurent@example.fr", 4),
]


def sign_in(page, app, user) -> None:  # noqa: F811
    """Through the real login page, as the merchant does."""
    email = user.email
    done_reading()
    page.goto("/admin/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).not_to_have_url(re.compile(r"/admin/login"))


def done_reading() -> None:
    """End the test's read transaction: on SQLite the live server needs the write lock."""
    db.session.rollback()


def active_rule(shop_id: int) -> InvitationRule:
    db.session.expire_all()
    rule = db.session.execute(select(InvitationRule).where(
        InvitationRule.shop_id == shop_id, InvitationRule.is_active.is_(True))).scalar_one()
    return rule


def test_change_delay_and_trigger_then_a_webhook_follows(app, live_server, page) -> None:  # noqa: F811
    shop, secret = make_shop("Boutique Zoë")
    user = merchant(shop)
    rules.create_rule(shop, user, rules.RuleData("Expédié + 7 jours, 9 h", ["4"], 7, 9,
                                                 "Europe/Paris"))
    key, shop_id = shop.key, shop.id
    done_reading()
    sign_in(page, app, user)

    page.goto(f"/admin/shops/{key}/settings")
    expect(page.get_by_role("heading", name="Règles et réglages")).to_be_visible()
    screenshot(page, "settings")
    page.get_by_role("link", name="Modifier la règle PrestaShop — Livré").click()

    page.get_by_label("Délai (jours)").fill("3")
    page.get_by_label("Livré (5)").uncheck()
    page.get_by_label("Expédié (4)").check()
    page.get_by_role("button", name="Enregistrer la règle").click()

    # The active rule changed: the back-office asks about the requests already scheduled.
    expect(page.get_by_role("heading", name=re.compile("aux demandes déjà programmées"))).to_be_visible()
    expect(page.locator("#preview-summary")).to_contain_text("Aucune demande programmée")
    rule = active_rule(shop_id)
    assert (rule.delay_days, rule.trigger_status_ids) == (3, ["4"])
    done_reading()

    changed_at = days_ago(0.5).replace(microsecond=0)
    webhooks = app.test_client()
    shop = db.session.get(Shop, shop_id)
    shipped = post_event(webhooks, shop, secret, status_event("1", "4", changed_at.isoformat(),
                                                              reference="EXPEDIE-1"))
    delivered = post_event(webhooks, shop, secret, status_event("2", "5", changed_at.isoformat(),
                                                                email="b@example.com"))
    done_reading()

    assert shipped.json["outcome"] == "scheduled"
    assert delivered.json["outcome"] == "recorded"
    request_id = int(shipped.json["review_request"]["id"])
    assert request_row(request_id).due_at == changed_at + timedelta(days=3)
    done_reading()
    # And the merchant sees it among the pending requests.
    page.goto(f"/admin/shops/{key}/pending")
    expect(page.locator(f'tr[data-request-id="{request_id}"]')).to_contain_text("EXPEDIE-1")


def test_apply_a_new_rule_to_pending_requests_after_the_preview(app, live_server, page) -> None:  # noqa: F811
    shop, _ = make_shop("Boutique Zoë")
    configure(shop, trigger_status_ids=["5", "42"])
    user = merchant(shop)
    ids: dict[str, int] = {}
    for order_id, ref, first, last, email, days in CUSTOMERS:
        ids[order_id] = scheduled(shop, order_id, delivered_days_ago=days, reference=ref,
                                  email=email, first_name=first, last_name=last)
    pickup = event(shop, "2046", "42", days_ago(2), status_name="Retiré en boutique",
                   reference="RETRAIT01", email="nina@example.com")
    kept_id = int(pickup["review_request"]["id"])
    before = {i: request_row(i).due_at for i in [*ids.values(), kept_id]}
    triggered = {i: request_row(i).triggered_at for i in ids.values()}
    key, shop_id = shop.key, shop.id
    done_reading()
    sign_in(page, app, user)

    page.goto(f"/admin/shops/{key}/settings")
    page.get_by_role("link", name="Nouvelle règle").click()
    page.get_by_label("Nom de la règle").fill("Livré ou expédié + 5 jours, 10 h")
    page.get_by_label("Livré (5)").check()
    page.get_by_label("Expédié (4)").check()
    page.get_by_label("Délai (jours)").fill("5")
    page.get_by_label("Heure d'envoi").select_option("10")
    page.get_by_label("Fuseau horaire").fill("Europe/Paris")
    page.get_by_role("button", name="Créer la règle").click()
    expect(page.locator(".flash-success")).to_contain_text("créée")

    page.get_by_role("button", name="Activer la règle Livré ou expédié + 5 jours, 10 h").click()
    expect(page.locator("#preview-summary")).to_contain_text(
        "5 demandes programmées seraient déplacées.")
    expect(page.locator("#moves tr[data-request-id]")).to_have_count(5)
    expect(page.locator("#kept tr[data-request-id]")).to_have_count(1)
    expect(page.locator("#kept")).to_contain_text("RETRAIT01")
    screenshot(page, "rule-preview")
    # The new rule is active already; nothing has moved until the merchant confirms.
    assert active_rule(shop_id).name == "Livré ou expédié + 5 jours, 10 h"
    assert {i: request_row(i).due_at for i in before} == before
    done_reading()

    page.get_by_role("button", name="Appliquer à 5 demandes").click()

    expect(page.locator(".flash-success")).to_contain_text(
        "Règle appliquée : 5 demandes programmées ont été déplacées.")
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    for request_id in ids.values():
        row = request_row(request_id)
        local = row.due_at.astimezone(paris)
        expected_day = triggered[request_id].astimezone(paris).date() + timedelta(days=5)
        assert (local.date(), local.hour, local.minute) == (expected_day, 10, 0)
        assert row.next_attempt_at == row.due_at and row.state == "scheduled"
    assert request_row(kept_id).due_at == before[kept_id]
    done_reading()
