"""One number for one thing, written the reader's way, in headless Chromium at 390 and 1366 px,
French and English: the average rating (published reviews only) is the same on every page and
the statistics say so; the statistics CSV opens as it is in a spreadsheet of that language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from delivery_helpers import request_row
from factories import make_shop
from moderation_helpers import operator, reviewed
from playwright.sync_api import expect
from requests_helpers import browser_login, merchant

from kingavis.accounts import service as accounts
from kingavis.extensions import db
from kingavis.reviews.actions import operator_reject, withdraw_by_author

pytestmark = pytest.mark.browser

SIZES = [{"width": 390, "height": 844}, {"width": 1366, "height": 900}]


def shop_with_three_kinds_of_reviews():  # noqa: ANN201
    """Published 5, 3 and 1 (average 3.0), plus a rejected 5 and a withdrawn 5 (3.8 with them)."""
    shop, _ = make_shop("Épicerie Zoë")
    user = merchant(shop)
    for order, rating in (("1", 5), ("2", 3), ("3", 1)):
        reviewed(shop, order, rating, "Avis.")
    rejected = reviewed(shop, "4", 5, "Appelez le 06 12 34 56 78")
    operator_reject(rejected.id, operator(), "personal_data")
    gone = reviewed(shop, "5", 5, "Super.")
    withdraw_by_author(request_row(gone.review_request_id))
    key, slug = shop.key, shop.slug
    db.session.rollback()
    return user, key, slug


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_one_average_everywhere_and_the_statistics_say_which(app, live_server, page, size) -> None:
    user, key, slug = shop_with_three_kinds_of_reviews()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)
    browser_login(page, app, user)
    db.session.rollback()
    for lang, average, definition in (("fr", "3,0", "avis publiés"), ("en", "3.0", "published reviews")):
        accounts.set_language(user, lang)
        db.session.rollback()
        page.goto(f"/admin/shops/{key}/")
        expect(page.locator("#funnel-rating")).to_have_text(f"{average} / 5")
        expect(page.locator("#average-definition")).to_contain_text(definition)
        page.goto(f"/admin/shops/{key}/stats")
        expect(page.locator("#total-rating")).to_have_text(f"{average} / 5")
        expect(page.locator("#average-definition")).to_contain_text(definition)
        page.goto(f"/admin/shops/{key}/reviews")
        expect(page.locator("main")).to_contain_text(f"{average} / 5")
        page.goto(f"/avis/{slug}?lang={lang}")
        expect(page.locator(".average")).to_contain_text(average)


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_statistics_csv_follows_the_language(app, live_server, page, size) -> None:
    user, key, _ = shop_with_three_kinds_of_reviews()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)
    browser_login(page, app, user)
    db.session.rollback()
    for lang, button, header, week, average in (
            ("fr", "Exporter en CSV", "Semaine;Début de semaine;Plateforme;Programmées",
             r"^semaine du \d{1,2} [a-zéû]+\.? \d{4};", ";3,0;"),
            ("en", "Export as CSV", "Week,Week start,Platform,Scheduled",
             r'^"week of [A-Z][a-z]{2} \d{1,2}, \d{4}"', ",3\\.0,")):
        accounts.set_language(user, lang)
        db.session.rollback()
        page.goto(f"/admin/shops/{key}/stats")
        with page.expect_download() as info:
            page.get_by_role("link", name=button).click()
        data = Path(info.value.path()).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")  # UTF-8, said so to the spreadsheet
        text = data.decode("utf-8-sig")
        lines = text.splitlines()
        assert lines[0].startswith(header), lines[0]
        assert "W50" not in text and not re.search(r"\d{4}-W\d\d", text)
        row = next(line for line in lines[1:] if re.search(average, line))
        assert re.search(week, row, re.M), row


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_numbers_plurals_and_words_read_as_people_write_them(app, live_server, page, size) -> None:
    from delivery_helpers import schedule
    from playwright.sync_api import expect as expect_

    from kingavis.delivery.dispatcher import tick

    shop, _ = make_shop("Épicerie Zoë")
    user = merchant(shop)
    fr_token = request_row(schedule(shop, "1", email="zoe@example.com")).token
    en_token = request_row(schedule(shop, "2", locale="en")).token
    assert tick().sent == 2
    reviewed(shop, "3", 4, "Bien.")
    key = shop.key
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)

    # The questionnaire: "5 000 caractères", in the counter and in the error.
    for token, counter, error in ((fr_token, r"0 / 5\s000 caractères", r"dépasse 5\s000 caractères \(5\s001"),
                                  (en_token, r"0 / 5,000 characters", r"longer than 5,000 characters \(5,001")):
        page.goto(f"/r/{token}")
        expect_(page.locator("#comment-counter")).to_have_text(re.compile(counter))
        page.locator('label[for="rating-4"]').click()
        page.locator("#comment").evaluate("(el) => { el.removeAttribute('maxlength'); el.value = 'x'.repeat(5001); }")
        page.locator("#submit").click()
        expect_(page.locator("#comment-error")).to_have_text(re.compile(error))

    browser_login(page, app, user)
    db.session.rollback()
    for lang, erased, words, date in (
            ("fr", "Données du client effacées : 1 commande effacée, 0 demande d'avis annulée, 0 avis retiré.",
             ("review.created", "callback", "Notification", "POST JSON"), r"\d{1,2} [a-zéû]+\.? \d{4}, \d\d:\d\d"),
            ("en", "Customer data erased: 1 order erased, 0 review requests cancelled, 0 reviews withdrawn.",
             ("review.created", "callback URL"), r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d")):
        accounts.set_language(user, lang)
        db.session.rollback()
        page.goto(f"/admin/shops/{key}/collection")
        body = page.locator("main").inner_text()
        for word in words:
            assert word not in body, word
        # The back-office writes a moment with the page's and the widget's medium date.
        page.goto(f"/admin/shops/{key}/reviews")
        expect_(page.locator("main time").first).to_have_text(re.compile(date))
        if lang == "fr":
            page.goto(f"/admin/shops/{key}/customers")
            page.locator("input[name=email]").first.fill("zoe@example.com")
            page.locator("form", has=page.locator("input[name=email]")).first.locator(
                "button[type=submit]").click()
            page.get_by_role("button", name=re.compile("Effacer")).first.click()
            page.get_by_role("button", name=re.compile("Effacer définitivement|Oui")).first.click()
            expect_(page.locator(".flash-success, .flash").first).to_contain_text(erased.replace(" :", "\u00a0:"))
