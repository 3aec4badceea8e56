"""Rule 9: concurrent deliveries never create two requests for one order.

Real threads, each with its own app context (so its own session and connection), released
together by a barrier, against real PostgreSQL (row locks) and SQLite (single writer).
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from concurrency_helpers import run_together
from factories import make_shop, new_webhook_id, post_event, status_event
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy import event as sqlalchemy_event

from kingavis.extensions import db
from kingavis.models import Order, OrderEvent, RequestDecision, ReviewRequest, ShopStatus
from kingavis.orders.events import EventResult, apply_status_event
from kingavis.shops.service import get_shop

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def load_event(body: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(body)
    event["data"]["changed_at"] = datetime.fromisoformat(body["data"]["changed_at"])
    return event


def deliver(shop_key: str, body: dict[str, Any], webhook_id: str) -> Callable[[], EventResult]:
    def job() -> EventResult:
        shop = get_shop(shop_key)  # loaded in this thread's own session, as the endpoint does
        return apply_status_event(shop, load_event(body), webhook_id, raw_payload=body, now=NOW)

    return job


def count(model: Any, *where: Any) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_twenty_concurrent_triggers_for_one_order_create_one_request(app: Flask) -> None:
    shop, _ = make_shop()
    changed_at = NOW - timedelta(days=1)
    body = status_event("1234", "5", changed_at)
    results = run_together(app, [deliver(shop.key, body, new_webhook_id()) for _ in range(20)])

    assert len(results) == 20
    assert all(r.status_code == 202 and not r.replayed for r in results)
    outcomes = Counter(r.body["outcome"] for r in results)
    assert outcomes == {"scheduled": 1, "unchanged": 19}
    assert count(Order) == 1
    assert count(ReviewRequest) == 1
    assert count(OrderEvent) == 20
    assert count(RequestDecision) == 1
    # Every answer names the same request.
    assert len({r.body["review_request"]["id"] for r in results}) == 1
    assert {r.body["review_request"]["due_at"] for r in results} == {"2026-12-01T09:00:00Z"}
    assert count(ShopStatus, ShopStatus.shop_id == shop.id, ShopStatus.status_id == "5") == 1


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_the_same_webhook_id_delivered_ten_times_at_once_is_applied_once(app: Flask) -> None:
    shop, _ = make_shop()
    body = status_event("1234", "5", NOW - timedelta(days=1))
    webhook_id = new_webhook_id()
    results = run_together(app, [deliver(shop.key, body, webhook_id) for _ in range(10)])

    assert len(results) == 10
    assert Counter(r.status_code for r in results) == {202: 1, 200: 9}
    assert [r.replayed for r in results].count(True) == 9
    first = next(r for r in results if r.status_code == 202)
    assert first.body["outcome"] == "scheduled"
    # Every replay answers exactly what the first delivery answered.
    assert all(r.body == first.body for r in results)
    assert count(OrderEvent) == 1
    assert count(ReviewRequest) == 1


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_concurrent_events_of_an_order_end_as_if_applied_in_changed_at_order(app: Flask) -> None:
    """Rule 6 under concurrency: whatever order the deliveries are applied in, the order ends
    with its newest status, and the request with what that newest status says."""
    shop, _ = make_shop()
    statuses = ["2", "3", "4", "5", "6"]
    jobs = []
    expected: dict[str, str] = {}
    for n in range(6):
        order_id = f"race-{n}"
        # Half the orders end cancelled (6 is newest), half delivered (5 is newest).
        order = statuses if n % 2 == 0 else ["2", "3", "4", "6", "5"]
        expected[order_id] = order[-1]
        for hours, status_id in enumerate(order):
            body = status_event(order_id, status_id, NOW - timedelta(hours=10 - hours),
                                email=f"c{n}@example.com", paid=status_id != "6")
            jobs.append(deliver(shop.key, body, new_webhook_id()))
    jobs.reverse()  # newest first: most of the older events should find themselves stale
    results = run_together(app, jobs)
    assert len(results) == len(jobs)

    db.session.expire_all()
    for order_id, newest in expected.items():
        order = db.session.execute(
            select(Order).where(Order.shop_id == shop.id, Order.external_id == order_id)
        ).scalar_one()
        assert order.latest_status_id == newest, order_id
        assert order.latest_changed_at == NOW - timedelta(hours=6)
        request = db.session.execute(
            select(ReviewRequest).where(ReviewRequest.order_id == order.id)
        ).scalar_one_or_none()
        if newest == "6":
            # The trigger came first (then cancelled) or late (stale): never left scheduled.
            assert request is None or (request.state, request.reason) == (
                "cancelled", "order_cancelled")
        else:
            assert request is not None and request.state == "scheduled", order_id
            assert request.due_at == NOW - timedelta(hours=6) + timedelta(days=10)
    assert count(OrderEvent) == len(jobs)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_triggers_for_many_orders_with_a_new_status(app: Flask) -> None:
    """Orders of one shop are independent: all scheduled, and a status first seen by many
    deliveries at once is recorded once for the shop."""
    shop, _ = make_shop(trigger_status_ids=["5", "31"])
    jobs = [
        deliver(shop.key,
                status_event(f"o{n}", "31", NOW - timedelta(days=1), email=f"c{n}@example.com",
                             status_name="Livré en point relais"),
                new_webhook_id())
        for n in range(20)
    ]
    results = run_together(app, jobs)
    assert Counter(r.body["outcome"] for r in results) == {"scheduled": 20}
    assert count(ReviewRequest) == 20
    assert count(ShopStatus, ShopStatus.shop_id == shop.id, ShopStatus.status_id == "31") == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cancel_racing_the_dispatcher_never_overwrites_a_sent_request(
    app: Flask, database_url: str
) -> None:
    """A cancel event that read the request as `scheduled` just before the dispatcher sent it
    must not then mark it `cancelled` (order_cancelled): a later trigger would schedule the
    same order again and send a second email (rule 9).

    The event is held right after it has read the request; meanwhile another connection
    sends it the way the dispatcher does (UPDATE … WHERE state = 'scheduled'). That update
    either waits for the event's lock (the event then cancels first and the send is off),
    or it goes through (the event must then see `sent` and leave it as it is).
    """
    shop, _ = make_shop()
    apply_status_event(shop, load_event(status_event("1234", "5", NOW - timedelta(days=20))),
                       new_webhook_id(), now=NOW - timedelta(days=20))
    request_id = db.session.execute(select(ReviewRequest.id)).scalar_one()
    shop_key = shop.key
    db.session.commit()

    read_done, release = threading.Event(), threading.Event()
    event_thread: list[threading.Thread] = []

    def hold_after_request_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (event_thread and threading.current_thread() is event_thread[0]
                and not read_done.is_set()
                and statement.lstrip().startswith(("SELECT", "WITH"))
                and "FROM review_requests" in statement):
            read_done.set()
            release.wait(timeout=60)

    sqlalchemy_event.listen(db.engine, "after_cursor_execute", hold_after_request_read)
    results: list[EventResult] = []
    errors: list[BaseException] = []

    def cancel() -> None:
        try:
            with app.app_context():
                try:
                    body = status_event("1234", "6", NOW - timedelta(days=1), paid=False)
                    results.append(apply_status_event(get_shop(shop_key), load_event(body),
                                                      new_webhook_id(), now=NOW))
                finally:
                    db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    sent: list[int] = []

    def send() -> None:
        with dispatcher_engine.connect() as conn:
            pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            sent.append(conn.execute(
                text("UPDATE review_requests SET state = 'sent', sent_at = now(), "
                     "next_attempt_at = NULL WHERE id = :id AND state = 'scheduled'"),
                {"id": request_id},
            ).rowcount)
            conn.commit()

    dispatcher_engine = create_engine(database_url)
    pid: list[int] = []
    try:
        event_thread.append(threading.Thread(target=cancel, daemon=True))
        event_thread[0].start()
        assert read_done.wait(timeout=60), "the event never read the request"
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        # Let the event go on once the send has either finished or is waiting for a lock.
        with dispatcher_engine.connect() as watch:
            for _ in range(3000):
                if not sender.is_alive():
                    break
                waiting = pid and watch.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid[0]},
                ).scalar_one_or_none() == "Lock"
                if waiting:
                    break
                watch.rollback()
                threading.Event().wait(0.01)
        release.set()
        event_thread[0].join(timeout=60)
        sender.join(timeout=60)
    finally:
        release.set()
        sqlalchemy_event.remove(db.engine, "after_cursor_execute", hold_after_request_read)
        dispatcher_engine.dispose()
    assert not errors, errors
    assert len(results) == 1 and len(sent) == 1

    db.session.expire_all()
    request = db.session.get(ReviewRequest, request_id)
    assert request is not None
    if sent[0] == 1:
        # Sent first: the cancellation came too late and says so.
        assert (request.state, request.reason) == ("sent", None)
        assert results[0].body["outcome"] == "unchanged"
    else:
        # Cancelled first: the dispatcher found nothing to send.
        assert (request.state, request.reason, request.sent_at) == (
            "cancelled", "order_cancelled", None)
        assert results[0].body["outcome"] == "cancelled"
    # Either way a later delivery never schedules the order again once it was sent.
    later = apply_status_event(get_shop(shop_key),
                               load_event(status_event("1234", "5", NOW)), new_webhook_id(), now=NOW)
    assert later.body["outcome"] == ("unchanged" if sent[0] == 1 else "scheduled")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cancel_waiting_for_a_trigger_cancels_the_request_the_trigger_created(
    app: Flask, database_url: str
) -> None:
    """Under READ COMMITTED a statement reads one snapshot, taken when it starts. The event
    locks its order and reads the order's request in one statement: a cancel whose statement
    started while a trigger of the same order was still running waits for the trigger's lock,
    then must still see the request the trigger created (invisible to its snapshot) and cancel
    it, never answer `recorded` and leave the request scheduled.

    The trigger is held just before it stores its event (its request written, not committed);
    the cancel starts and waits for the order's lock; then the trigger commits."""
    shop, _ = make_shop()
    # The order exists, without a request (payment accepted).
    apply_status_event(shop, load_event(status_event("1234", "2", NOW - timedelta(days=3))),
                       new_webhook_id(), now=NOW)
    shop_key = shop.key
    db.session.commit()

    held, release = threading.Event(), threading.Event()
    threads: dict[str, threading.Thread] = {}

    def hold_trigger(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (threading.current_thread() is threads.get("trigger") and not held.is_set()
                and "INSERT INTO order_events" in statement):
            held.set()
            release.wait(timeout=60)

    results: dict[str, EventResult] = {}
    errors: list[BaseException] = []

    def run(name: str, status_id: str, days_ago: int) -> None:
        try:
            with app.app_context():
                try:
                    body = status_event("1234", status_id, NOW - timedelta(days=days_ago),
                                        paid=status_id != "6")
                    results[name] = apply_status_event(get_shop(shop_key), load_event(body),
                                                       new_webhook_id(), now=NOW)
                finally:
                    db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    sqlalchemy_event.listen(db.engine, "before_cursor_execute", hold_trigger)
    watch_engine = create_engine(database_url)
    try:
        threads["trigger"] = threading.Thread(target=run, args=("trigger", "5", 2), daemon=True)
        threads["trigger"].start()
        assert held.wait(timeout=60), "the trigger never reached its event"
        threads["cancel"] = threading.Thread(target=run, args=("cancel", "6", 1), daemon=True)
        threads["cancel"].start()
        with watch_engine.connect() as watch:
            for _ in range(3000):
                waiting = watch.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%INSERT INTO orders%'")).scalar_one()
                watch.rollback()
                if waiting:
                    break
                threading.Event().wait(0.01)
            else:
                raise AssertionError("the cancel never waited for the order's lock")
        release.set()
        for thread in threads.values():
            thread.join(timeout=60)
    finally:
        release.set()
        sqlalchemy_event.remove(db.engine, "before_cursor_execute", hold_trigger)
        watch_engine.dispose()
    assert not errors, errors
    assert results["trigger"].body["outcome"] == "scheduled"
    assert results["cancel"].body["outcome"] == "cancelled"
    db.session.expire_all()
    request = db.session.execute(select(ReviewRequest)).scalar_one()
    assert (request.state, request.reason) == ("cancelled", "order_cancelled")


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_concurrent_deliveries_of_one_customers_orders_schedule_one_request(app: Flask) -> None:
    """Rule 7 under concurrency: a merchant marking several orders of one customer delivered at
    once sends one email, not one per order (the others: recent_request)."""
    shop, _ = make_shop()
    # An earlier delivery of another customer: the shop's statuses are known by now.
    apply_status_event(shop, load_event(status_event("first", "5", NOW, email="yann@example.com")),
                       new_webhook_id(), now=NOW)
    jobs = [
        deliver(shop.key, status_event(f"o{n}", "5", NOW - timedelta(days=1),
                                       email="Zoe@Example.com" if n % 2 else "zoe@example.com"),
                new_webhook_id())
        for n in range(12)
    ]
    results = run_together(app, jobs)
    assert Counter(r.body["outcome"] for r in results) == {"scheduled": 1, "suppressed": 11}
    assert {r.body["review_request"]["reason"] for r in results} == {None, "recent_request"}
    assert count(ReviewRequest, ReviewRequest.state == "scheduled",
                 ReviewRequest.customer_email_normalized == "zoe@example.com") == 1


def post_together(app: Flask, shop_key: str, secret: str,
                  deliveries: list[tuple[dict[str, Any], str]]) -> list[Any]:
    """POST signed webhooks from as many threads, released together; returns the responses."""
    shop = SimpleNamespace(key=shop_key)

    def post(body: dict[str, Any], webhook_id: str) -> Callable[[], Any]:
        return lambda: post_event(app.test_client(), shop, secret, body, webhook_id=webhook_id)

    return run_together(app, [post(body, webhook_id) for body, webhook_id in deliveries])


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_twenty_concurrent_webhooks_for_one_order_over_http(app: Flask) -> None:
    shop, secret = make_shop()
    body = status_event("1234", "5", NOW - timedelta(days=1))
    responses = post_together(app, shop.key, secret, [(body, new_webhook_id()) for _ in range(20)])
    assert [r.status_code for r in responses] == [202] * 20, [r.get_json() for r in responses]
    assert Counter(r.get_json()["outcome"] for r in responses) == {"scheduled": 1, "unchanged": 19}
    assert len({r.get_json()["review_request"]["id"] for r in responses}) == 1
    assert count(ReviewRequest) == 1
    assert count(OrderEvent) == 20


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_one_webhook_id_posted_ten_times_at_once_over_http(app: Flask) -> None:
    shop, secret = make_shop()
    body = status_event("1234", "5", NOW - timedelta(days=1))
    webhook_id = new_webhook_id()
    responses = post_together(app, shop.key, secret, [(body, webhook_id)] * 10)
    assert Counter(r.status_code for r in responses) == {202: 1, 200: 9}
    first = next(r for r in responses if r.status_code == 202)
    assert "Idempotent-Replayed" not in first.headers
    for r in responses:
        assert r.get_json() == first.get_json()
        if r.status_code == 200:
            assert r.headers["Idempotent-Replayed"] == "true"
    assert count(OrderEvent) == 1
    assert count(ReviewRequest) == 1
