"""In Chromium: the audit log and the funnel in the merchant's words and number format, in
French then (one click on the language button) in English; the copy buttons of the
credentials page. Saves docs/screenshots/audit.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser import screenshot
from delivery_helpers import request_row, schedule
from factories import make_shop
from playwright.sync_api import expect
from requests_helpers import browser_login, merchant, scheduled

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Review
from kingavis.review_requests.actions import cancel
from kingavis.shops import rules

pytestmark = pytest.mark.browser


def plain(page: Any, selector: str) -> str:
    """The element's text as read on screen, non-breaking spaces as spaces."""
    return re.sub(r"\s+", " ", page.locator(selector).inner_text().replace("\u00a0", " ")).strip()


def merchant_with_history() -> tuple[str, Any]:
    shop, _ = make_shop("Boutique Zoë")
    user = merchant(shop)
    rule = rules.create_rule(shop, user, rules.RuleData("Expédié + 3", ["4"], 3, None,
                                                        "Europe/Paris"))
    rules.update_rule(shop, user, rule, rules.RuleData("Expédié + 3", ["4"], 5, None,
                                                       "Europe/Paris"))
    cancel(shop, [scheduled(shop, "11", reference="KDZ11"),
                     scheduled(shop, "12", reference="KDZ12")], user=user)
    for order, rating in (("21", 4), ("22", 5)):
        request_id = schedule(shop, order)
        assert tick().sent == 1
        row = request_row(request_id)
        db.session.add(Review(shop_id=shop.id, order_id=row.order_id, review_request_id=row.id,
                              rating=rating))
        db.session.commit()
    schedule(shop, "23")
    assert tick().sent == 1  # sent, never opened nor clicked
    key = shop.key
    return key, user


def test_audit_log_and_funnel_in_french_then_english(app, page) -> None:  # noqa: F811
    key, user = merchant_with_history()
    browser_login(page, app, user)
    db.session.rollback()

    page.goto(f"/admin/shops/{key}/audit")
    details = plain(page, "table.audit")
    assert "Délai : 3 → 5 jours" in details
    assert "2 demandes annulées" in details
    assert "Commandes : KDZ11, KDZ12" in details
    assert "Règle « Expédié + 3 »" in details
    assert "{" not in details and "[" not in details
    # French typography: the space before ":" is a non-breaking one.
    assert "Délai\u00a0: 3" in page.locator("table.audit").inner_text()
    screenshot(page, "audit")

    page.goto(f"/admin/shops/{key}/")
    assert plain(page, "#funnel-rating") == "4,5 / 5"
    assert plain(page, "#funnel-reviewed") == "2 (66,7 %)"
    assert plain(page, "#funnel-clicked") == "2 (66,7 %)"  # each review implies a click
    assert plain(page, "#funnel-sent") == "3"

    # One click on the language button, and the page is in English.
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert plain(page, "#funnel-rating") == "4.5 / 5"
    assert plain(page, "#funnel-reviewed") == "2 (66.7%)"
    expect(page.get_by_role("button", name="Français")).to_be_visible()

    page.goto(f"/admin/shops/{key}/audit")
    details = plain(page, "table.audit")
    assert "Delay: 3 → 5 days" in details
    assert "2 requests cancelled" in details
    assert "Orders: KDZ11, KDZ12" in details
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.locator("[aria-current=page]")).to_have_text("Log")


def test_copy_buttons_copy_the_webhook_url_and_the_secret(app, page) -> None:  # noqa: F811
    shop, secret = make_shop("Boutique Zoë")
    user = merchant(shop)
    key = shop.key
    browser_login(page, app, user)
    db.session.rollback()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto(f"/admin/shops/{key}/credentials")
    page.get_by_role("button", name="Copier l'adresse").click()
    expect(page.locator("button[data-copy=webhook-url]")).to_have_attribute("data-result", "copied")
    url = page.locator("#webhook-url").inner_text()
    assert url.endswith(f"/webhooks/v1/{key}/order-status")
    assert page.evaluate("navigator.clipboard.readText()") == url

    page.get_by_role("button", name="Afficher le secret").click()
    page.get_by_role("button", name="Copier le secret").click()
    expect(page.locator("button[data-copy=webhook-secret]")).to_have_attribute("data-result",
                                                                               "copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret


def test_the_rule_form_says_what_will_and_will_not_trigger_as_boxes_are_ticked(
        app, page) -> None:  # noqa: F811
    shop, _ = make_shop("Boutique Zoë")
    user = merchant(shop)
    key, rule_id = shop.key, shop.active_rule.id
    browser_login(page, app, user)
    db.session.rollback()

    page.goto(f"/admin/shops/{key}/settings/rules/{rule_id}")
    assert plain(page, "#coverage-yes") == "Déclencheront une demande : Livré (5)"
    expect(page.locator("#coverage-missed")).to_be_hidden()

    # The walk's mistake: "Expédié" instead of "Livré". The form warns before saving.
    page.get_by_label("Livré (5)").uncheck()
    page.get_by_label("Expédié (4)").check()
    assert plain(page, "#coverage-yes") == "Déclencheront une demande : Expédié (4)"
    expect(page.locator("#coverage-missed")).to_be_visible()
    assert "Livré (5)" in plain(page, "#coverage-missed")
    assert "Annulé (6)" in plain(page, "#coverage-no")
    screenshot(page, "rule-form")

    page.get_by_label("Livré (5)").check()
    expect(page.locator("#coverage-missed")).to_be_hidden()
    assert plain(page, "#coverage-yes") == "Déclencheront une demande : Expédié (4), Livré (5)"
