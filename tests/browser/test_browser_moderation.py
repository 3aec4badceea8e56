"""End to end in headless Chromium at phone width (390 px, no sideways scroll), CSRF on: an
operator works through the moderation queue, a merchant replies to a review, a customer
withdraws theirs. Saves docs/screenshots/moderation-queue.png and review-reply.png."""

from __future__ import annotations

import pytest
from browser import screenshot
from delivery_helpers import request_row
from factories import make_shop
from moderation_helpers import PASSWORD, fresh, operator, reviewed
from playwright.sync_api import expect
from requests_helpers import browser_login

from kingavis.accounts.users import create_user
from kingavis.extensions import db

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide at {PHONE['width']}px"


def test_operator_publishes_and_rejects_from_the_queue(app, live_server, page) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    shop, _ = make_shop("Boutique Zoë")
    held = reviewed(shop, "1", 5, "Super ! Écrivez-moi à zoe@example.com", age_days=2).id
    spam = reviewed(shop, "2", 1, "Moins cher sur www.concurrent.fr", age_days=1).id
    mod = operator()
    page.set_viewport_size(PHONE)
    page.set_default_timeout(30_000)  # a loaded machine
    browser_login(page, app, mod)
    db.session.rollback()  # SQLite: hold no transaction while the server writes

    page.goto("/admin/")
    expect(page.locator("h1")).to_have_text("Modération des avis")
    expect(page.locator("#queue-summary")).to_contain_text("2 avis attendent une décision")
    no_sideways_scroll(page)
    screenshot(page, "moderation-queue")

    item = page.locator(f'li[data-review-id="{spam}"]')
    item.get_by_label("Motif du refus").select_option("advertising")
    item.get_by_role("button", name="Refuser").click()
    expect(page.locator(".flash-success")).to_contain_text("Avis refusé")
    page.locator(f'li[data-review-id="{held}"]').get_by_role("button", name="Publier").click()
    expect(page.locator(".flash-success")).to_contain_text("Avis publié")
    expect(page.locator("#queue-summary")).to_have_text("Aucun avis n'attend de décision.")

    assert (fresh(spam).status, fresh(spam).rejection_reason) == ("rejected", "advertising")
    assert fresh(held).status == "published"


def test_merchant_replies_then_edits_the_reply(app, live_server, page) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    shop, _ = make_shop("Boutique Zoë")
    user, _ = create_user("marchand@example.com", PASSWORD, shop)
    review = reviewed(shop, "1", 2, "Livraison un peu lente mais produit conforme.").id
    key = shop.key
    page.set_viewport_size(PHONE)
    page.set_default_timeout(30_000)
    browser_login(page, app, user)
    db.session.rollback()

    page.goto(f"/admin/shops/{key}/reviews")
    row = page.locator(f'tr[data-review-id="{review}"]')
    row.get_by_text("Répondre", exact=True).click()
    row.locator("textarea[name=text]").fill("Merci pour votre retour, nous allons accélérer les envois.")
    row.get_by_role("button", name="Publier la réponse").click()
    expect(page.locator(".flash-success")).to_contain_text("Réponse publiée")
    row = page.locator(f'tr[data-review-id="{review}"]')
    expect(row.locator(".reply")).to_contain_text("nous allons accélérer les envois")
    no_sideways_scroll(page)
    screenshot(page, "review-reply")

    row.get_by_text("Modifier la réponse").click()
    row.locator("textarea[name=text]").fill("Merci, c'est corrigé.")
    row.get_by_role("button", name="Publier la réponse").click()
    expect(page.locator(f'tr[data-review-id="{review}"] .reply')).to_contain_text("c'est corrigé")
    assert fresh(review).reply_text == "Merci, c'est corrigé."


def test_customer_withdraws_their_review_from_the_link(app, live_server, page) -> None:
    shop, _ = make_shop("Boutique Zoë")
    review = reviewed(shop, "1", 1, "Très déçu par le service.")
    review_id, token = review.id, request_row(review.review_request_id).token
    db.session.rollback()
    page.set_viewport_size(PHONE)
    page.set_default_timeout(30_000)
    page.goto(f"/r/{token}")
    expect(page.locator("#review-text")).to_have_text("Très déçu par le service.")
    no_sideways_scroll(page)
    page.get_by_role("link", name="Retirer mon avis").click()
    page.get_by_role("button", name="Oui, retirer mon avis").click()
    expect(page.locator("h1")).to_have_text("Votre avis est retiré")
    no_sideways_scroll(page)
    assert fresh(review_id).status == "withdrawn"

    page.goto(f"/r/{token}")
    expect(page.locator("h1")).to_have_text("Votre avis est retiré")
    expect(page.get_by_role("link", name="Retirer mon avis")).to_have_count(0)
