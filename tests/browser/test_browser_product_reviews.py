"""Product reviews in headless Chromium: the questionnaire at 390 px with the keyboard and no
script needed, and widget.js with ``data-kingavis-product`` on a shop page of another origin
(the product's stars, its latest reviews, its Product JSON-LD added to the page)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from factories import make_shop
from playwright.sync_api import expect
from product_helpers import sent_with_items, submit
from sqlalchemy import select
from test_browser_widget import ShopSite, open_shop_page

from kingavis.extensions import db
from kingavis.models import Review

pytestmark = pytest.mark.browser

PRODUCT_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Robe en lin</title></head>
<body><h1>Robe en lin</h1>
<div id="stars" data-kingavis-shop="{slug}" data-kingavis-product="42"></div>
<div id="none" data-kingavis-shop="{slug}" data-kingavis-product="999"></div>
<script src="{kingavis}/widget.js" async></script>
</body></html>
"""


def test_the_questionnaire_at_390_px_by_keyboard_with_scripts_off(chromium, live_server, client,
                                                                  app) -> None:
    shop, secret = make_shop("Atelier Zoë")
    request = sent_with_items(client, shop, secret, "7001")
    token = request.token
    db.session.commit()
    ctx = chromium.new_context(base_url=live_server.url, locale="fr-FR", java_script_enabled=False,
                               viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"/r/{token}")
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_role("group", name="Votre note pour Robe en lin (facultatif)")).to_be_visible()
    # The shop rating by keyboard: focus its first radio, arrow to 4 stars.
    page.get_by_role("radio", name="1 sur 5 Très mauvais").first.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    # A tap on a star's label, as on a phone.
    page.locator('label[for="product-0-rating-5"]').click()
    page.get_by_label("Votre commentaire sur Robe en lin").fill("Très belle robe.")
    page.locator('label[for="product-1-rating-2"]').click()
    expect(page.get_by_role("group", name="Votre note pour Foulard <soie> & \"coton\" (facultatif)")
           .get_by_role("radio", name="2 sur 5 Mauvais")).to_be_checked()
    page.get_by_role("button", name="Envoyer mon avis").click()
    expect(page.get_by_role("heading", name="Merci pour votre avis\u00a0!")).to_be_visible()
    expect(page.locator("#product-reviews")).to_contain_text("Très belle robe.")
    ctx.close()
    db.session.rollback()
    rows = db.session.execute(select(Review.product_id, Review.rating).order_by(Review.id)).all()
    assert [tuple(r) for r in rows] == [(None, 4), ("42", 5), ("77", 2)]


@pytest.fixture
def product_site(live_server, client, app) -> Iterator[tuple[ShopSite, str]]:
    shop, secret = make_shop("Atelier Zoë")
    request = sent_with_items(client, shop, secret, "7002", first_name="Zoë", last_name="Łukasiewicz")
    assert submit(client, request, "4", "", {"42": ("5", "<b>Très</b> belle robe.")}).status_code == 200
    slug = shop.slug
    db.session.commit()
    site = ShopSite(live_server.url, slug)
    body = PRODUCT_PAGE.format(slug=slug, kingavis=live_server.url).encode()
    handler = site.server.RequestHandlerClass
    original = handler.do_GET

    def do_get(self: Any) -> None:
        if self.path == "/robe":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy",
                             f"default-src 'none'; script-src {live_server.url}; "
                             f"connect-src {live_server.url}; base-uri 'none'")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        original(self)

    handler.do_GET = do_get
    yield site, slug
    site.close()


def test_the_product_widget_shows_stars_reviews_and_adds_the_json_ld(chromium, live_server,
                                                                    product_site) -> None:
    site, slug = product_site
    site.url = site.url + "robe"
    ctx, page, seen = open_shop_page(chromium, site)
    badge = page.locator("#stars").get_by_role("link").first
    expect(badge).to_have_accessible_name(
        "Robe en lin\u00a0: note moyenne 5,0 sur 5, 1 avis vérifié — voir les avis (nouvel onglet)")
    expect(badge).to_have_attribute("href", f"{live_server.url}/avis/{slug}/produits/42")
    items = page.locator("#stars").get_by_role("list", name="Derniers avis").get_by_role("listitem")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("<b>Très</b> belle robe.")
    expect(items.first).to_contain_text("Zoë Ł.")
    expect(page.locator("#none").get_by_role("link")).to_contain_text("Pas encore d'avis")
    ld = page.locator('script[type="application/ld+json"]')
    expect(ld).to_have_count(1)
    data = json.loads(ld.text_content())
    assert data["@type"] == "Product" and data["gtin"] == "3760123450010"
    assert data["aggregateRating"]["reviewCount"] == 1
    assert page.evaluate("window.__violations") == []
    assert seen["errors"] == []
    ctx.close()
