"""The one optional reminder (issue 5, point 2): off by default; N days after the first email,
through the same durable dispatcher and the same checks; never twice.

A real SMTP server counts what it received per Message-ID; the RQ test runs real workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from delivery_helpers import (
    LogLines,
    Worker,
    event,
    last_entry,
    log_lines,
    message_ids,
    request_row,
    schedule,
    wait_for,
    worker_env,
)
from factories import new_webhook_id
from flask import Flask
from flask_babel import force_locale
from smtp_server import SMTPServer
from sqlalchemy import create_engine, func, select

from kingavis.delivery.dispatcher import batch_job_id, tick
from kingavis.delivery.send_time import Outcome
from kingavis.delivery.sending import deliver_reminder
from kingavis.extensions import db
from kingavis.models import RequestDecision, Review, ReviewRequest, Shop, Unsubscription, utcnow
from kingavis.orders.events import apply_status_event
from kingavis.review_requests.notes import describe_note
from kingavis.shops.collection_settings import set_reminder
from kingavis.shops.service import ShopError
from kingavis.shops.settings import set_paused

DAYS = 3


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test")
    return app


def _shop(reminder_days: int | None = DAYS) -> Shop:
    from factories import make_shop

    shop, _ = make_shop()
    if reminder_days is not None:
        set_reminder(shop, reminder_days)
    return shop


def _messages(smtp: SMTPServer) -> list[EmailMessage]:
    with smtp.lock:
        return [m.message for m in smtp.messages]


def _notes(request_id: int) -> list[str]:
    """The timeline's notes as a merchant reading the back-office in English sees them."""
    db.session.rollback()
    rows = db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id)).scalars()
    with force_locale("en"):
        return [describe_note(d) for d in rows]


@pytest.fixture
def delivery_log() -> Iterator[LogLines]:
    with log_lines() as lines:
        yield lines


def _first_email(shop: Shop, order_id: str = "1") -> tuple[int, Any]:
    """A request scheduled and sent now; returns its id and the time it was sent."""
    request_id = schedule(shop, order_id)
    now = utcnow()
    assert tick(now).sent == 1
    return request_id, now


def _claimed_reminder(shop: Shop) -> tuple[int, Any]:
    """A first email sent now and its reminder claimed (attempt 1) when due; (id, due time)."""
    from kingavis.delivery.dispatcher import claim_reminders

    request_id, now = _first_email(shop)
    due = now + timedelta(days=DAYS, seconds=1)
    assert claim_reminders(due, 10) == [(request_id, 1)]
    return request_id, due


def _mid_send_changes_possible(app: Flask) -> None:
    """For a test that changes the request during a slow send: SQLite only (PostgreSQL holds
    the row lock for the send), with a 60 s lease the test outlives on paper."""
    if db.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL holds the request's row lock for the send: nothing changes meanwhile")
    app.config["DISPATCH_LEASE_SECONDS"] = 60


# --- the setting ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, 61, -1, "3", 2.5, True])
def test_set_reminder_refuses_bad_values_and_changes_nothing(app: Flask, bad: Any) -> None:
    shop = _shop(reminder_days=5)
    with pytest.raises(ShopError, match="reminder delay"):
        set_reminder(shop, bad)
    db.session.rollback()
    assert db.session.get(Shop, shop.id, populate_existing=True).reminder_days == 5


def test_set_reminder_accepts_bounds_and_none(app: Flask) -> None:
    shop = _shop(reminder_days=None)
    assert shop.reminder_days is None  # off by default
    for value in (1, 60, None):
        set_reminder(shop, value)
        db.session.expire_all()
        assert db.session.get(Shop, shop.id).reminder_days == value


# --- off by default ---------------------------------------------------------------------------

def test_no_reminder_by_default(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop(reminder_days=None)
    request_id, now = _first_email(shop)
    assert request_row(request_id).reminder_due_at is None
    result = tick(now + timedelta(days=90))
    assert result.reminders_claimed == 0
    assert len(_messages(smtp)) == 1


# --- sent once, after N days ------------------------------------------------------------------

def test_reminder_sent_once_after_n_days_with_its_own_message_id(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    row = request_row(request_id)
    assert row.reminder_due_at == row.sent_at + timedelta(days=DAYS)
    token = row.token

    assert tick(now + timedelta(days=DAYS) - timedelta(minutes=1)).reminders_claimed == 0
    assert len(_messages(smtp)) == 1

    later = now + timedelta(days=DAYS, seconds=1)
    result = tick(later)
    assert (result.reminders_claimed, result.reminder_outcomes["sent"]) == (1, 1)
    assert "reminders: claimed 1" in result.summary()
    first, reminder = _messages(smtp)
    assert first["Message-ID"] != reminder["Message-ID"]
    assert reminder["Subject"].startswith("Rappel")
    assert not first["Subject"].startswith("Rappel")
    assert reminder["List-Unsubscribe"].strip() == f"<http://kingavis.test/u/{token}>"
    text_part = reminder.get_body(("plain",)).get_content()
    assert f"http://kingavis.test/r/{token}" in text_part
    assert "Il y a quelques jours" in text_part
    row = request_row(request_id)
    assert row.reminder_sent_at == later and row.reminder_attempts == 1
    assert row.state == "sent"
    assert any(n.startswith("reminder sent") for n in _notes(request_id))

    # Never twice: later ticks, and the same claim delivered again, send nothing more.
    assert tick(later + timedelta(days=30)).reminders_claimed == 0
    from kingavis.delivery.transports import open_transport

    with open_transport(mail_app.config["MAIL_URL"]) as transport:
        assert deliver_reminder(request_id, 1, transport) is Outcome.STALE
    assert sorted(message_ids(smtp).values()) == [1, 1]


def test_reminder_in_english_for_an_english_customer(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop()
    schedule(shop, "1", locale="en-GB")
    now = utcnow()
    tick(now)
    tick(now + timedelta(days=DAYS, seconds=1))
    _, reminder = _messages(smtp)
    assert reminder["Subject"].startswith("Reminder: ")
    assert "A few days ago" in reminder.get_body(("plain",)).get_content()


def test_turning_the_reminder_on_later_applies_to_emails_sent_afterwards(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop = _shop(reminder_days=None)
    before, now = _first_email(shop, "1")
    set_reminder(shop, DAYS)
    after = schedule(shop, "2")
    now = utcnow()
    assert tick(now).sent == 1
    assert request_row(before).reminder_due_at is None
    assert request_row(after).reminder_due_at is not None
    assert tick(now + timedelta(days=DAYS, minutes=1)).reminders_claimed == 1


# --- not sent: reviewed, unsubscribed, cancelled; paused waits ----------------------------------

def test_no_reminder_when_a_review_was_left(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    row = request_row(request_id)
    db.session.add(Review(shop_id=shop.id, order_id=row.order_id, review_request_id=row.id,
                          rating=5, comment="Parfait"))
    db.session.commit()

    due = now + timedelta(days=DAYS, seconds=1)
    result = tick(due)
    assert result.reminders_claimed == 1 and result.reminder_outcomes["sent"] == 0
    assert len(_messages(smtp)) == 1
    row = request_row(request_id)
    assert row.reminder_due_at is None and row.reminder_sent_at is None
    assert last_entry(request_id) == ("sent", None, "reminder not sent: a review was left", due)
    assert tick(now + timedelta(days=60)).reminders_claimed == 0


def test_no_reminder_after_unsubscribing(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    db.session.add(Unsubscription(shop_id=shop.id,
                                  email_normalized=request_row(request_id).customer_email_normalized))
    db.session.commit()

    tick(now + timedelta(days=DAYS, seconds=1))
    assert len(_messages(smtp)) == 1
    assert request_row(request_id).reminder_due_at is None
    assert "reminder not sent: customer unsubscribed" in _notes(request_id)


def test_no_reminder_once_the_order_is_cancelled(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    apply_status_event(shop, event("1", "6", now, email="customer-1@example.com", paid=False),
                       new_webhook_id())

    due = now + timedelta(days=DAYS, seconds=1)
    assert tick(due).reminder_outcomes["cancelled"] == 1
    assert len(_messages(smtp)) == 1
    row = request_row(request_id)
    assert row.reminder_due_at is None and row.reminder_sent_at is None
    assert last_entry(request_id) == ("sent", "order_cancelled",
                                       "reminder not sent: order cancelled", due)


def test_no_reminder_for_a_request_that_is_no_longer_sent(mail_app: Flask, smtp: SMTPServer) -> None:
    """The reminder follows a sent invitation only: a request put in another state meanwhile
    (here by hand, as an operator repairing the database would) gets no reminder, and its
    timeline says why."""
    shop = _shop()
    request_id, now = _first_email(shop)
    row = request_row(request_id)
    row.state, row.reason = "failed", "delivery_failed"
    db.session.commit()

    due = now + timedelta(days=DAYS, seconds=1)
    result = tick(due)
    assert result.reminders_claimed == 1 and result.reminder_outcomes["cancelled"] == 1
    assert len(_messages(smtp)) == 1
    row = request_row(request_id)
    assert row.reminder_due_at is None and row.reminder_sent_at is None
    assert (row.state, row.reason) == ("failed", "delivery_failed")
    assert last_entry(request_id) == (
        "failed", "delivery_failed", "reminder not sent: the request is “sending failed”", due)
    assert tick(now + timedelta(days=60)).reminders_claimed == 0


def test_no_reminder_to_an_order_erased_by_hand(mail_app: Flask, smtp: SMTPServer) -> None:
    """Erasing a customer drops their pending reminders; an order whose data was removed
    another way (here by hand) gets no reminder either, and its timeline says why."""
    from kingavis.models import Order

    shop = _shop()
    request_id, now = _first_email(shop)
    order = db.session.get(Order, request_row(request_id).order_id)
    order.customer_email, order.erased_at = None, now
    db.session.commit()

    due = now + timedelta(days=DAYS, seconds=1)
    assert tick(due).reminder_outcomes["cancelled"] == 1
    row = request_row(request_id)
    assert row.reminder_due_at is None and row.reminder_sent_at is None
    assert last_entry(request_id) == ("sent", "erased",
                                      "reminder not sent: customer data erased", due)
    assert len(_messages(smtp)) == 1


def test_a_reminder_to_an_address_stored_before_the_address_rules_is_dropped(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    """An invitation sent before the address rules existed (written by hand here): its
    reminder cannot be built, and is dropped at once with the reason, never retried."""
    from kingavis.models import Order

    shop = _shop()
    request_id, now = _first_email(shop)
    row = request_row(request_id)
    order = db.session.get(Order, row.order_id)
    order.customer_email = row.customer_email_normalized = "zoe@localhost"
    db.session.commit()

    due = now + timedelta(days=DAYS, seconds=1)
    assert tick(due).reminder_outcomes["failed"] == 1
    row = request_row(request_id)
    assert (row.state, row.reminder_due_at, row.reminder_sent_at) == ("sent", None, None)
    assert last_entry(request_id) == (
        "sent", "delivery_failed",
        "reminder not sent: refused by the mail server: "
        "the customer's email address is not a valid address", due)
    assert tick(due + timedelta(days=30)).reminders_claimed == 0
    assert len(_messages(smtp)) == 1


def test_paused_shop_reminder_waits_then_goes_on_resume(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    set_paused(shop, None, True)
    due = now + timedelta(days=DAYS, seconds=1)
    assert tick(due).reminders_claimed == 0
    assert tick(due + timedelta(days=20)).reminders_claimed == 0
    assert request_row(request_id).reminder_due_at is not None
    assert len(_messages(smtp)) == 1

    set_paused(db.session.get(Shop, shop.id), None, False)
    assert tick(due + timedelta(days=20)).reminder_outcomes["sent"] == 1
    assert sorted(message_ids(smtp).values()) == [1, 1]


def test_a_claimed_reminder_meeting_a_pause_is_put_back(mail_app: Flask, smtp: SMTPServer) -> None:
    from kingavis.delivery.transports import open_transport

    shop = _shop()
    request_id, due = _claimed_reminder(shop)
    set_paused(db.session.get(Shop, shop.id), None, True)
    with open_transport(mail_app.config["MAIL_URL"]) as transport:
        assert deliver_reminder(request_id, 1, transport, now=due) is Outcome.PAUSED
    assert request_row(request_id).reminder_due_at == due
    assert last_entry(request_id) == ("sent", None, "reminder: shop paused, waiting", due)
    set_paused(db.session.get(Shop, shop.id), None, False)
    assert tick(due).reminder_outcomes["sent"] == 1
    assert len(_messages(smtp)) == 2


# --- errors ---------------------------------------------------------------------------------------

def test_temporary_error_retries_the_reminder_then_sends_it_once(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    due = now + timedelta(days=DAYS, seconds=1)
    smtp.data_reply = "451 4.3.0 Try again later"
    result = tick(due)
    assert result.reminder_outcomes["retry"] == 1
    row = request_row(request_id)
    assert row.reminder_sent_at is None and row.reminder_due_at == due + timedelta(seconds=60)
    assert tick(due + timedelta(seconds=30)).reminders_claimed == 0  # not before the retry time

    smtp.data_reply = None
    result = tick(due + timedelta(seconds=61))
    assert result.reminder_outcomes["sent"] == 1
    assert request_row(request_id).reminder_attempts == 2
    assert len([m for m in _messages(smtp) if m["Subject"].startswith("Rappel")]) == 1


def test_a_reminder_meeting_temporary_errors_until_the_last_attempt_is_given_up(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines
) -> None:
    mail_app.config.update(DISPATCH_MAX_ATTEMPTS=2, DISPATCH_RETRY_DELAYS=(45,))
    shop = _shop()
    request_id, now = _first_email(shop)
    due = now + timedelta(days=DAYS, seconds=1)
    smtp.data_reply = "451 4.3.0 Mailbox of customer-1@example.com busy"

    assert tick(due).reminder_outcomes["retry"] == 1
    row = request_row(request_id)
    assert row.reminder_due_at == due + timedelta(seconds=45)
    state, reason, note, at = last_entry(request_id)
    assert (state, reason, at) == ("sent", None, due)
    assert note.startswith("reminder: temporary error, retry in 45 s: 451 ")
    [line] = delivery_log.lines("temporary delivery error on a reminder, will retry")
    assert (line["review_request"], line["attempt"], line["retry_in_s"]) == (request_id, 1, 45)
    assert "c***@example.com" in line["error"] and "customer-1@" not in line["error"]

    # The second attempt is the last one allowed: the reminder is given up, the first email
    # stays sent, and nothing is claimed any more.
    later = due + timedelta(seconds=45)
    assert tick(later).reminder_outcomes["failed"] == 1
    row = request_row(request_id)
    assert (row.state, row.reminder_due_at, row.reminder_sent_at) == ("sent", None, None)
    state, reason, note, at = last_entry(request_id)
    assert (state, reason, at) == ("sent", "delivery_failed", later)
    assert note.startswith("reminder not sent: gave up after 2 attempts: 451 ")
    [line] = delivery_log.lines("reminder dropped")
    assert (line["why"], line["attempts"]) == ("reminder_gave_up", 2)
    assert "c***@example.com" in line["error"] and "customer-1@" not in line["error"]
    assert tick(later + timedelta(days=30)).reminders_claimed == 0
    assert len(_messages(smtp)) == 1


def test_an_unexpected_error_while_sending_a_reminder_retries_the_reminder(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines
) -> None:
    """An error the mail library was not expected to raise is a temporary error of the
    reminder (not of the first email, which stays sent): retried later, then sent once."""
    shop = _shop()
    request_id, due = _claimed_reminder(shop)

    class BrokenLibrary:
        def send(self, message: object) -> object:
            raise RuntimeError("the socket library broke")

    assert deliver_reminder(request_id, 1, BrokenLibrary(), now=due) is Outcome.RETRY
    row = request_row(request_id)
    assert (row.state, row.reminder_sent_at, row.reminder_due_at) == (
        "sent", None, due + timedelta(seconds=60))
    state, reason, note, at = last_entry(request_id)
    assert (state, reason, at) == ("sent", None, due)
    assert note == "reminder: temporary error, retry in 60 s: RuntimeError: the socket library broke"
    assert delivery_log.lines("unexpected error while sending the reminder") == [
        {"review_request": request_id}]
    assert tick(due + timedelta(seconds=60)).reminder_outcomes["sent"] == 1
    assert len([m for m in _messages(smtp) if m["Subject"].startswith("Rappel")]) == 1


def test_a_reminder_that_cannot_be_built_is_retried_then_sent_once_fixed(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines
) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    due = now + timedelta(days=DAYS, seconds=1)
    mail_app.config["MAIL_FROM"] = "avis@"  # not an address: no message can be built
    assert tick(due).reminder_outcomes["retry"] == 1
    assert delivery_log.lines("could not build the reminder") == [{"review_request": request_id}]
    row = request_row(request_id)
    assert row.reminder_due_at == due + timedelta(seconds=60) and row.reminder_sent_at is None
    state, reason, note, at = last_entry(request_id)
    assert (state, reason, at) == ("sent", None, due)
    assert note == ("reminder: temporary error, retry in 60 s: "
                    "ValueError: MAIL_FROM is not a valid address: 'avis@'")
    assert len(_messages(smtp)) == 1

    mail_app.config["MAIL_FROM"] = "avis@kingavis.test"
    assert tick(due + timedelta(seconds=60)).reminder_outcomes["sent"] == 1
    assert request_row(request_id).reminder_attempts == 2
    assert len(_messages(smtp)) == 2


def test_a_reminder_whose_connection_drops_after_its_data_is_not_sent_again(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines
) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    due = now + timedelta(days=DAYS, seconds=1)
    smtp.drop_after_data = True  # the server gets the reminder, then the line drops
    assert tick(due).reminder_outcomes["sent"] == 1
    smtp.drop_after_data = False
    assert request_row(request_id).reminder_sent_at == due
    assert last_entry(request_id) == ("sent", None, "reminder sent, attempt 1", due)
    [line] = delivery_log.lines("connection lost after the reminder's data; not sent again")
    assert line["review_request"] == request_id
    assert tick(due + timedelta(days=30)).reminders_claimed == 0
    assert len(_messages(smtp)) == 2


@pytest.mark.parametrize("reply", [None, "451 4.3.0 Try again later"])
def test_a_reminder_job_that_starts_late_in_its_lease_renews_it_for_the_send(
    mail_app: Flask, smtp: SMTPServer, reply: str | None
) -> None:
    """SQLite renews the lease before a slow send (PostgreSQL holds the row lock instead)."""
    from kingavis.delivery.dispatcher import claim_reminders
    from kingavis.delivery.transports import open_transport

    if db.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL holds the request's row lock for the send: no claim meanwhile")
    mail_app.config["DISPATCH_LEASE_SECONDS"] = 60
    shop = _shop()
    request_id, due = _claimed_reminder(shop)
    claimed_meanwhile: list[tuple[int, int]] = []
    smtp.data_reply = reply
    late = due + timedelta(seconds=50)
    with open_transport(mail_app.config["MAIL_URL"]) as smtp_transport:
        class SlowServer:
            def send(self, message: object) -> object:
                claimed_meanwhile.extend(claim_reminders(due + timedelta(seconds=61), 10))
                return smtp_transport.send(message)

        outcome = deliver_reminder(request_id, 1, SlowServer(), now=late)
    assert claimed_meanwhile == []
    row = request_row(request_id)
    if reply is None:
        assert outcome is Outcome.SENT
        assert (row.reminder_sent_at, row.reminder_attempts) == (late, 1)
        assert len(_messages(smtp)) == 2
    else:  # retried after the first delay, counted from this job's time
        assert outcome is Outcome.RETRY
        assert (row.reminder_sent_at, row.reminder_due_at) == (None, late + timedelta(seconds=60))


@pytest.mark.parametrize("meanwhile", ["claimed again", "customer erased"])
def test_a_temporary_error_on_a_reminder_no_longer_ours_records_nothing(
    mail_app: Flask, smtp: SMTPServer, meanwhile: str
) -> None:
    """During a slow send that then fails for now, the reminder was claimed again (its lease
    ended) or the customer was erased: the old job schedules no retry of it."""
    from kingavis.delivery.dispatcher import claim_reminders
    from kingavis.delivery.transports import open_transport
    from kingavis.personal_data.erasure import erase_customer

    _mid_send_changes_possible(mail_app)
    shop = _shop()
    request_id, due = _claimed_reminder(shop)
    entries = len(_notes(request_id))
    smtp.data_reply = "451 4.3.0 Try again later"
    with open_transport(mail_app.config["MAIL_URL"]) as smtp_transport:
        class SlowServer:
            def send(self, message: object) -> object:
                if meanwhile == "claimed again":
                    assert claim_reminders(due + timedelta(seconds=61), 10) == [(request_id, 2)]
                else:
                    erase_customer(db.session.get(Shop, shop.id), "customer-1@example.com",
                                   source="cli")
                return smtp_transport.send(message)

        assert deliver_reminder(request_id, 1, SlowServer(), now=due) is Outcome.STALE
    row = request_row(request_id)
    if meanwhile == "claimed again":
        assert (row.reminder_attempts, row.reminder_due_at) == (2, due + timedelta(seconds=121))
    else:
        assert row.reminder_due_at is None
    assert row.reminder_sent_at is None
    assert not any(n.startswith("reminder: temporary error") for n in _notes(request_id)[entries:])


@pytest.mark.parametrize("reply", ["accepted", "refused"])
def test_a_reminder_claimed_again_during_its_send(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines, reply: str
) -> None:
    """The lease ended during a slow send and the dispatcher claimed the reminder again.
    Accepted by the server, it went out: recorded as sent, once, with a warning naming both
    attempts. Refused: the newer claim decides, this job drops nothing."""
    from kingavis.delivery.dispatcher import claim_reminders
    from kingavis.delivery.transports import open_transport

    _mid_send_changes_possible(mail_app)
    shop = _shop()
    request_id, due = _claimed_reminder(shop)
    entries = len(_notes(request_id))
    if reply == "refused":
        smtp.recipient_replies["customer-1@example.com"] = "550 5.1.1 User unknown"
    with open_transport(mail_app.config["MAIL_URL"]) as smtp_transport:
        class SlowServer:
            def send(self, message: object) -> object:
                assert claim_reminders(due + timedelta(seconds=61), 10) == [(request_id, 2)]
                return smtp_transport.send(message)

        outcome = deliver_reminder(request_id, 1, SlowServer(), now=due)

    row = request_row(request_id)
    if reply == "accepted":
        assert outcome is Outcome.SENT and row.reminder_sent_at == due
        assert delivery_log.lines("reminder claimed again while it was being sent") == [
            {"review_request": request_id, "attempt": 1, "attempts": 2}]
        assert [line["attempt"] for line in delivery_log.lines("reminder sent")] == [1]
        assert _notes(request_id)[entries:] == ["reminder sent, attempt 1"]
    else:
        assert outcome is Outcome.STALE
        assert (row.reminder_sent_at, row.reminder_attempts) == (None, 2)
        assert row.reminder_due_at is not None  # still the newer claim's
        assert _notes(request_id)[entries:] == []
        assert delivery_log.lines("reminder dropped") == []


@pytest.mark.parametrize("refused_by", ["server", "transport"])
def test_a_refused_reminder_is_logged_without_the_customers_address(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines, refused_by: str
) -> None:
    """The server's words are kept, the address in them masked: by the SMTP transport for a
    server's reply, and again by the log line for an error from any other transport."""
    from kingavis.delivery.transports import PermanentMailError, open_transport

    shop = _shop()
    request_id, due = _claimed_reminder(shop)
    smtp.recipient_replies["customer-1@example.com"] = (
        "550 5.1.1 <customer-1@example.com>: Recipient address rejected")
    with open_transport(mail_app.config["MAIL_URL"]) as smtp_transport:
        class OtherTransport:
            def send(self, message: object) -> object:
                raise PermanentMailError("550 5.1.1 <customer-1@example.com>: Recipient address "
                                         "rejected", code=550)

        transport = smtp_transport if refused_by == "server" else OtherTransport()
        assert deliver_reminder(request_id, 1, transport, now=due) is Outcome.FAILED

    [dropped] = delivery_log.lines("reminder dropped")
    assert dropped["why"] == "reminder_refused"
    assert dropped["error"] == {
        "server": "550 recipient refused: 5.1.1 <c***@example.com>: Recipient address rejected",
        "transport": "550 5.1.1 <c***@example.com>: Recipient address rejected",
    }[refused_by]


def test_a_reminder_job_run_again_after_its_refusal_sends_nothing(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    """The same reminder job delivered twice (a queue may run a job again): the second run
    finds the reminder dropped and leaves it."""
    from kingavis.delivery.transports import open_transport

    shop = _shop()
    request_id, due = _claimed_reminder(shop)
    smtp.recipient_replies["customer-1@example.com"] = "550 5.1.1 User unknown"
    with open_transport(mail_app.config["MAIL_URL"]) as transport:
        assert deliver_reminder(request_id, 1, transport, now=due) is Outcome.FAILED
        smtp.recipient_replies.clear()
        entries = len(_notes(request_id))
        assert deliver_reminder(request_id, 1, transport, now=due) is Outcome.STALE
    assert len(_notes(request_id)) == entries
    assert request_row(request_id).reminder_sent_at is None
    assert len(_messages(smtp)) == 1


def test_permanent_error_drops_the_reminder(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _shop()
    request_id, now = _first_email(shop)
    smtp.recipient_replies["customer-1@example.com"] = "550 5.1.1 User unknown"
    result = tick(now + timedelta(days=DAYS, seconds=1))
    assert result.reminder_outcomes["failed"] == 1
    row = request_row(request_id)
    assert row.reminder_due_at is None and row.reminder_sent_at is None
    assert row.state == "sent"  # the first email stays sent
    assert any(n.startswith("reminder not sent: refused") for n in _notes(request_id))


# --- through real RQ workers ------------------------------------------------------------------

def _count(database_url: str, condition: Any, ids: list[int]) -> int:
    """Rows of ``ids`` meeting ``condition``, read on a connection of our own (workers write)."""
    table = ReviewRequest.__table__
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(
                select(func.count()).select_from(table).where(condition, table.c.id.in_(ids))
            ).scalar_one())
    finally:
        engine.dispose()


def _reminders_sent(database_url: str, ids: list[int]) -> bool:
    return _count(database_url, ReviewRequest.__table__.c.reminder_sent_at.isnot(None), ids) == len(ids)


def _first_emails_sent(database_url: str, ids: list[int]) -> bool:
    return _count(database_url, ReviewRequest.__table__.c.state == "sent", ids) == len(ids)


def test_reminders_through_rq_workers_exactly_once(
    database_url: str, tmp_path: Path, redis_url: str, smtp: SMTPServer
) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, MAIL_URL=smtp.url,
                   MAIL_FROM="avis@kingavis.test", DISPATCH_LEASE_SECONDS=30)
    worker = Worker(worker_env(database_url, tmp_path / "worker", redis_url, smtp.url,
                               KINGAVIS_DISPATCH_LEASE_SECONDS="30"), tmp_path / "worker.log")
    try:
        with app.app_context():
            shop = _shop()
            ids = [schedule(shop, str(n)) for n in range(8)]
            assert tick().enqueued == 8
            db.session.remove()
            wait_for(lambda: _first_emails_sent(database_url, ids), "first emails sent")

            later = utcnow() + timedelta(days=DAYS, minutes=1)
            result = tick(later)
            assert (result.reminders_claimed, result.reminders_enqueued) == (8, 8)
            assert tick(later).reminders_claimed == 0  # leased: claimed once
            # A duplicate of one job (a second dispatcher racing) changes nothing.
            queue = app.extensions["rq_queue"]
            from kingavis.delivery.send_time import Kind
            from kingavis.worker import send_request_batch

            dup = queue.enqueue(send_request_batch, "reminder", [[ids[0], 1]],
                                job_id=batch_job_id(Kind.REMINDER, [(ids[0], 1)]) + "-dup")
            db.session.remove()
            wait_for(lambda: _reminders_sent(database_url, ids), "reminders sent")
            wait_for(lambda: dup.get_status(refresh=True) in ("finished", "failed"),
                     "the duplicate job ran")
            assert dup.return_value() == "stale 1", worker.output()
            received = message_ids(smtp)
            assert len(received) == 16 and set(received.values()) == {1}, worker.output()
            assert tick(later + timedelta(days=10)).reminders_claimed == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        worker.stop()


def test_mail_server_down_gives_the_due_invitations_and_reminders_back_and_stops_the_tick(
    mail_app: Flask, smtp: SMTPServer, delivery_log: LogLines
) -> None:
    """The server unreachable at a tick with invitations and reminders due: the invitations'
    batch is given back (scheduled, retry delay), the tick stops there (the reminders are not
    even claimed), and one line says so. Reachable again: the reminders' own batch is given
    back the same way when the server goes away under them, then everything goes out once."""
    shop = _shop()
    first, sent_at = _first_email(shop, "1")
    waiting = [schedule(shop, str(n)) for n in (2, 3)]
    later = sent_at + timedelta(days=DAYS, minutes=1)
    smtp.stop()

    result = tick(later)
    assert (result.claimed, result.outcomes, result.reminders_claimed) == (2, {"retry": 2}, 0)
    assert {request_row(i).state for i in waiting} == {"scheduled"}
    assert request_row(first).reminder_attempts == 0  # not claimed: the tick stopped
    [line] = delivery_log.lines("mail server unreachable; batch scheduled again")
    assert (line["kind"], line["released"]) == ("invitation", 2)
    assert "cannot connect" in line["error"]

    # The invitations are due again only after their retry delay; the reminder now.
    result = tick(later + timedelta(seconds=1))
    assert (result.claimed, result.reminders_claimed, result.reminder_outcomes) == (
        0, 1, {"retry": 1})
    row = request_row(first)
    assert row.reminder_sent_at is None and row.reminder_due_at > later + timedelta(seconds=1)
    lines = delivery_log.lines("mail server unreachable; batch scheduled again")
    assert (lines[-1]["kind"], lines[-1]["released"]) == ("reminder", 1)

    smtp.start()
    result = tick(later + timedelta(hours=1))
    assert (result.sent, result.reminder_outcomes) == (2, {"sent": 1})
    assert sorted(message_ids(smtp).values()) == [1, 1, 1, 1]  # 3 invitations, 1 reminder
