"""The author's link after a review, in headless Chromium at 390 and 1366 px, French and
English: withdrawal asks for confirmation (a page, no script needed) and can be undone for 30
days; a rejected review says plainly it was not published and why, and can be corrected once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delivery_helpers import request_row
from factories import make_shop
from moderation_helpers import fresh, operator, reviewed
from playwright.sync_api import expect

from kingavis.extensions import db
from kingavis.models import Review
from kingavis.reviews.actions import operator_reject

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def fits(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px"


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1366"])
def test_withdrawal_is_confirmed_then_restorable_for_30_days(app, live_server, page, size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    review = reviewed(shop, "1", 4, "Très bon accueil.")
    review_id, token = review.id, request_row(review.review_request_id).token
    held = reviewed(shop, "2", 5, "Écrivez-moi à zoe@example.com", locale="en")
    held_id, held_token = held.id, request_row(held.review_request_id).token
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)

    page.goto(f"/r/{token}")
    page.get_by_role("link", name="Retirer mon avis").click()
    # The confirmation step changes nothing by itself.
    expect(page.locator("h1")).to_have_text("Retirer votre avis\u00a0?")
    expect(page.locator("main")).to_contain_text("pendant 30\u00a0jours")
    fits(page, size["width"])
    assert fresh(review_id).status == "published"
    page.get_by_role("button", name="Oui, retirer mon avis").click()
    expect(page.locator("h1")).to_have_text("Votre avis est retiré")
    expect(page.locator("#restore-title")).to_contain_text("Vous pouvez le rétablir jusqu'au")
    expect(page.locator("#restore-title")).to_contain_text("retiré définitivement")
    fits(page, size["width"])
    assert fresh(review_id).status == "withdrawn"
    page.get_by_role("button", name="Rétablir mon avis").click()
    expect(page.locator("h1")).to_have_text("Votre avis est rétabli")
    expect(page.locator("#review-status")).to_contain_text("Votre avis est publié")
    assert fresh(review_id).status == "published"

    # English, a review waiting for moderation: restored, it waits again.
    page.goto(f"/r/{held_token}/withdraw")
    expect(page.locator("h1")).to_have_text("Withdraw your review?")
    page.get_by_role("button", name="Yes, withdraw my review").click()
    expect(page.locator("#restore-title")).to_contain_text("withdrawn for good")
    fits(page, size["width"])
    page.get_by_role("button", name="Restore my review").click()
    expect(page.locator("h1")).to_have_text("Your review is restored")
    assert fresh(held_id).status == "pending"

    # Thirty days later it is gone for good: no restore button, and the POST is refused.
    page.goto(f"/r/{held_token}/withdraw")
    page.get_by_role("button", name="Yes, withdraw my review").click()
    row = db.session.get(Review, held_id)
    row.withdrawn_at = row.withdrawn_at - timedelta(days=31)
    db.session.commit()
    page.goto(f"/r/{held_token}")
    expect(page.locator("#restore-gone")).to_have_text(
        "The time to restore it has passed: your review is withdrawn for good.")
    expect(page.get_by_role("button", name="Restore my review")).to_have_count(0)
    assert page.request.post(f"/r/{held_token}/restore").status == 410
    assert fresh(held_id).status == "withdrawn"


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1366"])
def test_a_rejected_author_is_told_why_and_may_correct_once(app, live_server, page, size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    mod = operator()
    fr = reviewed(shop, "1", 2, "Appelez le 06 12 34 56 78")
    en = reviewed(shop, "2", 2, "Call 06 12 34 56 78", locale="en")
    ids = {"fr": fr.id, "en": en.id}
    tokens = {"fr": request_row(fr.review_request_id).token,
              "en": request_row(en.review_request_id).token}
    for review_id in ids.values():
        operator_reject(review_id, mod, "personal_data")
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)
    words = {
        "fr": ("Votre avis n'a pas été publié", "données personnelles", "Envoyer mon avis corrigé",
               "Votre avis corrigé est envoyé", "Vous avez déjà corrigé votre avis une fois"),
        "en": ("Your review was not published", "personal data", "Send my corrected review",
               "Your corrected review is sent", "You already corrected your review once"),
    }
    for lang, (title, reason, button, done, once) in words.items():
        page.goto(f"/r/{tokens[lang]}")
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("#review-status")).to_contain_text(reason)
        # Never "thank you… recorded", never a withdrawal offer for what was never published.
        expect(page.locator("main")).not_to_contain_text("Merci pour votre avis")
        expect(page.locator("#withdraw-button")).to_have_count(0)
        fits(page, size["width"])
        page.locator("#correct-comment").fill("Livraison rapide, produit conforme.")
        page.get_by_role("button", name=button).click()
        expect(page.locator("h1")).to_have_text(done)
        review = fresh(ids[lang])
        assert review.status == "pending" and review.comment == "Livraison rapide, produit conforme."
        page.goto(f"/r/{tokens[lang]}")
        expect(page.locator("#correct-form")).to_have_count(0)
        operator_reject(ids[lang], mod, "off_topic")
        db.session.rollback()
        page.goto(f"/r/{tokens[lang]}")
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("main")).to_contain_text(once)
        expect(page.locator("#correct-form")).to_have_count(0)
