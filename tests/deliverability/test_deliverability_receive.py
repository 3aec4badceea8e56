"""Receiving bounces and complaints (docs/deliverability.md): ``flask mail receive`` on
standard input, malformed and hostile messages (fuzzed), and what is kept for the operator.

Whatever arrives, the receiver never fails and never acts on a guess: a message that is not a
report about one of our emails suppresses nothing, cancels nothing, counts nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import bounce_samples
import pytest
from delivery_helpers import schedule
from factories import make_shop
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kingavis.deliverability.parsing import Kind, read_report
from kingavis.deliverability.service import receive
from kingavis.extensions import db
from kingavis.models import (
    DeliveryReport,
    InboundMessage,
    RequestDecision,
    ReviewRequest,
    Suppression,
    Unsubscription,
)

BOUNCE_DOMAIN = "bounce.kingavis.test"
CUSTOMER = "zoe@example.com"


@pytest.fixture
def bounce_app(app: Flask) -> Iterator[Flask]:
    app.config.update(KINGAVIS_BOUNCE_DOMAIN=BOUNCE_DOMAIN, MAIL_FROM="avis@kingavis.test")
    yield app


@pytest.fixture
def sent(bounce_app: Flask) -> ReviewRequest:
    """A sent review request with its reminder to come, as the dispatcher leaves it."""
    from kingavis.delivery.dispatcher import tick

    shop, _ = make_shop()
    shop.reminder_days = 5
    db.session.commit()
    request_id = schedule(shop, "1", email=CUSTOMER)
    tick()
    db.session.rollback()
    request = db.session.get(ReviewRequest, request_id)
    assert request is not None and request.state == "sent" and request.reminder_due_at
    return request


def original(request: ReviewRequest) -> bytes:
    return (f"From: Boutique <avis@kingavis.test>\r\nTo: {CUSTOMER}\r\n"
            f"Subject: Votre avis\r\nMessage-ID: {request.message_id}\r\n\r\nBonjour\r\n").encode()


def envelope(request: ReviewRequest) -> str:
    return f"bounces+{request.bounce_token}@{BOUNCE_DOMAIN}"


def effects() -> tuple[int, int, int, int]:
    """Suppressions, counted reports, unsubscriptions, timeline rows."""
    db.session.rollback()
    return tuple(int(db.session.scalar(select(func.count()).select_from(model)) or 0)
                 for model in (Suppression, DeliveryReport, Unsubscription, RequestDecision))


def test_mail_receive_reads_stdin_and_finds_the_recipient_in_delivered_to(
        bounce_app: Flask, sent: ReviewRequest) -> None:
    report = bounce_samples.postfix(original(sent), envelope(sent), CUSTOMER)
    # Postfix's pipe transport puts Delivered-To on top; the report already has one.
    result = bounce_app.test_cli_runner().invoke(args=["mail", "receive"], input=report)
    assert result.exit_code == 0, result.output
    assert '"action": "suppressed"' in result.output
    db.session.rollback()
    assert db.session.execute(select(Suppression.reason)).scalars().all() == ["bounced"]


def test_mail_receive_with_recipient_option_and_the_message_id_fallback(
        bounce_app: Flask, sent: ReviewRequest) -> None:
    report = bounce_samples.microsoft(original(sent), envelope(sent), CUSTOMER)
    result = bounce_app.test_cli_runner().invoke(
        args=["mail", "receive", "--recipient", f"postmaster@{BOUNCE_DOMAIN}"], input=report)
    assert result.exit_code == 0, result.output
    assert '"action": "suppressed"' in result.output


def test_mail_receive_without_a_bounce_domain_is_refused(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["mail", "receive"], input=b"x")
    assert result.exit_code == 1
    assert "KINGAVIS_BOUNCE_DOMAIN is not set" in result.output


def test_an_unrecognised_message_is_kept_for_the_operator(bounce_app: Flask,
                                                          sent: ReviewRequest) -> None:
    before = effects()
    vacation = (b"From: zoe@example.com\r\nTo: " + envelope(sent).encode()
                + b"\r\nSubject: Absent du bureau\r\n\r\nJe suis en vacances jusqu'au 12.\r\n")
    outcome = receive(vacation, recipient=envelope(sent))
    assert (outcome.action, outcome.why) == ("kept", "not_a_report")
    assert effects() == before
    kept = db.session.execute(select(InboundMessage)).scalar_one()
    assert (kept.subject, kept.why, kept.content) == ("Absent du bureau", "not_a_report", vacation)


def test_a_report_about_an_unknown_email_changes_nothing(bounce_app: Flask,
                                                         sent: ReviewRequest) -> None:
    before = effects()
    report = bounce_samples.postfix(original(sent), envelope(sent), CUSTOMER)
    outcome = receive(report, recipient=f"bounces+{'0' * 32}@{BOUNCE_DOMAIN}")
    assert (outcome.action, outcome.why) == ("kept", "unknown_message")
    # A look-alike Message-ID (right shape, wrong digest) names nothing either.
    forged = report.replace(sent.message_id.encode(),
                            re.sub(r"\.[0-9a-f]{24}@", "." + "f" * 24 + "@", sent.message_id).encode())
    forged = re.sub(rb"bounces\+[0-9a-f]{32}@", b"someone@", forged)
    assert receive(forged, recipient=f"postmaster@{BOUNCE_DOMAIN}").action == "kept"
    assert effects() == before


def test_a_non_standard_bounce_for_another_address_is_not_acted_on(bounce_app: Flask,
                                                                   sent: ReviewRequest) -> None:
    before = effects()
    report = bounce_samples.exim(original(sent), envelope(sent), "someone-else@example.org")
    outcome = receive(report, recipient=envelope(sent))
    assert (outcome.action, outcome.why) == ("kept", "address_mismatch")
    assert effects() == before


def test_a_success_notification_and_a_not_spam_report_do_nothing(bounce_app: Flask,
                                                                 sent: ReviewRequest) -> None:
    before = effects()
    delivered = bounce_samples.postfix(original(sent), envelope(sent), CUSTOMER, status="2.0.0",
                                       action="delivered")
    assert receive(delivered, recipient=envelope(sent)).action == "ignored"
    not_spam = bounce_samples.arf(original(sent), envelope(sent), CUSTOMER).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    assert receive(not_spam, recipient=f"fbl@{BOUNCE_DOMAIN}").why == "not_a_complaint"
    assert effects() == before


HOSTILE = [
    b"",
    b"\x00\xff\xfe" * 1000,
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n\r\n--x\r\n"
    b"Content-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n",
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n" + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 500,
    b"Subject: " + b"=?utf-8?b?" + b"A" * 100000 + b"?=\r\n\r\nx",
    b"Content-Type: message/rfc822\r\n\r\n" * 300,
    b"Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n--b\r\n"
    b"Content-Type: message/feedback-report\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n--b--",
    b"From: <\r\n\tMAILER-DAEMON@\r\n>\r\nTo: \"\\\r\nX-Failed-Recipients: \x00@\x00\r\n\r\n"
    b"The following address(es) failed:\r\n\r\n  \r\n",
]


@pytest.mark.parametrize("message", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_messages_are_kept_and_change_nothing(bounce_app: Flask, sent: ReviewRequest,
                                                      message: bytes) -> None:
    before = effects()
    # To the bounce domain's postmaster: the message itself must name the email, and these
    # name none (a well-formed report among them included).
    outcome = receive(message, recipient=f"postmaster@{BOUNCE_DOMAIN}")
    assert outcome.action in ("kept", "ignored")
    assert effects() == before


_NOT_A_STATUS = st.text(max_size=30).filter(lambda s: not re.match(r"\s*[245]\.\d", s))
_NOT_AN_ACTION = st.text(max_size=20).filter(
    lambda s: s.strip().lower() not in ("failed", "delayed"))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(noise=st.binary(max_size=3000), action=_NOT_AN_ACTION, status=_NOT_A_STATUS,
       feedback=st.text(max_size=20).filter(lambda s: s.strip().lower() != "abuse"),
       cut=st.integers(min_value=0, max_value=4000))
def test_fuzzed_messages_never_fail_and_never_act(bounce_app: Flask, sent: ReviewRequest,
                                                  noise: bytes, action: str, status: str,
                                                  feedback: str, cut: int) -> None:
    """Random bytes, and real reports about our email whose verdict fields are garbage, cut
    short, or padded with noise: nothing raises, nothing is suppressed or counted."""
    before = effects()
    dsn = bounce_samples.postfix(original(sent), envelope(sent), CUSTOMER)
    dsn = dsn.replace(b"Action: failed", b"Action: " + action.encode("utf-8", "replace"))
    dsn = dsn.replace(b"Status: 5.1.1", b"Status: " + status.encode("utf-8", "replace"))
    arf = bounce_samples.arf(original(sent), envelope(sent), CUSTOMER).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: " + feedback.encode("utf-8", "replace"))
    for message in (noise, dsn[:cut] + noise, arf, arf[:cut], noise + dsn[cut:]):
        report = read_report(message, BOUNCE_DOMAIN)
        if report.kind is not None:  # a cut that still reads as a failure of a third party
            assert report.kind is not Kind.COMPLAINT and CUSTOMER not in report.recipients
        receive(message, recipient=envelope(sent))
    assert effects()[:3] == before[:3]
    db.session.rollback()
    request = db.session.get(ReviewRequest, sent.id)
    assert request is not None and request.reminder_due_at is not None
