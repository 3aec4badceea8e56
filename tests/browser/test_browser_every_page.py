"""Every page a merchant, an operator, a reader and a customer can reach, crawled in headless
Chromium: no English word on a French page, no French word on an English page (proper names and
people's own text aside), nothing wider than a 390 px screen, and no error page that is not the
product's own."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from delivery_helpers import request_row, schedule
from moderation_helpers import operator, reviewed
from requests_helpers import browser_login
from test_browser_phone import admin_paths, shop_with_everything

from kingavis.accounts import service as accounts
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.personal_data.erasure import erase_customer
from kingavis.reviews.actions import operator_reject, reply_to_review, withdraw_by_author

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# Words of one language that never belong on a page of the other (people's text removed first).
ENGLISH = set(["the", "and", "of", "with", "your", "you", "this", "that", "from", "is", "are", "was", "were", "has", "have", "been", "review", "reviews", "order", "orders", "sent", "pending", "published", "rejected", "withdrawn", "outcome", "source", "reason", "cancelled", "scheduled", "failed", "shop", "customer", "customers", "settings", "not", "found", "by", "none", "yes", "unknown", "true", "false", "null", "cli", "personal_data", "delivered", "hash", "week", "average", "rating", "ratings", "details"])
FRENCH = set(["le", "la", "les", "des", "du", "et", "avec", "votre", "vous", "pour", "une", "dans", "est", "avis", "commande", "commandes", "envoyé", "envoyée", "envoyées", "boutique", "client", "clients", "réglages", "demande", "demandes", "aucun", "aucune", "jours", "semaine", "cette", "pas", "être", "été", "depuis", "modération", "publié", "publiée", "refusé", "retiré", "moyenne", "note", "caractères", "marchand", "ligne"])
# Names and people's own words that may appear on a page of either language.
ALLOWED = ["King-Avis", "PrestaShop", "Google", "Trustpilot", "Shopify", "WooCommerce",
           "Boutique Zoë des Longues Dénominations", "Marie-Charlotte", "de la Fontaine-Dupont",
           "Zoë", "Français", "English", "Expédié + 7 jours, 9 h"]
SKIP = re.compile(r"/(logout|language)$|/export|\.csv|\.json|\.svg|/r/[^/]+/(share|withdraw|restore|correct)")


def visible_words(page: Any, extra_allowed: list[str]) -> list[str]:
    # Code (examples, Message-IDs), {placeholders} and passages marked as written in the other
    # language (the French email in the email editor, a language switch) are left out.
    text = page.evaluate("""() => {
        const lang = document.documentElement.lang.slice(0, 2);
        document.body.querySelectorAll('pre, code, [translate=no]').forEach(e => e.remove());
        document.body.querySelectorAll('[lang]').forEach(e => {
            if (e.lang.slice(0, 2) !== lang) e.remove(); });
        return document.title + '\\n' + document.body.innerText; }""")
    text = re.sub(r"\{[a-z_]+\}", " ", text)
    for name in sorted(ALLOWED + extra_allowed, key=len, reverse=True):
        text = text.replace(name, " ")
    text = re.sub(r"\S+@\S+|https?://\S+|\b[A-Z0-9]{6,}\b", " ", text)
    return re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", text)


def check(page: Any, expected: str, response: Any, people: list[str], problems: list[str]) -> None:
    url = page.url
    # A page is checked against the language it declares; a back-office page must declare the
    # language its user chose.
    lang = page.evaluate("document.documentElement.lang").split("-")[0]
    if lang not in ("fr", "en") or (urlsplit(url).path.startswith("/admin/shops") and lang != expected):
        problems.append(f"{url}: declared language {lang!r}, expected {expected!r}")
    # Werkzeug's own pages have no viewport: every page of the product has one.
    if response is not None and response.status >= 400 \
            and not page.locator('meta[name="viewport"]').count():
        problems.append(f"{url}: not the product's error page ({response.status})")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > PHONE["width"]:
        problems.append(f"{url}: {scroll} px wide at 390 px")
    words = visible_words(page, people)
    wrong = ENGLISH if lang == "fr" else FRENCH
    found = sorted({w for w in words if w.lower() in wrong})
    if found:
        problems.append(f"{url} ({lang}): {', '.join(found)}")


def crawl(page: Any, seeds: list[str], lang: str, people: list[str], limit: int = 80) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    queue = list(seeds)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or SKIP.search(path):
            continue
        seen.add(path)
        response = page.goto(path)
        if response is None or "html" not in (response.headers.get("content-type") or ""):
            continue
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        check(page, lang, response, people, problems)
        for href in hrefs:
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith(("/admin", "/avis", "/r/", "/u/")):
                continue
            link = parts.path + (f"?{parts.query}" if parts.query else "")
            other = "lang=en" if lang == "fr" else "lang=fr"
            if link not in seen and not SKIP.search(link) and "page=" not in parts.query \
                    and other not in parts.query:
                queue.append(link)
    return problems


def populated() -> dict[str, Any]:
    data = shop_with_everything()
    from kingavis.models import Shop, ShopStatus

    shop = db.session.execute(db.select(Shop).where(Shop.key == data["key"])).scalar_one()
    mod = operator()
    published = reviewed(shop, "5001", 4, "Très bon accueil, livraison rapide.")
    reply_to_review(shop, published.id, data["user"], "Merci beaucoup !")
    reviewed(shop, "5002", 5, "Écrivez-moi à zoe@example.com")
    rejected = reviewed(shop, "5003", 1, "Appelez le 06 12 34 56 78")
    operator_reject(rejected.id, mod, "personal_data")
    gone = reviewed(shop, "5004", 3, "Bof.")
    withdraw_by_author(request_row(gone.review_request_id))
    # English-speaking customers: their pages are in English.
    en_published = reviewed(shop, "5101", 5, "Great shop.", locale="en")
    en_rejected = reviewed(shop, "5102", 2, "Call 06 12 34 56 78", locale="en")
    operator_reject(en_rejected.id, mod, "personal_data")
    en_open = schedule(shop, "5103", locale="en")
    assert tick().sent == 1
    erase_customer(shop, "client5.marie-charlotte.de-la-fontaine-dupont@exemple-de-boutique-tres-longue.fr",
                   source="cli")
    statuses = db.session.execute(db.select(ShopStatus.name).where(ShopStatus.shop_id == shop.id))
    data.update(slug=shop.slug, mod=mod, statuses=[n for n in statuses.scalars() if n],
                tokens=[request_row(r.review_request_id).token
                        for r in (published, rejected, gone, en_published, en_rejected)]
                + [request_row(en_open).token])
    db.session.rollback()
    return data


def seeds(data: dict[str, Any], lang: str) -> list[str]:
    paths = list(admin_paths(data).values())
    q = "" if lang == "fr" else "?lang=en"
    paths += [f"/avis/{data['slug']}{q}", f"/avis/{data['slug']}/charte{q}",
              f"/admin/shops/{data['key']}/orders/999999", "/admin/shops/nope/", "/nope", "/"]
    return paths


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_page_speaks_one_language_fits_and_errors_are_the_products(app, page, lang) -> None:
    data = populated()
    people = ["Très bon accueil, livraison rapide.", "Merci beaucoup !", "Bof.",
              "Écrivez-moi à zoe@example.com", "Appelez le 06 12 34 56 78",
              "Marie-Charlotte d.", "Marie-Charlotte D.", "Zoë D.", "Great shop.",
              "Call 06 12 34 56 78", *data["statuses"]]
    if lang == "en":
        accounts.set_language(data["user"], "en")
        accounts.set_language(data["mod"], "en")
        db.session.rollback()
    page.set_viewport_size(PHONE)
    page.set_default_timeout(30_000)
    browser_login(page, app, data["user"])
    db.session.rollback()
    problems = crawl(page, seeds(data, lang), lang, people)
    page.context.clear_cookies()
    browser_login(page, app, data["mod"])
    db.session.rollback()
    problems += crawl(page, ["/admin/moderation", "/admin/shops/" + data["key"] + "/"], lang, people, 10)
    page.context.clear_cookies()
    customer = [f"/r/{t}" for t in data["tokens"]] + [f"/r/{data['token']}", f"/u/{data['unsub_token']}",
                                                      "/r/" + "x" * 40, "/admin/login"]
    if lang == "en":
        page.context.set_extra_http_headers({"Accept-Language": "en"})
    problems += crawl(page, customer, lang, people, 20)
    assert not problems, "\n".join(problems)
