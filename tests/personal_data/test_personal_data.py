"""Personal data (docs/personal-data.md): erasure three ways, what is remembered, export, retention.

Every erasure test ends with a dump of the whole database (SQLite's iterdump, PostgreSQL's
pg_dump) searched for the address, in any case, and the names.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, sign
from flask import Flask
from personal_data_helpers import (
    EMAIL,
    EMAIL_OTHER_CASE,
    FIRST,
    LAST,
    OTHER_EMAIL,
    apply,
    assert_nowhere,
    make_customer,
    unsubscribed_hashes,
)
from requests_helpers import login, merchant
from sqlalchemy import select

from kingavis.customer_keys import customer_key
from kingavis.delivery.dispatcher import claim
from kingavis.delivery.send_time import Outcome
from kingavis.delivery.sending import deliver
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    Erasure,
    Order,
    OrderEvent,
    RequestDecision,
    Review,
    ReviewRequest,
    Shop,
    utcnow,
)
from kingavis.personal_data.columns import PERSONAL_COLUMNS
from kingavis.personal_data.customers import PersonalDataError
from kingavis.personal_data.erasure import erase_customer
from kingavis.personal_data.export import export_customer
from kingavis.personal_data.retention import apply_retention, months_before, run_retention

SUMMARY = {"orders": 3, "review_requests_cancelled": 2, "reviews_withdrawn": 1}


def fresh(model: Any, row_id: int) -> Any:
    db.session.expire_all()
    return db.session.get(model, row_id)


def erase_through(way: str, app: Flask, shop: Shop, secret: str, email: str) -> dict[str, Any]:
    """Erase through the webhook, the command line or the back-office; the summary."""
    if way == "webhook":
        body = json.dumps({"type": "customer.erasure_requested", "timestamp": "2026-11-30T09:00:00Z",
                           "data": {"customer": {"email": email}}}).encode()
        response = app.test_client().post(f"/webhooks/v1/{shop.key}/customer-erasure", data=body,
                                          headers=sign(secret, body, new_webhook_id()))
        assert response.status_code == 202, response.get_data(as_text=True)
        return dict(response.get_json()["erased"])
    if way == "cli":
        key = shop.key
        db.session.remove()
        result = app.test_cli_runner().invoke(args=["customers", "erase", "--shop", key,
                                                    "--email", email])
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["shop"] == key
        return dict(out["erased"])
    user = merchant(shop)
    client = app.test_client()
    login(client, user)
    key = shop.key
    asked = client.post(f"/admin/shops/{key}/customers/erase", data={"email": email})
    assert asked.status_code == 200 and "Oui, effacer" in asked.get_data(as_text=True)
    assert db.session.execute(select(Erasure)).first() is None  # nothing before confirming
    done = client.post(f"/admin/shops/{key}/customers/erase",
                       data={"email": email, "confirm": "yes"})
    assert done.status_code == 302
    erasure = db.session.execute(select(Erasure)).scalar_one()
    return dict(erasure.response["erased"])


@pytest.mark.parametrize("way", ["webhook", "cli", "back_office"])
def test_erasure_removes_the_customer_from_every_table(app: Flask, database_url: str,
                                                       way: str) -> None:
    shop, secret = make_shop()
    customer = make_customer(shop)
    apply(shop, "B-1", email=OTHER_EMAIL, first_name="Maxence", last_name="Autre")
    shop_id = shop.id

    assert erase_through(way, app, shop, secret, EMAIL_OTHER_CASE.swapcase()) == SUMMARY

    assert_nowhere(database_url, EMAIL, FIRST, LAST, "+33 6 12 34 56 78")
    # Cancelled for the reason "erased", with the timeline row; the sent one stays sent.
    for request_id in (customer.scheduled_request, customer.sending_request):
        row = fresh(ReviewRequest, request_id)
        assert (row.state, row.reason, row.next_attempt_at) == ("cancelled", "erased", None)
        decision = db.session.execute(
            select(RequestDecision).where(RequestDecision.review_request_id == request_id)
            .order_by(RequestDecision.id.desc())).scalars().first()
        assert (decision.state, decision.reason) == ("cancelled", "erased")
    sent = fresh(ReviewRequest, customer.sent_request)
    assert (sent.state, sent.reminder_due_at, sent.message_id) == ("sent", None, "<abc.1@kingavis>")
    review = fresh(Review, customer.review_id)
    assert (review.status, review.comment, review.reply_text) == ("withdrawn", None, None)
    assert review.withdrawn_at is not None
    # Only the hash is remembered: the unsubscription, the requests, the erasure record.
    key = customer_key(shop_id, EMAIL)
    assert unsubscribed_hashes(shop) == [(None, key)]
    assert {r.customer_email_hash for r in db.session.query(ReviewRequest)
            .filter(ReviewRequest.customer_email_normalized.is_(None))} == {key}
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "customer.erase")).scalar_one()
    assert entry.details["email_hash"] == key and entry.details["orders"] == 3
    # The other customer of the shop is untouched.
    other = db.session.execute(select(Order).where(Order.external_id == "B-1")).scalar_one()
    assert (other.customer_email, other.customer_first_name, other.erased_at) == (
        OTHER_EMAIL, "Maxence", None)


def test_the_same_person_in_another_shop_is_untouched(app: Flask) -> None:
    shop, _ = make_shop()
    other_shop, _ = make_shop("Autre boutique")
    make_customer(shop)
    kept = int(apply(other_shop, "A-1")["review_request"]["id"])

    result = erase_customer(shop, EMAIL, source="cli")

    assert result.summary == SUMMARY
    row = fresh(ReviewRequest, kept)
    assert (row.state, row.customer_email_normalized) == ("scheduled", EMAIL)
    order = db.session.get(Order, row.order_id)
    assert (order.customer_email, order.customer_first_name, order.customer_last_name) == (
        EMAIL, FIRST, LAST)
    event = db.session.execute(select(OrderEvent).where(OrderEvent.order_id == order.id)).scalar_one()
    assert event.payload["data"]["order"]["customer"]["email"] == EMAIL
    # The same address hashes differently per shop: nothing links the two customers.
    assert customer_key(shop.id, EMAIL) != customer_key(other_shop.id, EMAIL)
    assert export_customer(other_shop, EMAIL)["orders"][0]["customer"]["email"] == EMAIL


def test_an_erased_unsubscribed_address_stays_unsubscribed(app: Flask) -> None:
    shop, _ = make_shop()
    make_customer(shop)
    erase_customer(shop, EMAIL, source="cli")

    body = apply(shop, "A-9", email=EMAIL.upper())

    assert (body["outcome"], body["review_request"]["reason"]) == ("suppressed", "unsubscribed")


def test_the_per_customer_window_still_applies_after_erasure(app: Flask) -> None:
    shop, _ = make_shop()
    first = int(apply(shop, "A-1", days=12)["review_request"]["id"])
    row = fresh(ReviewRequest, first)
    row.state, row.sent_at = "sent", utcnow() - timedelta(days=2)
    db.session.commit()
    erase_customer(shop, EMAIL, source="cli")

    body = apply(shop, "A-2", email=EMAIL)

    assert (body["outcome"], body["review_request"]["reason"]) == ("suppressed", "recent_request")


def test_nothing_held_erases_nothing_and_bad_addresses_are_refused(app: Flask) -> None:
    shop, _ = make_shop()
    assert erase_customer(shop, "nobody@example.com", source="cli").summary == {
        "orders": 0, "review_requests_cancelled": 0, "reviews_withdrawn": 0}
    for bad in ("", "   ", "not-an-address", "a@b@c", "zoe@example.com\nBcc: x@y", "x@y"):
        with pytest.raises(PersonalDataError):
            erase_customer(shop, bad, source="cli")
    # Only the first call was recorded; the refused ones wrote nothing.
    assert len(db.session.execute(select(Erasure)).all()) == 1


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


def test_a_request_claimed_for_sending_is_not_mailed_after_erasure(app: Flask) -> None:
    shop, _ = make_shop()
    request_id = int(apply(shop, "A-1", days=20)["review_request"]["id"])
    claims = claim(utcnow(), 10)
    assert [c[0] for c in claims] == [request_id]
    assert fresh(ReviewRequest, request_id).state == "sending"

    assert erase_customer(shop, EMAIL, source="cli").summary["review_requests_cancelled"] == 1
    transport = RecordingTransport()
    assert deliver(request_id, claims[0][1], transport) is Outcome.STALE
    assert transport.sent == []
    assert fresh(ReviewRequest, request_id).reason == "erased"


def test_the_send_time_check_sees_an_erased_order(app: Flask) -> None:
    """Even a request still marked sending when its order was erased is never mailed."""
    shop, _ = make_shop()
    request_id = int(apply(shop, "A-1", days=20)["review_request"]["id"])
    (claimed,) = claim(utcnow(), 10)
    order = db.session.get(Order, fresh(ReviewRequest, request_id).order_id)
    order.customer_email, order.erased_at = None, utcnow()
    db.session.commit()

    transport = RecordingTransport()
    assert deliver(request_id, claimed[1], transport) is Outcome.CANCELLED
    assert transport.sent == []
    row = fresh(ReviewRequest, request_id)
    assert (row.state, row.reason) == ("cancelled", "erased")


# --------------------------------------------------------------------------- export


def test_export_holds_every_piece_of_personal_data(app: Flask) -> None:
    shop, _ = make_shop()
    customer = make_customer(shop)
    apply(shop, "B-1", email=OTHER_EMAIL, first_name="Maxence", last_name="Autre")
    shop_id = shop.id
    db.session.remove()

    document = export_customer(db.session.get(Shop, shop_id), EMAIL.upper())

    assert document["email"] == EMAIL
    assert sorted(o["id"] for o in document["orders"]) == ["A-1", "A-2", "A-3"]
    text = json.dumps(document, ensure_ascii=False)
    assert "Maxence" not in text and OTHER_EMAIL not in text
    first = next(o for o in document["orders"] if o["id"] == "A-1")
    assert first["customer"] == {"email": EMAIL, "first_name": FIRST, "last_name": LAST,
                                 "locale": "fr", "review_consent": True}
    (event,) = first["events"]
    assert event["payload"]["data"]["extra"]["phone"] == "+33 6 12 34 56 78"
    request = first["review_request"]
    assert request["id"] == str(customer.sent_request)
    assert request["emails_sent"] == [{"kind": "invitation", "sent_at": request["emails_sent"][0]["sent_at"],
                                       "message_id": "<abc.1@kingavis>"}]
    assert request["tracking"]["opened_at"] is not None
    assert EMAIL_OTHER_CASE in request["last_error"]
    assert any(FIRST in (t["note"] or "") for t in request["timeline"])
    assert first["review"]["comment"] == f"Parfait, signé {FIRST} {LAST}"
    assert first["review"]["reply"]["text"] == f"Merci {FIRST} !"
    assert document["unsubscription"]["created_at"]
    assert json.loads(json.dumps(document)) == document  # plain JSON


def test_every_column_is_classified() -> None:
    """A new column must say whether it holds customer data and how erasure and export treat
    it (kingavis.personal_data.columns.PERSONAL_COLUMNS); this fails until it does."""
    kinds = {"none", "exported", "erased", "hash", "scrubbed"}
    missing = []
    for table in db.metadata.sorted_tables:
        classified = PERSONAL_COLUMNS.get(table.name, {})
        for column in table.columns:
            if column.name not in classified:
                missing.append(f"{table.name}.{column.name}")
            else:
                assert classified[column.name] in kinds
        stale = set(classified) - {c.name for c in table.columns}
        assert not stale, f"{table.name}: classified columns that no longer exist: {stale}"
    assert not missing, f"classify in kingavis.personal_data.columns.PERSONAL_COLUMNS: {missing}"
    assert set(PERSONAL_COLUMNS) == {t.name for t in db.metadata.sorted_tables}


def test_every_personal_column_is_in_the_export(app: Flask) -> None:
    """Each column classified as holding the customer's data shows in the export with its value."""
    shop, _ = make_shop()
    make_customer(shop)
    document = json.dumps(export_customer(shop, EMAIL), ensure_ascii=False)
    order = db.session.execute(select(Order).where(Order.external_id == "A-1")).scalar_one()
    request = order.review_request
    review = db.session.execute(select(Review).where(Review.order_id == order.id)).scalar_one()
    rows = {"orders": order, "review_requests": request, "reviews": review}
    for table, row in rows.items():
        for column, kind in PERSONAL_COLUMNS[table].items():
            value = getattr(row, column)
            if kind in ("erased", "scrubbed") and isinstance(value, str) and value:
                assert json.dumps(value, ensure_ascii=False)[1:-1] in document, f"{table}.{column}"


# --------------------------------------------------------------------------- retention


def test_months_before_is_calendar_months() -> None:
    assert months_before(datetime(2026, 3, 31, 12, tzinfo=UTC), 1) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert months_before(datetime(2026, 11, 30, tzinfo=UTC), 24) == datetime(2024, 11, 30, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(2024, 12, 15, tzinfo=UTC)


def test_retention_anonymises_inactive_orders_with_a_moved_clock(app: Flask, database_url: str) -> None:
    shop, _ = make_shop()
    customer = make_customer(shop)
    shop_id = shop.id
    now = utcnow()

    # 23 months later nothing is old enough yet.
    assert run_retention(now=now + timedelta(days=23 * 30))[shop.key] == 0
    assert fresh(Order, fresh(ReviewRequest, customer.sent_request).order_id).customer_email == EMAIL

    later = now + timedelta(days=25 * 31)
    assert run_retention(now=later)[shop.key] == 3
    assert run_retention(now=later)[shop.key] == 0  # idempotent

    review = fresh(Review, customer.review_id)
    # The charter: a published review keeps its display name and text.
    assert (review.status, review.comment) == ("published", f"Parfait, signé {FIRST} {LAST}")
    assert review.author_display == "Zoeline Q."
    from kingavis.reviews.public import review_author

    assert review_author(review, db.session.get(Order, review.order_id)) == "Zoeline Q."
    orders = db.session.execute(select(Order).where(Order.shop_id == shop_id)).scalars().all()
    assert all(o.customer_email is None and o.customer_last_name is None and o.erased_at == later
               for o in orders)
    assert unsubscribed_hashes(shop) == [(None, customer_key(shop_id, EMAIL))]
    # Outside the kept review, the address and the last name are gone everywhere.
    review.comment = None
    review.author_display = None
    db.session.commit()
    assert_nowhere(database_url, EMAIL, LAST, "+33 6 12 34 56 78")


def test_retention_follows_the_shop_setting_and_recent_activity(app: Flask) -> None:
    from kingavis.shops.collection_settings import set_retention
    from kingavis.shops.service import ShopError

    shop, _ = make_shop()
    other, _ = make_shop("Autre boutique")
    apply(shop, "A-1")
    apply(other, "A-1")
    for bad in (5, 121, "12", True, None):
        with pytest.raises(ShopError):
            set_retention(shop, bad)  # type: ignore[arg-type]
    assert fresh(Shop, shop.id).retention_months == 24
    set_retention(shop, 6)

    in_seven_months = utcnow() + timedelta(days=7 * 31)
    assert run_retention(now=in_seven_months) == {shop.key: 1, other.key: 0}
    # An order the shop describes again becomes a live order, retained from its new activity.
    apply(shop, "A-1", "6", days=0)
    order = db.session.execute(select(Order).where(Order.shop_id == shop.id)).scalar_one()
    assert (order.customer_email, order.erased_at) == (EMAIL, None)
    assert apply_retention(fresh(Shop, shop.id), now=utcnow() + timedelta(days=30)) == 0


def test_the_daily_job_is_in_rq_cron_and_in_the_dispatcher_loop() -> None:
    from kingavis import cron_config
    from kingavis.delivery import cli
    from kingavis.worker import retention_run

    assert cron_config.RETENTION_CRON == "15 3 * * *"
    assert retention_run.__module__ == "kingavis.worker"
    assert cli.retention_due(None, 0.0)
    assert not cli.retention_due(1000.0, 1000.0 + 23 * 3600)
    assert cli.retention_due(1000.0, 1000.0 + 24 * 3600)


# --------------------------------------------------------------------------- command line


def run_cli(app: Flask, *args: str) -> Any:
    db.session.remove()
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.remove()
    return result


def test_cli_export_prints_one_json_document_and_is_audited(app: Flask) -> None:
    shop, _ = make_shop()
    make_customer(shop)
    key, shop_id = shop.key, shop.id
    result = run_cli(app, "customers", "export", "--shop", key, "--email", EMAIL.upper())
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["email"] == EMAIL and len(document["orders"]) == 3
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "customer.export")).scalar_one()
    assert entry.details == {"email_hash": customer_key(shop_id, EMAIL), "source": "cli"}


@pytest.mark.parametrize("args, message", [
    (["--shop", "shp_nope", "--email", EMAIL], "no shop with key"),
    (["--shop", "{key}", "--email", "not-an-address"], "not an email address"),
    (["--shop", "{key}", "--email", ""], "an email address is required"),
    (["--shop", "{key}"], "Missing option '--email'"),
])
@pytest.mark.parametrize("command", ["erase", "export"])
def test_cli_errors_are_one_line_and_change_nothing(app: Flask, command: str, args: list[str],
                                                    message: str) -> None:
    shop, _ = make_shop()
    make_customer(shop)
    key = shop.key
    result = run_cli(app, "customers", command, *[a.format(key=key) for a in args])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert db.session.execute(select(Erasure)).first() is None
    assert db.session.execute(select(Order).where(Order.customer_email.is_(None))).first() is None


def test_an_address_that_contains_the_erased_one_is_untouched(app: Flask) -> None:
    shop, _ = make_shop()
    apply(shop, "A-1")
    longer = "b" + EMAIL
    apply(shop, "B-1", email=longer, first_name="Bertille", last_name="Autre")

    assert erase_customer(shop, EMAIL, source="cli").summary["orders"] == 1

    other = db.session.execute(select(Order).where(Order.external_id == "B-1")).scalar_one()
    assert (other.customer_email, other.erased_at) == (longer, None)
    event = db.session.execute(select(OrderEvent).where(OrderEvent.order_id == other.id)).scalar_one()
    assert event.payload["data"]["order"]["customer"]["email"] == longer
