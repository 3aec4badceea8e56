"""The public side, in headless Chromium at 390 and 1366 px, French and English: partial stars
with the number beside, French parameter messages, a page past the last one, the empty state,
meta and Open Graph tags, a permalink per review with its own JSON-LD, anyone's report form,
the charter's contact address, and one date format on the page and in the widget."""

from __future__ import annotations

import json
import re

import pytest
from factories import make_shop
from moderation_helpers import operator, reviewed
from playwright.sync_api import expect
from requests_helpers import browser_login
from sqlalchemy import select

from kingavis.delivery.email_design import DesignInput, save_design
from kingavis.extensions import db
from kingavis.models import ReviewReport

pytestmark = pytest.mark.browser

SIZES = [{"width": 390, "height": 844}, {"width": 1366, "height": 900}]


def fits(page, width: int) -> None:  # noqa: ANN001
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px"


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_public_page_stars_words_meta_and_permalink(app, live_server, page, size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    first = reviewed(shop, "1", 4, "Très bon thé.", first_name="Zoë", last_name="Łukasiewicz")
    reviewed(shop, "2", 4, "Bien.")
    reviewed(shop, "3", 3, "Correct.")
    # The logo and the shop's own site, as the merchant set them in the email design.
    save_design(shop, None, "fr", DesignInput(logo_url="https://cdn.example/logo.png",
                                              shop_url="https://epicerie.example/"))
    slug, first_id = shop.slug, first.id
    empty, _ = make_shop("Atelier vide")
    empty_slug = empty.slug
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)

    page.goto(f"/avis/{slug}")
    expect(page.locator("h1")).to_have_text("Avis clients d'Épicerie Zoë")
    expect(page.locator("img.logo")).to_have_attribute("src", "https://cdn.example/logo.png")
    expect(page.locator("#back-to-shop")).to_have_text("Aller sur le site d'Épicerie Zoë")
    expect(page.locator("#back-to-shop")).to_have_attribute("href", "https://epicerie.example/")
    assert page.locator('meta[property="og:image"]').get_attribute("content") == "https://cdn.example/logo.png"
    # 11/3 = 3.7: three gold stars and 70 % of the fourth, the number beside.
    row = page.locator(".average-stars svg.star-row")
    fill, width = float(row.get_attribute("data-fill")), float(row.get_attribute("width"))
    star = width / (5 * 16 + 4 * 3)
    assert 3 * 19 * star < fill < 4 * 19 * star, (fill, width)
    expect(page.locator(".average-number")).to_have_text("3,7")
    description = page.locator('meta[name="description"]').get_attribute("content")
    assert "Épicerie Zoë" in description and "3,7 sur 5" in description
    assert page.locator('meta[property="og:title"]').get_attribute("content") == "Avis clients d'Épicerie Zoë"
    assert page.locator('meta[property="og:url"]').get_attribute("content").endswith(f"/avis/{slug}")
    expect(page.locator(".muted", has_text="Publié le").first).to_contain_text(
        re.compile(r"Expérience du \d{1,2} [a-zéû]+\.? \d{4} · Publié le \d{1,2} [a-zéû]+\.? \d{4}"))
    fits(page, size["width"])

    # A permalink per review, with its own JSON-LD.
    page.locator(f"#avis-{first_id} a.permalink").click()
    expect(page).to_have_url(re.compile(rf"/avis/{slug}/{first_id}$"))
    expect(page.locator("h1")).to_have_text("Avis de Zoë Ł. sur Épicerie Zoë")
    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["@type"] == "Review" and data["reviewRating"]["ratingValue"] == 4
    assert data["reviewBody"] == "Très bon thé." and data["itemReviewed"]["name"] == "Épicerie Zoë"
    expect(page.locator("#all-reviews")).to_contain_text("Tous les avis d'Épicerie Zoë")
    fits(page, size["width"])

    # Bad parameters in the page's language; past the last page: the shop exists.
    response = page.goto(f"/avis/{slug}?rating=9")
    assert response.status == 400
    expect(page.locator("main")).to_contain_text("la note doit être un nombre entier de 1 à 5")
    assert "must be" not in page.content()
    response = page.goto(f"/avis/{slug}?rating=9&lang=en")
    expect(page.locator("main")).to_contain_text("the rating must be a whole number from 1 to 5")
    response = page.goto(f"/avis/{slug}?page=5")
    assert response.status == 404
    expect(page.locator("#past-end")).to_have_text("Les avis d'Épicerie Zoë tiennent sur une seule page.")
    expect(page.locator("main")).not_to_contain_text("Aucune boutique")
    page.get_by_role("link", name="Voir la première page").click()
    expect(page.locator("h1")).to_have_text("Avis clients d'Épicerie Zoë")

    # English, and an empty shop: "0 avis" and the charter.
    page.goto(f"/avis/{slug}?lang=en")
    expect(page.locator("h1")).to_have_text("Customer reviews of Épicerie Zoë")
    expect(page.locator(".average-number")).to_have_text("3.7")
    page.goto(f"/avis/{empty_slug}")
    expect(page.locator("#empty-state")).to_contain_text("0 avis")
    expect(page.locator("#empty-state").get_by_role("link")).to_have_attribute(
        "href", f"/avis/{empty_slug}/charte")
    assert "collectés par King-Avis" in page.locator('meta[name="description"]').get_attribute("content")
    fits(page, size["width"])


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_anyone_reports_a_review_and_the_charter_gives_the_contact(app, live_server, page,
                                                                   size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    review = reviewed(shop, "1", 1, "Nul.")
    slug, review_id = shop.slug, review.id
    mod = operator()
    db.session.rollback()
    page.set_viewport_size(size)
    page.set_default_timeout(30_000)

    # While the contact address is localhost, the charter gives none, the operator is told.
    page.goto(f"/avis/{slug}/charte")
    assert "localhost" not in page.content()
    expect(page.locator("#report-how")).to_contain_text("Signaler cet avis")
    expect(page.locator("#contact")).to_have_count(0)
    browser_login(page, app, mod)
    db.session.rollback()
    page.goto("/admin/moderation")
    expect(page.locator("#contact-missing")).to_contain_text("KINGAVIS_CONTACT_EMAIL")
    page.context.clear_cookies()
    app.config["KINGAVIS_CONTACT_EMAIL"] = "avis@kingavis.example"
    page.goto(f"/avis/{slug}/charte?lang=en")
    expect(page.locator("#contact")).to_have_text(
        "For any question about these reviews, write to avis@kingavis.example.")

    page.goto(f"/avis/{slug}")
    page.locator(f"#avis-{review_id}").get_by_role("link", name="Signaler cet avis").click()
    expect(page.locator("h1")).to_have_text("Signaler un avis")
    fits(page, size["width"])
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator(".alert")).to_contain_text("Le signalement n'a pas été envoyé")
    expect(page.locator("#reason-error")).to_have_text("Choisissez un motif dans la liste.")
    page.locator("#report-reason").select_option("insulting")
    page.locator("#report-email").fill("lecteur@example.com")
    page.locator("#report-text").fill("Ce commentaire insulte le vendeur.")
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#report-done")).to_contain_text("Un modérateur de King-Avis")
    report = db.session.execute(select(ReviewReport)).scalar_one()
    assert (report.reason_code, report.reporter_email) == ("insulting", "lecteur@example.com")
    db.session.rollback()
    # The review stays published meanwhile; the operator sees the report and whom to answer.
    page.goto(f"/avis/{slug}")
    expect(page.locator(f"#avis-{review_id}")).to_be_visible()
    browser_login(page, app, mod)
    db.session.rollback()
    page.goto("/admin/moderation")
    card = page.locator(f'[data-review-id="{review_id}"]')
    expect(card).to_contain_text("Signalé depuis la page publique")
    expect(card).to_contain_text("lecteur@example.com")
    expect(page.locator("#contact-missing")).to_have_count(0)
    # Publier and Refuser are apart: the reject button is below the publish one.
    publish = card.locator("button.publish").bounding_box()
    reject = card.locator("button.reject").bounding_box()
    assert reject["y"] >= publish["y"] + publish["height"] + 10
    fits(page, size["width"])


@pytest.mark.parametrize("size", SIZES, ids=["390", "1366"])
def test_the_widget_writes_dates_as_the_page_does(app, live_server, page, size) -> None:
    shop, _ = make_shop("Épicerie Zoë")
    reviewed(shop, "1", 4, "Très bon thé.")
    slug = shop.slug
    db.session.rollback()
    page.set_viewport_size(size)
    page.goto(f"/avis/{slug}?lang=en")
    on_page = page.locator(".review .muted").first.inner_text()
    page.goto(f"/avis/{slug}")
    on_page_fr = page.locator(".review .muted").first.inner_text()
    html = (f'<html lang="fr"><body><div data-kingavis-shop="{slug}" data-kingavis-reviews="1"></div>'
            f'<div data-kingavis-shop="{slug}" data-kingavis-reviews="1" data-lang="en"></div>'
            f'<script src="{live_server.url}/widget.js"></script></body></html>')
    # A shop's page carrying the widget (served by the browser itself).
    page.route("**/boutique.html", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto("/boutique.html")
    meta = page.locator("li .meta")
    expect(meta).to_have_count(2)
    # Experience first, then publication, in the page's medium date: the same words.
    assert meta.nth(0).inner_text() == on_page_fr, (meta.nth(0).inner_text(), on_page_fr)
    assert meta.nth(1).inner_text() == on_page, (meta.nth(1).inner_text(), on_page)
    assert re.fullmatch(r"Experience of [A-Z][a-z]{2} \d{1,2}, \d{4} · Published on [A-Z][a-z]{2} \d{1,2}, \d{4}",
                        on_page), on_page
