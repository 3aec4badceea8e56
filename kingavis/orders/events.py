"""Applying one order-status event: the service behind the webhook (and any other caller).

Concurrency: the order row is created and locked by one INSERT … ON CONFLICT DO UPDATE …
RETURNING (PostgreSQL; SQLite transactions take the write lock up front), so events of one
order are applied one at a time; on PostgreSQL the same statement locks the order's request
(``kingavis.orders.rows``). The unique constraints on
``review_requests.order_id`` and ``order_events (shop_id, webhook_id)`` are the last line of
defence; a conflict there is handled by re-reading, never by a second request.

The transaction is written in SQLAlchemy Core, not through the ORM's unit of work: it runs
for every webhook, and the ORM's flush and per-object bookkeeping cost several times the
statements themselves (bench/README.md). The rules stay in ``scheduling`` as plain functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    false,
    func,
    insert,
    select,
    update,
)

from kingavis.customer_keys import customer_key
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.models import (
    OrderEvent,
    Reason,
    RequestDecision,
    RequestState,
    ReviewRequest,
    Shop,
    Suppression,
    Unsubscription,
    UTCDateTime,
    utcnow,
)
from kingavis.orders.rows import (
    RequestRow,
    insert_event,
    lock_order,
    of_shop,
    order_columns,
    set_items,
    update_order,
)
from kingavis.orders.statuses import remember_seen_status, seen_status_committed
from kingavis.review_requests.lifecycle import SYSTEM, decision_row
from kingavis.scheduling import (
    Action,
    Guards,
    Rule,
    compute_due_at,
    decide,
    suppression_reason,
)
from kingavis.shops.balancing import choose_platform
from kingavis.shops.service import ShopChanged, ShopSnapshot
from kingavis.transactions import retry_on_conflict

log = logging.getLogger("kingavis.orders.events")

# The webhook passes a ShopSnapshot (plain values, one query); other callers may pass a Shop.
AnyShop = Shop | ShopSnapshot

OUTCOME_BY_ACTION = {
    Action.IGNORE_STALE: "ignored_stale",
    Action.CANCEL: "cancelled",
}


@dataclass(frozen=True)
class EventResult:
    status_code: int  # 202 applied, 200 replayed
    body: dict[str, Any]
    replayed: bool


def shop_rule(shop: AnyShop) -> Rule | None:
    rule = shop.active_rule
    if rule is None:
        return None
    return Rule.of(rule)


def shop_guards(shop: AnyShop) -> Guards:
    return Guards(
        cancel_status_ids=frozenset(shop.cancel_status_ids or ()),
        require_consent=shop.require_consent,
        customer_window_days=shop.customer_window_days,
    )


def apply_status_event(
    shop: AnyShop,
    event: dict[str, Any],
    webhook_id: str,
    *,
    raw_payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> EventResult:
    """Store one validated status event and apply the scheduling rules. Commits.

    ``event`` is the webhook body as loaded by ``webhooks.schemas.OrderStatusEventSchema``
    (``data.changed_at`` an aware datetime); ``raw_payload`` is the body as received, kept
    on the event row for the order timeline. A test event (``"test": true``) is answered
    without storing anything (``_answer_test``).
    """
    if event.get("test"):
        return _answer_test(shop, event, webhook_id)
    at = now or utcnow()
    return retry_on_conflict(lambda: _apply(shop, event, webhook_id, raw_payload, at))


_events = OrderEvent.__table__
_requests = ReviewRequest.__table__
_decisions = RequestDecision.__table__
_unsubscriptions = Unsubscription.__table__
_suppressions = Suppression.__table__

# Built once, executed with a dict of values: SQLAlchemy compiles each statement once per set
# of keys and reuses it, where building a statement per call would cost more than running it.
# The upserts are text (kingavis.orders.rows, kingavis.orders.statuses): the dialects'
# INSERT … ON CONFLICT constructs are not cached, and the SQL is the same on PostgreSQL and
# SQLite (3.35+).
_shops = Shop.__table__
# The shop's settings version, read with the statements the webhook makes anyway: a snapshot
# of another version is stale (kingavis.shops.service, docs/settings-version.md).
_SHOP_VERSION = (
    select(_shops.c.settings_version).where(_shops.c.id == bindparam("b_shop_id"))
    .scalar_subquery().label("shop_version")
)
_REPLAY = select(_events.c.response, _SHOP_VERSION).where(
    _events.c.shop_id == bindparam("b_shop_id"), _events.c.webhook_id == bindparam("b_webhook_id")
)
_UPDATE_REQUEST = update(_requests).where(_requests.c.id == bindparam("b_request_id"))
_INSERT_REQUEST = insert(_requests)
_INSERT_DECISION = insert(_decisions)
_LOCK_CUSTOMER = select(
    func.pg_advisory_xact_lock(bindparam("b_shop_id"), func.hashtext(bindparam("b_email")))
)
_UNSUBSCRIBED = of_shop(_unsubscriptions.c.id, _unsubscriptions.c.email_hash, "b_email_hash").exists()
# Rule 7: why the address is on the shop's suppression list (bounced, complained), or NULL.
_SUPPRESSED = of_shop(_suppressions.c.reason, _suppressions.c.email_hash, "b_email_hash").scalar_subquery()
_SENDING_OR_SENT = [
    RequestState.SCHEDULED.value, RequestState.SENDING.value, RequestState.SENT.value
]


def _replay(conn: Connection, shop: AnyShop, webhook_id: str) -> EventResult | None:
    row = conn.execute(
        _REPLAY, {"b_shop_id": shop.id, "b_webhook_id": webhook_id}
    ).one_or_none()
    if row is None:
        return None
    _check_version(shop, row.shop_version)
    return EventResult(200, row.response, True)


def _check_version(shop: AnyShop, version: int | None) -> None:
    """ShopChanged (the transaction rolled back) when ``shop`` is a snapshot older than the
    shop's settings in the database. An ORM ``Shop`` is read in this transaction: never stale."""
    if isinstance(shop, ShopSnapshot) and version != shop.settings_version:
        db.session.rollback()
        raise ShopChanged(shop.key)


def _answer_test(shop: AnyShop, event: dict[str, Any], webhook_id: str) -> EventResult:
    """A test event (``"test": true``, docs/webhooks.md): checked like a real one by the
    caller, answered ``outcome: test`` and stored nowhere; no order, customer or request is
    read or touched. A webhook id a real event already used is a replay, answered as such."""
    replay = _replay(db.session.connection(), shop, webhook_id)
    db.session.rollback()
    if replay is not None:
        return replay
    body = {"webhook_id": webhook_id, "order_id": event["data"]["order"]["id"],
            "outcome": "test", "review_request": None}
    return EventResult(200, body, False)


def _apply(
    shop: AnyShop,
    event: dict[str, Any],
    webhook_id: str,
    raw_payload: dict[str, Any] | None,
    now: datetime,
) -> EventResult:
    """One transaction in SQLAlchemy Core: a handful of statements, no ORM unit of work.

    PostgreSQL locks, always in this order: the order row, its request row, then (for a
    trigger) the customer's advisory lock. Every write comes after the decision.
    """
    conn = db.session.connection()
    data = event["data"]
    order_data = data["order"]
    customer = order_data["customer"]
    status = data["status"]
    changed_at: datetime = data["changed_at"].astimezone(UTC)
    status_id = status["id"]

    # A webhook id already applied changes nothing, not even an order row for its body.
    # A concurrent delivery of the same id that wins the race makes this one fail on the
    # unique (shop_id, webhook_id) constraint; the retry then finds it here.
    order, request = lock_order(conn, shop.id, webhook_id, order_data)
    if order is None:
        replay = _replay(conn, shop, webhook_id)
        db.session.commit()
        if replay is None:  # pragma: no cover - the statement just saw the event
            raise AssertionError(f"webhook {webhook_id} neither new nor stored")
        return replay
    _check_version(shop, order.shop_version)
    rule = shop_rule(shop)
    guards = shop_guards(shop)
    action = decide(
        status_id=status_id,
        changed_at=changed_at,
        latest_changed_at=order.latest_changed_at,
        request_state=request.state if request else None,
        request_reason=request.reason if request else None,
        rule=rule,
        guards=guards,
    )

    # The order as this (newest) event describes it. On PostgreSQL the UPDATE goes with the
    # event's INSERT, in one statement at the end (``insert_event``): the known-paid subquery
    # reads the same flag before and after the shop_statuses upsert, which never overwrites a
    # known flag with an unknown one.
    columns: dict[str, Any] | None = None
    seen_status = None
    if action is not Action.IGNORE_STALE:
        columns = order_columns(order_data, status, changed_at)
        if conn.dialect.name != "postgresql":
            update_order(conn, shop.id, order.id, columns)
            columns = None
        seen_status = remember_seen_status(conn, shop, status, now)
    elif order_data.get("items") is not None:
        set_items(conn, order.id, order_data["items"])

    decision: tuple[int, str, str | None, datetime] | None = None
    if action is Action.CANCEL:
        assert request is not None
        reason = Reason.ORDER_CANCELLED.value
        conn.execute(
            _UPDATE_REQUEST,
            {"b_request_id": request.id, "state": RequestState.CANCELLED.value,
             "reason": reason, "next_attempt_at": None},
        )
        request = RequestRow(request.id, RequestState.CANCELLED.value, reason, request.due_at)
        decision = (request.id, request.state, reason, request.due_at)
        outcome = "cancelled"
    elif action in (Action.CREATE, Action.RESCHEDULE):
        assert rule is not None
        request = _schedule(conn, shop, order, customer, status, changed_at, request, rule, guards, now)
        decision = (request.id, request.state, request.reason, request.due_at)
        outcome = request.state  # "scheduled" or "suppressed"
    elif action is Action.IGNORE_STALE:
        outcome = "ignored_stale"
    else:
        outcome = "unchanged" if request is not None else "recorded"

    body = {
        "webhook_id": webhook_id,
        "order_id": order.external_id,
        "outcome": outcome,
        "review_request": request.to_outcome() if request is not None else None,
    }
    # Inserted once, complete, after the decision (its outcome and answer are known).
    inserted = insert_event(
        conn, shop.id, order.id, columns,
        {
            "shop_id": shop.id,
            "order_id": order.id,
            "webhook_id": webhook_id,
            "status_id": status_id,
            "status_name": status["name"],
            "status_paid": status.get("paid"),
            "status_shipped": status.get("shipped"),
            "previous_status_id": (data.get("previous_status") or {}).get("id"),
            "changed_at": changed_at,
            "received_at": now,
            "stale": action is Action.IGNORE_STALE,
            "outcome": outcome,
            "response": body,
            "payload": raw_payload if raw_payload is not None else _jsonable(event),
        },
    )
    if decision is not None:
        request_id, state, reason, due_at = decision
        conn.execute(_INSERT_DECISION, decision_row(
            request_id, state, reason=reason, due_at=due_at, actor=SYSTEM,
            order_event_id=inserted.inserted_primary_key[0], now=now))
    db.session.commit()
    if seen_status is not None:
        seen_status_committed(seen_status)
    return EventResult(202, body, False)


def _schedule(
    conn: Connection,
    shop: AnyShop,
    order: Row[Any],
    customer: dict[str, Any],
    status: dict[str, Any],
    changed_at: datetime,
    request: RequestRow | None,
    rule: Rule,
    guards: Guards,
    now: datetime,
) -> RequestRow:
    """Rules 1, 2, 3 and 7: create (or schedule again) the order's request, or suppress it."""
    due_at = compute_due_at(changed_at, rule, now)
    email = normalize_email(customer["email"])
    # Rule 7 compares addresses by their keyed hash, which outlives an erasure.
    email_hash = customer_key(shop.id, email)
    consent = customer.get("review_consent", order.review_consent)
    _lock_customer(conn, shop.id, email)
    window = timedelta(days=max(guards.customer_window_days, 0))
    unsubscribed, recent, suppressed = conn.execute(
        _CHECKS[(guards.customer_window_days > 0, request is not None)],
        {
            "b_shop_id": shop.id,
            "b_email_hash": email_hash,
            "b_from": due_at - window,
            "b_to": due_at + window,
            "b_request_id": request.id if request else None,
        },
    ).one()
    reason = suppression_reason(
        review_consent=consent,
        require_consent=guards.require_consent,
        unsubscribed=bool(unsubscribed),
        recent_request=bool(recent),
        suppressed=suppressed,
    )
    state = RequestState.SCHEDULED.value if reason is None else RequestState.SUPPRESSED.value
    values = {
        "customer_email_normalized": email,
        "customer_email_hash": email_hash,
        "due_at": due_at,
        "state": state,
        "reason": reason,
        "next_attempt_at": due_at if reason is None else None,
        "trigger_status_id": status["id"],
        "trigger_status_name": status["name"],
        "triggered_at": changed_at,
    }
    if request is None:
        active = shop.active_rule
        inserted = conn.execute(
            _INSERT_REQUEST,
            {
                "shop_id": shop.id,
                "order_id": order.id,
                "rule_id": active.id if active else None,
                # Review Balancing split: fixed per order, never changed by a retry.
                "platform": choose_platform(shop, order.external_id),
                **values,
            },
        )
        request_id = inserted.inserted_primary_key[0]
    else:
        request_id = request.id
        conn.execute(_UPDATE_REQUEST, {"b_request_id": request_id, **values})
    return RequestRow(request_id, state, reason, due_at)


def _lock_customer(conn: Connection, shop_id: int, email: str) -> None:
    """Serialise the per-customer window check (rule 7) of one address in one shop.

    Two orders of one customer delivered at the same time lock different order rows; without
    this each would miss the other's new request and both would be scheduled. PostgreSQL: a
    transaction-level advisory lock on (shop, hash of the address), taken after the order and
    request locks, always in that order, in its own statement so that the checks that follow
    see what the previous holder committed. SQLite already runs one writer at a time.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_CUSTOMER, {"b_shop_id": shop_id, "b_email": email})


def _recent_request_query(exclude_request: bool) -> Any:
    """EXISTS: a request scheduled or sent for the address in the shop within the window
    (``b_from`` < sent or due time < ``b_to``), other than ``b_request_id`` if excluded."""
    when = func.coalesce(_requests.c.sent_at, _requests.c.due_at)
    query = select(_requests.c.id).where(
        _requests.c.shop_id == bindparam("b_shop_id"),
        _requests.c.customer_email_hash == bindparam("b_email_hash"),
        _requests.c.state.in_(_SENDING_OR_SENT),
        when > bindparam("b_from", type_=UTCDateTime),
        when < bindparam("b_to", type_=UTCDateTime),
    )
    if exclude_request:
        query = query.where(_requests.c.id != bindparam("b_request_id"))
    return query.exists()


_CHECKS = {
    # (window on, excluding the order's own request) -> the rule 7 checks in one query
    (True, False): select(_UNSUBSCRIBED, _recent_request_query(False), _SUPPRESSED),
    (True, True): select(_UNSUBSCRIBED, _recent_request_query(True), _SUPPRESSED),
    (False, False): select(_UNSUBSCRIBED, false(), _SUPPRESSED),
    (False, True): select(_UNSUBSCRIBED, false(), _SUPPRESSED),
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
