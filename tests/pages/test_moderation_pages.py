"""The pages of moderation, reply, report and withdrawal over HTTP (French and English), and
``users create --operator``. Both databases."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_line_error, invoke
from delivery_helpers import request_row
from factories import make_shop
from flask import Flask
from html_text import visible_text
from moderation_helpers import PASSWORD, fresh, operator, outgoing, reviewed
from requests_helpers import login
from sqlalchemy import select
from werkzeug.security import check_password_hash

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import RequestDecision, User

# --- Withdrawal from the review link --------------------------------------------------------


def test_the_review_link_shows_the_review_and_a_withdraw_button(app: Flask, client) -> None:
    shop, _ = make_shop()
    review = reviewed(shop, "1", 2, "Colis <abîmé>")
    token = request_row(review.review_request_id).token

    page = client.get(f"/r/{token}")

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Colis &lt;abîmé&gt;" in body
    assert f'href="/r/{token}/withdraw"' in body and "Retirer mon avis" in body
    assert "Votre avis est publié" in visible_text(page)


def test_withdraw_is_idempotent_and_takes_the_review_off(app: Flask, client) -> None:
    shop, _ = make_shop()
    review = reviewed(shop, "1", 5, "Super", locale="en")
    token = request_row(review.review_request_id).token
    db.session.rollback()

    first = client.post(f"/r/{token}/withdraw")
    second = client.post(f"/r/{token}/withdraw")

    assert first.status_code == second.status_code == 200
    assert "Your review is withdrawn" in visible_text(first) and visible_text(first) == visible_text(second)
    review = fresh(review.id)
    assert review.status == "withdrawn" and review.comment == "Super"
    rows = db.session.execute(select(RequestDecision.note_code).where(
        RequestDecision.review_request_id == review.review_request_id)).scalars().all()
    assert rows.count("review_withdrawn") == 1
    again = client.get(f"/r/{token}")
    assert again.status_code == 200 and "Super" not in again.get_data(as_text=True)
    assert "withdraw-form" not in again.get_data(as_text=True)


def test_withdraw_without_a_review_or_with_an_unknown_token(app: Flask, client) -> None:
    from delivery_helpers import schedule

    from kingavis.delivery.dispatcher import tick

    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    tick()
    token = request_row(request_id).token
    db.session.rollback()
    assert client.post(f"/r/{token}/withdraw").status_code == 409
    assert client.post("/r/" + "x" * 32 + "/withdraw").status_code == 404


def test_a_pending_review_says_it_waits_for_moderation(app: Flask, client) -> None:
    shop, _ = make_shop()
    request = reviewed(shop, "1", 3, "+33 6 12 34 56 78").review_request_id
    token = request_row(request).token
    db.session.rollback()
    assert "après vérification par la modération" in visible_text(client.get(f"/r/{token}"))


# --- The merchant's reviews page ------------------------------------------------------------


@pytest.fixture
def merchant_client(app: Flask):
    shop, _ = make_shop("Boutique Zoë")
    user, _ = create_user("marchand@example.com", PASSWORD, shop)
    client = app.test_client()
    login(client, user)
    return client, shop


def test_reply_from_the_reviews_page_is_escaped_and_editable(app: Flask, merchant_client) -> None:
    client, shop = merchant_client
    review = reviewed(shop, "1", 2, "Moyen")
    db.session.rollback()
    url = f"/admin/shops/{shop.key}/reviews/{review.id}/reply"

    response = client.post(url, data={"text": "Merci <script>alert(1)</script>"})
    assert response.status_code == 302
    page = client.get(f"/admin/shops/{shop.key}/reviews").get_data(as_text=True)
    assert "Merci &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Modifier la réponse" in page

    assert client.post(url, data={"text": "Merci, à bientôt"}).status_code == 302
    assert fresh(review.id).reply_text == "Merci, à bientôt"
    too_long = client.post(url, data={"text": "x" * 2001})
    assert too_long.status_code == 422 and "de 1 à 2000 caractères" in visible_text(too_long)
    assert fresh(review.id).reply_text == "Merci, à bientôt"
    assert [k for _, k, _ in outgoing(review.id) if k == "reply"] == ["reply"]  # one email


def test_report_from_the_reviews_page_keeps_the_review_published(app: Flask, merchant_client) -> None:
    client, shop = merchant_client
    review = reviewed(shop, "1", 1, "Nul")
    db.session.rollback()
    url = f"/admin/shops/{shop.key}/reviews/{review.id}/report"

    assert client.post(url, data={"reason": "x"}).status_code == 422
    assert client.post(url, data={"reason": "Ce client n'a jamais commandé"}).status_code == 302
    page = visible_text(client.get(f"/admin/shops/{shop.key}/reviews"))
    assert "Signalé : en attente de la modération" in page and "Publié" in page
    again = client.post(url, data={"reason": "Encore"})
    assert again.status_code == 409 and "déjà signalé" in visible_text(again)
    assert fresh(review.id).status == "published"


def test_operator_queue_in_english_and_a_decision_over_http(app: Flask) -> None:
    shop, _ = make_shop("Boutique Zoë")
    review = reviewed(shop, "1", 4, "www.autre.fr")
    mod = operator()
    mod.language = "en"
    db.session.commit()
    client = app.test_client()
    login(client, mod)

    page = client.get("/admin/moderation")
    assert "1 review awaits a decision" in visible_text(page)
    assert "personal data (email address" in visible_text(page)  # the published list, in English
    bad = client.post(f"/admin/moderation/reviews/{review.id}/reject", data={"reason": "nope"})
    assert bad.status_code == 422 and fresh(review.id).status == "pending"
    done = client.post(f"/admin/moderation/reviews/{review.id}/reject", data={"reason": "advertising"})
    assert done.status_code == 302
    assert (fresh(review.id).status, fresh(review.id).rejection_reason) == ("rejected", "advertising")
    late = client.post(f"/admin/moderation/reviews/{review.id}/publish")
    assert late.status_code == 409 and "no longer awaits a decision" in visible_text(late)


# --- users create --operator ----------------------------------------------------------------


def test_users_create_operator_reads_the_password_from_stdin(app: Flask) -> None:
    result = invoke(app, "users", "create", "--email", "Modo@KingAvis.test", "--operator",
                    stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "created operator account modo@kingavis.test"
    user = db.session.execute(select(User)).scalar_one()
    assert user.is_operator and user.shops == [] and check_password_hash(user.password_hash, PASSWORD)


@pytest.mark.parametrize(("args", "fragments"), [
    ((), ("exactly one of --shop KEY or --operator",)),
    (("--operator", "--shop", "KEY"), ("exactly one of --shop KEY or --operator",)),
])
def test_users_create_needs_exactly_one_of_shop_or_operator(app: Flask, args, fragments) -> None:
    shop, _ = make_shop()
    key = shop.key
    db.session.remove()
    result = invoke(app, "users", "create", "--email", "x@example.com",
                    *[key if a == "KEY" else a for a in args], stdin=PASSWORD + "\n")
    assert_one_line_error(result, *fragments)
    assert db.session.execute(select(User)).first() is None


def test_an_address_is_either_an_operator_or_a_merchant(app: Flask) -> None:
    shop, _ = make_shop()
    key = shop.key
    db.session.remove()
    assert invoke(app, "users", "create", "--email", "m@example.com", "--shop", key,
                  stdin=PASSWORD + "\n").exit_code == 0
    assert_one_line_error(invoke(app, "users", "create", "--email", "m@example.com", "--operator",
                                 stdin=PASSWORD + "\n"), "already has an account (a merchant)")
    assert invoke(app, "users", "create", "--email", "o@example.com", "--operator",
                  stdin=PASSWORD + "\n").exit_code == 0
    assert_one_line_error(invoke(app, "users", "create", "--email", "o@example.com", "--shop", key,
                                 stdin=PASSWORD + "\n"), "is an operator account")
    assert_one_line_error(invoke(app, "users", "create", "--email", "p@example.com", "--operator",
                                 stdin="short\n"), "at least")
