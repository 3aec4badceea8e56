"""The review questionnaire ``/r/<token>`` (docs/sending.md, issue 5 points 1, 3, 4): every page and
status code, one verified review per order, "not received yet" once, the share button's click
count. Runs on SQLite and PostgreSQL; requests are sent by the real dispatcher (file outbox)."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import make_app
from delivery_helpers import request_row, schedule
from factories import make_shop
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import func, select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import RequestDecision, Review, ReviewRequest, Shop, utcnow
from kingavis.review_requests.notes import describe_note
from kingavis.reviews.questionnaire import MAX_COMMENT_CHARS
from kingavis.shops.collection_settings import BALANCING_PLATFORMS, set_balancing
from kingavis.shops.service import ShopError


def send(shop: Shop, order_id: str = "1001", **kwargs: object) -> ReviewRequest:
    """A delivered order whose review-request email the dispatcher has sent."""
    request_id = schedule(shop, order_id, **kwargs)  # type: ignore[arg-type]
    result = tick()
    assert result.sent >= 1, result.summary()
    row = request_row(request_id)
    assert row.state == "sent"
    return row


def reviews() -> list[Review]:
    db.session.rollback()
    return list(db.session.execute(select(Review).order_by(Review.id)).scalars())


def decisions(request_id: int) -> list[tuple[str, str, str | None]]:
    db.session.rollback()
    rows = db.session.execute(
        select(RequestDecision)
        .where(RequestDecision.review_request_id == request_id).order_by(RequestDecision.id)
    ).scalars()
    with force_locale("en"):  # the note as the English back-office words it
        return [(d.state, d.actor, describe_note(d)) for d in rows]


@pytest.fixture
def sent(shop_with_markup_in_name: Shop) -> ReviewRequest:
    return send(shop_with_markup_in_name, placed_at=datetime(2026, 3, 14, 10, 0, tzinfo=UTC))


def test_the_link_in_the_email_opens_the_questionnaire(app: Flask, client, sent: ReviewRequest,
                                                       tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    (message_file,) = outbox.glob("*.eml")
    message = email.message_from_bytes(message_file.read_bytes())
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    link = re.search(r"http://kingavis\.test(/r/[A-Za-z0-9_-]+)", text)
    assert link is not None

    response = client.get(link.group(1))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    # Shop name escaped, order reference and date shown.
    assert "Boutique &lt;Zoë&gt; &amp; Fils" in page and "<Zoë>" not in page
    assert "XKBKNABJK" in page
    assert "commande XKBKNABJK du 14 mars 2026" in page  # the date the order was placed
    # An accessible rating: a fieldset with a legend, five real radio inputs with visible labels.
    assert re.search(r"<fieldset class=\"rating\"[^>]*>\s*<legend>Votre note globale", page)
    for n in range(1, 6):
        assert f'<input type="radio" name="rating" id="rating-{n}" value="{n}"' in page
        assert f'<label for="rating-{n}">' in page
    assert f'maxlength="{MAX_COMMENT_CHARS}"' in page and 'aria-describedby="comment-counter"' in page
    assert "Je n&#39;ai pas encore reçu ma commande" in page or "Je n'ai pas encore reçu ma commande" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "script-src 'nonce-" in response.headers["Content-Security-Policy"]


def test_english_customer_gets_the_english_page(client, shop_with_markup_in_name: Shop) -> None:
    request = send(shop_with_markup_in_name, "2002", locale="en-GB")
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Your overall rating" in page and "I have not received my order yet" in page


def test_shop_language_when_the_customer_has_none(app: Flask, client) -> None:
    shop_with_markup_in_name, _ = make_shop("English Shop", language="en")
    request = send(shop_with_markup_in_name, "2003", locale=None)
    page = client.get(f"/r/{request.token}").get_data(as_text=True)
    assert '<html lang="en">' in page and "Send my review" in page


def test_submit_stores_one_verified_review_and_thanks(client, sent: ReviewRequest) -> None:
    token, request_id, order_id = sent.token, sent.id, sent.order_id
    comment = "Très bien <script>alert(1)</script>\r\nlivré vite"

    response = client.post(f"/r/{token}", data={"rating": "4", "comment": comment})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Merci pour votre avis" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    (review,) = reviews()
    assert (review.rating, review.review_request_id, review.order_id, review.shop_id) == (
        4, request_id, order_id, sent.shop_id)
    assert review.comment == "Très bien <script>alert(1)</script>\nlivré vite"
    assert review.locale == "fr"
    assert review.callback_state is None  # the shop has no callback URL

    # Coming back to the link shows the thank-you page, not the form.
    again = client.get(f"/r/{token}")
    assert again.status_code == 200
    assert "Merci pour votre avis" in again.get_data(as_text=True)
    assert 'name="rating"' not in again.get_data(as_text=True)


def test_second_submission_is_409_and_changes_nothing(client, sent: ReviewRequest) -> None:
    assert client.post(f"/r/{sent.token}", data={"rating": "5"}).status_code == 200

    second = client.post(f"/r/{sent.token}", data={"rating": "1", "comment": "changed my mind"})

    assert second.status_code == 409
    assert "Vous avez déjà donné votre avis" in second.get_data(as_text=True)
    (review,) = reviews()
    assert review.rating == 5 and review.comment is None


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({}, "rating", "Choisissez une note de 1 à 5."),
        ({"rating": "0"}, "rating", "La note doit être comprise entre 1 et 5."),
        ({"rating": "6"}, "rating", "La note doit être comprise entre 1 et 5."),
        ({"rating": "4.5"}, "rating", "La note doit être comprise entre 1 et 5."),
        ({"rating": "five"}, "rating", "La note doit être comprise entre 1 et 5."),
        ({"rating": "3", "comment": "x" * (MAX_COMMENT_CHARS + 1)}, "comment",
         # French writes 5 000 (Babel's narrow no-break space): kingavis.formatting.
         "Votre commentaire dépasse 5\u202f000 caractères (5\u202f001 actuellement)."),
    ],
)
def test_invalid_input_is_422_with_the_message_by_the_field(client, sent: ReviewRequest,
                                                            form: dict[str, str], field: str,
                                                            message: str) -> None:
    response = client.post(f"/r/{sent.token}", data=form)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'<span class="error" id="{field}-error">{message}</span>' in page
    assert 'aria-invalid="true"' in page
    assert reviews() == []
    if "comment" in form:  # what the customer typed is kept
        assert form["comment"][:100] in page
        assert 'id="rating-3" value="3" checked' in page


def test_comment_of_exactly_the_limit_counts_line_breaks_once(client, sent: ReviewRequest) -> None:
    comment = ("a" * 99 + "\r\n") * (MAX_COMMENT_CHARS // 100)  # 5,000 characters with CRLF as one
    response = client.post(f"/r/{sent.token}", data={"rating": "2", "comment": comment})
    assert response.status_code == 200
    (review,) = reviews()
    assert len(review.comment or "") == MAX_COMMENT_CHARS - 1  # the final line break is trimmed


def test_unknown_token_is_404(client, sent: ReviewRequest) -> None:
    for path in ("/r/" + "A" * 32, "/r/short", "/r/" + sent.token[:-1] + "!"):
        assert client.get(path).status_code == 404
    response = client.post("/r/" + "A" * 32, data={"rating": "5"})
    assert response.status_code == 404
    assert "Lien introuvable" in response.get_data(as_text=True)
    assert client.post("/r/" + "A" * 32 + "/not-received").status_code == 404
    assert client.post("/r/" + "A" * 32 + "/share").status_code == 404
    assert reviews() == []


def test_a_request_never_sent_has_no_page(client, shop_with_markup_in_name: Shop) -> None:
    request_id = schedule(shop_with_markup_in_name, "3003", days=1)  # due in 9 days
    token = request_row(request_id).token
    assert client.get(f"/r/{token}").status_code == 404
    assert client.post(f"/r/{token}", data={"rating": "5"}).status_code == 404
    assert client.post(f"/r/{token}/not-received").status_code == 404
    assert reviews() == []
    assert request_row(request_id).state == "scheduled"


def test_expired_link_is_410(client, shop_with_markup_in_name: Shop, sent: ReviewRequest) -> None:
    token = sent.token
    row = request_row(sent.id)
    row.sent_at = utcnow() - timedelta(days=shop_with_markup_in_name.review_link_days, minutes=1)
    db.session.commit()

    for response in (client.get(f"/r/{token}"), client.post(f"/r/{token}", data={"rating": "5"}),
                     client.post(f"/r/{token}/not-received")):
        assert response.status_code == 410
        page = response.get_data(as_text=True)
        assert "Ce lien a expiré" in page and "60 jours" in page
    assert reviews() == []
    assert request_row(sent.id).state == "sent"

    # A shop setting: a longer validity opens it again.
    db.session.get(Shop, shop_with_markup_in_name.id).review_link_days = 90  # type: ignore[union-attr]
    db.session.commit()
    assert client.get(f"/r/{token}").status_code == 200


def test_cancelled_request_is_410(client, sent: ReviewRequest) -> None:
    row = request_row(sent.id)
    row.state, row.reason = "cancelled", "merchant_cancelled"
    db.session.commit()
    response = client.post(f"/r/{sent.token}", data={"rating": "5"})
    assert response.status_code == 410
    assert "Ce lien n&#39;est plus valable" in response.get_data(as_text=True) or \
        "Ce lien n'est plus valable" in response.get_data(as_text=True)
    assert reviews() == []


def test_not_received_postpones_once_and_shows_on_the_timeline(client, shop_with_markup_in_name: Shop,
                                                               sent: ReviewRequest) -> None:
    token, request_id = sent.token, sent.id
    before = utcnow()

    response = client.post(f"/r/{token}/not-received")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "C'est noté" in page or "C&#39;est noté" in page
    assert "Nous vous enverrons de nouveau l&#39;invitation" in page or \
        "Nous vous enverrons de nouveau l'invitation" in page
    row = request_row(request_id)
    assert row.state == "scheduled"
    assert row.postponed_at is not None and row.postponed_at >= before
    assert row.due_at == row.next_attempt_at
    assert timedelta(days=7) <= row.due_at - before < timedelta(days=7, minutes=5)
    last = decisions(request_id)[-1]
    assert last[0] == "scheduled" and last[1] == "customer" and "not received" in (last[2] or "")

    # The link still works: a notice, the form, and no second postpone button.
    page = client.get(f"/r/{token}").get_data(as_text=True)
    assert "Nous vous enverrons de nouveau" in page and 'name="rating"' in page
    assert "/not-received" not in page

    count = len(decisions(request_id))
    second = client.post(f"/r/{token}/not-received")
    assert second.status_code == 409
    assert "Déjà reporté" in second.get_data(as_text=True)
    again = request_row(request_id)
    assert (again.due_at, again.postponed_at) == (row.due_at, row.postponed_at)
    assert len(decisions(request_id)) == count

    # The dispatcher does not send before the new due time.
    assert tick().claimed == 0


def test_review_while_postponed_withdraws_the_second_email(client, sent: ReviewRequest) -> None:
    token, request_id = sent.token, sent.id
    assert client.post(f"/r/{token}/not-received").status_code == 200

    response = client.post(f"/r/{token}", data={"rating": "5", "comment": "Arrivé finalement"})

    assert response.status_code == 200
    row = request_row(request_id)
    assert row.state == "sent" and row.next_attempt_at is None
    assert decisions(request_id)[-1][:2] == ("sent", "customer")
    assert len(reviews()) == 1


def test_postponed_request_is_sent_again_when_due(client, sent: ReviewRequest) -> None:
    token, request_id = sent.token, sent.id
    assert client.post(f"/r/{token}/not-received").status_code == 200
    due = request_row(request_id).due_at

    result = tick(now=due + timedelta(seconds=1))

    assert result.sent == 1
    assert request_row(request_id).state == "sent"
    assert client.post(f"/r/{token}/not-received").status_code == 409  # still only once


def test_not_received_after_a_review_changes_nothing(client, sent: ReviewRequest) -> None:
    assert client.post(f"/r/{sent.token}", data={"rating": "3"}).status_code == 200
    response = client.post(f"/r/{sent.token}/not-received")
    assert response.status_code == 409
    assert request_row(sent.id).state == "sent" and request_row(sent.id).postponed_at is None


def test_thank_you_page_offers_to_share_and_counts_clicks(client, shop_with_markup_in_name: Shop,
                                                           sent: ReviewRequest) -> None:
    set_balancing(db.session.get(Shop, shop_with_markup_in_name.id), "google", "https://g.page/r/zoe-review", 30)  # type: ignore[arg-type]
    token = sent.token
    # No review yet: nothing to share.
    assert client.post(f"/r/{token}/share").status_code == 404
    assert request_row(sent.id).share_clicks == 0

    page = client.post(f"/r/{token}", data={"rating": "5", "comment": "Super <b>boutique</b>"}).get_data(as_text=True)
    assert "Partagez-le aussi sur Google" in page
    assert f'action="/r/{token}/share"' in page
    assert 'data-url="https://g.page/r/zoe-review"' in page and 'data-seconds="30"' in page
    assert "Super &lt;b&gt;boutique&lt;/b&gt;" in page

    for expected in (1, 2):
        response = client.post(f"/r/{token}/share")
        assert response.status_code == 303
        assert response.headers["Location"] == "https://g.page/r/zoe-review"
        assert {name: response.headers.get(name) for name in ("Cache-Control", "Referrer-Policy",
                                                               "X-Robots-Tag")} == {
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex, nofollow"}
        assert request_row(sent.id).share_clicks == expected
    # A GET (a prefetch, a crawler) counts nothing.
    assert client.get(f"/r/{token}/share").status_code == 405
    assert request_row(sent.id).share_clicks == 2


def test_no_share_section_without_a_balancing_url(client, sent: ReviewRequest) -> None:
    page = client.post(f"/r/{sent.token}", data={"rating": "5"}).get_data(as_text=True)
    assert "Merci pour votre avis" in page and "/share" not in page
    assert client.post(f"/r/{sent.token}/share").status_code == 404


def test_set_balancing_validates_and_changes_nothing_on_error(app: Flask, shop_with_markup_in_name: Shop) -> None:
    set_balancing(shop_with_markup_in_name, "trustpilot", "https://fr.trustpilot.com/review/zoe.example", None)
    bad = [
        ("google", "javascript:alert(1)", None, "https://"),
        ("google", "ftp://example.com/x", None, "https://"),
        ("google", "https://", None, "no host"),
        ("google", "https://user:pw@example.com/", None, "user name"),
        ("google", "https://example.com/a b", None, "spaces"),
        ("google", "https://example.com/" + "x" * 500, None, "longer than 500"),
        ("myspace", "https://example.com/", None, "platform must be one of"),
        ("google", "https://example.com/", 0, "between 1 and 300"),
        ("google", "https://example.com/", 301, "between 1 and 300"),
        (None, None, 30, "needs a review page URL"),
    ]
    for platform, url, seconds, message in bad:
        with pytest.raises(ShopError, match=re.escape(message)):
            set_balancing(shop_with_markup_in_name, platform, url, seconds)
        db.session.rollback()
        row = db.session.get(Shop, shop_with_markup_in_name.id)
        assert (row.balancing_platform, row.balancing_url, row.balancing_redirect_seconds) == (
            "trustpilot", "https://fr.trustpilot.com/review/zoe.example", None)
    set_balancing(shop_with_markup_in_name, None, "", None)
    assert shop_with_markup_in_name.balancing_url is None and shop_with_markup_in_name.balancing_platform is None
    assert "other" in BALANCING_PLATFORMS


def test_double_submission_race_stores_one_review(app: Flask, database_url: str, tmp_path: Path,
                                                  sent: ReviewRequest) -> None:
    """Two submissions at the same moment (two app instances, threads): one 200, one 409."""
    import threading

    token = sent.token
    db.session.remove()
    # Both apps are built here, before any thread starts: building routes compiles Python code,
    # which CPython 3.11 does not do safely from two threads at once.
    others = [make_app(database_url, tmp_path) for _ in range(2)]
    barrier = threading.Barrier(2)
    codes: list[int] = []
    errors: list[BaseException] = []

    def post(other: Flask) -> None:
        try:
            with other.test_client() as c:
                barrier.wait(timeout=60)
                codes.append(c.post(f"/r/{token}", data={"rating": "5"}).status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()
        finally:
            with other.app_context():
                db.engine.dispose()

    threads = [threading.Thread(target=post, args=(o,), daemon=True) for o in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a submission never finished"
    assert not errors, errors
    assert sorted(codes) == [200, 409]
    assert db.session.execute(select(func.count(Review.id))).scalar_one() == 1


def test_review_posts_need_no_csrf_token_but_the_back_office_does(database_url: str,
                                                                 tmp_path: Path) -> None:
    """The URL token is the secret (like /u/<token>): these POSTs are CSRF-exempt. The same
    app, CSRF on, refuses a back-office POST without its token and changes nothing."""
    from requests_helpers import login, merchant

    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        shop_with_markup_in_name, _ = make_shop()
        request = send(shop_with_markup_in_name, "4004")
        pending = schedule(shop_with_markup_in_name, "4005")
        response = app.test_client().post(f"/r/{request.token}", data={"rating": "5"})
        assert response.status_code == 200
        assert [r.rating for r in reviews()] == [5]

        office = app.test_client()
        login(office, merchant(shop_with_markup_in_name))
        actions = f"/admin/shops/{shop_with_markup_in_name.key}/pending/actions"
        refused = office.post(actions, data={"action": "cancel", "scope": "one",
                                             "ids": str(pending)})
        assert refused.status_code == 400
        assert request_row(pending).state == "scheduled"
        listing = office.get(f"/admin/shops/{shop_with_markup_in_name.key}/pending").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', listing).group(1)  # type: ignore[union-attr]
        accepted = office.post(actions, data={"action": "cancel", "scope": "one",
                                              "ids": str(pending), "csrf_token": token})
        assert accepted.status_code == 302
        assert request_row(pending).state == "cancelled"
        db.session.remove()
        db.engine.dispose()


def test_an_invitation_sent_to_the_third_party_platform_redirects_there(client, shop_with_markup_in_name: Shop,
                                                                        sent: ReviewRequest) -> None:
    """docs/sending.md: for an invitation Review Balancing sent to a third-party platform, the same
    link redirects there."""
    set_balancing(db.session.get(Shop, shop_with_markup_in_name.id), "google", "https://g.page/r/zoe-review", None)  # type: ignore[arg-type]
    row = request_row(sent.id)
    row.platform = "google"
    db.session.commit()
    response = client.get(f"/r/{sent.token}")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://g.page/r/zoe-review"
