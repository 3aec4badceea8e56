"""Issue 12, "found on the walk": what a merchant noticed in the back-office and on the
customer's questionnaire, each checked the way they would see it (both databases)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from delivery_helpers import request_row, schedule
from factories import days_ago
from flask import Flask
from flask_babel import force_locale
from html_text import visible_text_with_nbsp
from processes import ROOT
from requests_helpers import event, scheduled
from sqlalchemy import select

from admin.pending import elapsed
from kingavis.customer_keys import customer_key
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Order, Review, Shop, User, utcnow
from kingavis.privacy.unsubscriptions import unsubscribe
from kingavis.review_requests.actions import cancel
from kingavis.shops import rules
from kingavis.shops.rules import KnownStatus, trigger_coverage

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
NBSP = "\u00a0"


def order_id_of(request_id: int) -> int:
    return request_row(request_id).order_id


# ------------------------------------------------------------------ 2. which statuses trigger


def test_the_rule_summary_says_which_statuses_trigger_and_suggests_later_shipped_ones() -> None:
    statuses = [KnownStatus("2", "Paiement accepté", False), KnownStatus("4", "Expédié", True),
                KnownStatus("5", "Livré", True), KnownStatus("6", "Annulé", False),
                KnownStatus("7", "Remboursé", True)]
    coverage = trigger_coverage(statuses, ["4"], ["6", "7"])
    assert [s.status_id for s in coverage.triggering] == ["4"]
    assert [s.status_id for s in coverage.missed_shipped] == ["5"]  # refunded is a cancel status
    assert [s.status_id for s in coverage.not_triggering] == ["2", "6", "7"]
    assert trigger_coverage(statuses, ["4", "5"], ["6", "7"]).missed_shipped == []
    # An earlier shipped status is never suggested: it would invite before the chosen moment.
    assert trigger_coverage(statuses, ["5"], ["6", "7"]).missed_shipped == []
    assert [s.status_id for s in trigger_coverage(statuses, ["2"], ["6"]).missed_shipped] == [
        "4", "5", "7"]


def test_the_rule_form_lists_what_will_and_will_not_trigger(merchant_client: Any, shop: Shop) -> None:
    rule = rules.create_rule(shop, None, rules.RuleData("Expédié", ["4"], 3, None, "Europe/Paris"))
    page = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/settings/rules/{rule.id}"))
    assert f"Déclencheront une demande{NBSP}: Expédié (4)" in page
    assert (f"Ne déclencheront pas, bien que la commande soit expédiée{NBSP}: Livré (5)"
            in page)
    assert "cochez-les aussi" in page
    assert re.search(f"Ne déclencheront pas{NBSP}: .*Annulé \\(6\\)", page)


def test_the_timeline_names_the_active_rule_when_no_trigger_was_reached(merchant_client: Any,
                                                                         shop: Shop) -> None:
    event(shop, "41", "2", days_ago(1))  # payment accepted: no trigger yet
    order_id = db.session.execute(select(Order.id).where(Order.external_id == "41")).scalar_one()
    page = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/orders/{order_id}"))
    assert ("elle n'a encore atteint aucun statut déclencheur de la règle active "
            "« PrestaShop — Livré » (Livré (5))") in page


# ------------------------------------------------------------------ 3. no wrong order date


def test_the_questionnaire_shows_no_date_when_the_order_date_is_unknown(app: Flask,
                                                                         shop: Shop) -> None:
    without = schedule(shop, "51", reference="SANSDATE")
    with_date = schedule(shop, "52", reference="AVECDATE",
                         placed_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    assert tick().sent == 2
    merchant_client = app.test_client()
    page = visible_text_with_nbsp(merchant_client.get(f"/r/{request_row(without).token}"))
    assert f"Merci pour votre commande SANSDATE. Qu'en avez-vous pensé{NBSP}?" in page
    assert not re.search(r"SANSDATE du ", page)
    page = visible_text_with_nbsp(merchant_client.get(f"/r/{request_row(with_date).token}"))
    assert "Merci pour votre commande AVECDATE du 14 mars 2026." in page


def test_the_examples_send_placed_at() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count('"placed_at"') >= 2  # the Python and the curl examples
    from admin.credentials import example_curl, example_python

    assert '"placed_at"' in example_curl("http://x", "whsec_x")
    assert '"placed_at": now' in example_python("http://x", "whsec_x")


# ------------------------------------------------------------------ 5. the audit log in words


def test_the_audit_log_speaks_the_merchants_language(merchant_client: Any, shop: Shop) -> None:
    owner = db.session.execute(select(User)).scalar_one()
    rule = rules.create_rule(shop, owner, rules.RuleData("Expédié + 3", ["4"], 3, None,
                                                         "Europe/Paris"))
    rules.update_rule(shop, owner, rule, rules.RuleData("Expédié + 3", ["4", "5"], 5, 9,
                                                        "Europe/Paris"))
    ids = [scheduled(shop, "61", reference="KDZ61"), scheduled(shop, "62", reference="KDZ62")]
    cancel(shop, ids, user=owner)

    page = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/audit"))
    assert f"Délai{NBSP}: 3 → 5 jours" in page
    assert f"Statuts déclencheurs{NBSP}: Expédié (4) → Expédié (4), Livré (5)" in page
    assert f"Heure d'envoi{NBSP}: aucune → 9{NBSP}h" in page
    assert "2 demandes annulées" in page
    assert f"Commandes{NBSP}: KDZ61, KDZ62" in page
    assert f"Règle «{NBSP}Expédié + 3{NBSP}»" in page
    for python in ("{'", "[3, 5]", "'delay_days'", "changes", "ids [", "rule #", "None"):
        assert python not in page, python

    merchant_client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    page = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/audit"))
    assert "Delay: 3 → 5 days" in page
    assert "Send hour: none → 9:00" in page
    assert "2 requests cancelled" in page
    assert "Orders: KDZ61, KDZ62" in page


# ------------------------------------------------------------------ 6. one funnel, locale numbers


def test_questionnaire_opened_from_the_text_link_counts_as_a_click(app: Flask, shop: Shop) -> None:
    request_id = schedule(shop, "71")
    assert tick().sent == 1
    token = request_row(request_id).token
    merchant_client = app.test_client()
    assert merchant_client.get(f"/r/{token}", headers={"User-Agent": BROWSER}).status_code == 200
    assert request_row(request_id).clicked_at is not None


def test_a_link_scanner_opening_the_questionnaire_is_no_click(app: Flask, shop: Shop) -> None:
    request_id = schedule(shop, "72")
    assert tick().sent == 1
    token = request_row(request_id).token
    app.test_client().get(f"/r/{token}", headers={"User-Agent": "python-requests/2.32"})
    assert request_row(request_id).clicked_at is None


def test_dashboard_figures_agree_and_are_formatted_for_the_reader(merchant_client: Any, shop: Shop) -> None:
    for order, rating in (("81", 4), ("82", 5)):
        request_id = schedule(shop, order)
        assert tick().sent == 1
        row = request_row(request_id)
        db.session.add(Review(shop_id=shop.id, order_id=row.order_id, review_request_id=row.id,
                              rating=rating))
        db.session.commit()
    scheduled(shop, "83")

    page = merchant_client.get(f"/admin/shops/{shop.key}/").get_data(as_text=True)
    # Reviews imply clicks (no click was tracked): 2 reviews, so at least 2 clicks.
    assert f'id="funnel-clicked">2 <span class="muted">(100,0{NBSP}%)' in page
    assert f'id="funnel-reviewed">2 <span class="muted">(100,0{NBSP}%)' in page
    assert 'id="funnel-rating">4,5 / 5<' in page
    assert "demandes en attente d&#39;envoi" in page or "demandes en attente d'envoi" in page

    merchant_client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    page = merchant_client.get(f"/admin/shops/{shop.key}/").get_data(as_text=True)
    assert 'id="funnel-clicked">2 <span class="muted">(100.0%)' in page
    assert 'id="funnel-rating">4.5 / 5<' in page
    stats = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/stats"))
    assert "4.5 / 5" in stats and "4,5" not in stats


# ------------------------------------------------------------------ 7. the timeline goes on


def test_the_timeline_goes_on_after_the_email(merchant_client: Any, shop: Shop) -> None:
    request_id = schedule(shop, "91", reference="SUITE91", email="suite@example.com")
    assert tick().sent == 1
    row = request_row(request_id)
    row.sent_at = sent_at = utcnow() - timedelta(hours=1)  # the unsubscribe comes last
    row.opened_at = sent_at + timedelta(seconds=10)
    row.clicked_at = sent_at + timedelta(seconds=20)
    db.session.add(Review(shop_id=shop.id, order_id=row.order_id, review_request_id=row.id,
                          rating=4, comment="Très bien", created_at=sent_at + timedelta(seconds=30)))
    db.session.commit()
    unsubscribe(shop.id, "suite@example.com", customer_key(shop.id, "suite@example.com"))
    db.session.commit()

    page = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/orders/{row.order_id}"))
    after = page[page.index("Email de demande d'avis envoyé"):]
    positions = [after.index(s) for s in ("Email ouvert", "Lien vers le questionnaire suivi",
                                           f"Avis laissé{NBSP}: 4 / 5", "Le client s'est désinscrit")]
    assert positions == sorted(positions)


def test_a_scheduled_request_of_an_unpaid_order_is_flagged(merchant_client: Any, shop: Shop) -> None:
    request_id = scheduled(shop, "95")
    event(shop, "95", "10", days_ago(0.5), paid=False)  # back to "awaiting bank wire"
    assert request_row(request_id).state == "scheduled"
    page = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/orders/{order_id_of(request_id)}"))
    assert ("la demande sera annulée au moment de l'envoi si la commande n'est pas payée "
            "d'ici là") in page


# ------------------------------------------------------------------ 8. the smaller items


def test_the_login_prompt_is_in_the_pages_language(app: Flask, shop: Shop) -> None:
    merchant_client = app.test_client()
    response = merchant_client.get(f"/admin/shops/{shop.key}/", follow_redirects=True)
    page = visible_text_with_nbsp(response)
    assert "Connectez-vous pour accéder à cette page." in page
    assert "Please log in" not in page


def test_ages_are_rounded_down(app: Flask) -> None:
    with app.test_request_context(), force_locale("fr"):
        assert elapsed(timedelta(minutes=1)) == "1 minute"
        assert elapsed(timedelta(minutes=59, seconds=59)) == "59 minutes"
        assert elapsed(timedelta(hours=1, minutes=50)) == "1 heure"
        assert elapsed(timedelta(hours=47)) == "1 jour"
        assert elapsed(timedelta(seconds=20)) == "moins d'une minute"
    with app.test_request_context(), force_locale("en"):
        assert elapsed(timedelta(minutes=1)) == "1 minute"
        assert elapsed(timedelta(days=3, hours=23)) == "3 days"


def test_cancelling_selected_rows_under_a_filter_returns_to_the_filtered_list(
        merchant_client: Any, shop: Shop) -> None:
    ids = [scheduled(shop, "101", reference="GARDE101"), scheduled(shop, "102", reference="AUTRE")]
    confirm = merchant_client.post(f"/admin/shops/{shop.key}/pending/actions", data={
        "action": "cancel", "scope": "selected", "ids": [str(ids[0])], "q": "GARDE"})
    assert confirm.status_code == 200
    assert 'name="q" value="GARDE"' in confirm.get_data(as_text=True)
    done = merchant_client.post(f"/admin/shops/{shop.key}/pending/actions", data={
        "action": "cancel", "scope": "selected", "ids": [str(ids[0])], "q": "GARDE",
        "confirm": "yes"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/admin/shops/{shop.key}/pending?q=GARDE")
    assert request_row(ids[0]).state == "cancelled" and request_row(ids[1]).state == "scheduled"


def test_review_balancing_is_set_on_one_page_only(merchant_client: Any, shop: Shop) -> None:
    reviews = merchant_client.get(f"/admin/shops/{shop.key}/reviews").get_data(as_text=True)
    assert 'name="url"' not in reviews and "reviews/balancing" not in reviews
    assert f'href="/admin/shops/{shop.key}/collection#balancing-title"' in reviews
    assert merchant_client.post(f"/admin/shops/{shop.key}/reviews/balancing",
                       data={"platform": "google", "url": "https://g.page/r/x"}).status_code in (
        404, 405)
    collection = visible_text_with_nbsp(merchant_client.get(f"/admin/shops/{shop.key}/collection"))
    assert f"Équilibrage des avis{NBSP}: plateforme tierce" in collection
    assert "Review Balancing" not in collection and "Review Balancing" not in visible_text_with_nbsp(
        merchant_client.get(f"/admin/shops/{shop.key}/reviews"))
    merchant_client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    assert "Review Balancing: third-party platform" in visible_text_with_nbsp(
        merchant_client.get(f"/admin/shops/{shop.key}/collection"))


def test_favicon(app: Flask) -> None:
    response = app.test_client().get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO header


def test_one_button_switches_the_language(merchant_client: Any, shop: Shop) -> None:
    page = merchant_client.get(f"/admin/shops/{shop.key}/").get_data(as_text=True)
    form = re.search(r'<form class="inline-form language-form".*?</form>', page, re.S).group(0)
    assert re.search(r'<button type="submit" name="language" value="en"[^>]*>English</button>',
                     form)
    assert "<select" not in form


def test_french_wording_is_consistent() -> None:
    from babel.messages.pofile import read_po

    with open(ROOT / "kingavis/translations/messages.pot", "rb") as handle:
        catalog = read_po(handle)
    ids = [i for m in catalog if m.id for i in (m.id if isinstance(m.id, tuple) else (m.id,))]
    assert [i for i in ids if "e-mail" in i.lower()] == []
    assert [i for i in ids if "Review Balancing" in i] == []
    # French typography: a non-breaking space, never a plain one, before ? ! : ;
    assert [i for i in ids if re.search(r"\S [?!:;](\s|$)", i)] == []


def test_readme_does_not_say_the_secret_is_shown_only_once() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "shown only once" not in readme
    assert "webhook_secret" in readme


def test_the_copy_buttons_name_the_webhook_url_and_the_secret(merchant_client: Any, shop: Shop) -> None:
    page = merchant_client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)
    assert 'data-copy="webhook-url"' in page
    revealed = merchant_client.post(f"/admin/shops/{shop.key}/credentials/reveal").get_data(as_text=True)
    assert 'data-copy="webhook-secret"' in revealed
