"""widget.js end to end in headless Chromium, embedded in a shop's page served from another
origin (127.0.0.2, its own port) under a strict Content-Security-Policy that allows King-Avis's
origin for scripts and connections and nothing else: no inline style, no images, Trusted Types
required (so any HTML parsing of a string would be refused and reported).

Checks what a visitor sees (the badge with the average and count, the latest reviews, the link
to the public page), what a screen reader gets, that the shop's CSS does not leak in, that no
CSP violation, error, cookie or third-party request happens. Saves docs/screenshots/widget.png.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from browser import screenshot
from factories import make_shop
from playwright.sync_api import expect
from publication_helpers import minutes_ago, reviewed

from kingavis.extensions import db
from kingavis.models import ReviewState, utcnow
from kingavis.reviews.publication import change_review_state

pytestmark = pytest.mark.browser

SHOP_CSS = """
body { font-family: Georgia, serif; margin: 0; background: #faf7f2; color: #2b2118; }
header { background: #2f4f3a; color: #fff; padding: 14px 32px; font-size: 20px; }
main { display: flex; gap: 40px; padding: 32px; max-width: 980px; }
.photo { width: 300px; height: 300px; border-radius: 12px;
         background: linear-gradient(135deg, #7a9a65, #c5d6a8); flex: none; }
h1 { margin: 0 0 8px; font-size: 30px; } .price { font-size: 24px; margin: 8px 0 20px; }
button { background: #2f4f3a; color: #fff; border: 0; padding: 12px 22px; border-radius: 6px;
         font-size: 16px; }
/* Hostile rules a real shop theme might have: none may reach the widget. */
li { color: rgb(255, 0, 0) !important; list-style: square; }
a { text-decoration: line-through; color: rgb(255, 0, 255); }
p, span { font-size: 40px; }
section.reviews { margin-top: 28px; }
#english { margin-top: 28px; }
"""

PAGE = """<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>Thé vert Sencha — Boutique Zoë</title>
<link rel="stylesheet" href="/shop.css"></head>
<body>
<header>Boutique Zoë · Thés &amp; infusions</header>
<main>
  <div class="photo"></div>
  <div>
    <h1>Thé vert Sencha bio</h1>
    <div data-kingavis-shop="{slug}"></div>
    <p class="price">12,90 €</p>
    <button type="button">Ajouter au panier</button>
    <section class="reviews">
      <div data-kingavis-shop="{slug}" data-kingavis-reviews="3"></div>
    </section>
    <div id="english" data-kingavis-shop="{slug}" data-lang="en"></div>
  </div>
</main>
<script src="{kingavis}/widget.js" async></script>
</body></html>
"""


def csp(kingavis: str) -> str:
    return (f"default-src 'none'; script-src {kingavis}; connect-src {kingavis}; "
            "style-src 'self'; base-uri 'none'; form-action 'none'; "
            "require-trusted-types-for 'script'; trusted-types 'none'")


class ShopSite:
    """The merchant's own shop page, on another origin than King-Avis."""

    def __init__(self, kingavis: str, slug: str, lang: str = "fr") -> None:
        pages = {
            "/": ("text/html; charset=utf-8",
                  PAGE.format(slug=slug, kingavis=kingavis, lang=lang).encode()),
            "/shop.css": ("text/css", SHOP_CSS.encode()),
        }
        policy = csp(kingavis)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                found = pages.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Security-Policy", policy)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        host = "127.0.0.2" if _can_bind("127.0.0.2") else "127.0.0.1"
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _can_bind(host: str) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False


WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
}, true);
"""


@pytest.fixture
def reviews(app: Any) -> dict[str, Any]:
    shop = make_shop("Boutique Zoë")[0]
    low = reviewed(shop, "100", 1, "Colis arrivé en retard, thé éventé.\nDéçue.",
                   at=minutes_ago(30), first_name="Chloé", last_name="Dubois")
    low.reply_text = "Désolés Chloé, nous vous avons renvoyé un sachet."
    low.reply_published_at = utcnow()
    db.session.commit()
    reviewed(shop, "101", 5, "<img src=x onerror=alert(1)> Excellent sencha, très parfumé !",
             at=minutes_ago(20), first_name="Zoë", last_name="Łukasiewicz")
    reviewed(shop, "102", 4, "Bon thé, livraison rapide.", at=minutes_ago(10),
             first_name="Loïc", last_name="Moreau")
    gone = reviewed(shop, "103", 5, "Retiré par son auteur.", at=minutes_ago(5))
    change_review_state(gone, ReviewState.WITHDRAWN, actor="customer")
    slug = shop.slug
    db.session.commit()  # and no transaction left open: SQLite would lock the live server out
    return {"slug": slug}


@pytest.fixture
def shop_site(live_server: Any, reviews: dict[str, Any]) -> Iterator[ShopSite]:
    site = ShopSite(live_server.url, reviews["slug"])
    yield site
    site.close()


def open_shop_page(chromium: Any, site: ShopSite, **context: Any) -> tuple[Any, Any, dict[str, list[str]]]:
    ctx = chromium.new_context(**{"locale": "fr-FR", "viewport": {"width": 1100, "height": 900},
                                  **context})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    seen: dict[str, list[str]] = {"requests": [], "console": [], "errors": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.add_init_script(WATCH)
    page.goto(site.url)
    return ctx, page, seen


def test_the_widget_on_a_shop_page_of_another_origin_under_a_strict_csp(
        chromium, live_server, shop_site, reviews) -> None:
    ctx, page, seen = open_shop_page(chromium, shop_site)
    public_url = f"{live_server.url}/avis/{reviews['slug']}"

    # The badge: average, count, a link to the public page with a full accessible name.
    badges = page.get_by_role("link", name="Boutique Zoë\u00a0: note moyenne 3,3 sur 5, 3 avis vérifiés")
    expect(badges).to_have_count(2)
    expect(badges.first).to_have_attribute("href", public_url)
    expect(badges.first).to_contain_text("3,3")
    expect(badges.first).to_contain_text("3 avis · King-Avis")
    english = page.locator("#english").get_by_role("link")
    expect(english).to_have_accessible_name(
        "Boutique Zoë: average rating 3.3 out of 5, 3 verified reviews — see the reviews (new tab)")
    expect(english).to_contain_text("3 reviews · King-Avis")

    # The latest reviews, newest first, as a labelled list; the withdrawn one is not there.
    latest = page.get_by_role("list", name="Derniers avis")
    expect(latest).to_have_count(1)
    items = latest.get_by_role("listitem")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("Loïc M.")
    expect(items.nth(0)).to_contain_text("Bon thé, livraison rapide.")
    expect(items.nth(1)).to_contain_text("Zoë Ł.")
    # Review text is text: the markup in it is shown, never parsed.
    expect(items.nth(1)).to_contain_text("<img src=x onerror=alert(1)> Excellent sencha")
    expect(items.nth(2)).to_contain_text("Chloé D.")
    expect(items.nth(2)).to_contain_text("Réponse de Boutique Zoë")
    expect(items.nth(2)).to_contain_text("nous vous avons renvoyé un sachet")
    expect(latest).not_to_contain_text("Retiré")
    # Each rating is readable by a screen reader, 1 star as much as 5.
    expect(items.nth(0).get_by_role("img", name="4 étoiles sur 5")).to_be_visible()
    expect(items.nth(1).get_by_role("img", name="5 étoiles sur 5")).to_be_visible()
    expect(items.nth(2).get_by_role("img", name="1 étoile sur 5")).to_be_visible()
    charter = page.get_by_role("link", name="comment nous les vérifions")
    expect(charter).to_have_attribute("href", f"{public_url}/charte")

    # Nothing parsed from data, nothing blocked, no error.
    hosts = [page.locator("[data-kingavis-shop]").nth(i) for i in range(3)]
    for host in hosts:
        assert host.evaluate("h => h.shadowRoot !== null && h.shadowRoot.querySelectorAll("
                             "'img,script,style,[style]').length") == 0
    assert page.evaluate("window.__violations") == []
    assert seen["errors"] == [] and not [m for m in seen["console"] if m.startswith("error")]

    # Isolated from the shop's CSS (red !important list items, struck links, 40px text).
    item_style = items.nth(0).evaluate(
        "e => { const s = getComputedStyle(e); return [s.color, s.listStyleType]; }")
    assert item_style == ["rgb(16, 24, 40)", "none"]
    link_style = badges.first.evaluate(
        "e => { const s = getComputedStyle(e); return [s.textDecorationLine, s.color]; }")
    assert link_style == ["none", "rgb(16, 24, 40)"]
    comment_size = items.nth(0).locator("p").first.evaluate("e => getComputedStyle(e).fontSize")
    assert comment_size == "14px"

    screenshot(page, "widget")

    # A container the shop's own script adds later (a quick view) is filled too.
    page.evaluate("""slug => { const d = document.createElement('div');
        d.id = 'later'; d.setAttribute('data-kingavis-shop', slug);
        document.querySelector('main').appendChild(d); }""", reviews["slug"])
    expect(page.locator("#later").get_by_role("link")).to_contain_text("3,3")

    # Only the shop and King-Avis were contacted; no cookie anywhere.
    origins = {url.split("/", 3)[2] for url in seen["requests"]}
    assert origins == {shop_site.url.split("/")[2], live_server.url.split("/")[2]}
    assert ctx.cookies() == []
    ctx.close()


def test_english_from_the_page_lang_and_a_shop_without_reviews(
        chromium, live_server, app) -> None:
    slug = make_shop("Shop Neuf")[0].slug
    db.session.commit()
    site = ShopSite(live_server.url, slug, lang="en-GB")
    try:
        ctx, page, seen = open_shop_page(chromium, site, locale="en-GB")
        badge = page.get_by_role("link", name="Shop Neuf: no verified reviews yet — see the reviews (new tab)")
        expect(badge).to_have_count(3)
        expect(badge.first).to_contain_text("No reviews yet · King-Avis")
        expect(page.get_by_role("list")).to_have_count(0)
        assert page.evaluate("window.__violations") == []
        assert seen["errors"] == []
        ctx.close()
    finally:
        site.close()


def test_an_unknown_shop_leaves_the_page_alone(chromium, live_server, app) -> None:
    site = ShopSite(live_server.url, "no-such-shop")
    try:
        ctx, page, seen = open_shop_page(chromium, site)
        expect(page.get_by_role("button", name="Ajouter au panier")).to_be_visible()
        # The widget asked for the shop and was answered (a 404 leaves no resource-timing
        # entry in Chromium once errors are not cacheable, so the network is watched instead).
        for _ in range(200):
            if any("/summary" in url for url in seen["requests"]):
                break
            page.wait_for_timeout(50)
        page.wait_for_timeout(500)  # its answer handled
        assert any("/summary" in url for url in seen["requests"]), seen["requests"]
        expect(page.get_by_role("link")).to_have_count(0)
        assert seen["errors"] == [] and page.evaluate("window.__violations") == []
        ctx.close()
    finally:
        site.close()
