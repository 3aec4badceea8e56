"""The nine scheduling rules (docs/rules.md) through the service the webhook calls.

Events are built as a shop module sends them (tests/factories.status_event) and loaded the
way the endpoint loads them (data.changed_at an aware datetime), then applied with
kingavis.orders.events.apply_status_event. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, status_event
from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import (
    Order,
    OrderEvent,
    RequestDecision,
    ReviewRequest,
    Shop,
    ShopStatus,
    Unsubscription,
)
from kingavis.orders.events import EventResult, apply_status_event

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def load_event(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the endpoint hands it to the service: changed_at parsed, with its offset."""
    event = copy.deepcopy(body)
    event["data"]["changed_at"] = datetime.fromisoformat(body["data"]["changed_at"])
    return event


def apply(shop: Shop, status_id: str, changed_at: datetime | str, order_id: str = "1234", *,
          now: datetime = NOW, webhook_id: str | None = None, **fields: Any) -> EventResult:
    body = status_event(order_id, status_id, changed_at, **fields)
    return apply_status_event(shop, load_event(body), webhook_id or new_webhook_id(),
                              raw_payload=body, now=now)


def request_of(shop: Shop, order_id: str = "1234") -> ReviewRequest | None:
    db.session.expire_all()
    return db.session.execute(
        select(ReviewRequest).join(Order).where(Order.shop_id == shop.id,
                                                Order.external_id == order_id)
    ).scalar_one_or_none()


def order_of(shop: Shop, order_id: str = "1234") -> Order:
    db.session.expire_all()
    return db.session.execute(
        select(Order).where(Order.shop_id == shop.id, Order.external_id == order_id)
    ).scalar_one()


def count(model: Any, *where: Any) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- rule 1: only trigger statuses create a request -----------------------------------------


def test_rule1_only_the_trigger_status_creates_a_request(app: Any) -> None:
    shop, _ = make_shop()
    others = [str(i) for i in range(1, 14) if i != 5]
    for n, status_id in enumerate(others):
        result = apply(shop, status_id, NOW - timedelta(hours=1), order_id=f"o{status_id}")
        assert result.status_code == 202
        assert result.body["outcome"] == "recorded", status_id
        assert result.body["review_request"] is None
        assert result.body["order_id"] == f"o{status_id}"
        assert count(OrderEvent) == n + 1
    assert count(ReviewRequest) == 0

    result = apply(shop, "5", NOW - timedelta(hours=1), order_id="delivered")
    assert result.body["outcome"] == "scheduled"
    assert result.body["review_request"]["state"] == "scheduled"
    assert count(ReviewRequest) == 1


def test_rule1_every_status_of_an_order_before_delivery_is_recorded(app: Any) -> None:
    shop, _ = make_shop()
    for hours, status_id in enumerate(["10", "2", "3", "4"]):
        result = apply(shop, status_id, NOW - timedelta(days=3) + timedelta(hours=hours))
        assert result.body["outcome"] == "recorded"
    assert request_of(shop) is None
    assert order_of(shop).latest_status_id == "4"
    assert apply(shop, "5", NOW - timedelta(days=1)).body["outcome"] == "scheduled"


def test_rule1_custom_trigger_statuses(app: Any) -> None:
    shop, _ = make_shop(trigger_status_ids=["4", "20"])
    assert apply(shop, "5", NOW, order_id="a").body["outcome"] == "recorded"
    assert apply(shop, "20", NOW, order_id="b", status_name="Retiré en magasin").body[
        "outcome"] == "scheduled"
    assert apply(shop, "4", NOW, order_id="c", email="yann@example.com").body[
        "outcome"] == "scheduled"
    assert request_of(shop, "a") is None
    created = request_of(shop, "b")
    assert created is not None
    assert created.trigger_status_id == "20"
    assert created.trigger_status_name == "Retiré en magasin"


# --- rule 2: due_at ------------------------------------------------------------------------


def test_rule2_due_is_changed_at_plus_delay(app: Any) -> None:
    shop, _ = make_shop()
    result = apply(shop, "5", "2026-11-22T10:00:00+01:00")
    assert result.body["review_request"]["due_at"] == "2026-12-02T09:00:00Z"
    request = request_of(shop)
    assert request is not None
    assert request.due_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    # The dispatcher looks at it exactly when it is due.
    assert request.next_attempt_at == request.due_at
    assert request.triggered_at == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone", "changed_at", "expected"),
    [
        ("Europe/Paris", "2026-11-22T23:30:00+01:00", "2026-12-02T08:00:00Z"),
        ("UTC", "2026-11-22T23:30:00+01:00", "2026-12-02T09:00:00Z"),
        ("Europe/Paris", "2026-11-23T00:30:00+01:00", "2026-12-03T08:00:00Z"),
        ("UTC", "2026-11-23T00:30:00+01:00", "2026-12-02T09:00:00Z"),
        ("America/New_York", "2026-11-22T03:00:00Z", "2026-12-01T14:00:00Z"),
        ("Asia/Tokyo", "2026-11-22T16:00:00Z", "2026-12-03T00:00:00Z"),
    ],
)
def test_rule2_send_hour_uses_the_local_date(app: Any, timezone: str, changed_at: str,
                                             expected: str) -> None:
    shop, _ = make_shop(send_hour=9, timezone=timezone)
    result = apply(shop, "5", changed_at, now=datetime(2026, 11, 1, tzinfo=UTC))
    assert result.body["review_request"]["due_at"] == expected
    request = request_of(shop)
    assert request is not None and z(request.due_at) == expected


@pytest.mark.parametrize(
    ("changed_at", "expected"),
    [
        # 2026-03-29 is Paris's spring-forward day: the day after the 28th, at 10:00 CEST.
        ("2026-03-28T23:30:00+01:00", "2026-03-29T08:00:00Z"),
        ("2026-03-28T22:30:00Z", "2026-03-29T08:00:00Z"),  # the same instant, written in UTC
        # 2026-10-25 is its fall-back day: 10:00 CET.
        ("2026-10-24T23:30:00+02:00", "2026-10-25T09:00:00Z"),
        ("2026-10-25T00:30:00+02:00", "2026-10-26T09:00:00Z"),
    ],
)
def test_rule2_send_hour_on_dst_change_days(app: Any, changed_at: str, expected: str) -> None:
    shop, _ = make_shop(delay_days=1, send_hour=10)
    result = apply(shop, "5", changed_at, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert result.body["review_request"]["due_at"] == expected


def test_rule2_send_hour_in_the_dst_gap_moves_forward(app: Any) -> None:
    shop, _ = make_shop(delay_days=0, send_hour=2)
    result = apply(shop, "5", "2026-03-29T00:10:00+01:00", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert result.body["review_request"]["due_at"] == "2026-03-29T01:00:00Z"  # 03:00 CEST


def test_rule2_delay_zero(app: Any) -> None:
    shop, _ = make_shop(delay_days=0)
    now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    result = apply(shop, "5", "2026-11-22T07:00:00+01:00", now=now)
    assert result.body["review_request"]["due_at"] == "2026-11-22T06:00:00Z"

    with_hour, _ = make_shop("Boutique Deux", delay_days=0, send_hour=9)
    result = apply(with_hour, "5", "2026-11-22T07:00:00+01:00", now=now)
    assert result.body["review_request"]["due_at"] == "2026-11-22T08:00:00Z"


def test_rule2_a_change_far_in_the_past_is_due_now(app: Any) -> None:
    shop, _ = make_shop(send_hour=9)
    result = apply(shop, "5", "2025-01-10T10:00:00+01:00", now=NOW)
    assert result.body["outcome"] == "scheduled"
    assert result.body["review_request"]["due_at"] == z(NOW)
    request = request_of(shop)
    assert request is not None
    assert request.due_at == NOW and request.next_attempt_at == NOW


# --- rule 3: one request per order, ever -----------------------------------------------------


def test_rule3_trigger_again_leaves_the_request_as_it_is(app: Any) -> None:
    shop, _ = make_shop()
    first = apply(shop, "5", NOW - timedelta(days=2))
    second = apply(shop, "5", NOW - timedelta(days=1))
    assert second.status_code == 202
    assert second.body["outcome"] == "unchanged"
    assert second.body["review_request"] == first.body["review_request"]
    assert count(ReviewRequest) == 1
    assert count(OrderEvent) == 2


def test_rule3_cancelled_by_order_status_then_trigger_again_is_scheduled_again(app: Any) -> None:
    shop, _ = make_shop()
    first = apply(shop, "5", "2026-11-10T10:00:00+01:00")
    assert apply(shop, "6", "2026-11-11T10:00:00+01:00").body["outcome"] == "cancelled"
    again = apply(shop, "5", "2026-11-15T10:00:00+01:00")
    assert again.body["outcome"] == "scheduled"
    assert again.body["review_request"]["id"] == first.body["review_request"]["id"]
    assert again.body["review_request"]["due_at"] == "2026-11-25T09:00:00Z"
    assert again.body["review_request"]["state"] == "scheduled"
    assert again.body["review_request"]["reason"] is None
    request = request_of(shop)
    assert request is not None and request.next_attempt_at == request.due_at
    assert count(ReviewRequest) == 1
    states = db.session.execute(
        select(RequestDecision.state, RequestDecision.reason).order_by(RequestDecision.id)
    ).all()
    assert [tuple(s) for s in states] == [
        ("scheduled", None), ("cancelled", "order_cancelled"), ("scheduled", None)
    ]


def test_rule3_cancelled_as_unpaid_at_send_time_may_be_scheduled_again(app: Any) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=3))
    request = request_of(shop)
    assert request is not None
    request.state, request.reason, request.next_attempt_at = "cancelled", "order_unpaid", None
    db.session.commit()
    assert apply(shop, "5", NOW - timedelta(days=1)).body["outcome"] == "scheduled"


@pytest.mark.parametrize(
    ("state", "reason"),
    [("cancelled", "merchant_cancelled"), ("sent", None), ("failed", "delivery_failed")],
)
def test_rule3_merchant_cancelled_or_sent_is_never_scheduled_again(app: Any, state: str,
                                                                  reason: str | None) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=20), now=NOW - timedelta(days=20))
    request = request_of(shop)
    assert request is not None
    request.state, request.reason, request.next_attempt_at = state, reason, None
    if state == "sent":
        request.sent_at = NOW - timedelta(days=10)
    db.session.commit()
    due_before = request.due_at

    for status_id, days in (("6", 3), ("5", 2), ("7", 1), ("5", 0)):
        result = apply(shop, status_id, NOW - timedelta(days=days))
        assert result.body["outcome"] == "unchanged", (status_id, result.body)
        assert result.body["review_request"]["state"] == state
    request = request_of(shop)
    assert request is not None
    assert (request.state, request.reason, request.due_at) == (state, reason, due_before)
    assert request.next_attempt_at is None
    assert count(ReviewRequest) == 1


# --- rule 4: a cancel status cancels at once -------------------------------------------------


@pytest.mark.parametrize("status_id", ["6", "7", "8"])
def test_rule4_preset_cancel_statuses_cancel_a_scheduled_request(app: Any, status_id: str) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=2))
    result = apply(shop, status_id, NOW - timedelta(days=1), paid=False)
    assert result.body["outcome"] == "cancelled"
    assert result.body["review_request"]["state"] == "cancelled"
    assert result.body["review_request"]["reason"] == "order_cancelled"
    request = request_of(shop)
    assert request is not None
    assert (request.state, request.reason) == ("cancelled", "order_cancelled")
    # Off the dispatcher's list at once.
    assert request.next_attempt_at is None
    assert order_of(shop).latest_status_id == status_id


def test_rule4_custom_cancel_status(app: Any) -> None:
    shop, _ = make_shop(cancel_status_ids=["42"])
    apply(shop, "5", NOW - timedelta(days=3))
    # 6 is no longer a cancel status for this shop.
    assert apply(shop, "6", NOW - timedelta(days=2)).body["outcome"] == "unchanged"
    result = apply(shop, "42", NOW - timedelta(days=1), status_name="Retour client")
    assert result.body["outcome"] == "cancelled"
    assert result.body["review_request"]["reason"] == "order_cancelled"


@pytest.mark.parametrize("status_id", ["6", "7", "8"])
def test_rule4_cancel_status_without_a_request_is_recorded(app: Any, status_id: str) -> None:
    shop, _ = make_shop()
    apply(shop, "2", NOW - timedelta(days=2))
    result = apply(shop, status_id, NOW - timedelta(days=1))
    assert result.body["outcome"] == "recorded"
    assert result.body["review_request"] is None
    assert count(ReviewRequest) == 0
    # A trigger after a cancellation with no request still creates one (rule 1).
    assert apply(shop, "5", NOW).body["outcome"] == "scheduled"


def test_rule4_cancel_status_leaves_a_suppressed_request_as_it_is(app: Any) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=2), consent=False)
    result = apply(shop, "6", NOW - timedelta(days=1))
    assert result.body["outcome"] == "unchanged"
    assert result.body["review_request"]["state"] == "suppressed"
    assert result.body["review_request"]["reason"] == "no_consent"


# --- rule 6: out-of-order events -------------------------------------------------------------


def test_rule6_an_older_event_is_stored_but_changes_nothing(app: Any) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=1))
    before = request_of(shop)
    assert before is not None
    snapshot = (before.id, before.state, before.reason, before.due_at, before.next_attempt_at)

    stale = apply(shop, "4", NOW - timedelta(days=2), email="autre@example.com", consent=False)
    assert stale.status_code == 202
    assert stale.body["outcome"] == "ignored_stale"
    assert stale.body["review_request"]["state"] == "scheduled"

    events = db.session.execute(select(OrderEvent).order_by(OrderEvent.id)).scalars().all()
    assert [(e.status_id, e.stale, e.outcome) for e in events] == [
        ("5", False, "scheduled"), ("4", True, "ignored_stale")
    ]
    order = order_of(shop)
    assert order.latest_status_id == "5"
    assert order.latest_changed_at == NOW - timedelta(days=1)
    assert order.customer_email == "zoe@example.com"
    assert order.review_consent is True
    after = request_of(shop)
    assert after is not None
    assert (after.id, after.state, after.reason, after.due_at, after.next_attempt_at) == snapshot


def test_rule6_an_older_cancel_does_not_cancel(app: Any) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=1))
    assert apply(shop, "6", NOW - timedelta(days=2)).body["outcome"] == "ignored_stale"
    request = request_of(shop)
    assert request is not None and request.state == "scheduled"


def test_rule6_an_older_trigger_after_a_newer_cancel_never_schedules(app: Any) -> None:
    shop, _ = make_shop()
    assert apply(shop, "6", NOW - timedelta(days=1)).body["outcome"] == "recorded"
    result = apply(shop, "5", NOW - timedelta(days=2))
    assert result.body["outcome"] == "ignored_stale"
    assert result.body["review_request"] is None
    assert count(ReviewRequest) == 0
    assert order_of(shop).latest_status_id == "6"


def test_rule6_an_older_trigger_after_cancellation_does_not_reschedule(app: Any) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=3))
    apply(shop, "6", NOW - timedelta(days=1))
    result = apply(shop, "5", NOW - timedelta(days=2))
    assert result.body["outcome"] == "ignored_stale"
    assert result.body["review_request"]["state"] == "cancelled"
    request = request_of(shop)
    assert request is not None and (request.state, request.reason) == ("cancelled", "order_cancelled")


def test_rule6_equal_timestamps_are_applied(app: Any) -> None:
    shop, _ = make_shop()
    moment = NOW - timedelta(days=1)
    assert apply(shop, "5", moment).body["outcome"] == "scheduled"
    # Same instant, written with another offset: not older, so applied.
    same = moment.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+05:30").tzinfo)
    assert apply(shop, "4", same).body["outcome"] == "unchanged"
    assert order_of(shop).latest_status_id == "4"
    assert apply(shop, "6", moment).body["outcome"] == "cancelled"
    assert count(OrderEvent, OrderEvent.stale.is_(True)) == 0


def test_rule6_same_webhook_id_replays_the_first_outcome(app: Any) -> None:
    shop, _ = make_shop()
    webhook_id = new_webhook_id()
    first = apply(shop, "5", NOW - timedelta(days=1), webhook_id=webhook_id)
    apply(shop, "6", NOW - timedelta(hours=1))
    # A retry of the first delivery (even with another body) answers what was answered then.
    again = apply(shop, "6", NOW, webhook_id=webhook_id)
    assert (first.status_code, first.replayed) == (202, False)
    assert (again.status_code, again.replayed) == (200, True)
    assert again.body == first.body
    assert count(OrderEvent) == 2
    request = request_of(shop)
    assert request is not None and request.state == "cancelled"


def test_a_replay_changes_nothing_even_with_another_body(app: Any) -> None:
    shop, _ = make_shop()
    webhook_id = new_webhook_id()
    first = apply(shop, "5", NOW - timedelta(days=1), order_id="A", webhook_id=webhook_id)
    again = apply(shop, "5", NOW, order_id="B", webhook_id=webhook_id,
                  email="quelquun@example.com")
    assert again.replayed and again.body == first.body
    # No trace of the second body: no order, no customer address kept.
    assert [o.external_id for o in db.session.execute(select(Order)).scalars()] == ["A"]
    assert count(OrderEvent) == 1


def test_an_event_that_fails_leaves_nothing_and_its_new_status_is_recorded_later(
    app: Any,
) -> None:
    shop, _ = make_shop(trigger_status_ids=["5", "31"], send_hour=9)
    rule = shop.active_rule
    assert rule is not None
    rule.timezone = "Mars/Olympus"  # a zone this system does not know (never accepted as input)
    db.session.commit()
    with pytest.raises(KeyError):
        apply(shop, "31", NOW, status_name="Livré en point relais")
    assert (count(Order), count(OrderEvent), count(ReviewRequest)) == (0, 0, 0)
    # The status as the shop was configured with it (make_shop registers it), not as the failed
    # event named it.
    names = select(ShopStatus.name).where(ShopStatus.shop_id == shop.id, ShopStatus.status_id == "31")
    assert db.session.execute(names).scalars().all() == ["Statut 31"]

    rule.timezone = "Europe/Paris"
    db.session.commit()
    assert apply(shop, "31", NOW, status_name="Livré en point relais").body["outcome"] == "scheduled"
    assert db.session.execute(names).scalars().all() == ["Livré en point relais"]


# --- rule 7: suppression -------------------------------------------------------------------


def test_rule7_consent_false_is_suppressed(app: Any) -> None:
    shop, _ = make_shop()
    result = apply(shop, "5", NOW - timedelta(days=1), consent=False)
    assert result.body["outcome"] == "suppressed"
    assert result.body["review_request"]["state"] == "suppressed"
    assert result.body["review_request"]["reason"] == "no_consent"
    request = request_of(shop)
    assert request is not None and request.next_attempt_at is None


def test_rule7_missing_consent_is_fine_unless_the_shop_requires_it(app: Any) -> None:
    shop, _ = make_shop()
    assert apply(shop, "5", NOW, order_id="a", consent=None).body["outcome"] == "scheduled"

    strict, _ = make_shop("Boutique stricte", require_consent=True)
    result = apply(strict, "5", NOW, order_id="b", consent=None)
    assert result.body["outcome"] == "suppressed"
    assert result.body["review_request"]["reason"] == "no_consent"
    assert apply(strict, "5", NOW, order_id="c", consent=True,
                 email="yann@example.com").body["outcome"] == "scheduled"


def test_rule7_unsubscribed_address_case_insensitive(app: Any) -> None:
    shop, _ = make_shop()
    db.session.add(Unsubscription(shop_id=shop.id, email_normalized="zoe@example.com"))
    db.session.commit()
    result = apply(shop, "5", NOW, email="Zoe@Example.COM")
    assert result.body["outcome"] == "suppressed"
    assert result.body["review_request"]["reason"] == "unsubscribed"
    # The unsubscription belongs to that shop only.
    other, _ = make_shop("Autre boutique")
    assert apply(other, "5", NOW, email="zoe@example.com").body["outcome"] == "scheduled"


T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def first_order(shop: Shop, **fields: Any) -> EventResult:
    """Order A for zoe@example.com, delivered at T0 (due T0 + 10 days)."""
    return apply(shop, "5", T0, order_id="A", now=T0, **fields)


def second_order(shop: Shop, days_later: int, **fields: Any) -> EventResult:
    """Order B for the same address, delivered days_later after T0."""
    moment = T0 + timedelta(days=days_later)
    fields.setdefault("email", "ZOE@example.com")
    return apply(shop, "5", moment, order_id="B", now=moment, **fields)


def test_rule7_a_scheduled_request_for_the_address_within_the_window(app: Any) -> None:
    shop, _ = make_shop()
    assert first_order(shop).body["outcome"] == "scheduled"
    result = second_order(shop, 20)
    assert result.body["outcome"] == "suppressed"
    assert result.body["review_request"]["reason"] == "recent_request"


def test_rule7_a_sent_request_for_the_address_within_the_window(app: Any) -> None:
    shop, _ = make_shop()
    first_order(shop)
    request = request_of(shop, "A")
    assert request is not None
    request.state, request.sent_at, request.next_attempt_at = "sent", T0 + timedelta(days=10), None
    db.session.commit()
    result = second_order(shop, 25)
    assert result.body["review_request"]["reason"] == "recent_request"


def test_rule7_outside_the_window_is_scheduled(app: Any) -> None:
    shop, _ = make_shop()
    first_order(shop)
    assert second_order(shop, 40).body["outcome"] == "scheduled"


def test_rule7_the_window_is_the_shops(app: Any) -> None:
    shop, _ = make_shop(customer_window_days=60)
    first_order(shop)
    assert second_order(shop, 40).body["review_request"]["reason"] == "recent_request"


@pytest.mark.parametrize("how", ["cancelled", "suppressed"])
def test_rule7_a_request_that_will_not_be_sent_does_not_count(app: Any, how: str) -> None:
    shop, _ = make_shop()
    if how == "cancelled":
        first_order(shop)
        apply(shop, "6", T0 + timedelta(days=1), order_id="A", now=T0)
    else:
        first_order(shop, consent=False)
    assert second_order(shop, 5).body["outcome"] == "scheduled"


def test_rule7_another_shops_request_does_not_count(app: Any) -> None:
    shop, _ = make_shop()
    other, _ = make_shop("Autre boutique")
    apply(other, "5", T0, order_id="A", now=T0)
    assert first_order(shop).body["outcome"] == "scheduled"


def test_rule7_precedence(app: Any) -> None:
    shop, _ = make_shop()
    first_order(shop)  # a recent request for the address
    db.session.add(Unsubscription(shop_id=shop.id, email_normalized="zoe@example.com"))
    db.session.commit()
    # All three apply: no_consent.
    result = apply(shop, "5", T0 + timedelta(days=1), order_id="B", now=T0, consent=False)
    assert result.body["review_request"]["reason"] == "no_consent"
    # Unsubscribed and recent: unsubscribed.
    result = apply(shop, "5", T0 + timedelta(days=1), order_id="C", now=T0)
    assert result.body["review_request"]["reason"] == "unsubscribed"


def test_rule7_suppressed_stays_suppressed_when_the_trigger_comes_again(app: Any) -> None:
    shop, _ = make_shop()
    apply(shop, "5", NOW - timedelta(days=2), consent=False)
    result = apply(shop, "5", NOW - timedelta(days=1), consent=True)
    assert result.body["outcome"] == "unchanged"
    assert result.body["review_request"]["state"] == "suppressed"


# --- rule 8: a paused shop loses nothing -----------------------------------------------------


def test_rule8_events_of_a_paused_shop_are_stored_and_scheduled(app: Any) -> None:
    shop, _ = make_shop(paused=True)
    assert shop.paused is True
    assert apply(shop, "4", NOW - timedelta(days=2)).body["outcome"] == "recorded"
    result = apply(shop, "5", NOW - timedelta(days=1))
    assert result.body["outcome"] == "scheduled"
    request = request_of(shop)
    assert request is not None
    assert request.state == "scheduled"
    assert request.next_attempt_at == request.due_at
    assert count(OrderEvent) == 2
    assert apply(shop, "6", NOW).body["outcome"] == "cancelled"
