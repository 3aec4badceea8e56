"""Back-office page of the review-collection settings (issue 5), on both databases.

Every field saved and validated (boundaries, wrong types), nothing saved when any value is
invalid, the callback secret shown and regenerated (audited), access rules, CSRF, and one end
to end check: a reminder set on the page is scheduled after the first email is sent.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from conftest import make_app
from delivery_helpers import request_row, schedule
from factories import make_shop
from requests_helpers import audit_entries, login, merchant
from standardwebhooks import Webhook

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Shop, utcnow
from kingavis.reviews.questionnaire import expires_at

SETTINGS = ("review_link_days", "postpone_days", "reminder_days", "balancing_platform",
            "balancing_url", "balancing_redirect_seconds", "balancing_split_percent",
            "callback_url", "callback_secret")
GOOGLE = "https://g.page/r/king-avis-demo/review"


def url(shop: Shop, path: str = "") -> str:
    return f"/admin/shops/{shop.key}/collection{path}"


def form(**overrides: Any) -> dict[str, str]:
    """A valid submission equal to a new shop's settings, with ``overrides`` (None = left out,
    which is how a browser sends an unticked checkbox)."""
    data: dict[str, Any] = {
        "review_link_days": "60", "postpone_days": "7",
        "reminder_enabled": None, "reminder_days": "7",
        "balancing_platform": "google", "balancing_url": "",
        "redirect_enabled": None, "redirect_seconds": "30",
        "split_percent": "0", "callback_url": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def settings(shop: Shop) -> dict[str, Any]:
    db.session.expire_all()
    row = db.session.get(Shop, shop.id)
    return {name: getattr(row, name) for name in SETTINGS}


def field_errors(response, field: str) -> list[str]:
    raw = response.get_data(as_text=True)
    return [html.unescape(m).strip() for m in
            re.findall(rf'<p class="field-error" id="{field}-error"[^>]*>(.*?)</p>', raw, re.S)]


def actions(shop: Shop) -> list[str]:
    return [entry.action for entry in audit_entries(shop)]


# ------------------------------------------------------------------ page and saving


def test_page_shows_the_defaults_of_a_new_shop(merchant_client, shop) -> None:
    response = merchant_client.get(url(shop))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'name="review_link_days"[^>]*value="60"', page)
    assert re.search(r'name="postpone_days"[^>]*value="7"', page)
    assert re.search(r'name="split_percent"[^>]*value="0"', page)
    assert not re.search(r'name="reminder_enabled"[^>]*checked', page)
    assert "Collecte d&#39;avis" in page or "Collecte d'avis" in page
    assert "Standard Webhooks" in page


def test_every_field_is_saved_at_its_upper_bound_and_audited(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop), data=form(
        review_link_days="365", postpone_days="60", reminder_enabled="y", reminder_days="60",
        balancing_platform="trustpilot", balancing_url="https://fr.trustpilot.com/review/shop.fr",
        redirect_enabled="y", redirect_seconds="300", split_percent="100",
        callback_url="https://shop.example/module/kingavis/callback"))
    assert response.status_code == 302, field_errors(response, "callback_url")
    saved = settings(shop)
    assert saved["review_link_days"] == 365 and saved["postpone_days"] == 60
    assert saved["reminder_days"] == 60
    assert saved["balancing_platform"] == "trustpilot"
    assert saved["balancing_url"] == "https://fr.trustpilot.com/review/shop.fr"
    assert saved["balancing_redirect_seconds"] == 300
    assert saved["balancing_split_percent"] == 100
    assert saved["callback_url"] == "https://shop.example/module/kingavis/callback"
    Webhook(saved["callback_secret"])  # a usable Standard Webhooks secret was created

    [entry] = audit_entries(shop)
    assert entry.action == "collection.update" and entry.actor_email == "marchand@example.com"
    assert entry.details["before"]["review_link_days"] == 60
    assert entry.details["after"]["review_link_days"] == 365
    assert entry.details["after"]["balancing_split_percent"] == 100
    assert saved["callback_secret"] not in str(entry.details)

    page = merchant_client.get(url(shop)).get_data(as_text=True)
    assert "Réglages de collecte enregistrés." in page
    assert saved["callback_secret"] not in page  # shown only on request


def test_lower_bounds_are_accepted(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop), data=form(
        review_link_days="1", postpone_days="1", reminder_enabled="y", reminder_days="1",
        balancing_url=GOOGLE, redirect_enabled="y", redirect_seconds="1", split_percent="0"))
    assert response.status_code == 302
    saved = settings(shop)
    assert (saved["review_link_days"], saved["postpone_days"], saved["reminder_days"]) == (1, 1, 1)
    assert saved["balancing_redirect_seconds"] == 1
    assert saved["balancing_platform"] == "google" and saved["balancing_split_percent"] == 0


def test_redirect_switched_on_without_a_delay_waits_30_seconds(merchant_client, shop) -> None:
    merchant_client.post(url(shop), data=form(balancing_url=GOOGLE, redirect_enabled="y",
                                     redirect_seconds=""))
    assert settings(shop)["balancing_redirect_seconds"] == 30


def test_switching_things_off(merchant_client, shop) -> None:
    merchant_client.post(url(shop), data=form(reminder_enabled="y", reminder_days="5", balancing_url=GOOGLE,
                                     redirect_enabled="y", split_percent="40",
                                     callback_url="https://shop.example/cb"))
    secret = settings(shop)["callback_secret"]
    assert settings(shop)["balancing_split_percent"] == 40
    # Unticked reminder (a stale, invalid number in its box is ignored), page and split removed.
    response = merchant_client.post(url(shop), data=form(reminder_days="abc", balancing_url="",
                                                split_percent="0", callback_url=""))
    assert response.status_code == 302
    saved = settings(shop)
    assert saved["reminder_days"] is None
    assert (saved["balancing_url"], saved["balancing_platform"],
            saved["balancing_redirect_seconds"], saved["balancing_split_percent"]) == (
        None, None, None, 0)
    assert saved["callback_url"] is None
    assert saved["callback_secret"] == secret  # kept for when the URL comes back


def test_an_unchanged_form_records_nothing(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop), data=form(), follow_redirects=True)
    assert "Aucun changement." in response.get_data(as_text=True)
    assert actions(shop) == []


# ------------------------------------------------------------------ validation

INVALID = [
    ("review_link_days", {"review_link_days": "0"}),
    ("review_link_days", {"review_link_days": "366"}),
    ("review_link_days", {"review_link_days": "abc"}),
    ("review_link_days", {"review_link_days": "1.5"}),
    ("review_link_days", {"review_link_days": "-1"}),
    ("review_link_days", {"review_link_days": ""}),
    ("postpone_days", {"postpone_days": "0"}),
    ("postpone_days", {"postpone_days": "61"}),
    ("postpone_days", {"postpone_days": "7 jours"}),
    ("reminder_days", {"reminder_enabled": "y", "reminder_days": "0"}),
    ("reminder_days", {"reminder_enabled": "y", "reminder_days": "61"}),
    ("reminder_days", {"reminder_enabled": "y", "reminder_days": ""}),
    ("reminder_days", {"reminder_enabled": "y", "reminder_days": "2e1"}),
    ("redirect_seconds", {"balancing_url": GOOGLE, "redirect_enabled": "y",
                          "redirect_seconds": "0"}),
    ("redirect_seconds", {"balancing_url": GOOGLE, "redirect_enabled": "y",
                          "redirect_seconds": "301"}),
    ("redirect_seconds", {"balancing_url": GOOGLE, "redirect_enabled": "y",
                          "redirect_seconds": "trente"}),
    ("redirect_enabled", {"redirect_enabled": "y"}),  # no third-party page
    ("split_percent", {"balancing_url": GOOGLE, "split_percent": "101"}),
    ("split_percent", {"balancing_url": GOOGLE, "split_percent": "-5"}),
    ("split_percent", {"balancing_url": GOOGLE, "split_percent": "12.5"}),
    ("split_percent", {"balancing_url": GOOGLE, "split_percent": ""}),
    ("split_percent", {"split_percent": "10"}),  # no third-party page
    ("balancing_platform", {"balancing_url": GOOGLE, "balancing_platform": "myspace"}),
    ("balancing_url", {"balancing_url": "ftp://reviews.example/shop"}),
    ("balancing_url", {"balancing_url": "g.page/r/abc"}),
    ("balancing_url", {"balancing_url": "https://user:pw@reviews.example/"}),
    ("balancing_url", {"balancing_url": "https://reviews.example/a b"}),
    ("balancing_url", {"balancing_url": "https://reviews.example/" + "a" * 500}),
    ("callback_url", {"callback_url": "http://shop.example/cb"}),
    ("callback_url", {"callback_url": "javascript:alert(1)"}),
    ("callback_url", {"callback_url": "https://"}),
]


@pytest.mark.parametrize(("field", "values"), INVALID,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(INVALID)])
def test_an_invalid_value_is_shown_next_to_its_field_and_nothing_is_saved(
        merchant_client, shop, field, values) -> None:
    before = settings(shop)
    # Valid changes in the same submission must not be saved either.
    data = {"review_link_days": "90", "postpone_days": "10", "callback_url": "https://shop.example/cb",
            **values}
    response = merchant_client.post(url(shop), data=form(**data))
    assert response.status_code == 422
    messages = field_errors(response, field)
    assert messages and all(m for m in messages), response.get_data(as_text=True)[:3000]
    assert "Rien n'a été enregistré" in html.unescape(response.get_data(as_text=True))
    assert settings(shop) == before
    assert actions(shop) == []


def test_every_bad_field_gets_its_message_at_once(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop), data=form(review_link_days="0", postpone_days="99",
                                                reminder_enabled="y", reminder_days="x",
                                                split_percent="5", callback_url="http://x.example"))
    assert response.status_code == 422
    assert field_errors(response, "review_link_days") == [
        "La validité du lien doit être un nombre entier de jours entre 1 et 365."]
    assert field_errors(response, "postpone_days") == [
        "Le report doit être un nombre entier de jours entre 1 et 60."]
    assert field_errors(response, "reminder_days") == [
        "La relance doit partir entre 1 et 60 jours après le premier email."]
    assert field_errors(response, "split_percent") == [
        "Pour envoyer des invitations vers une plateforme tierce, indiquez d'abord l'adresse "
        "de sa page d'avis."]
    assert len(field_errors(response, "callback_url")) == 1
    # What the merchant typed is kept in the form.
    assert re.search(r'name="postpone_days"[^>]*value="99"', response.get_data(as_text=True))


def test_the_split_needs_the_third_party_page_even_when_removing_it(merchant_client, shop) -> None:
    merchant_client.post(url(shop), data=form(balancing_url=GOOGLE, split_percent="30"))
    before = settings(shop)
    assert before["balancing_split_percent"] == 30
    response = merchant_client.post(url(shop), data=form(balancing_url="", split_percent="30"))
    assert response.status_code == 422
    assert field_errors(response, "split_percent")
    assert settings(shop) == before


def test_callback_over_http_is_accepted_for_localhost_only(app, merchant_client, shop) -> None:
    app.config["CALLBACK_ALLOW_PRIVATE"] = True  # else loopback is refused (test_callback_ssrf.py)
    assert merchant_client.post(url(shop), data=form(
        callback_url="http://127.0.0.1:8081/kingavis")).status_code == 302
    assert settings(shop)["callback_url"] == "http://127.0.0.1:8081/kingavis"
    response = merchant_client.post(url(shop), data=form(callback_url="http://192.0.2.10/kingavis"))
    assert response.status_code == 422
    assert "https://" in field_errors(response, "callback_url")[0]
    assert settings(shop)["callback_url"] == "http://127.0.0.1:8081/kingavis"


# ------------------------------------------------------------------ callback secret


def _with_callback(client, shop) -> str:
    assert client.post(url(shop), data=form(
        callback_url="https://shop.example/cb")).status_code == 302
    return settings(shop)["callback_secret"]


def test_the_secret_is_revealed_on_request_and_audited(merchant_client, shop) -> None:
    secret = _with_callback(merchant_client, shop)
    assert secret not in merchant_client.get(url(shop)).get_data(as_text=True)
    response = merchant_client.post(url(shop, "/secret/reveal"))
    assert response.status_code == 200
    assert f'value="{secret}"' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert actions(shop) == ["collection.update", "callback.secret_reveal"]
    assert settings(shop)["callback_secret"] == secret  # showing changes nothing


def test_the_secret_is_regenerated_on_request_and_audited(merchant_client, shop) -> None:
    old = _with_callback(merchant_client, shop)
    response = merchant_client.post(url(shop, "/secret/rotate"))
    assert response.status_code == 200
    new = settings(shop)["callback_secret"]
    assert new != old
    Webhook(new)
    page = response.get_data(as_text=True)
    assert f'value="{new}"' in page and old not in page
    assert response.headers["Cache-Control"] == "no-store"
    entries = audit_entries(shop)
    assert [e.action for e in entries] == ["collection.update", "callback.secret_rotate"]
    assert entries[-1].actor_email == "marchand@example.com"
    assert new not in str(entries[-1].details) and old not in str(entries[-1].details)
    assert settings(shop)["callback_url"] == "https://shop.example/cb"


def test_no_secret_to_show_or_regenerate_without_a_callback(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop, "/secret/reveal"), follow_redirects=True)
    assert "Aucune clé de signature" in html.unescape(response.get_data(as_text=True))
    response = merchant_client.post(url(shop, "/secret/rotate"), follow_redirects=True)
    assert "Indiquez d'abord une adresse de notification." in html.unescape(
        response.get_data(as_text=True))
    assert settings(shop)["callback_secret"] is None
    assert actions(shop) == []


# ------------------------------------------------------------------ access and CSRF


def test_another_merchants_shop_is_not_found(app, merchant_client, shop) -> None:
    other, _ = make_shop("Autre boutique")
    merchant(other, "autre@example.com")
    from kingavis.shops.collection_settings import set_callback

    set_callback(other, "https://other.example/cb")
    before = settings(other)
    assert merchant_client.get(url(other)).status_code == 404
    assert merchant_client.post(url(other), data=form(review_link_days="9")).status_code == 404
    reveal = merchant_client.post(url(other, "/secret/reveal"))
    assert reveal.status_code == 404
    assert before["callback_secret"] not in reveal.get_data(as_text=True)
    assert merchant_client.post(url(other, "/secret/rotate")).status_code == 404
    assert settings(other) == before
    assert actions(other) == []


def test_anonymous_users_are_sent_to_the_login_page(app, shop) -> None:
    anonymous = app.test_client()
    for response in (anonymous.get(url(shop)),
                     anonymous.post(url(shop), data=form(review_link_days="9")),
                     anonymous.post(url(shop, "/secret/rotate"))):
        assert response.status_code == 302
        assert "/admin/login" in response.headers["Location"]
    assert settings(shop)["review_link_days"] == 60


def test_posts_without_a_csrf_token_are_refused(database_url, tmp_path) -> None:
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        shop, _ = make_shop()
        from kingavis.shops.collection_settings import set_callback

        set_callback(shop, "https://shop.example/cb")
        merchant_client = app.test_client()
        login(merchant_client, merchant(shop))
        before = settings(shop)

        assert merchant_client.post(url(shop), data=form(review_link_days="9")).status_code == 400
        assert merchant_client.post(url(shop, "/secret/reveal")).status_code == 400
        assert merchant_client.post(url(shop, "/secret/rotate")).status_code == 400
        assert settings(shop) == before
        assert actions(shop) == []

        page = merchant_client.get(url(shop)).get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        accepted = merchant_client.post(url(shop), data={**form(review_link_days="9"), "csrf_token": token})
        assert accepted.status_code == 302
        assert settings(shop)["review_link_days"] == 9
        db.session.remove()
        db.engine.dispose()


# ------------------------------------------------------------------ effects


def test_a_reminder_set_on_the_page_is_scheduled_after_the_first_email(merchant_client, shop) -> None:
    assert merchant_client.post(url(shop), data=form(reminder_enabled="y",
                                            reminder_days="4")).status_code == 302
    request_id = schedule(shop, "1")
    assert tick(utcnow()).sent == 1
    row = request_row(request_id)
    assert row.sent_at is not None
    assert row.reminder_due_at == row.sent_at + timedelta(days=4)

    # Switched off on the page: the next email gets no reminder.
    assert merchant_client.post(url(shop), data=form()).status_code == 302
    other = schedule(shop, "2")
    assert tick(utcnow()).sent == 1
    assert request_row(other).reminder_due_at is None


def test_the_link_validity_set_on_the_page_decides_when_a_link_expires(merchant_client, shop) -> None:
    request_id = schedule(shop, "1")
    assert tick(utcnow()).sent == 1
    assert merchant_client.post(url(shop), data=form(review_link_days="15")).status_code == 302
    row = request_row(request_id)
    assert expires_at(row) == row.sent_at + timedelta(days=15)


# ------------------------------------------------------------------ in a real browser


@pytest.mark.browser
def test_in_chromium_an_error_is_announced_then_the_settings_are_saved(app, shop, live_server,
                                                                      page) -> None:
    from browser import screenshot
    from playwright.sync_api import expect
    from requests_helpers import browser_login

    user = merchant(shop)
    browser_login(page, app, user)
    address = url(shop)
    db.session.rollback()  # SQLite: the live server needs the write lock
    page.goto(address)
    page.get_by_label("Envoyer une relance").check()
    page.get_by_label("Relance après (jours)").fill("3")
    page.get_by_label("Part des invitations envoyées vers la plateforme (%)").fill("20")
    page.get_by_label("Adresse de notification (vide\u00a0: désactivée)").fill("https://shop.example/cb")
    page.get_by_role("button", name="Enregistrer les réglages de collecte").click()

    split = page.locator("input[name=split_percent]")
    expect(split).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#split_percent-error")).to_contain_text("page d'avis")
    assert settings(shop)["reminder_days"] is None
    db.session.rollback()

    page.get_by_label("Adresse de la page d'avis (vide\u00a0: désactivé)").fill(GOOGLE)
    page.get_by_role("button", name="Enregistrer les réglages de collecte").click()
    expect(page.get_by_role("status").first).to_contain_text("Réglages de collecte enregistrés.")
    saved = settings(shop)
    db.session.rollback()
    assert (saved["reminder_days"], saved["balancing_split_percent"]) == (3, 20)

    page.get_by_role("button", name="Afficher la clé").click()
    expect(page.get_by_label("Clé de signature", exact=True)).to_have_value(saved["callback_secret"])
    screenshot(page, "collection-settings")


def test_callback_help_shows_the_header_formats_as_text(merchant_client, shop) -> None:
    page = merchant_client.get(url(shop)).get_data(as_text=True)
    # Escaped, so the browser shows "<id>" instead of swallowing it as a tag.
    assert "review_created_&lt;id&gt;" in page and "review_created_<id>" not in page
    assert "v1,&lt;signature&gt;" in page
