"""Rule 5 (docs/rules.md): at send time, the address the email would go to (the order's latest, compared
case-insensitively) is checked against the unsubscribe and suppression lists, and the email's unsubscribe link
unsubscribes the address that received it. A real SMTP server counts what was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from delivery_helpers import event, request_row, schedule, timeline
from factories import days_ago, make_shop, new_webhook_id
from flask import Flask
from flask_babel import force_locale
from smtp_server import SMTPServer
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import RequestDecision, Shop, Suppression, Unsubscription, utcnow
from kingavis.orders.events import apply_status_event
from kingavis.review_requests.notes import describe_note
from kingavis.shops.collection_settings import set_reminder


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test")
    return app


def _recipients(smtp: SMTPServer) -> list[str]:
    with smtp.lock:
        return [rcpt for m in smtp.messages for rcpt in m.rcpt_tos]


def _unsubscribe_path(smtp: SMTPServer, index: int) -> str:
    with smtp.lock:
        header = str(smtp.messages[index].message["List-Unsubscribe"])
    return urlsplit(header.strip("<>")).path


def _unsubscribed(shop: Shop) -> set[str]:
    db.session.rollback()
    return set(db.session.execute(
        select(Unsubscription.email_normalized).where(Unsubscription.shop_id == shop.id)
    ).scalars())


def _change_address(shop: Shop, order_id: str, email: str, status: str = "5") -> None:
    """A later event on the order carrying another address (the trigger status again: the
    order's request is left as it is)."""
    result = apply_status_event(shop, event(order_id, status, days_ago(0.5), email=email),
                                new_webhook_id())
    assert result.body["outcome"] in ("unchanged", "recorded"), result.body


def test_an_unsubscribed_address_is_not_mailed_when_an_order_changes_to_it(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop(customer_window_days=0)
    client = mail_app.test_client()
    # U1 for the victim is sent; the victim unsubscribes with the email's link.
    schedule(shop, "U1", email="victim@example.com")
    assert tick(utcnow()).sent == 1
    assert client.post(_unsubscribe_path(smtp, 0)).status_code == 200
    assert _unsubscribed(shop) == {"victim@example.com"}

    # U2 is scheduled for someone else, then a later event gives it the victim's address.
    u2 = schedule(shop, "U2", email="other@example.com")
    _change_address(shop, "U2", "Victim@Example.com")

    result = tick(utcnow())
    assert result.sent == 0 and result.outcomes["suppressed"] == 1
    assert _recipients(smtp) == ["victim@example.com"]  # only U1's email, ever
    row = request_row(u2)
    assert (row.state, row.reason) == ("suppressed", "unsubscribed")
    assert timeline(u2)[-1] == ("suppressed", "unsubscribed")


def test_the_address_changed_away_from_an_unsubscribed_one_is_mailed(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop(customer_window_days=0)
    db.session.add(Unsubscription(shop_id=shop.id, email_normalized="old@example.com"))
    db.session.commit()
    # Scheduled while the address was not unsubscribed... then it became so and changed away.
    request_id = schedule(shop, "U3", email="typo@example.com")
    db.session.add(Unsubscription(shop_id=shop.id, email_normalized="typo@example.com"))
    db.session.commit()
    _change_address(shop, "U3", "Right@Example.com")

    assert tick(utcnow()).sent == 1
    assert _recipients(smtp) == ["Right@example.com"]
    assert request_row(request_id).state == "sent"


def test_the_unsubscribe_link_unsubscribes_the_address_that_received_the_email(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop(customer_window_days=0)
    request_id = schedule(shop, "U4", email="first@example.com")
    _change_address(shop, "U4", "Second@Example.com")
    assert tick(utcnow()).sent == 1
    assert _recipients(smtp) == ["Second@example.com"]
    assert request_row(request_id).customer_email_normalized == "second@example.com"

    client = mail_app.test_client()
    page = client.get(_unsubscribe_path(smtp, 0)).get_data(as_text=True)
    assert "s***@example.com" in page
    assert client.post(_unsubscribe_path(smtp, 0),
                       data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert _unsubscribed(shop) == {"second@example.com"}

    # The address first scheduled can still be asked about another order.
    schedule(shop, "U5", email="first@example.com")
    assert tick(utcnow()).sent == 1
    assert _recipients(smtp)[-1] == "first@example.com"


def test_the_window_of_later_orders_counts_the_address_actually_mailed(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop(customer_window_days=30)
    schedule(shop, "W1", email="before@example.com")
    _change_address(shop, "W1", "after@example.com")
    assert tick(utcnow()).sent == 1

    result = apply_status_event(
        shop, event("W2", "5", days_ago(11), email="after@example.com"), new_webhook_id())
    assert result.body["outcome"] == "suppressed"
    assert result.body["review_request"]["reason"] == "recent_request"


def test_no_reminder_to_an_address_that_did_not_receive_the_invitation(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop(customer_window_days=0)
    set_reminder(shop, 3)
    request_id = schedule(shop, "R1", email="invited@example.com")
    now = utcnow()
    assert tick(now).sent == 1
    _change_address(shop, "R1", "someone-else@example.com")

    due = now + timedelta(days=3, seconds=1)
    result = tick(due)
    assert result.reminders_claimed == 1 and result.reminder_outcomes["sent"] == 0
    assert _recipients(smtp) == ["invited@example.com"]
    row = request_row(request_id)
    assert row.reminder_due_at is None and row.reminder_sent_at is None
    db.session.rollback()
    decisions = db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id)).scalars()
    with force_locale("en"):
        notes = [(describe_note(d), d.created_at) for d in decisions]
    assert notes[-1] == (
        "reminder not sent: the order's email address changed since the invitation", due)


def test_a_suppressed_address_is_not_mailed_when_an_order_changes_to_it(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    """The suppression list's answer read with the request is for the recorded address only:
    for the address the order changed to, the list is asked again."""
    shop, _ = make_shop(customer_window_days=0)
    db.session.add(Suppression(shop_id=shop.id, email_normalized="bounced@example.com",
                               reason="bounced", status="5.1.1"))
    db.session.commit()
    request_id = schedule(shop, "S1", email="other@example.com")
    _change_address(shop, "S1", "Bounced@Example.com")

    result = tick(utcnow())
    assert result.sent == 0 and result.outcomes["suppressed"] == 1
    assert _recipients(smtp) == []
    row = request_row(request_id)
    assert (row.state, row.reason) == ("suppressed", "bounced")


def test_the_address_changed_away_from_a_suppressed_one_is_mailed(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop(customer_window_days=0)
    request_id = schedule(shop, "S2", email="typo@example.com")
    db.session.add(Suppression(shop_id=shop.id, email_normalized="typo@example.com",
                               reason="bounced", status="5.1.1"))
    db.session.commit()
    _change_address(shop, "S2", "Right@Example.com")

    assert tick(utcnow()).sent == 1
    assert _recipients(smtp) == ["Right@example.com"]
    assert request_row(request_id).state == "sent"
