"""kingavis.review_requests: the merchant actions and the pending / history queries, on both DBs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from factories import days_ago, make_shop
from requests_helpers import (
    audit_entries,
    decisions,
    event,
    merchant,
    request_row,
    scheduled,
    set_due,
)

from kingavis.delivery.dispatcher import claim, tick
from kingavis.extensions import db
from kingavis.models import ReviewRequest, utcnow
from kingavis.review_requests.actions import RequestActionError, apply, cancel, postpone, send_now
from kingavis.review_requests.notes import describe_note
from kingavis.review_requests.queries import (
    HistoryFilter,
    PendingFilter,
    count_pending,
    history_query,
    matching_ids,
    pending_query,
    scheduled_among,
    week_end,
)
from kingavis.review_requests.timeline import timeline


def ids_of(query) -> list[int]:
    return [r.id for r in db.session.execute(query).unique().scalars()]


# --------------------------------------------------------------------------- actions


def test_cancel_records_decision_and_audit_and_is_never_rescheduled(app) -> None:
    shop, _ = make_shop()
    user = merchant(shop)
    a = scheduled(shop, "1")
    b = scheduled(shop, "2")

    result = cancel(shop, [a], user=user)

    assert result.changed_ids == [a] and result.skipped == 0
    row = request_row(a)
    assert (row.state, row.reason, row.next_attempt_at) == ("cancelled", "merchant_cancelled", None)
    last = decisions(a)[-1]
    assert (last.state, last.reason, last.actor) == ("cancelled", "merchant_cancelled",
                                                     "marchand@example.com")
    entries = audit_entries(shop)
    assert [(e.action, e.details["count"], e.actor_email) for e in entries] == [
        ("review_requests.cancel", 1, "marchand@example.com")
    ]
    assert request_row(b).state == "scheduled"

    # The order reaches the trigger status again later: a merchant's cancellation stands.
    body = event(shop, "1", "5", days_ago(0.5), email="client1@example.com")
    assert body["outcome"] == "unchanged"
    assert request_row(a).state == "cancelled"


def test_send_now_makes_it_due_for_the_next_dispatcher_tick(app) -> None:
    shop, _ = make_shop()
    a = scheduled(shop, "1")
    assert tick().claimed == 0  # due in nine days

    now = utcnow()
    result = send_now(shop, [a], actor="cli:ops", now=now)

    assert result.changed == 1
    row = request_row(a)
    assert row.due_at == row.next_attempt_at == now
    assert decisions(a)[-1].actor == "cli:ops"
    assert audit_entries(shop)[-1].actor_email == "system"
    sent = tick()
    assert sent.claimed == 1
    assert request_row(a).state == "sent"


def test_postpone_moves_due_time_and_next_attempt(app) -> None:
    shop, _ = make_shop()
    a = scheduled(shop, "1")
    overdue = scheduled(shop, "2")
    before = request_row(a).due_at
    now = utcnow()
    set_due(overdue, now - timedelta(days=2))  # e.g. waited while the shop was paused

    result = postpone(shop, [a, overdue], 3, now=now)

    assert result.changed == 2
    assert request_row(a).due_at == before + timedelta(days=3)
    assert request_row(a).next_attempt_at == before + timedelta(days=3)
    # An overdue request is postponed from now, not into the past.
    moved = request_row(overdue).due_at
    assert abs(moved - (now + timedelta(days=3))) < timedelta(seconds=1)
    assert describe_note(decisions(a)[-1]) == "reportée de 3 jours par le marchand"
    assert audit_entries(shop)[-1].details["days"] == 3


@pytest.mark.parametrize("days", [0, 366, -1, "abc", "", None, "2.5"])
def test_postpone_rejects_bad_day_counts_and_changes_nothing(app, days) -> None:
    shop, _ = make_shop()
    a = scheduled(shop, "1")
    before = request_row(a).due_at
    count = len(decisions(a))

    with pytest.raises(RequestActionError, match="entre 1 et 365"):
        postpone(shop, [a], days)  # type: ignore[arg-type]

    assert request_row(a).due_at == before
    assert len(decisions(a)) == count
    assert audit_entries(shop) == []


def test_unknown_action_is_refused(app) -> None:
    shop, _ = make_shop()
    a = scheduled(shop, "1")
    with pytest.raises(RequestActionError, match="action inconnue"):
        apply(shop, "delete", [a])
    assert request_row(a).state == "scheduled"


def test_a_request_the_dispatcher_claimed_is_left_alone(app) -> None:
    shop, _ = make_shop()
    user = merchant(shop)
    claimed = scheduled(shop, "1")
    waiting = scheduled(shop, "2")
    set_due(claimed, utcnow() - timedelta(minutes=1))
    assert [c[0] for c in claim(utcnow(), 10)] == [claimed]

    result = cancel(shop, [claimed, waiting], user=user)

    assert result.changed_ids == [waiting] and result.skipped == 1
    assert request_row(claimed).state == "sending"
    assert request_row(claimed).next_attempt_at is not None  # its lease is untouched
    assert audit_entries(shop)[-1].details["count"] == 1
    assert [d.state for d in decisions(claimed)][-1] == "sending"


def test_other_shops_requests_are_ignored(app) -> None:
    shop, _ = make_shop("Boutique A")
    other, _ = make_shop("Boutique B")
    mine = scheduled(shop, "1")
    theirs = scheduled(other, "1")

    result = cancel(shop, [mine, theirs])

    assert result.changed_ids == [mine] and result.requested == 1
    assert request_row(theirs).state == "scheduled"
    assert scheduled_among(shop, [mine, theirs]) == []
    assert scheduled_among(other, [mine, theirs]) == [theirs]


def test_finished_requests_are_not_touched(app) -> None:
    shop, _ = make_shop()
    a = scheduled(shop, "1")
    cancel(shop, [a])
    result = send_now(shop, [a])
    assert result.changed == 0
    assert request_row(a).state == "cancelled"
    assert len(audit_entries(shop)) == 1  # nothing changed, nothing audited


# --------------------------------------------------------------------------- pending filters


# A Wednesday, 11:00 in Paris: the end of the shop's week (Monday 00:00) is 4 days and 13 hours
# away, so "due this week" and "due within 7 days" are told apart by a request due in between.
WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def test_pending_filters(app) -> None:
    shop, _ = make_shop()
    now = WEDNESDAY
    assert week_end(shop, now) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)

    def delivered(order_id: str, days: float, **kwargs) -> int:
        kwargs.setdefault("email", f"client{order_id}@example.com")
        body = event(shop, order_id, "5", now - timedelta(days=days), **kwargs)
        assert body["outcome"] == "scheduled", body
        return int(body["review_request"]["id"])

    soon = delivered("1", 1, reference="ABC-100", email="Alice@Example.com")
    later = delivered("2", 1, reference="ABC-200", email="bob@example.com")
    unpaid = delivered("3", 1, reference="XYZ_300", email="carol@example.com")
    stuck = delivered("4", 9, reference="XYZ%400", email="dan@example.com")
    # Delivered 9 days ago and nothing since: stale, but in a final status (a trigger).
    quiet = delivered("6", 9, reference="QUIET", email="fay@example.com")
    done = delivered("5", 1, reference="DONE", email="eve@example.com")
    cancel(shop, [done])
    set_due(soon, week_end(shop, now) - timedelta(hours=1))
    set_due(later, now + timedelta(days=20))
    set_due(unpaid, now + timedelta(days=20))
    set_due(stuck, week_end(shop, now) + timedelta(minutes=1))  # just after this week
    set_due(quiet, now + timedelta(days=8))  # just over a week away
    # Order 3 moves to "awaiting bank wire" (not paid) after delivery.
    event(shop, "3", "10", now - timedelta(days=0.5), paid=False, reference="XYZ_300",
          email="carol@example.com")
    # Order 4 went back to "processing" 8 days ago and has not moved since.
    event(shop, "4", "3", now - timedelta(days=8), reference="XYZ%400", email="dan@example.com")

    def listed(**kwargs) -> list[int]:
        return sorted(ids_of(pending_query(shop, PendingFilter(**kwargs), now)))

    assert listed() == sorted([soon, later, unpaid, stuck, quiet])
    assert listed(due_this_week=True) == [soon]
    assert listed(due_within_days=7) == sorted([soon, stuck])
    assert listed(due_within_days=8) == sorted([soon, stuck, quiet])
    assert listed(due_within_days=30) == sorted([soon, later, unpaid, stuck, quiet])
    assert listed(unpaid=True) == [unpaid]
    assert listed(status_id="3") == [stuck]
    assert listed(status_id="5") == sorted([soon, later, quiet])
    assert listed(stale_days=7) == sorted([stuck, quiet])
    assert listed(stale_days=7, open_status=True) == [stuck]
    assert listed(stale_days=9) == []  # "more than N days": 9 days ago is not more than 9
    assert listed(open_status=True) == sorted([unpaid, stuck])  # 5 is a trigger: final
    assert listed(undelivered=True) == sorted([unpaid, stuck])
    assert listed(q="abc") == sorted([soon, later])
    assert listed(q="ALICE@example") == [soon]
    assert listed(q="xyz_") == [unpaid]  # "_" is a character, not a LIKE wildcard
    assert listed(q="%") == [stuck]  # nor is "%"
    assert listed(q="  bob  ") == [later]
    assert listed(q="abc", due_this_week=True) == [soon]
    assert listed(unpaid=True, q="abc") == []
    assert count_pending(shop, PendingFilter(q="abc"), now) == 2
    assert matching_ids(shop, PendingFilter(q="xyz"), now) == sorted([unpaid, stuck])


def test_undelivered_uses_the_shipped_flag(app) -> None:
    shop, _ = make_shop()
    back_to_shipped = scheduled(shop, "1")
    event(shop, "1", "4", days_ago(0.5), email="client1@example.com")  # "Expédié": shipped
    assert matching_ids(shop, PendingFilter(undelivered=True)) == []
    assert matching_ids(shop, PendingFilter(status_id="4")) == [back_to_shipped]


def test_week_end_is_next_monday_midnight_in_the_shop_zone(app) -> None:
    shop, _ = make_shop(timezone="Pacific/Auckland")
    # Sunday 2026-11-29 20:00 UTC is Monday 09:00 in Auckland: its week ends a week later.
    now = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
    end = week_end(shop, now)
    assert end == datetime(2026, 12, 6, 11, 0, tzinfo=UTC)  # Monday 7 Dec 00:00 NZDT


# --------------------------------------------------------------------------- history, timeline


def test_history_filters(app) -> None:
    shop, _ = make_shop()
    sent = scheduled(shop, "1", reference="H-1")
    set_due(sent, utcnow() - timedelta(minutes=1))
    tick()
    cancelled = scheduled(shop, "2", reference="H-2")
    cancel(shop, [cancelled])
    suppressed_body = event(shop, "3", "5", days_ago(1), consent=False, reference="H-3",
                            email="client3@example.com")
    suppressed = int(suppressed_body["review_request"]["id"])
    failed = scheduled(shop, "4", reference="H-4")
    row = db.session.get(ReviewRequest, failed)
    row.state, row.reason, row.next_attempt_at = "failed", "delivery_failed", None
    db.session.commit()
    waiting = scheduled(shop, "5", reference="H-5")

    def listed(**kwargs) -> list[int]:
        return ids_of(history_query(shop, HistoryFilter(**kwargs)))

    assert sorted(listed()) == sorted([sent, cancelled, suppressed, failed])
    assert waiting not in listed()
    assert listed(state="sent") == [sent]
    assert listed(reason="no_consent") == [suppressed]
    assert listed(reason="merchant_cancelled") == [cancelled]
    assert listed(state="failed", reason="delivery_failed") == [failed]
    assert listed(q="h-2") == [cancelled]
    today = utcnow().astimezone(ZoneInfo(shop.timezone)).date()
    assert sorted(listed(date_from=today, date_to=today)) == sorted(
        [sent, cancelled, suppressed, failed])
    assert listed(date_to=today - timedelta(days=1)) == []
    assert listed(date_from=today + timedelta(days=1)) == []


def test_timeline_merges_events_decisions_and_emails_in_time_order(app) -> None:
    shop, _ = make_shop()
    a = scheduled(shop, "1", delivered_days_ago=11)  # overdue: sent by the next tick
    tick()
    order = request_row(a).order
    entries = timeline(order)
    kinds = [(e.kind, e.event.status_id if e.event else None,
              e.decision.state if e.decision else None) for e in entries]
    assert kinds == [
        ("event", "5", None),
        ("decision", None, "scheduled"),
        ("decision", None, "sending"),
        ("decision", None, "sent"),
        ("email", None, None),
    ]
    assert entries[-1].email["message_id"] == request_row(a).message_id
    assert [e.at for e in entries] == sorted(e.at for e in entries)
