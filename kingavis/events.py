"""Applying one order-status event: the service behind the webhook (and any other caller).

Concurrency: the order row is created with INSERT … ON CONFLICT DO NOTHING and then locked
(SELECT … FOR UPDATE on PostgreSQL; SQLite transactions take the write lock up front), so
events of one order are applied one at a time. The unique constraints on
``review_requests.order_id`` and ``order_events (shop_id, webhook_id)`` are the last line of
defence; a conflict there is handled by re-reading, never by a second request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .delivery.service import choose_platform
from .extensions import db
from .models import (
    Order,
    OrderEvent,
    Reason,
    RequestDecision,
    RequestState,
    ReviewRequest,
    Shop,
    ShopStatus,
    Unsubscription,
    utcnow,
)
from .scheduling import Action, Guards, Rule, compute_due_at, decide, suppression_reason

log = logging.getLogger("kingavis.events")

OUTCOME_BY_ACTION = {
    Action.IGNORE_STALE: "ignored_stale",
    Action.CANCEL: "cancelled",
}


@dataclass(frozen=True)
class EventResult:
    status_code: int  # 202 applied, 200 replayed
    body: dict[str, Any]
    replayed: bool


def normalize_email(email: str) -> str:
    return email.strip().lower()


def shop_rule(shop: Shop) -> Rule | None:
    rule = shop.active_rule
    if rule is None:
        return None
    return Rule(
        trigger_status_ids=frozenset(rule.trigger_status_ids or ()),
        delay_days=rule.delay_days,
        send_hour=rule.send_hour,
        timezone=rule.timezone,
    )


def shop_guards(shop: Shop) -> Guards:
    return Guards(
        cancel_status_ids=frozenset(shop.cancel_status_ids or ()),
        require_consent=shop.require_consent,
        customer_window_days=shop.customer_window_days,
    )


def apply_status_event(
    shop: Shop,
    event: dict[str, Any],
    webhook_id: str,
    *,
    raw_payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> EventResult:
    """Store one validated status event and apply the scheduling rules. Commits.

    ``event`` is the webhook body as loaded by ``webhooks.schemas.OrderStatusEventSchema``
    (``data.changed_at`` an aware datetime); ``raw_payload`` is the body as received, kept
    on the event row for the order timeline.
    """
    for attempt in range(3):
        try:
            return _apply(shop, event, webhook_id, raw_payload, now or utcnow())
        except IntegrityError:
            # A concurrent delivery won a unique constraint; the retry sees its row.
            db.session.rollback()
            if attempt == 2:
                raise
        except Exception:
            # Nothing half-applied is left in the caller's session.
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


def _lock_order(shop: Shop, order_data: dict[str, Any]) -> Order:
    """Create the order row if needed and lock it, in one statement.

    ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` takes the row lock on PostgreSQL (a
    concurrent delivery of the same order waits here until this event commits); on SQLite the
    transaction already holds the write lock.
    """
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Order).values(
        shop_id=shop.id,
        external_id=order_data["id"],
        customer_email=order_data["customer"]["email"],
        created_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "external_id"],
        set_={"updated_at": now},  # a plain value: `excluded` would copy all 16 columns per call
    ).returning(Order)
    query = select(Order).from_statement(stmt).execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one()


def _lock_request(order: Order) -> ReviewRequest | None:
    """The order's request, locked on PostgreSQL until this event commits.

    The dispatcher moves a request from scheduled to sending and sent under its own row lock;
    without this lock an event that read `scheduled` could write `cancelled` over a request
    sent meanwhile (which a later trigger would then schedule, and send, again). With it, the
    event either goes first (the claim skips or re-reads the row) or sees the new state.
    """
    query = select(ReviewRequest).where(ReviewRequest.order_id == order.id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return db.session.execute(
        query.execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _replay(shop: Shop, webhook_id: str) -> EventResult | None:
    previous = db.session.execute(
        select(OrderEvent.response).where(
            OrderEvent.shop_id == shop.id, OrderEvent.webhook_id == webhook_id
        )
    ).scalar_one_or_none()
    if previous is None:
        return None
    return EventResult(200, previous, True)


def _apply(
    shop: Shop,
    event: dict[str, Any],
    webhook_id: str,
    raw_payload: dict[str, Any] | None,
    now: datetime,
) -> EventResult:
    data = event["data"]
    order_data = data["order"]
    status = data["status"]
    changed_at: datetime = data["changed_at"].astimezone(UTC)
    status_id = status["id"]

    # A webhook id already applied changes nothing, not even an order row for its body.
    replay = _replay(shop, webhook_id)
    if replay is not None:
        db.session.commit()
        return replay
    # A concurrent delivery of the same id that wins the race makes this one fail on the
    # unique (shop_id, webhook_id) constraint at commit; the retry then finds it above.
    order = _lock_order(shop, order_data)

    request = _lock_request(order)
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

    order_event = OrderEvent(
        shop_id=shop.id,
        order_id=order.id,
        webhook_id=webhook_id,
        status_id=status_id,
        status_name=status["name"],
        status_paid=status.get("paid"),
        status_shipped=status.get("shipped"),
        previous_status_id=(data.get("previous_status") or {}).get("id"),
        changed_at=changed_at,
        received_at=now,
        stale=action is Action.IGNORE_STALE,
        outcome="",
        response={},
        payload=raw_payload if raw_payload is not None else _jsonable(event),
    )

    if action is not Action.IGNORE_STALE:
        _update_order(order, order_data, status, changed_at)
        if status.get("paid") is None:
            # The module did not say: use what we know of this status (the preset's flags, or
            # what the shop sent before), so rule 5 still sees "awaiting payment" as unpaid.
            order.latest_status_paid = _known_paid(shop, status["id"])
        seen_status = _remember_status(shop, status, now)
    else:
        seen_status = None

    outcome: str
    if action is Action.CANCEL:
        assert request is not None
        _set_state(request, RequestState.CANCELLED, Reason.ORDER_CANCELLED.value, order_event, now)
        outcome = "cancelled"
    elif action in (Action.CREATE, Action.RESCHEDULE):
        assert rule is not None
        due_at = compute_due_at(changed_at, rule, now)
        email = normalize_email(order.customer_email)
        if request is None:
            request = ReviewRequest(
                shop_id=shop.id,
                order_id=order.id,
                customer_email_normalized=email,
                rule_id=shop.active_rule.id if shop.active_rule else None,
                due_at=due_at,
                state=RequestState.SCHEDULED.value,
                # Review Balancing split: fixed per order, never changed by a retry.
                platform=choose_platform(shop, order.external_id),
            )
            db.session.add(request)
            db.session.flush()  # an id, so the window check below does not find itself
        request.customer_email_normalized = email
        request.due_at = due_at
        request.trigger_status_id = status_id
        request.trigger_status_name = status["name"]
        request.triggered_at = changed_at
        _lock_customer(shop, email)
        reason = suppression_reason(
            review_consent=order.review_consent,
            require_consent=guards.require_consent,
            unsubscribed=_unsubscribed(shop, email),
            recent_request=_recent_request(shop, email, request.id, due_at, guards),
        )
        if reason is None:
            _set_state(request, RequestState.SCHEDULED, None, order_event, now)
            request.next_attempt_at = due_at
            outcome = "scheduled"
        else:
            _set_state(request, RequestState.SUPPRESSED, reason, order_event, now)
            outcome = "suppressed"
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
    # Added last, complete: one INSERT (a decision above may already have cascaded it in).
    order_event.outcome = outcome
    order_event.response = body
    db.session.add(order_event)
    db.session.commit()
    if seen_status is not None:
        # Only once committed: a rolled-back transaction must not count as recorded.
        _seen_statuses[seen_status[0]] = seen_status[1]
    return EventResult(202, body, False)


def _update_order(
    order: Order, order_data: dict[str, Any], status: dict[str, Any], changed_at: datetime
) -> None:
    customer = order_data["customer"]
    order.customer_email = customer["email"]
    for attr, key in (
        ("customer_first_name", "first_name"),
        ("customer_last_name", "last_name"),
        ("customer_locale", "locale"),
        ("review_consent", "review_consent"),
    ):
        if key in customer:
            setattr(order, attr, customer[key])
    if order_data.get("reference") is not None:
        order.reference = order_data["reference"]
    if order_data.get("placed_at") is not None:
        order.placed_at = order_data["placed_at"]
    order.latest_status_id = status["id"]
    order.latest_status_name = status["name"]
    order.latest_status_paid = status.get("paid")
    order.latest_changed_at = changed_at


def _set_state(
    request: ReviewRequest,
    state: RequestState,
    reason: str | None,
    order_event: OrderEvent | None,
    now: datetime,
    actor: str = "system",
) -> None:
    request.state = state.value
    request.reason = reason
    if state is not RequestState.SCHEDULED:
        request.next_attempt_at = None
    db.session.flush()  # the request needs its id for the decision row
    db.session.add(
        RequestDecision(
            review_request_id=request.id,
            order_event=order_event,
            state=state.value,
            reason=reason,
            due_at=request.due_at,
            actor=actor,
            created_at=now,
        )
    )


def _lock_customer(shop: Shop, email: str) -> None:
    """Serialise the per-customer window check (rule 7) of one address in one shop.

    Two orders of one customer delivered at the same time lock different order rows; without
    this each would miss the other's new request and both would be scheduled. PostgreSQL: a
    transaction-level advisory lock on (shop, hash of the address), taken after the order and
    request locks, always in that order. SQLite already runs one writer at a time.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(shop.id, func.hashtext(email))))


def _unsubscribed(shop: Shop, email: str) -> bool:
    return (
        db.session.execute(
            select(Unsubscription.id).where(
                Unsubscription.shop_id == shop.id, Unsubscription.email_normalized == email
            )
        ).first()
        is not None
    )


def _recent_request(
    shop: Shop, email: str, request_id: int | None, due_at: datetime, guards: Guards
) -> bool:
    window = timedelta(days=guards.customer_window_days)
    if guards.customer_window_days <= 0:
        return False
    when = func.coalesce(ReviewRequest.sent_at, ReviewRequest.due_at)
    query = select(ReviewRequest.id).where(
        ReviewRequest.shop_id == shop.id,
        ReviewRequest.customer_email_normalized == email,
        ReviewRequest.state.in_(
            [RequestState.SCHEDULED.value, RequestState.SENDING.value, RequestState.SENT.value]
        ),
        and_(when > due_at - window, when < due_at + window),
    )
    if request_id is not None:
        query = query.where(ReviewRequest.id != request_id)
    return db.session.execute(query.limit(1)).first() is not None


# Statuses already recorded by this process: (shop id, status id) -> (name, paid, shipped).
_seen_statuses: dict[tuple[str, str], tuple[str, bool | None, bool | None]] = {}


StatusKey = tuple[str, str]
StatusValue = tuple[str, bool | None, bool | None]


def _known_paid(shop: Shop, status_id: str) -> bool | None:
    return db.session.execute(
        select(ShopStatus.paid).where(ShopStatus.shop_id == shop.id, ShopStatus.status_id == status_id)
    ).scalar_one_or_none()


def _remember_status(
    shop: Shop, status: dict[str, Any], now: datetime
) -> tuple[StatusKey, StatusValue] | None:
    """Keep the shop's list of statuses (name and flags) up to date for the back-office.

    Returns the cache entry to remember once the transaction commits (None: already known).
    """
    key = (shop.key, status["id"])
    value = (status["name"], status.get("paid"), status.get("shipped"))
    if _seen_statuses.get(key) == value:
        return None
    row = db.session.execute(
        select(ShopStatus).where(ShopStatus.shop_id == shop.id, ShopStatus.status_id == status["id"])
    ).scalar_one_or_none()
    if row is None:
        dialect = db.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        db.session.execute(
            insert(ShopStatus)
            .values(shop_id=shop.id, status_id=status["id"], name=status["name"],
                    paid=status.get("paid"), shipped=status.get("shipped"), last_seen_at=now)
            .on_conflict_do_nothing(index_elements=["shop_id", "status_id"])
        )
    else:
        row.name = status["name"]
        if status.get("paid") is not None:
            row.paid = status["paid"]
        if status.get("shipped") is not None:
            row.shipped = status["shipped"]
        row.last_seen_at = now
    return key, value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
