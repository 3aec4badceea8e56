"""Moderation, merchant reports and replies, and the author's withdrawal, as services: who may
do what, what each decision writes (state, timeline, audit log) and the author emails they
queue, sent by the dispatcher tick to a real SMTP server exactly once. Both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from delivery_helpers import message_ids
from factories import make_shop
from flask import Flask
from flask_babel import force_locale
from moderation_helpers import PASSWORD, fresh, operator, outgoing, reviewed
from smtp_server import SMTPServer
from sqlalchemy import select

from kingavis.accounts.users import create_user
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import AuditLog, RequestDecision, ReviewReport, ReviewRequest, ReviewState
from kingavis.review_requests.notes import describe_note
from kingavis.reviews.actions import (
    ActionError,
    moderation_queue,
    open_report,
    operator_publish,
    operator_reject,
    reply_to_review,
    report_review,
    withdraw_by_author,
)
from kingavis.reviews.publication import REJECTION_REASONS, rejection_label


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test")
    return app


def timeline(request_id: int) -> list[str]:
    db.session.rollback()
    rows = db.session.execute(select(RequestDecision).where(
        RequestDecision.review_request_id == request_id).order_by(RequestDecision.id)).scalars()
    with force_locale("en"):
        return [describe_note(d) for d in rows]


def audit_actions() -> list[tuple[str, str]]:
    db.session.rollback()
    return [(a.action, a.actor_email) for a in
            db.session.execute(select(AuditLog).where(AuditLog.action != "login").order_by(AuditLog.id)).scalars()]


def author_mails(smtp: SMTPServer) -> list:
    """The messages sent to review authors (not the invitations)."""
    with smtp.lock:
        return [m for m in smtp.messages if "review-request" not in str(m.message["Message-ID"])]


def body_text(message) -> str:
    return message.message.get_body(("plain",)).get_content()


def test_a_comment_with_a_phone_number_waits_and_its_rating_plays_no_part(mail_app: Flask) -> None:
    shop, _ = make_shop()
    held = [reviewed(shop, f"{n}", rating, "Appelez-moi au 06 12 34 56 78") for n, rating in ((1, 1), (2, 5))]
    clean = [reviewed(shop, f"{n}", rating, "Très bien") for n, rating in ((3, 1), (4, 5))]
    assert [r.status for r in held] == ["pending", "pending"]
    assert all(r.published_at is None for r in held)
    assert [r.status for r in clean] == ["published", "published"]
    assert timeline(held[0].review_request_id)[-1] == "review (1/5) awaiting moderation"


def test_operator_publishes_a_pending_review_and_the_author_is_emailed_once(
        mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop("Boutique Zoë")
    review = reviewed(shop, "1", 2, "Voir www.autre.fr")
    mod = operator()

    assert operator_publish(review.id, mod) == "moderation.publish"

    review = fresh(review.id)
    assert review.status == "published" and review.published_at is not None
    assert timeline(review.review_request_id)[-1] == "review published (2/5)"
    assert audit_actions() == [("moderation.publish", "moderation@kingavis.test")]
    assert outgoing(review.id) == [("email", "published", "pending")]

    first = tick()
    assert first.messages_claimed == 1 and first.message_outcomes["sent"] == 1
    assert "review messages: claimed 1" in first.summary()
    tick()
    (mail,) = author_mails(smtp)
    assert mail.rcpt_tos == ["customer-1@example.com"]
    assert "Boutique Zoë" in str(mail.message["Subject"]) and "publié" in str(mail.message["Subject"])
    assert f"/avis/{shop.slug}" in body_text(mail)
    token = db.session.get(ReviewRequest, review.review_request_id).token
    assert f"/r/{token}" in body_text(mail)
    assert outgoing(review.id) == [("email", "published", "sent")]
    # Deciding again is refused and changes nothing.
    with pytest.raises(ActionError):
        operator_publish(review.id, mod)


@pytest.mark.parametrize("rating", [1, 5])
def test_operator_rejects_with_a_listed_reason_and_the_author_gets_it(
        mail_app: Flask, smtp: SMTPServer, rating: int) -> None:
    shop, _ = make_shop()
    review = reviewed(shop, "1", rating, "Mon mail : moi@example.org", locale="en")
    mod = operator()

    operator_reject(review.id, mod, "personal_data")

    review = fresh(review.id)
    assert (review.status, review.rejection_reason, review.published_at) == ("rejected", "personal_data", None)
    assert timeline(review.review_request_id)[-1].startswith("review rejected: personal data")
    assert audit_actions() == [("moderation.reject", "moderation@kingavis.test")]
    tick()
    (mail,) = author_mails(smtp)
    assert "was not published" in str(mail.message["Subject"])
    assert rejection_label("personal_data", "en") in body_text(mail)
    assert "/charte" in body_text(mail)


def test_rejection_needs_a_reason_from_the_list_and_an_operator(mail_app: Flask) -> None:
    shop, _ = make_shop()
    review = reviewed(shop, "1", 3, "https://spam.example")
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    with pytest.raises(ActionError) as error:
        operator_reject(review.id, operator(), "because")
    assert error.value.code == "invalid"
    with pytest.raises(PermissionError):
        operator_reject(review.id, merchant, "advertising")
    with pytest.raises(PermissionError):
        operator_publish(review.id, merchant)
    assert fresh(review.id).status == "pending"
    assert outgoing() == [] and audit_actions() == []


def test_rejection_reasons_are_a_stable_list_worded_in_both_languages(app: Flask) -> None:
    assert list(REJECTION_REASONS) == ["personal_data", "insulting", "off_topic", "advertising",
                                       "conflict_of_interest", "unintelligible"]
    for code in REJECTION_REASONS:
        fr, en = rejection_label(code, "fr"), rejection_label(code, "en")
        assert fr and en and fr != en, code


def test_merchant_report_keeps_the_review_published_until_an_operator_decides(mail_app: Flask,
                                                                             smtp: SMTPServer) -> None:
    shop, _ = make_shop("Boutique Zoë")
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    review = reviewed(shop, "1", 1, "Arnaque totale, ce vendeur est un voleur")

    report = report_review(shop, review.id, merchant, "  Propos diffamatoires  ")

    assert report.reason == "Propos diffamatoires"
    review = fresh(review.id)
    assert review.status == "published" and open_report(review.id) is not None
    assert timeline(review.review_request_id)[-1] == "review reported by the merchant: Propos diffamatoires"
    with pytest.raises(ActionError) as again:
        report_review(shop, review.id, merchant, "encore")
    assert again.value.code == "reported"
    items, total = moderation_queue()
    assert total == 1 and [(i.kind, i.review_id, i.shop_name, i.report_reason) for i in items] == [
        ("report", review.id, "Boutique Zoë", "Propos diffamatoires")]

    operator_reject(review.id, operator(), "insulting")

    review = fresh(review.id)
    assert review.status == "rejected"
    decided = db.session.get(ReviewReport, report.id)
    assert (decided.resolution, decided.resolved_at is not None) == ("upheld", True)
    assert moderation_queue() == ([], 0)
    tick()
    assert len(author_mails(smtp)) == 1


def test_dismissed_report_leaves_the_review_published_and_tells_nobody(mail_app: Flask,
                                                                     smtp: SMTPServer) -> None:
    shop, _ = make_shop()
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    review = reviewed(shop, "1", 2, "Livraison très lente")
    report_review(shop, review.id, merchant, "Ce n'est pas vrai")

    assert operator_publish(review.id, operator()) == "moderation.dismiss_report"

    review = fresh(review.id)
    assert review.status == "published" and open_report(review.id) is None
    assert timeline(review.review_request_id)[-1] == "report examined by moderation: the review stays published"
    tick()
    assert author_mails(smtp) == []
    # Reported again later: a new report may be opened.
    report_review(shop, review.id, merchant, "Nouveau signalement")
    assert open_report(review.id) is not None


def test_only_published_reviews_of_the_shop_can_be_reported_or_answered(mail_app: Flask) -> None:
    shop, _ = make_shop("A")
    other, _ = make_shop("B")
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    pending = reviewed(shop, "1", 4, "écrivez à a@b.fr")
    elsewhere = reviewed(other, "2", 4, "Bien")
    for action in (report_review, reply_to_review):
        with pytest.raises(ActionError) as error:
            action(shop, pending.id, merchant, "Un texte")
        assert error.value.code == "state"
        with pytest.raises(PermissionError):
            action(shop, elsewhere.id, merchant, "Un texte")
    published = reviewed(shop, "3", 4, "Bien")
    for bad in ("", "  ", "x" * 1001, None):
        with pytest.raises(ActionError):
            report_review(shop, published.id, merchant, bad)
    for bad in ("", "\n\n", "x" * 2001, 42):
        with pytest.raises(ActionError):
            reply_to_review(shop, published.id, merchant, bad)
    assert outgoing() == [] and audit_actions() == []
    assert db.session.execute(select(ReviewReport)).first() is None


def test_reply_is_published_once_edited_later_and_the_author_emailed_on_first_publication(
        mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop("Boutique Zoë")
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    review = reviewed(shop, "1", 3, "Correct")

    assert reply_to_review(shop, review.id, merchant, "Merci <b>beaucoup</b> !\r\nÀ bientôt")
    first = fresh(review.id)
    assert first.reply_text == "Merci <b>beaucoup</b> !\nÀ bientôt"
    assert first.reply_published_at == first.reply_updated_at is not None
    published_at, updated_at = first.reply_published_at, first.reply_updated_at

    assert not reply_to_review(shop, review.id, merchant, "Merci <b>beaucoup</b> !\nÀ bientôt")
    assert reply_to_review(shop, review.id, merchant, "Merci, à bientôt")
    edited = fresh(review.id)
    assert edited.reply_text == "Merci, à bientôt"
    assert edited.reply_published_at == published_at
    assert edited.reply_updated_at > updated_at
    assert timeline(review.review_request_id)[-2:] == ["merchant's reply published", "merchant's reply edited"]
    assert [a for a, _ in audit_actions()] == ["review.reply", "review.reply_update"]

    tick()
    tick()
    (mail,) = author_mails(smtp)  # one email, for the first publication
    assert "a répondu à votre avis" in str(mail.message["Subject"])
    assert "Merci, à bientôt" in body_text(mail)  # the reply as it is when sent
    html = mail.message.get_body(("html",)).get_content()
    assert "<b>beaucoup" not in html


def test_withdrawal_is_idempotent_keeps_the_text_and_drops_unsent_author_emails(
        mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop()
    review = reviewed(shop, "1", 1, "Contactez-moi au +33 6 12 34 56 78")
    operator_publish(review.id, operator())  # an email is queued...
    request = db.session.get(ReviewRequest, review.review_request_id)

    withdraw_by_author(request)  # ...and the author withdraws before it goes
    withdraw_by_author(request)

    review = fresh(review.id)
    assert review.status == ReviewState.WITHDRAWN.value and review.withdrawn_at is not None
    assert review.comment == "Contactez-moi au +33 6 12 34 56 78"
    assert timeline(review.review_request_id).count("review withdrawn: by its author") == 1
    result = tick()
    assert result.message_outcomes == {"suppressed": 1}
    assert author_mails(smtp) == []
    assert outgoing(review.id) == [("email", "published", "dropped")]


def test_withdrawing_without_a_review_is_refused(mail_app: Flask) -> None:
    from delivery_helpers import request_row, schedule

    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    tick()
    with pytest.raises(ActionError) as error:
        withdraw_by_author(request_row(request_id))
    assert error.value.code == "no_review"


def test_queue_lists_pending_and_reported_reviews_oldest_first_across_shops(mail_app: Flask) -> None:
    a, _ = make_shop("A")
    b, _ = make_shop("B")
    merchant_b, _ = create_user("b@example.com", PASSWORD, b)
    old = reviewed(a, "1", 5, "www.a.fr", age_days=3)
    reported = reviewed(b, "2", 1, "Nul", age_days=2)
    new = reviewed(b, "3", 3, "06 12 34 56 78", age_days=1)
    reviewed(a, "4", 4, "Très bien")  # published, not reported: not in the queue
    report_review(b, reported.id, merchant_b, "Faux")  # reported now: after both pending ones

    items, total = moderation_queue()
    assert total == 3
    assert [(i.kind, i.review_id, i.shop_name) for i in items] == [
        ("pending", old.id, "A"), ("pending", new.id, "B"), ("report", reported.id, "B")]


def test_smtp_refusal_fails_the_email_with_the_reason_and_a_down_server_retries(
        mail_app: Flask, smtp: SMTPServer) -> None:
    from datetime import timedelta

    from kingavis.models import OutgoingMessage, utcnow

    mail_app.config["DISPATCH_RETRY_DELAYS"] = (30,)
    shop, _ = make_shop()
    refused = reviewed(shop, "1", 2, "www.x.fr", email="bad@example.com")
    later = reviewed(shop, "2", 2, "www.y.fr")
    mod = operator()
    smtp.recipient_replies["bad@example.com"] = "550 5.1.1 User unknown"
    operator_publish(refused.id, mod)
    smtp.data_reply = "451 4.3.0 Try again later"
    operator_publish(later.id, mod)

    tick()
    db.session.rollback()
    rows = {m.review_id: m for m in db.session.execute(select(OutgoingMessage)).scalars()}
    assert rows[refused.id].state == "failed" and "550" in rows[refused.id].last_error
    assert rows[later.id].state == "pending" and "451" in rows[later.id].last_error
    smtp.data_reply = None
    tick(utcnow() + timedelta(seconds=31))
    assert outgoing(later.id) == [("email", "published", "sent")]
    assert sorted(message_ids(smtp).values()) == [1, 1, 1]  # two invitations that went, one notice
