"""Property-based tests of the scheduling rules: random status sequences for one order.

Statuses come from PrestaShop's preset (1-13) plus a custom trigger (42) and a custom cancel
status (43); changed_at offsets repeat and go backwards; consent and paid flags vary. After
every event the invariants of docs/rules.md (rules 1, 3, 4, 6, 7) must hold: through the
database service on SQLite and PostgreSQL, and on the pure decide() with many more examples.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from factories import make_shop, new_webhook_id, status_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import RESCHEDULABLE_REASONS, Order, OrderEvent, ReviewRequest
from kingavis.orders.events import apply_status_event
from kingavis.scheduling import Action, Guards, Rule, decide

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
BASE = NOW - timedelta(days=5)
TRIGGERS = frozenset({"5", "42"})
CANCELS = frozenset({"6", "7", "8", "43"})
STATUS_IDS = [str(i) for i in range(1, 14)] + ["42", "43"]

# Few distinct offsets, so equal timestamps and out-of-order arrivals are common.
events_strategy = st.lists(
    st.tuples(
        st.sampled_from(STATUS_IDS),
        st.integers(min_value=0, max_value=8),  # hours after BASE
        st.sampled_from([True, False, None]),  # review_consent
        st.sampled_from([True, False, None]),  # paid
    ),
    min_size=1,
    max_size=12,
)

_orders = itertools.count(1)


def load_event(body: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(body)
    event["data"]["changed_at"] = datetime.fromisoformat(body["data"]["changed_at"])
    return event


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=events_strategy, require_consent=st.booleans())
def test_random_event_sequences_through_the_service(app: Any, events: list[tuple[str, int, bool | None, bool | None]],
                                                    require_consent: bool) -> None:
    n = next(_orders)
    shop, _ = make_shop(f"Boutique {n}", trigger_status_ids=sorted(TRIGGERS),
                        cancel_status_ids=sorted(CANCELS), require_consent=require_consent)
    order_id = f"order-{n}"
    latest_applied: datetime | None = None
    latest_status: str | None = None
    triggered = False  # a trigger status reached by a non-stale event

    for i, (status_id, hours, consent, paid) in enumerate(events, start=1):
        changed_at = BASE + timedelta(hours=hours)
        body = status_event(order_id, status_id, changed_at, consent=consent, paid=paid,
                            email=f"client{n}@example.com")
        result = apply_status_event(shop, load_event(body), new_webhook_id(), raw_payload=body,
                                    now=NOW)
        outcome = result.body["outcome"]
        stale = latest_applied is not None and changed_at < latest_applied
        assert (outcome == "ignored_stale") == stale, (events[:i], outcome)
        if not stale:
            latest_applied, latest_status = changed_at, status_id
            triggered = triggered or status_id in TRIGGERS

        db.session.expire_all()
        order = db.session.execute(
            select(Order).where(Order.shop_id == shop.id, Order.external_id == order_id)
        ).scalar_one()
        requests = db.session.execute(
            select(ReviewRequest).where(ReviewRequest.order_id == order.id)
        ).scalars().all()
        # At most one request per order, and one only once a trigger was really reached.
        assert len(requests) <= 1
        request = requests[0] if requests else None
        assert (request is not None) == triggered, events[:i]
        # The order reflects the newest applied event only.
        assert order.latest_status_id == latest_status
        assert order.latest_changed_at == latest_applied
        # A cancel status as the latest applied status: never left scheduled.
        if latest_status in CANCELS and request is not None:
            assert request.state != "scheduled", events[:i]
        if request is not None:
            assert result.body["review_request"] == request.to_outcome()
            # Only a scheduled request is on the dispatcher's list.
            if request.state == "scheduled":
                assert request.next_attempt_at == request.due_at
                assert request.reason is None
            else:
                assert request.next_attempt_at is None
                assert request.reason is not None
        else:
            assert result.body["review_request"] is None
            assert outcome in ("recorded", "ignored_stale")
        if outcome == "scheduled":
            assert request is not None and request.state == "scheduled"
        # Every event is stored, stale ones marked as such.
        stored = db.session.execute(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.id)
        ).scalar_one()
        assert stored == i


# --- the same property on the pure rule, with many more examples ----------------------------


@dataclass
class Model:
    """One order's request as the service would store it, driven by decide() only."""

    state: str | None = None
    reason: str | None = None
    latest: datetime | None = None
    latest_status: str | None = None
    triggered: bool = False
    final: bool = False  # sent or cancelled by the merchant: nothing may change it again
    history: list[str] = field(default_factory=list)


interventions = st.sampled_from([None, None, None, "sent", "merchant_cancelled", "order_unpaid"])


@settings(max_examples=2000, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(STATUS_IDS), st.integers(min_value=0, max_value=8),
                  st.sampled_from([True, False, None]), interventions),
        min_size=1,
        max_size=20,
    ),
    require_consent=st.booleans(),
)
def test_random_event_sequences_through_decide(
    steps: list[tuple[str, int, bool | None, str | None]], require_consent: bool
) -> None:
    rule = Rule(trigger_status_ids=TRIGGERS, delay_days=10)
    guards = Guards(cancel_status_ids=CANCELS, require_consent=require_consent)
    m = Model()
    for status_id, hours, consent, intervention in steps:
        changed_at = BASE + timedelta(hours=hours)
        before = (m.state, m.reason)
        action = decide(status_id=status_id, changed_at=changed_at, latest_changed_at=m.latest,
                        request_state=m.state, request_reason=m.reason, rule=rule, guards=guards)
        m.history.append(f"{status_id}@{hours} -> {action}")

        stale = m.latest is not None and changed_at < m.latest
        assert (action is Action.IGNORE_STALE) == stale, m.history
        if action is Action.CREATE:
            assert m.state is None and status_id in TRIGGERS
        if action is Action.RESCHEDULE:
            assert m.state == "cancelled" and m.reason in RESCHEDULABLE_REASONS
            assert status_id in TRIGGERS
        if action is Action.CANCEL:
            assert m.state == "scheduled" and status_id in CANCELS

        # Apply the action the way kingavis.orders.events does.
        if not stale:
            m.latest, m.latest_status = changed_at, status_id
            m.triggered = m.triggered or status_id in TRIGGERS
        if action is Action.CANCEL:
            m.state, m.reason = "cancelled", "order_cancelled"
        elif action in (Action.CREATE, Action.RESCHEDULE):
            no_consent = consent is False or (require_consent and consent is not True)
            m.state, m.reason = ("suppressed", "no_consent") if no_consent else ("scheduled", None)

        if m.final:
            assert (m.state, m.reason) == before, m.history
        assert (m.state is not None) == m.triggered, m.history
        if m.latest_status in CANCELS:
            assert m.state != "scheduled", m.history

        # What happens outside events: the dispatcher sends or finds the order unpaid,
        # the merchant cancels.
        if intervention and m.state == "scheduled":
            m.history.append(intervention)
            if intervention == "sent":
                m.state, m.reason, m.final = "sent", None, True
            elif intervention == "merchant_cancelled":
                m.state, m.reason, m.final = "cancelled", "merchant_cancelled", True
            else:
                m.state, m.reason = "cancelled", "order_unpaid"
