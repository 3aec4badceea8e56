"""At phone width (390 px) every back-office page and every customer page fits the screen: no
sideways scrolling. The navigation is grouped and marks the current page. Saves the README's
phone screenshots (docs/screenshots/phone-*.png)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser import screenshot
from delivery_helpers import schedule
from factories import days_ago, make_shop
from playwright.sync_api import expect
from requests_helpers import browser_login, event, merchant, scheduled

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Order, ReviewRequest
from kingavis.review_requests.actions import cancel
from kingavis.shops import rules
from kingavis.shops.collection_settings import set_balancing

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LONG_EMAIL = "marie-charlotte.de-la-fontaine-dupont@exemple-de-boutique-tres-longue.fr"


def shop_with_everything() -> dict[str, Any]:
    """A shop whose pages all have content: pending rows, sent and reviewed requests, rules,
    audit entries, a Review Balancing page."""
    shop, _ = make_shop("Boutique Zoë des Longues Dénominations")
    user = merchant(shop)
    set_balancing(shop, "google", "https://g.page/r/boutique-zoe/review", None)
    ids = [scheduled(shop, str(3000 + i), email=f"client{i}.{LONG_EMAIL}",
                     reference=f"KDZPQRTAB{i}", first_name="Marie-Charlotte",
                     last_name="de la Fontaine-Dupont") for i in range(6)]
    event(shop, "3900", "10", days_ago(20), email=LONG_EMAIL, reference="UNPAIDREF",
          paid=False)
    sent_id = schedule(shop, "4000", reference="SENTREF01", first_name="Zoë")
    assert tick().sent == 1
    token = db.session.get(ReviewRequest, sent_id).token  # type: ignore[union-attr]
    other_id = schedule(shop, "4001", reference="SENTREF02", email="unsub@example.com")
    assert tick().sent == 1
    unsub_token = db.session.get(ReviewRequest, other_id).token  # type: ignore[union-attr]
    rule = rules.create_rule(shop, user, rules.RuleData("Expédié + 7 jours, 9 h", ["4"], 7, 9,
                                                        "Europe/Paris"))
    rules.update_rule(shop, user, rule, rules.RuleData("Expédié + 7 jours, 9 h", ["4"], 5, 9,
                                                       "Europe/Paris"))
    cancel(shop, ids[:2], user=user)
    order_id = db.session.get(ReviewRequest, ids[3]).order_id  # type: ignore[union-attr]
    data = {"key": shop.key, "user": user, "token": token, "unsub_token": unsub_token,
            "rule_id": rule.id, "order_id": order_id}
    db.session.rollback()
    return data


def admin_paths(data: dict[str, Any]) -> dict[str, str]:
    base = f"/admin/shops/{data['key']}"
    return {
        "dashboard": f"{base}/",
        "pending": f"{base}/pending",
        "weekly-check": f"{base}/weekly",
        "orders": f"{base}/orders?q=REF",
        "timeline": f"{base}/orders/{data['order_id']}",
        "history": f"{base}/history",
        "reviews": f"{base}/reviews",
        "stats": f"{base}/stats",
        "settings": f"{base}/settings",
        "rule-new": f"{base}/settings/rules/new",
        "rule-edit": f"{base}/settings/rules/{data['rule_id']}",
        "collection": f"{base}/collection",
        "credentials": f"{base}/credentials",
        "audit": f"{base}/audit",
        "shops": "/admin/",
    }


def sign_in(page: Any, app: Any, user: Any) -> None:
    browser_login(page, app, user)
    db.session.rollback()  # end the test's read transaction: on SQLite the server needs the lock


def overflow(page: Any) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def assert_fits(page: Any, name: str) -> None:
    scroll_width, inner_width = overflow(page)
    assert scroll_width <= inner_width, (
        f"{name} ({page.url}) is {scroll_width} px wide on a {inner_width} px screen"
    )


def test_every_back_office_page_fits_a_phone(app, page) -> None:  # noqa: F811
    data = shop_with_everything()
    page.set_viewport_size(PHONE)
    page.goto("/admin/login")
    assert_fits(page, "login")
    screenshot(page, "phone-login")
    sign_in(page, app, data["user"])
    for name, path in admin_paths(data).items():
        response = page.goto(path)
        assert response is not None and response.status == 200, (name, path)
        assert_fits(page, name)
        if name in ("dashboard", "pending", "timeline", "audit"):
            screenshot(page, f"phone-{name}")
    # The preview of applying a changed active rule to the pending requests.
    page.goto(admin_paths(data)["settings"])
    page.goto(f"/admin/shops/{data['key']}/settings/apply")
    assert_fits(page, "rule preview")


def test_every_customer_page_fits_a_phone(app, page) -> None:  # noqa: F811
    data = shop_with_everything()
    page.set_viewport_size(PHONE)
    page.goto(f"/r/{data['token']}")
    expect(page.get_by_role("heading", name=re.compile("Votre avis sur"))).to_be_visible()
    assert_fits(page, "questionnaire")
    screenshot(page, "phone-questionnaire")
    page.locator('label[for="rating-5"]').click()
    page.locator("#comment").fill("Très bien " * 40 + "https://example.com/" + "x" * 120)
    page.get_by_role("button", name="Envoyer mon avis").click()
    expect(page.get_by_role("heading", name=re.compile("Merci pour votre avis"))).to_be_visible()
    assert_fits(page, "thank-you page")
    page.goto(f"/u/{data['unsub_token']}")
    assert_fits(page, "unsubscribe page")
    with page.expect_navigation():
        page.get_by_role("button").first.click()
    assert_fits(page, "unsubscribed page")
    page.goto("/r/" + "x" * 40)
    assert_fits(page, "unknown link page")


def test_navigation_is_grouped_and_marks_the_current_page(app, page) -> None:  # noqa: F811
    data = shop_with_everything()
    sign_in(page, app, data["user"])
    paths = admin_paths(data)

    # Wide screen: the groups and their links are visible, the current page is marked.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(paths["pending"])
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(page.locator(".nav-toggle-label")).to_be_hidden()  # no menu button on a wide screen
    for group in ("Suivi", "Avis", "Réglages"):
        expect(nav.get_by_role("group", name=group)).to_be_visible()
    current = nav.locator("[aria-current=page]")
    expect(current).to_have_count(1)
    expect(current).to_have_text("Demandes en attente")
    expect(nav.get_by_role("group", name="Suivi").get_by_role("link", name="Demandes en attente")) \
        .to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Journal").click()
    expect(nav.locator("[aria-current=page]")).to_have_text("Journal")

    # Phone: one "Menu" button that names the current page and opens the grouped links.
    page.set_viewport_size(PHONE)
    page.goto(paths["stats"])
    toggle = page.locator(".nav-toggle-label")
    expect(toggle).to_be_visible()
    expect(toggle).to_contain_text("Statistiques")
    expect(nav.get_by_role("link", name="Identifiants")).to_be_hidden()
    toggle.click()
    expect(nav.get_by_role("link", name="Identifiants")).to_be_visible()
    expect(nav.locator("[aria-current=page]")).to_have_text("Statistiques")
    assert_fits(page, "stats with the menu open")
    screenshot(page, "phone-menu")
    nav.get_by_role("link", name="Identifiants").click()
    expect(page).to_have_url(re.compile(r"/credentials$"))
    expect(nav.locator("[aria-current=page]")).to_have_text("Identifiants")
    db.session.rollback()
    assert db.session.query(Order).count() >= 8
