"""Bounces and complaints end to end (docs/deliverability.md): a review request goes out through
the real SMTP path to a sink, the bounce a real mail system would write for it comes back over
SMTP to ``flask mail serve``'s listener, and the address is suppressed for that shop only."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import bounce_samples
import pytest
from conftest import make_app
from delivery_helpers import schedule
from factories import days_ago, make_shop, post_event, status_event
from flask import Flask
from smtp_server import Received, SMTPServer
from sqlalchemy import select

from kingavis.deliverability.smtp import start
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    RequestDecision,
    ReviewRequest,
    Suppression,
    Unsubscription,
)

BOUNCE_DOMAIN = "bounce.kingavis.test"
CUSTOMER = "zoe@example.com"


@pytest.fixture
def sink() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(database_url: str, tmp_path: Path, sink: SMTPServer) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path, MAIL_URL=sink.url, MAIL_FROM="avis@kingavis.test",
                   KINGAVIS_BOUNCE_DOMAIN=BOUNCE_DOMAIN)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listener(mail_app: Flask) -> Iterator[int]:
    """``flask mail serve``'s SMTP listener, on a free loopback port."""
    port = free_port()
    controller = start(mail_app, "127.0.0.1", port)
    yield port
    controller.stop()


def send_back(port: int, message: bytes, recipient: str) -> tuple[int, bytes]:
    """Deliver a report to the listener as an MTA would (null sender); the DATA reply."""
    db.session.rollback()  # SQLite: no read transaction of the test holds off the listener
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("mx.example.com")
        smtp.mail("<>")
        code, _ = smtp.rcpt(recipient)
        assert code == 250
        return smtp.data(message)


def sent_invitation(sink: SMTPServer) -> tuple[ReviewRequest, ReviewRequest, Received]:
    """Shop A's request for CUSTOMER sent (with a reminder to come), shop B's for the same
    address scheduled later: (A's request, B's request, what the sink received)."""
    shop_a, _ = make_shop("Boutique A")
    shop_a.reminder_days = 5
    shop_b, _ = make_shop("Boutique B")
    db.session.commit()
    a_id = schedule(shop_a, "A-1", email=CUSTOMER)
    b_id = schedule(shop_b, "B-1", email=CUSTOMER, days=1)
    tick()
    assert len(sink.messages) == 1
    db.session.rollback()
    a, b = db.session.get(ReviewRequest, a_id), db.session.get(ReviewRequest, b_id)
    assert a is not None and b is not None
    assert (a.state, b.state) == ("sent", "scheduled") and a.reminder_due_at is not None
    return a, b, sink.messages[0]


def refreshed(request: ReviewRequest) -> ReviewRequest:
    db.session.rollback()
    row = db.session.get(ReviewRequest, request.id, populate_existing=True)
    assert row is not None
    return row


def timeline_codes(request_id: int) -> list[str | None]:
    return list(db.session.execute(
        select(RequestDecision.note_code).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id)).scalars())


def next_order(client, shop_key: str, order_id: str) -> dict:
    from kingavis.models import Shop

    shop = db.session.execute(select(Shop).where(Shop.key == shop_key)).scalar_one()
    secret = shop.secrets[0].secret
    response = post_event(client, shop, secret, status_event(order_id, "5", days_ago(1),
                                                             email=CUSTOMER))
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["review_request"]


@pytest.mark.parametrize("format_name", sorted(bounce_samples.FORMATS))
def test_a_hard_bounce_suppresses_the_address_for_that_shop_only(
        mail_app: Flask, sink: SMTPServer, listener: int, format_name: str) -> None:
    a, b, received = sent_invitation(sink)
    envelope = received.mail_from
    assert envelope == f"bounces+{a.bounce_token}@{BOUNCE_DOMAIN}"
    assert CUSTOMER not in envelope and a.token not in envelope

    report = bounce_samples.FORMATS[format_name](received.content, envelope, CUSTOMER)
    # Gmail's report is sent to the bounce domain's postmaster here: the Message-ID of the
    # attached original names the email.
    to = f"postmaster@{BOUNCE_DOMAIN}" if format_name == "gmail" else envelope
    code, _ = send_back(listener, report, to)
    assert code == 250

    a, b = refreshed(a), refreshed(b)
    rows = db.session.execute(select(Suppression.shop_id, Suppression.reason)).all()
    assert rows == [(a.shop_id, "bounced")]
    assert a.reminder_due_at is None
    assert "bounce_permanent" in timeline_codes(a.id)
    assert b.state == "scheduled"  # the other shop still writes to that address
    assert db.session.execute(select(AuditLog.action).where(
        AuditLog.shop_id == a.shop_id, AuditLog.action == "deliverability.suppressed")).scalar()

    client = mail_app.test_client()
    answer = next_order(client, a.shop.key, "A-2")
    assert (answer["state"], answer["reason"]) == ("suppressed", "bounced")
    # The same report delivered again changes nothing more.
    assert send_back(listener, report, to)[0] == 250
    assert db.session.execute(select(Suppression.id)).all().__len__() == 1


def test_a_complaint_suppresses_and_unsubscribes(mail_app: Flask, sink: SMTPServer,
                                                 listener: int) -> None:
    a, b, received = sent_invitation(sink)
    report = bounce_samples.arf(received.content, received.mail_from, CUSTOMER)
    assert send_back(listener, report, f"fbl@{BOUNCE_DOMAIN}")[0] == 250

    a = refreshed(a)
    assert db.session.execute(select(Suppression.shop_id, Suppression.reason)).all() == [
        (a.shop_id, "complained")]
    assert db.session.execute(select(Unsubscription.shop_id)).scalars().all() == [a.shop_id]
    assert a.reminder_due_at is None and "complaint" in timeline_codes(a.id)
    assert refreshed(b).state == "scheduled"
    answer = next_order(mail_app.test_client(), a.shop.key, "A-2")
    assert (answer["state"], answer["reason"]) == ("suppressed", "complained")


def test_three_temporary_failures_within_30_days_suppress(mail_app: Flask, sink: SMTPServer,
                                                         listener: int) -> None:
    a, _, received = sent_invitation(sink)
    for n, status in enumerate(("4.2.0", "4.2.2", "4.4.1")):
        report = bounce_samples.postfix(received.content, received.mail_from, CUSTOMER,
                                        status=status, action="delayed")
        report = report.replace(b"-delayed@", f"-{n}-delayed@".encode())
        assert send_back(listener, report, received.mail_from)[0] == 250
        suppressed = db.session.execute(select(Suppression.reason)).scalars().all()
        db.session.rollback()
        assert suppressed == ([] if n < 2 else ["bounced"])
    assert refreshed(a).reminder_due_at is None


def test_a_scheduled_request_of_the_address_is_cancelled_as_bounced(
        mail_app: Flask, sink: SMTPServer, listener: int) -> None:
    a, _, received = sent_invitation(sink)
    # A later order of the same customer in shop A, scheduled outside the window.
    shop = a.shop
    shop.customer_window_days = 0
    db.session.commit()
    later = schedule(shop, "A-3", email=CUSTOMER, days=-5)
    report = bounce_samples.postfix(received.content, received.mail_from, CUSTOMER)
    assert send_back(listener, report, received.mail_from)[0] == 250
    db.session.rollback()
    row = db.session.get(ReviewRequest, later)
    assert (row.state, row.reason) == ("cancelled", "bounced")
    assert "address_suppressed" in timeline_codes(later)


def test_the_real_flask_mail_serve_command(mail_app: Flask, sink: SMTPServer, database_url: str,
                                           tmp_path: Path) -> None:
    """The command as an operator starts it (its own process, configured by the environment),
    fed a Postfix DSN; stopped by SIGTERM."""
    import signal
    import subprocess
    import time

    from processes import BIN, ROOT, flask_env

    a, _, received = sent_invitation(sink)
    port = free_port()
    env = flask_env(database_url, tmp_path / "serve", SECRET_KEY="test-secret-key",
                    KINGAVIS_BOUNCE_DOMAIN=BOUNCE_DOMAIN)
    process = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "mail", "serve", "--port",
                                str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "flask mail serve did not start"
                time.sleep(0.2)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.ehlo("mx.example.com")
            smtp.mail("<>")
            assert smtp.rcpt("someone@elsewhere.example")[0] == 550  # not the bounce domain
            assert smtp.rcpt(received.mail_from)[0] == 250
            db.session.rollback()
            report = bounce_samples.postfix(received.content, received.mail_from, CUSTOMER)
            assert smtp.data(report)[0] == 250
        assert db.session.execute(select(Suppression.reason)).scalars().all() == ["bounced"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"listening on 127.0.0.1:{port}" in err
