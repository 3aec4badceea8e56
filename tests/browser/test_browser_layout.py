"""Layout a merchant and a customer notice, in headless Chromium at 390 and 1366 px, French and
English: the Avis page has no blank gaps, the customer's card keeps a margin on a phone, "send
now" says when, and the README no longer says a customer cannot withdraw a review."""

from __future__ import annotations

import re

import pytest
from delivery_helpers import request_row
from factories import make_shop
from moderation_helpers import reviewed
from playwright.sync_api import expect
from processes import ROOT
from requests_helpers import browser_login, merchant, scheduled

from kingavis.accounts import service as accounts
from kingavis.extensions import db

pytestmark = pytest.mark.browser

SIZES = [{"width": 390, "height": 844}, {"width": 1366, "height": 900}]
README = ROOT / "README.md"


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_reviews_page_customer_card_and_send_now_wording(app, live_server, page, size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    user = merchant(shop)
    review = reviewed(shop, "1", 4, "Très bon thé, livraison rapide.")
    token = request_row(review.review_request_id).token
    scheduled(shop, "2")
    key = shop.key
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)

    # The customer's card keeps a margin on both sides.
    page.goto(f"/r/{token}")
    box = page.locator("main").bounding_box()
    assert box["x"] >= 8 and box["x"] + box["width"] <= size["width"] - 8, box

    browser_login(page, app, user)
    db.session.rollback()
    for lang, summary, when in (("fr", "Répondre", "dans la minute"), ("en", "Reply", "within a minute")):
        accounts.set_language(user, lang)
        db.session.rollback()
        page.goto(f"/admin/shops/{key}/reviews")
        cell = page.locator("td.comment").first
        text = cell.locator(".comment-text").bounding_box()
        reply = cell.locator("summary", has_text=summary).bounding_box()
        # No blank lines between the comment and what one can do with it.
        assert reply["y"] - (text["y"] + text["height"]) < 40, (text, reply)
        assert cell.bounding_box()["height"] < 260
        # "Send now" says when.
        page.goto(f"/admin/shops/{key}/pending")
        page.locator("tr[data-request-id] button", has_text=re.compile("Envoyer maintenant|Send now")).first.click()
        expect(page.locator(".flash").first).to_contain_text(when)

    readme = README.read_text(encoding="utf-8")
    assert "cannot withdraw a review" not in readme
    assert "docs/withdrawal.md" in readme
