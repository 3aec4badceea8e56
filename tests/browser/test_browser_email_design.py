"""End to end in headless Chromium: the merchant edits their invitation email, the preview
follows as they type (a script typed into the text stays text), they save, and the test email
arrives at a real SMTP server on loopback. Saves docs/screenshots/email-editor.png."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser import screenshot
from factories import make_shop
from playwright.sync_api import expect
from requests_helpers import PASSWORD, merchant
from smtp_server import SMTPServer
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import EmailDesign

pytestmark = pytest.mark.browser


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


def sign_in(page, email: str) -> None:  # noqa: ANN001
    db.session.rollback()  # SQLite: the live server needs the write lock
    page.goto("/admin/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).not_to_have_url(re.compile(r"/admin/login"))


def test_edit_preview_save_and_receive_the_test_email(app, live_server, page, smtp) -> None:  # noqa: ANN001
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test")
    shop, _ = make_shop("Boutique Zoë")
    merchant(shop, "zoe.marchande@example.com")
    key, shop_id = shop.key, shop.id
    sign_in(page, "zoe.marchande@example.com")

    page.goto(f"/admin/shops/{key}/email")
    expect(page.get_by_role("heading", name="Email d'invitation")).to_be_visible()
    expect(page.get_by_role("link", name="Email d'invitation")).to_have_attribute("aria-current", "page")
    preview = page.frame_locator("#preview-html")
    # The editor starts from the default texts, and the preview shows them for a sample order.
    expect(page.get_by_label("Objet de l'email")).to_have_value("Votre avis sur votre commande chez {shop_name}")
    expect(preview.get_by_text("Merci pour votre commande XKBKNABJK chez Boutique Zoë.")).to_be_visible()

    page.get_by_label("Nom d'expéditeur").fill("L'atelier de {shop_name}")
    page.get_by_label("Objet de l'email").fill("{shop_name} : votre colis vous plaît ?")
    expect(page.locator("#preview-subject")).to_have_text("Boutique Zoë : votre colis vous plaît ?")
    expect(page.locator("#preview-from")).to_contain_text("L'atelier de Boutique Zoë")

    # An unknown placeholder: named next to the field, nothing else changes.
    intro = page.get_by_label("Introduction", exact=True)
    intro.fill("Merci {prenom} !")
    expect(page.locator(".live-error")).to_have_text(re.compile(r"Espace réservé inconnu\u00a0: \{prenom\}"))
    expect(intro).to_have_attribute("aria-invalid", "true")

    intro.fill("<script>parent.document.title='pwned'</script>Merci {first_name} pour "
               "{order_reference} !")
    expect(preview.get_by_text("Merci Zoë pour XKBKNABJK !")).to_be_visible()
    expect(page.locator(".live-error")).to_have_count(0)
    expect(preview.locator("script")).to_have_count(0)  # shown as text, never run
    expect(page.locator("#preview-text")).to_contain_text("Merci Zoë pour XKBKNABJK !")

    page.get_by_label("Couleur du bouton et des liens").fill("#c2185b")
    expect(preview.get_by_role("link", name="Donner mon avis")).to_have_css(
        "background-color", "rgb(194, 24, 91)")
    page.get_by_label("Email", exact=True).select_option("reminder")
    expect(page.locator("#preview-subject")).to_have_text("Rappel : Boutique Zoë : votre colis vous plaît ?")
    page.get_by_label("Email", exact=True).select_option("invitation")
    expect(page.locator("#preview-subject")).to_have_text("Boutique Zoë : votre colis vous plaît ?")
    assert "pwned" not in page.title()
    intro.fill("Merci {first_name} pour votre commande {order_reference} !\n\n"
               "Toute l'équipe de {shop_name} espère que votre colis vous plaît. <Un avis> nous "
               "aide à choisir nos prochaines créations.")
    expect(preview.get_by_text("Merci Zoë pour votre commande XKBKNABJK !")).to_be_visible()
    expect(preview.get_by_text(re.compile("<Un avis> nous aide"))).to_be_visible()
    # The whole page in the viewport: Chromium paints a frame's content only where it is in view.
    page.set_viewport_size({"width": 1280, "height": 1800})
    expect(preview.get_by_text("Merci Zoë pour votre commande XKBKNABJK !")).to_be_visible()
    screenshot(page, "email-editor")

    page.get_by_role("button", name="Enregistrer l'email").click()
    expect(page.locator(".flash-success")).to_have_text("Email enregistré (Français).")
    db.session.rollback()
    row = db.session.scalars(select(EmailDesign).where(EmailDesign.shop_id == shop_id)).one()
    assert (row.language, row.subject, row.brand_colour) == (
        "fr", "{shop_name} : votre colis vous plaît ?", "#c2185b")
    db.session.rollback()

    page.get_by_role("button", name="M'envoyer un email d'essai").click()
    expect(page.locator(".flash-success")).to_have_text(
        "Email d'essai envoyé à zoe.marchande@example.com.")
    [sent] = smtp.messages
    assert sent.rcpt_tos == ["zoe.marchande@example.com"]
    assert sent.message["Subject"] == "Boutique Zoë : votre colis vous plaît ?"
    assert sent.message["From"].addresses[0].display_name == "L'atelier de Boutique Zoë"
    html = sent.message.get_body(("html",)).get_content()
    assert "&lt;Un avis&gt;" in html and "background:#c2185b" in html
    assert sent.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # On a phone the editor and its preview stack up; nothing of the page is wider than it.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/admin/shops/{key}/email")
    expect(preview.get_by_text("Merci Zoë pour votre commande XKBKNABJK !")).to_be_visible()
    widths = page.evaluate("""() => [...document.querySelectorAll('main, main *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .map(e => e.tagName + '#' + e.id + '.' + e.className)""")
    assert widths == []
