"""What a merchant sees, in headless Chromium at 390 and 1366 px, French and English: the
product's own error pages and home page, the audit log in sentences with the real actor, the
order timeline in words, and the test email's links opening a preview that stores nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from factories import make_shop
from moderation_helpers import operator, reviewed
from playwright.sync_api import expect
from requests_helpers import browser_login, merchant
from smtp_server import SMTPServer
from sqlalchemy import func, select

from kingavis.accounts import service as accounts
from kingavis.delivery.email_design import send_test_email
from kingavis.extensions import db
from kingavis.models import Review, ReviewRequest, Unsubscription
from kingavis.personal_data.erasure import erase_customer
from kingavis.reviews.actions import operator_reject

pytestmark = pytest.mark.browser

SIZES = [{"width": 390, "height": 844}, {"width": 1366, "height": 900}]


def fits(page, width: int) -> None:  # noqa: ANN001
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px"


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_error_pages_and_home_are_the_products_in_the_readers_language(app, live_server, page,
                                                                       size) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.add_url_rule("/admin/_boom", "boom", lambda: 1 / 0)
    shop, _ = make_shop("Épicerie Zoë")
    user = merchant(shop)
    accounts.set_language(user, "en")
    key = shop.key
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)

    response = page.goto("/")
    assert response.status == 200
    expect(page.locator("h1")).to_contain_text("King-Avis — avis clients vérifiés")
    expect(page.locator("#admin-link")).to_have_attribute("href", "/admin/")
    fits(page, size["width"])
    response = page.goto("/nulle-part")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Page introuvable")
    fits(page, size["width"])
    response = page.goto("/nulle-part?lang=en")
    expect(page.locator("h1")).to_have_text("Page not found")

    # The back-office in the merchant's language: another shop, a missing order, a GET on a
    # form's address, a crash.
    browser_login(page, app, user)
    db.session.rollback()
    for path, status, title in (("/admin/shops/autre/", 404, "Page not found"),
                                (f"/admin/shops/{key}/orders/999999", 404, "Page not found"),
                                ("/admin/logout", 405, "Not possible at this address"),
                                ("/admin/_boom", 500, "Service error")):
        response = page.goto(path)
        assert response.status == status, path
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("#error-home")).to_have_text("Merchant back-office")
        assert "Werkzeug" not in page.content() and "The requested URL" not in page.content()
        fits(page, size["width"])


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_audit_log_and_timeline_speak_in_sentences_with_the_real_actor(app, live_server, page,
                                                                       size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    user = merchant(shop)
    mod = operator()
    rejected = reviewed(shop, "1", 1, "Appelez le 06 12 34 56 78")
    operator_reject(rejected.id, mod, "personal_data")
    order_id = rejected.order_id
    reviewed(shop, "2", 4, "Bien.", email="zoe@example.com")
    erase_customer(shop, "zoe@example.com", source="cli")
    key = shop.key
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)
    browser_login(page, app, user)
    db.session.rollback()

    for lang, actor, erased, reason, who, rejected_words in (
            ("fr", "Ligne de commande", "1 commande effacée", "Depuis la ligne de commande",
             "par la modération de King-Avis", "Avis refusé"),
            ("en", "Command line", "1 order erased", "From the command line",
             "by King-Avis moderation", "Review rejected")):
        accounts.set_language(user, lang)
        db.session.rollback()
        page.goto(f"/admin/shops/{key}/audit")
        row = page.locator("tr", has=page.locator('[data-action="customer.erase"]'))
        expect(row).to_contain_text(actor)
        expect(row).to_contain_text(erased)
        expect(row).to_contain_text(reason)
        body = page.locator("main").inner_text()
        assert not re.search(r"\b[0-9a-f]{64}\b", body), "an address hash is shown"
        for raw in ("source", "outcome", "email_hash", "personal_data", "King-Avis (automatique)"):
            assert raw not in body, raw
        fits(page, size["width"])

        page.goto(f"/admin/shops/{key}/orders/{order_id}")
        entry = page.locator(".timeline li", has_text=rejected_words)
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text(who)
        assert "par moderation" not in page.locator("main").inner_text()
        assert not page.locator(".timeline li", has_text=re.compile("Décision.*Envoyée.*avis refusé",
                                                                    re.S)).count()
        fits(page, size["width"])


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_test_email_links_open_previews_that_store_nothing(app, live_server, page, smtp,
                                                           size) -> None:
    app.config.update(MAIL_URL=smtp.url)
    shop, _ = make_shop("Épicerie Zoë")
    user = merchant(shop, "zoe.marchande@example.com")
    reviews_before = db.session.scalar(select(func.count()).select_from(Review))
    requests_before = db.session.scalar(select(func.count()).select_from(ReviewRequest))
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)
    for lang, notice, submit, done, unsubscribe in (
            ("fr", "Aperçu de l'email d'essai", "Envoyer mon avis", "Aperçu\u00a0: rien n'a été enregistré",
             "Me désabonner"),
            ("en", "Test email preview", "Send my review", "Preview: nothing was stored", "Unsubscribe")):
        assert send_test_email(shop, user, lang).sent
        html = smtp.messages[-1].message.get_body(("html",)).get_content()
        links = re.findall(r'href="(http://127\.0\.0\.1:\d+/[^"]+)"', html)
        review_link = next(link for link in links if "/c/" in link or "/r/" in link)
        unsubscribe_link = next(link for link in links if "/u/" in link or "unsubscribe" in link)
        db.session.rollback()

        page.goto(review_link.replace("&amp;", "&"))
        expect(page.locator("#sample-notice")).to_contain_text(notice)
        expect(page.locator("h1")).to_contain_text("Épicerie Zoë")
        fits(page, size["width"])
        page.locator('label[for="rating-5"]').click()
        page.get_by_role("button", name=submit).click()
        expect(page.locator("h1")).to_have_text(done)
        page.goto(unsubscribe_link.replace("&amp;", "&"))
        expect(page.locator("#sample-notice")).to_contain_text(notice)
        page.get_by_role("button", name=unsubscribe).click()
        expect(page.locator("h1")).to_have_text(done)
        fits(page, size["width"])
    assert db.session.scalar(select(func.count()).select_from(Review)) == reviews_before
    assert db.session.scalar(select(func.count()).select_from(ReviewRequest)) == requests_before
    assert db.session.scalar(select(func.count()).select_from(Unsubscription)) == 0
    db.session.rollback()
    # A forged token for another shop is an unknown link.
    token = re.search(r"/(?:r|u|c)/(essai-[A-Za-z0-9_-]+)", review_link).group(1)
    assert page.request.get(f"/r/{token[:-2]}xx").status == 404
