"""The public review page and charter in Chromium, at desktop and phone width (docs/publication.md)."""

from __future__ import annotations

import pytest
from browser import screenshot
from factories import make_shop
from flask import Flask
from publication_helpers import minutes_ago, reviewed

from kingavis.extensions import db
from kingavis.models import Review, utcnow

pytestmark = pytest.mark.browser


@pytest.fixture
def slug(app: Flask) -> str:
    shop = make_shop("Boutique Zoë")[0]
    comments = [
        (5, "Commande arrivée en deux jours, très bien emballée. Je recommande !"),
        (1, "Le colis est arrivé abîmé et le service client a mis une semaine à répondre."),
        (4, "Bon produit, conforme à la description."),
        (3, None),
    ]
    for n, (rating, comment) in enumerate(comments):
        reviewed(shop, f"{n}", rating, comment, at=minutes_ago(60 - n))
    answered = db.session.get(Review, 2)
    answered.reply_text = "Nous sommes désolés : un geste commercial vous a été envoyé par e-mail."
    answered.reply_published_at = utcnow()
    slug = shop.slug
    db.session.commit()
    db.session.remove()  # no transaction left open: the live server's requests read freely
    return slug


@pytest.mark.parametrize(("width", "height"), [(1366, 900), (390, 844)])
def test_public_page_reads_well_on_desktop_and_phone(page, slug: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"/avis/{slug}")

    # Every published review is there, the 1-star one as much as the 5-star one.
    assert page.locator("li.review").count() == 4
    assert page.get_by_text("Note : 1 sur 5", exact=True).count() == 1
    assert page.get_by_text("Note : 5 sur 5", exact=True).count() == 1
    assert page.get_by_text("Réponse de Boutique Zoë").is_visible()
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"public-page-{width}")

    # The reader filters by rating with the form, no script needed.
    page.select_option("#rating", "1")
    page.get_by_role("button", name="Afficher").click()
    assert page.locator("li.review").count() == 1
    assert "rating=1" in page.url

    page.get_by_role("link", name="Charte des avis").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Charte des avis")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if width == 1366:
        screenshot(page, "public-charter")
