"""Never email when wrong: each rule proven where it acts, from the status event to the SMTP server.

Every test goes through the service the webhook calls (``apply_status_event``), the real
dispatcher (``tick`` / ``claim`` / ``deliver``) and a real SMTP server, and counts what that
server received. Each one fails if the behaviour it names stops holding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from delivery_helpers import (
    Worker,
    count_states,
    event,
    message_ids,
    request_row,
    schedule,
    timeline,
    wait_for,
    worker_env,
)
from factories import configure, days_ago, make_shop, new_webhook_id
from flask import Flask
from smtp_server import SMTPServer
from sqlalchemy import select, text

from kingavis.delivery.dispatcher import batch_job_id, claim, tick
from kingavis.delivery.send_time import Kind, Outcome
from kingavis.delivery.sending import deliver, release
from kingavis.delivery.transports import open_transport
from kingavis.extensions import db
from kingavis.models import RequestDecision, Shop, utcnow
from kingavis.orders.events import EventResult, apply_status_event
from kingavis.worker import send_request_batch


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test")
    return app


def apply(shop: Shop, order_id: str, status_id: str, changed_at: datetime, *,
          email: str | None = None, now: datetime | None = None, **kwargs: Any) -> EventResult:
    """One status event of ``order_id`` through the webhook's service."""
    email = email or f"customer-{order_id}@example.com"
    return apply_status_event(shop, event(order_id, status_id, changed_at, email=email, **kwargs),
                              new_webhook_id(), now=now)


def decisions(request_id: int) -> list[RequestDecision]:
    db.session.rollback()
    return list(db.session.execute(
        select(RequestDecision).where(RequestDecision.review_request_id == request_id)
        .order_by(RequestDecision.id)
    ).scalars())


class Collect(logging.Handler):
    """The log records of one logger, as emitted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --- 1. consent declined on an earlier event, omitted on the delivery event ------------------


def test_consent_declined_earlier_and_omitted_on_delivery_is_no_consent(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop()
    assert apply(shop, "1", "3", days_ago(14), consent=False).body["outcome"] == "recorded"
    # The delivery event says nothing about consent: the customer's "no" still holds.
    result = apply(shop, "1", "5", days_ago(12), consent=None)
    assert result.body["outcome"] == "suppressed"
    assert result.body["review_request"]["reason"] == "no_consent"
    request_id = int(result.body["review_request"]["id"])
    assert request_row(request_id).next_attempt_at is None
    assert tick().claimed == 0
    assert smtp.messages == []


def test_consent_given_again_on_the_delivery_event_is_scheduled(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop()
    apply(shop, "1", "3", days_ago(14), consent=False)
    # The newest event's own flag wins over what the order had.
    assert apply(shop, "1", "5", days_ago(12), consent=True).body["outcome"] == "scheduled"
    # An earlier "yes", the delivery silent: scheduled, and sent.
    apply(shop, "2", "3", days_ago(14), consent=True)
    assert apply(shop, "2", "5", days_ago(12), consent=None).body["outcome"] == "scheduled"
    assert tick().sent == 2


# --- 2. an unpaid status stays unpaid when a later event of it omits `paid` -------------------


def test_status_known_unpaid_from_earlier_events_cancels_at_send_time(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    """A status of the shop's own ("30": awaiting a bank wire), flagged unpaid once."""
    shop, _ = make_shop()
    apply(shop, "0", "30", days_ago(20), status_name="Attente virement", paid=False)
    ids = {}
    for order_id in ("1", "2"):
        ids[order_id] = schedule(shop, order_id, days=12)
        # The order goes back to that status; the module omits "paid" this time.
        result = apply(shop, order_id, "30", days_ago(11), status_name="Attente virement",
                       paid=None)
        assert result.body["outcome"] == "unchanged"
    # A status known paid, sent without the flag, keeps the order paid.
    fine = schedule(shop, "3", days=12)
    apply(shop, "3", "2", days_ago(11), paid=None)

    result = tick()
    assert (result.outcomes["cancelled"], result.sent) == (2, 1)
    # Order 2 proves that order 1's silent event did not erase what was known of "30".
    for request_id in ids.values():
        row = request_row(request_id)
        assert (row.state, row.reason) == ("cancelled", "order_unpaid")
        assert timeline(request_id)[-1] == ("cancelled", "order_unpaid")
    assert request_row(fine).state == "sent"
    assert [m.rcpt_tos for m in smtp.messages] == [["customer-3@example.com"]]


# --- 3. the per-customer window is symmetric -------------------------------------------------

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _two_orders(app: Flask, first_delay: int, second_delay: int) -> tuple[EventResult, EventResult]:
    """Two orders of one address delivered at T0, the rule's delay changed in between."""
    shop, _ = make_shop()
    configure(shop, delay_days=first_delay)
    first = apply(shop, "A", "5", T0, email="zoe@example.com", now=T0)
    configure(shop, delay_days=second_delay)
    second = apply(shop, "B", "5", T0, email="Zoe@Example.com", now=T0)
    assert first.body["outcome"] == "scheduled"
    assert first.body["review_request"]["due_at"] == (T0 + timedelta(days=first_delay)) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    return first, second


@pytest.mark.parametrize(("first_delay", "second_delay"), [(60, 10), (10, 60)])
def test_requests_fifty_days_apart_are_both_scheduled(
    mail_app: Flask, first_delay: int, second_delay: int
) -> None:
    _, second = _two_orders(mail_app, first_delay, second_delay)
    assert second.body["outcome"] == "scheduled"


@pytest.mark.parametrize(("first_delay", "second_delay"), [(60, 40), (40, 60), (10, 35), (35, 10)])
def test_requests_within_thirty_days_either_way_are_suppressed(
    mail_app: Flask, first_delay: int, second_delay: int
) -> None:
    _, second = _two_orders(mail_app, first_delay, second_delay)
    assert second.body["outcome"] == "suppressed"
    assert second.body["review_request"]["reason"] == "recent_request"


@pytest.mark.parametrize(("first_delay", "second_delay"), [(10, 40), (40, 10)])
def test_requests_exactly_thirty_days_apart_are_both_scheduled(
    mail_app: Flask, first_delay: int, second_delay: int
) -> None:
    _, second = _two_orders(mail_app, first_delay, second_delay)
    assert second.body["outcome"] == "scheduled"


@pytest.mark.parametrize(("first_delay", "second_delay"), [(11, 40), (40, 11)])
def test_requests_twenty_nine_days_apart_are_suppressed(
    mail_app: Flask, first_delay: int, second_delay: int
) -> None:
    _, second = _two_orders(mail_app, first_delay, second_delay)
    assert second.body["review_request"]["reason"] == "recent_request"


# --- 4. consent withdrawn after scheduling ---------------------------------------------------


def test_consent_withdrawn_after_scheduling_is_suppressed_at_send_time(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    shop, _ = make_shop()
    request_id = schedule(shop, "1", days=12)
    kept = schedule(shop, "2", days=12)
    # A later event of the same order: the customer now says no.
    result = apply(shop, "1", "5", days_ago(11), consent=False)
    assert result.body["outcome"] == "unchanged"
    assert request_row(request_id).state == "scheduled"

    result = tick()
    assert (result.outcomes["suppressed"], result.sent) == (1, 1)
    row = request_row(request_id)
    assert (row.state, row.reason, row.next_attempt_at) == ("suppressed", "no_consent", None)
    assert timeline(request_id)[-1] == ("suppressed", "no_consent")
    assert request_row(kept).state == "sent"
    assert [m.rcpt_tos for m in smtp.messages] == [["customer-2@example.com"]]
    assert tick(utcnow() + timedelta(days=30)).claimed == 0


# --- 5. unsubscribing from one shop never silences another -----------------------------------


def test_unsubscribing_from_shop_a_never_suppresses_shop_b(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    client = mail_app.test_client()
    shop_a, _ = make_shop("Boutique A")
    shop_b, _ = make_shop("Boutique B")
    in_a = schedule(shop_a, "1", email="zoe@example.com")
    in_b = schedule(shop_b, "1", email="zoe@example.com")
    token_a, token_b = request_row(in_a).token, request_row(in_b).token

    response = client.post(f"/u/{token_a}")
    assert response.status_code == 200
    assert "<form" not in response.get_data(as_text=True)  # A: done, no button any more

    result = tick()
    assert (result.outcomes["suppressed"], result.sent) == (1, 1)
    assert (request_row(in_a).state, request_row(in_a).reason) == ("suppressed", "unsubscribed")
    assert request_row(in_b).state == "sent"
    assert [m.rcpt_tos for m in smtp.messages] == [["zoe@example.com"]]
    assert "Boutique B" in smtp.messages[0].message["From"]

    # Shop B's page still offers its own button, and it works for B alone.
    page = client.get(f"/u/{token_b}").get_data(as_text=True)
    assert '<form method="post">' in page and "Me désabonner" in page and "Boutique B" in page
    assert "<form" not in client.get(f"/u/{token_a}").get_data(as_text=True)


def test_another_customers_unsubscription_leaves_my_page_and_my_email(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    client = mail_app.test_client()
    shop, _ = make_shop("Boutique A")
    mine = schedule(shop, "1", email="zoe@example.com")
    theirs = schedule(shop, "2", email="yann@example.com")
    assert client.post(f"/u/{request_row(theirs).token}").status_code == 200

    page = client.get(f"/u/{request_row(mine).token}").get_data(as_text=True)
    assert '<form method="post">' in page and "Me désabonner" in page
    assert tick().sent == 1
    assert [m.rcpt_tos for m in smtp.messages] == [["zoe@example.com"]]


# --- 6. a job that lost its claim sends nothing ----------------------------------------------


def test_a_job_that_lost_its_claim_sends_nothing_even_after_the_new_claim(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    mail_app.config["DISPATCH_LEASE_SECONDS"] = 60
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    now = utcnow()
    assert claim(now, 10) == [(request_id, 1)]  # that job stalls...
    later = now + timedelta(seconds=61)
    assert claim(later, 10) == [(request_id, 2)]  # ...its lease ends, the request is claimed again

    with open_transport(mail_app.config["MAIL_URL"]) as transport:
        # The old job runs while the new claim is in progress: nothing.
        assert deliver(request_id, 1, transport, now=later) is Outcome.STALE
        assert smtp.messages == []
        row = request_row(request_id)
        assert (row.state, row.attempts) == ("sending", 2)
        # The new claim's job sends; the old one, run once more afterwards, still does nothing.
        assert deliver(request_id, 2, transport, now=later) is Outcome.SENT
        assert deliver(request_id, 1, transport, now=later) is Outcome.STALE
    assert len(smtp.messages) == 1
    sent = [d for d in decisions(request_id) if d.state == "sent"]
    assert len(sent) == 1 and sent[0].note_args == {"attempt": 2}


def test_a_lost_claims_mail_error_never_reschedules_the_request_claimed_again(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    """The mail server failed for the old job's batch: giving its claim back must not touch the
    request now claimed by another dispatcher (it would be claimed, and sent, a third time)."""
    mail_app.config["DISPATCH_LEASE_SECONDS"] = 60
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    now = utcnow()
    assert claim(now, 10) == [(request_id, 1)]
    later = now + timedelta(seconds=61)
    assert claim(later, 10) == [(request_id, 2)]
    assert release([(request_id, 1)], "cannot connect", now=later) == 0
    row = request_row(request_id)
    assert (row.state, row.attempts, row.last_error) == ("sending", 2, None)
    assert row.next_attempt_at == later + timedelta(seconds=60)  # the new claim's lease
    with open_transport(mail_app.config["MAIL_URL"]) as transport:
        assert deliver(request_id, 2, transport, now=later) is Outcome.SENT
    assert len(smtp.messages) == 1


def test_a_stale_job_run_by_a_real_worker_after_the_new_claim_sends_nothing(
    database_url: str, tmp_path: Path, redis_url: str, smtp: SMTPServer
) -> None:
    lease = 300  # also the queued jobs' time to live: long enough for a slow worker start
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, MAIL_URL=smtp.url,
                   MAIL_FROM="avis@kingavis.test", DISPATCH_LEASE_SECONDS=lease)
    worker = None
    try:
        with app.app_context():
            shop, _ = make_shop()
            request_id = schedule(shop, "1")
            now = utcnow()
            assert claim(now, 10) == [(request_id, 1)]  # its job was lost
            result = tick(now + timedelta(seconds=lease + 1))
            assert (result.claimed, result.enqueued) == (1, 1)  # attempt 2 is queued
            queue = app.extensions["rq_queue"]
            # The lost job turns up after the new claim, first in line.
            stale_id = batch_job_id(Kind.INVITATION, [(request_id, 1)])
            stale = queue.enqueue(send_request_batch, "invitation", [[request_id, 1]], job_id=stale_id,
                                  at_front=True)
            assert queue.job_ids == [stale_id, batch_job_id(Kind.INVITATION, [(request_id, 2)])]
            db.session.remove()

            worker = Worker(worker_env(database_url, tmp_path / "worker", redis_url, smtp.url,
                                       KINGAVIS_DISPATCH_LEASE_SECONDS=str(lease)),
                            tmp_path / "worker.log")
            # Polled on a connection of its own: the test's session would hold SQLite's write
            # lock (every transaction is BEGIN IMMEDIATE) between polls and starve the worker.
            wait_for(lambda: count_states(database_url, [request_id]) == {"sent": 1},
                     "the new claim is sent", limit=180, context=worker.output)
            wait_for(lambda: stale.get_status(refresh=True) in ("finished", "failed"),
                     "the stale job ran", limit=60)
            assert stale.return_value() == "stale 1", worker.output()
            assert list(message_ids(smtp).values()) == [1]
            sent = [d for d in decisions(request_id) if d.state == "sent"]
            assert len(sent) == 1 and sent[0].note_args == {"attempt": 2}
            db.session.remove()
            db.engine.dispose()
    finally:
        if worker is not None:
            worker.stop()


# --- 7. retry delays in order, the last one repeating; oldest due first ----------------------


def test_temporary_errors_wait_each_configured_delay_then_the_last_one_again(
    mail_app: Flask, smtp: SMTPServer
) -> None:
    mail_app.config["DISPATCH_RETRY_DELAYS"] = (30, 120, 600)
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    smtp.data_reply = "451 4.3.0 Mailbox of zoe@example.com busy, try again later"
    at = utcnow()
    waits = []
    log = Collect()
    logger = logging.getLogger("kingavis.delivery")
    was_disabled, logger.disabled = logger.disabled, False
    logger.addHandler(log)
    try:
        assert tick(at).outcomes["retry"] == 1
    finally:
        logger.removeHandler(log)
        logger.disabled = was_disabled
    # The first retry, on the timeline (when, how long, why) and in the log (address masked).
    first = [d for d in decisions(request_id) if d.note_code == "retry"]
    assert [(d.state, d.created_at) for d in first] == [("scheduled", at)]
    assert first[0].note_args == {"seconds": 30, "error": request_row(request_id).last_error}
    assert first[0].note_args["error"].startswith("451 ")
    [line] = [r for r in log.records if r.getMessage() == "temporary delivery error, will retry"]
    assert (line.fields["attempt"], line.fields["retry_in_s"]) == (1, 30)
    assert "z***@example.com" in line.fields["error"]
    assert "zoe@example.com" not in line.fields["error"]
    for step in range(5):
        if step:
            assert tick(at).outcomes["retry"] == 1
        row = request_row(request_id)
        assert row.state == "scheduled"
        waits.append((row.next_attempt_at - at).total_seconds())
        assert tick(row.next_attempt_at - timedelta(seconds=1)).claimed == 0
        at = row.next_attempt_at
    assert waits == [30, 120, 600, 600, 600]
    retries = [d.note_args["seconds"] for d in decisions(request_id) if d.note_code == "retry"]
    assert retries == [30, 120, 600, 600, 600]
    assert request_row(request_id).attempts == 5

    smtp.data_reply = None
    assert tick(at).sent == 1
    assert list(message_ids(smtp).values()) == [1]


def _without_the_due_index() -> None:
    """Make the database read the table as stored, so only the query's own ORDER BY can put
    the oldest first (with the index, rows come out in its order anyway)."""
    if db.engine.dialect.name == "postgresql":
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            db.session.execute(text(f"SET LOCAL {setting} = off"))  # this transaction only
    else:
        db.session.execute(text("DROP INDEX IF EXISTS ix_review_requests_due"))  # this test's file


def test_requests_are_claimed_and_sent_oldest_due_first(mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop()
    # Due in 2, 1, 4 and 3 days: created in an order that is neither the due order nor its
    # reverse (a due time already past would be "now", the time of the event).
    middle = schedule(shop, "middle", days=8)
    oldest = schedule(shop, "oldest", days=9)
    newest = schedule(shop, "newest", days=6)
    second = schedule(shop, "second", days=7)
    later = utcnow() + timedelta(days=5)
    _without_the_due_index()
    assert [c[0] for c in claim(later, 1)] == [oldest]
    _without_the_due_index()
    assert [c[0] for c in claim(later, 3)] == [middle, second, newest]

    # The same order through a whole tick, as the SMTP server saw it.
    other, _ = make_shop("Autre boutique")
    for name, days in (("c", 7), ("a", 9), ("d", 6), ("b", 8)):
        schedule(other, name, days=days)
    assert tick(later).sent == 4
    assert [m.rcpt_tos[0] for m in smtp.messages] == [
        f"customer-{n}@example.com" for n in ("a", "b", "c", "d")
    ]


def test_an_order_delivered_again_after_a_cancellation_respects_the_window(mail_app: Flask) -> None:
    """Rescheduling (rule 3) checks the other orders of the address, like a first schedule."""
    shop, _ = make_shop()
    assert apply(shop, "B", "5", T0, email="zoe@example.com", now=T0).body["outcome"] == "scheduled"
    assert apply(shop, "B", "6", T0 + timedelta(days=1), email="zoe@example.com",
                 now=T0).body["outcome"] == "cancelled"
    assert apply(shop, "A", "5", T0 + timedelta(days=1), email="zoe@example.com",
                 now=T0).body["outcome"] == "scheduled"
    again = apply(shop, "B", "5", T0 + timedelta(days=2), email="zoe@example.com", now=T0)
    assert again.body["outcome"] == "suppressed"
    assert again.body["review_request"]["reason"] == "recent_request"


def test_a_one_day_window_still_suppresses_a_request_due_the_same_day(mail_app: Flask) -> None:
    shop, _ = make_shop(customer_window_days=1)
    apply(shop, "A", "5", T0, email="zoe@example.com", now=T0)
    second = apply(shop, "B", "5", T0 + timedelta(hours=12), email="zoe@example.com", now=T0)
    assert second.body["review_request"]["reason"] == "recent_request"
    third = apply(shop, "C", "5", T0 + timedelta(days=1), email="zoe@example.com", now=T0)
    assert third.body["outcome"] == "scheduled"  # exactly one day apart: outside
