"""End to end in headless Chromium: rate an order with the keyboard only, share the review on
the shop's third-party review page (clipboard + new tab, click counted), the automatic redirect
and its cancel button. Saves docs/screenshots/questionnaire.png and thank-you.png."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from browser import screenshot
from delivery_helpers import schedule
from factories import make_shop
from playwright.sync_api import expect
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Review, ReviewRequest
from kingavis.shops.collection_settings import set_balancing

pytestmark = pytest.mark.browser

COMMENT = "Colis arrivé en avance, très bien emballé. Merci !"


class ReviewSite:
    """A stand-in for the shop's Google/Trustpilot page, on its own loopback port."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = ("<!doctype html><title>Avis Google factice</title>"
                        "<h1>Laisser un avis sur Boutique Zoë</h1>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/review/boutique-zoe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def review_site() -> Iterator[ReviewSite]:
    site = ReviewSite()
    yield site
    site.close()


def sent_request(redirect_seconds: int | None, site: ReviewSite) -> tuple[str, int]:
    """A shop with a third-party review page, and an order whose review email went out."""
    shop, _ = make_shop("Boutique Zoë")
    set_balancing(shop, "google", site.url, redirect_seconds)
    request_id = schedule(shop, "1042", reference="KDZPQRTAB", first_name="Zoë")
    assert tick().sent == 1
    token = db.session.get(ReviewRequest, request_id).token  # type: ignore[union-attr]
    db.session.rollback()  # hold no lock while the live server works (SQLite)
    return token, request_id


def choose(page: Any, rating: int) -> None:  # noqa: F811
    """Pick a rating with the mouse, as a customer does: on the visible label (the star)."""
    page.locator(f'label[for="rating-{rating}"]').click()
    expect(page.locator(f"#rating-{rating}")).to_be_checked()


def stored() -> tuple[list[tuple[int, str | None]], int]:
    db.session.rollback()
    reviews = [(r.rating, r.comment) for r in db.session.execute(select(Review)).scalars()]
    clicks = db.session.execute(select(ReviewRequest.share_clicks)).scalar_one()
    db.session.rollback()
    return reviews, clicks


def test_rate_with_the_keyboard_only_then_share(page, review_site: ReviewSite) -> None:  # noqa: F811
    token, _ = sent_request(None, review_site)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto(f"/r/{token}")
    expect(page.get_by_role("heading", name="Votre avis sur Boutique Zoë")).to_be_visible()
    group = page.get_by_role("group", name="Votre note globale")
    expect(group).to_be_visible()
    expect(group.get_by_role("radio")).to_have_count(5)

    # Keyboard only: Tab into the radio group, arrows to choose, Tab to the comment and the button.
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "rating":
            break
    assert page.evaluate("document.activeElement.id") == "rating-1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="4 sur 5 Bien")).to_be_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "comment"
    page.keyboard.type(COMMENT)
    expect(page.locator("#comment-counter")).to_have_text(re.compile(rf"{len(COMMENT)} / 5\s000 caractères"))
    screenshot(page, "questionnaire")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "submit"
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Merci pour votre avis !")).to_be_visible()
    assert stored() == ([(4, COMMENT)], 0)
    share = page.get_by_role("button", name="Copier mon avis et ouvrir Google")
    expect(share).to_be_visible()
    screenshot(page, "thank-you")

    with page.context.expect_page() as opened:
        share.click()
    site = opened.value
    site.wait_for_load_state()
    assert site.url == review_site.url
    expect(site.get_by_role("heading", name="Laisser un avis sur Boutique Zoë")).to_be_visible()
    expect(page.locator("#share-status")).to_have_attribute("data-result", "copied")
    assert page.evaluate("navigator.clipboard.readText()") == COMMENT
    assert stored()[1] == 1


def test_share_button_copies_without_the_clipboard_api(page, review_site: ReviewSite) -> None:  # noqa: F811
    """The fallback (a selected textarea + execCommand) when navigator.clipboard is missing."""
    token, _ = sent_request(None, review_site)
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    page.goto(f"/r/{token}")
    choose(page, 5)
    page.get_by_label("Votre commentaire").fill(COMMENT)
    page.get_by_role("button", name="Envoyer mon avis").click()
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Copier mon avis et ouvrir Google").click()
    opened.value.wait_for_load_state()
    assert opened.value.url == review_site.url
    expect(page.locator("#share-status")).to_have_attribute("data-result", "copied")
    assert stored() == ([(5, COMMENT)], 1)


def test_automatic_redirect_to_the_review_site(page, review_site: ReviewSite) -> None:  # noqa: F811
    token, _ = sent_request(1, review_site)
    page.goto(f"/r/{token}")
    choose(page, 5)
    page.get_by_role("button", name="Envoyer mon avis").click()

    page.wait_for_url(review_site.url, timeout=15_000)
    expect(page.get_by_role("heading", name="Laisser un avis sur Boutique Zoë")).to_be_visible()
    assert stored() == ([(5, None)], 0)  # a redirect is not a click


def test_the_automatic_redirect_can_be_cancelled(page, review_site: ReviewSite) -> None:  # noqa: F811
    token, _ = sent_request(2, review_site)
    page.clock.install()  # the page's timers run when the test says so, not on the wall clock
    page.goto(f"/r/{token}")
    choose(page, 3)
    page.get_by_role("button", name="Envoyer mon avis").click()
    expect(page.locator("#redirect-text")).to_contain_text("Vous serez redirigé vers Google dans")

    page.get_by_role("button", name="Rester sur cette page").click()

    expect(page.locator("#redirect-text")).to_have_text("Redirection annulée.")
    # Every timer due within 10 s (five times the redirect delay) fires now. A countdown
    # still running would have rewritten the text ("… dans 1 seconde") and left the page.
    page.clock.run_for(10_000)
    expect(page.locator("#redirect-text")).to_have_text("Redirection annulée.")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/r/{token}")
    expect(page.get_by_role("heading", name="Merci pour votre avis !")).to_be_visible()


def test_not_received_button(page, review_site: ReviewSite) -> None:  # noqa: F811
    token, request_id = sent_request(None, review_site)
    page.goto(f"/r/{token}")
    page.get_by_role("button", name="Je n'ai pas encore reçu ma commande").click()
    expect(page.get_by_role("status")).to_contain_text("C'est noté.")
    db.session.rollback()
    row = db.session.get(ReviewRequest, request_id)
    assert row is not None and row.state == "scheduled" and row.postponed_at is not None
    db.session.rollback()
    expect(page.get_by_role("button", name="Je n'ai pas encore reçu ma commande")).to_have_count(0)


