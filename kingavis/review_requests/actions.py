"""Merchant actions on review requests, and the queries behind the back-office lists.

Usable from views, the CLI and jobs alike: nothing here needs a request context.

- ``PendingFilter`` + ``pending_query``: scheduled requests of a shop, with the back-office
  filters (due this week / within N days, order unpaid, not delivered, current status, no status
  change for more than N days, open status, search by reference or email).
- ``cancel`` / ``send_now`` / ``postpone``: apply to the given request ids of one shop, only to
  those still ``scheduled`` (a request the dispatcher claimed meanwhile is left alone), record a
  ``RequestDecision`` per changed request and one audit entry with the count. They commit.
- ``HistoryFilter`` + ``history_query``: sent, cancelled, suppressed and failed requests.
- ``timeline``: everything that happened to one order, in time order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, insert, or_, select, update
from sqlalchemy.orm import contains_eager, selectinload

from kingavis.accounts import audit
from kingavis.customer_keys import customer_key
from kingavis.extensions import db
from kingavis.models import (
    Order,
    OrderEvent,
    Reason,
    RequestDecision,
    RequestState,
    Review,
    ReviewRequest,
    Shop,
    ShopStatus,
    User,
    utcnow,
)
from kingavis.orders.events import normalize_email
from kingavis.privacy.unsubscriptions import unsubscribed_at
from kingavis.review_requests import lifecycle
from kingavis.review_requests.lifecycle import decision_row
from kingavis.review_requests.notes import NoteCode

MIN_POSTPONE_DAYS = 1
MAX_POSTPONE_DAYS = 365
# "Stuck" in the weekly check: no status change for more than this many days.
STUCK_DAYS = 7
# "Due soon" in the weekly check.
DUE_SOON_DAYS = 7

HISTORY_STATES = (
    RequestState.SENT.value,
    RequestState.CANCELLED.value,
    RequestState.SUPPRESSED.value,
    RequestState.FAILED.value,
)


class ActionError(ValueError):
    """Invalid action input; the message is meant for the person who gave it."""


class Action(enum.StrEnum):
    CANCEL = "cancel"
    SEND_NOW = "send_now"
    POSTPONE = "postpone"


@dataclass(frozen=True)
class ActionResult:
    action: Action
    requested: int  # the shop's own requests among the ids asked for, whatever their state
    changed_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.changed_ids)

    @property
    def skipped(self) -> int:
        return self.requested - self.changed


# --------------------------------------------------------------------------- pending list


@dataclass(frozen=True)
class PendingFilter:
    """Filters of the pending list; every one is optional and they combine (AND)."""

    due_this_week: bool = False  # due before the end of the shop's current week (Sunday)
    due_within_days: int | None = None  # due before now + N days (overdue included)
    unpaid: bool = False  # the order's latest status has paid: false
    undelivered: bool = False  # latest status neither a trigger of the active rule nor shipped
    open_status: bool = False  # latest status neither a trigger nor a cancel status
    status_id: str | None = None  # the order's current status
    stale_days: int | None = None  # no status change for more than N days
    q: str | None = None  # order reference or customer email, case-insensitive substring

    def is_empty(self) -> bool:
        return self == PendingFilter()

    def reads_orders(self) -> bool:
        """Whether a filter is on the order (its status, dates, reference or address): the
        others are on the request alone."""
        return bool(self.unpaid or self.undelivered or self.open_status or self.status_id
                    or self.stale_days is not None or (self.q and self.q.strip()))


def week_end(shop: Shop, now: datetime) -> datetime:
    """The end of the shop's current week (next Monday 00:00 in its time zone), in UTC."""
    zone = ZoneInfo(shop.timezone)
    local = now.astimezone(zone)
    monday = local.date() + timedelta(days=7 - local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone).astimezone(UTC)


def final_status_ids(shop: Shop) -> set[str]:
    """Statuses after which nothing more is expected: the active rule's triggers and cancels."""
    rule = shop.active_rule
    triggers = set(rule.trigger_status_ids or ()) if rule is not None else set()
    return triggers | set(shop.cancel_status_ids or ())


def _search(q: str) -> Any:
    q = q.strip()
    return or_(
        Order.reference.icontains(q, autoescape=True),
        Order.customer_email.icontains(q, autoescape=True),
    )


def _latest_status_shipped() -> Any:
    return exists().where(
        ShopStatus.shop_id == Order.shop_id,
        ShopStatus.status_id == Order.latest_status_id,
        ShopStatus.shipped.is_(True),
    )


def pending_conditions(shop: Shop, flt: PendingFilter, now: datetime) -> list[Any]:
    """WHERE conditions over ReviewRequest joined to Order."""
    conditions: list[Any] = [
        ReviewRequest.shop_id == shop.id,
        ReviewRequest.state == RequestState.SCHEDULED.value,
    ]
    if flt.due_this_week:
        conditions.append(ReviewRequest.due_at < week_end(shop, now))
    if flt.due_within_days is not None:
        conditions.append(ReviewRequest.due_at <= now + timedelta(days=flt.due_within_days))
    if flt.unpaid:
        conditions.append(Order.latest_status_paid.is_(False))
    rule = shop.active_rule
    triggers = list(rule.trigger_status_ids or ()) if rule is not None else []
    if flt.undelivered:
        conditions.append(~_latest_status_shipped())
        if triggers:
            conditions.append(
                or_(Order.latest_status_id.is_(None), Order.latest_status_id.not_in(triggers))
            )
    if flt.open_status:
        final = sorted(final_status_ids(shop))
        if final:
            conditions.append(
                or_(Order.latest_status_id.is_(None), Order.latest_status_id.not_in(final))
            )
    if flt.status_id:
        conditions.append(Order.latest_status_id == flt.status_id)
    if flt.stale_days is not None:
        conditions.append(Order.latest_changed_at < now - timedelta(days=flt.stale_days))
    if flt.q and flt.q.strip():
        conditions.append(_search(flt.q))
    return conditions


def pending_query(shop: Shop, flt: PendingFilter, now: datetime | None = None) -> Select[Any]:
    """Scheduled requests of ``shop`` matching ``flt`` (with their order), soonest due first."""
    now = now or utcnow()
    query = (
        select(ReviewRequest)
        .where(*pending_conditions(shop, flt, now))
        .order_by(ReviewRequest.due_at, ReviewRequest.id)
    )
    if flt.reads_orders():
        return query.join(ReviewRequest.order).options(contains_eager(ReviewRequest.order))
    # Unfiltered by the order: the page's orders in one more query, so that counting the
    # pages reads the requests' index alone, not every order of the shop (docs/performance.md).
    return query.options(selectinload(ReviewRequest.order))


def count_pending(shop: Shop, flt: PendingFilter, now: datetime | None = None) -> int:
    now = now or utcnow()
    query = (
        select(func.count(ReviewRequest.id))
        .join(ReviewRequest.order)
        .where(*pending_conditions(shop, flt, now))
    )
    return int(db.session.execute(query).scalar_one())


def matching_ids(shop: Shop, flt: PendingFilter, now: datetime | None = None) -> list[int]:
    """Ids of the scheduled requests matching ``flt`` now (the server-side re-run of a filter)."""
    now = now or utcnow()
    query = (
        select(ReviewRequest.id)
        .join(ReviewRequest.order)
        .where(*pending_conditions(shop, flt, now))
        .order_by(ReviewRequest.id)
    )
    return list(db.session.execute(query).scalars())


def scheduled_among(shop: Shop, ids: Iterable[int]) -> list[int]:
    """Which of ``ids`` are this shop's requests and still scheduled."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return []
    found: list[int] = []
    for chunk in _chunks(wanted):
        found.extend(
            db.session.execute(
                select(ReviewRequest.id).where(
                    ReviewRequest.shop_id == shop.id,
                    ReviewRequest.id.in_(chunk),
                    ReviewRequest.state == RequestState.SCHEDULED.value,
                )
            ).scalars()
        )
    return sorted(found)


# --------------------------------------------------------------------------- actions


def validate_postpone_days(days: Any) -> int:
    """The number of days to postpone by, as an int in 1..365, or ActionError."""
    try:
        value = int(str(days).strip())
    except (TypeError, ValueError):
        raise ActionError(
            f"le nombre de jours doit être un entier entre {MIN_POSTPONE_DAYS} et {MAX_POSTPONE_DAYS}"
        ) from None
    if not MIN_POSTPONE_DAYS <= value <= MAX_POSTPONE_DAYS:
        raise ActionError(
            f"le nombre de jours doit être entre {MIN_POSTPONE_DAYS} et {MAX_POSTPONE_DAYS}, "
            f"reçu {value}"
        )
    return value


def cancel(
    shop: Shop,
    request_ids: Iterable[int],
    *,
    user: User | None = None,
    actor: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Cancel by the merchant (reason merchant_cancelled: never rescheduled). Commits."""
    return apply(shop, Action.CANCEL, request_ids, user=user, actor=actor, note=note, now=now)


def send_now(
    shop: Shop,
    request_ids: Iterable[int],
    *,
    user: User | None = None,
    actor: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Make the requests due now: the dispatcher sends them on its next tick. Commits."""
    return apply(shop, Action.SEND_NOW, request_ids, user=user, actor=actor, note=note, now=now)


def postpone(
    shop: Shop,
    request_ids: Iterable[int],
    days: int,
    *,
    user: User | None = None,
    actor: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Move the due time N days later (from now if already overdue). Commits."""
    return apply(
        shop, Action.POSTPONE, request_ids, days=days, user=user, actor=actor, note=note, now=now
    )


def apply(
    shop: Shop,
    action: Action | str,
    request_ids: Iterable[int],
    *,
    days: int | None = None,
    user: User | None = None,
    actor: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Apply ``action`` to the shop's requests among ``request_ids`` that are still scheduled.

    Other shops' ids are ignored. Rows are locked (PostgreSQL; SQLite transactions are
    single-writer) and every UPDATE repeats ``state = 'scheduled'``, so a request the
    dispatcher claimed meanwhile is not touched. Commits; on error rolls back and changes nothing.
    """
    try:
        action = Action(action)
    except ValueError:
        raise ActionError(f"action inconnue : {action!r}") from None
    if action is Action.POSTPONE:
        days = validate_postpone_days(days)
    now = now or utcnow()
    actor = actor or (user.email if user is not None else "system")
    wanted = sorted({int(i) for i in request_ids})
    try:
        own = _own(shop, wanted)
        rows = _lock_scheduled(shop, own)
        default_code, default_args = _default_note(action, days)
        why = {"note": note or None, "note_code": None if note else default_code,
               "note_args": None if note else default_args, "actor": actor, "now": now}
        if action is Action.CANCEL:
            # A state change: the lifecycle's writer moves them and writes their timeline rows.
            changed = _cancel(rows, why)
        else:
            changed = _update(action, rows, days, now)
            # The state stays scheduled: a timeline row each, built by the lifecycle.
            decisions = [decision_row(request_id, state, reason=reason, due_at=due_at, **why)
                         for request_id, state, reason, due_at in changed]
            if decisions:
                db.session.execute(insert(RequestDecision), decisions)
        changed_ids = [row[0] for row in changed]
        if changed_ids:
            details: dict[str, Any] = {"count": len(changed_ids), "requested": len(own)}
            if days is not None:
                details["days"] = days
            details["ids"] = changed_ids[:200]
            audit.record(
                user,
                f"review_requests.{action.value}",
                shop=shop,
                target_type="review_request",
                target_id=changed_ids[0] if len(changed_ids) == 1 else None,
                details=details,
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return ActionResult(action=action, requested=len(own), changed_ids=changed_ids)


def _default_note(action: Action, days: int | None) -> tuple[NoteCode | None, dict[str, Any] | None]:
    """The note King-Avis writes when the merchant wrote none: a code, worded on display."""
    if action is Action.CANCEL:
        return None, None  # the reason, merchant_cancelled, says it all
    if action is Action.SEND_NOW:
        return NoteCode.SEND_NOW_BY_MERCHANT, None
    return NoteCode.POSTPONED_BY_MERCHANT, {"days": days}


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _own(shop: Shop, ids: Sequence[int]) -> list[int]:
    """The ids among ``ids`` that are this shop's requests (other shops' are ignored)."""
    own: list[int] = []
    for chunk in _chunks(ids):
        own.extend(
            db.session.execute(
                select(ReviewRequest.id).where(
                    ReviewRequest.shop_id == shop.id, ReviewRequest.id.in_(chunk)
                )
            ).scalars()
        )
    return sorted(own)


def _lock_scheduled(shop: Shop, ids: Sequence[int]) -> list[tuple[int, datetime]]:
    """(id, due_at) of the shop's still-scheduled requests among ``ids``, locked until commit."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    rows: list[tuple[int, datetime]] = []
    for chunk in _chunks(ids):
        query = (
            select(ReviewRequest.id, ReviewRequest.due_at)
            .where(
                ReviewRequest.shop_id == shop.id,
                ReviewRequest.id.in_(chunk),
                ReviewRequest.state == RequestState.SCHEDULED.value,
            )
            .order_by(ReviewRequest.id)
        )
        if postgres:
            # Waits for a claim in progress; a claimed row then no longer matches and is skipped.
            query = query.with_for_update(of=ReviewRequest)
        rows.extend((r[0], r[1]) for r in db.session.execute(query).all())
    return rows


def _cancel(rows: list[tuple[int, datetime]], why: dict[str, Any]
            ) -> list[tuple[int, str, str | None, datetime]]:
    """Cancel by the merchant (``merchant_cancelled``) the requests still scheduled, through
    the lifecycle; returns (id, state, reason, due_at) of those changed."""
    changed: list[tuple[int, str, str | None, datetime]] = []
    for chunk in _chunks(sorted(request_id for request_id, _ in rows)):
        for request_id, due_at in lifecycle.transition_where(
            chunk, RequestState.CANCELLED, only_from=(RequestState.SCHEDULED,),
            reason=Reason.MERCHANT_CANCELLED.value, values={"next_attempt_at": None}, **why,
        ):
            changed.append((request_id, RequestState.CANCELLED.value,
                            Reason.MERCHANT_CANCELLED.value, due_at))
    _forget_loaded(changed)
    return sorted(changed)


def _update(
    action: Action, rows: list[tuple[int, datetime]], days: int | None, now: datetime
) -> list[tuple[int, str, str | None, datetime]]:
    """Postpone or send now (the state stays scheduled): the guarded UPDATEs; returns (id, state,
    reason, due_at) of the changed requests."""
    if not rows:
        return []
    guard = ReviewRequest.state == RequestState.SCHEDULED.value
    changed: list[tuple[int, str, str | None, datetime]] = []
    if action is Action.POSTPONE:
        assert days is not None
        for request_id, due_at in rows:
            new_due = max(due_at, now) + timedelta(days=days)
            result = db.session.execute(
                update(ReviewRequest)
                .where(ReviewRequest.id == request_id, guard)
                .values(due_at=new_due, next_attempt_at=new_due, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                changed.append((request_id, RequestState.SCHEDULED.value, None, new_due))
        return changed
    due = {request_id: due_at for request_id, due_at in rows}
    values = {"due_at": now, "next_attempt_at": now, "updated_at": now}  # send now
    for chunk in _chunks(sorted(due)):
        ids = list(
            db.session.execute(
                update(ReviewRequest)
                .where(ReviewRequest.id.in_(chunk), guard)
                .values(**values)
                .returning(ReviewRequest.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        for request_id in sorted(ids):
            changed.append((request_id, RequestState.SCHEDULED.value, None, now))
    _forget_loaded(changed)
    return changed


def _forget_loaded(changed: list[tuple[int, str, str | None, datetime]]) -> None:
    """Objects already in the session must not keep showing the old values."""
    ids = {row[0] for row in changed}
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, ReviewRequest) and obj.id in ids:
            db.session.expire(obj)


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryFilter:
    state: str | None = None  # one of HISTORY_STATES
    reason: str | None = None  # a Reason value
    date_from: date | None = None  # in the shop's time zone, inclusive
    date_to: date | None = None  # inclusive
    q: str | None = None


def history_date() -> Any:
    """When a finished request ended: sent_at for a sent one, else its last change."""
    return func.coalesce(ReviewRequest.sent_at, ReviewRequest.updated_at)


def history_query(shop: Shop, flt: HistoryFilter) -> Select[Any]:
    """Finished requests (sent, cancelled, suppressed, failed), most recent first."""
    zone = ZoneInfo(shop.timezone)
    when = history_date()
    conditions: list[Any] = [ReviewRequest.shop_id == shop.id]
    if flt.state:
        conditions.append(ReviewRequest.state == flt.state)
    else:
        conditions.append(ReviewRequest.state.in_(HISTORY_STATES))
    if flt.reason:
        conditions.append(ReviewRequest.reason == flt.reason)
    if flt.date_from:
        start = datetime.combine(flt.date_from, time(0), tzinfo=zone).astimezone(UTC)
        conditions.append(when >= start)
    if flt.date_to:
        end = datetime.combine(flt.date_to + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        conditions.append(when < end)
    if flt.q and flt.q.strip():
        conditions.append(_search(flt.q))
    return (
        select(ReviewRequest)
        .join(ReviewRequest.order)
        .options(contains_eager(ReviewRequest.order))
        .where(*conditions)
        .order_by(when.desc(), ReviewRequest.id.desc())
    )


# --------------------------------------------------------------------------- orders, timeline


def search_orders(shop: Shop, q: str | None) -> Select[Any]:
    """The shop's orders, most recent first, optionally matching a reference or email."""
    # The list shows each order's request: loaded with the page in one more query, not one
    # query per row (docs/performance.md).
    query = select(Order).where(Order.shop_id == shop.id).options(selectinload(Order.review_request))
    if q and q.strip():
        query = query.where(_search(q))
    return query.order_by(Order.updated_at.desc(), Order.id.desc())


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "event" | "decision" | "email" | "opened" | "clicked" | "review" | "unsubscribed"
    event: OrderEvent | None = None
    decision: RequestDecision | None = None
    email: dict[str, Any] | None = None
    review: Any = None  # the Review, for kind "review"


def timeline(order: Order) -> list[TimelineEntry]:
    """Status events, decisions on the order's request and emails sent, in time order."""
    entries: list[TimelineEntry] = []
    events = db.session.execute(
        select(OrderEvent)
        .where(OrderEvent.order_id == order.id)
        .order_by(OrderEvent.received_at, OrderEvent.id)
    ).scalars()
    for ev in events:
        entries.append(TimelineEntry(at=ev.received_at, kind="event", event=ev))
    request = order.review_request
    if request is not None:
        decisions = db.session.execute(
            select(RequestDecision)
            .where(RequestDecision.review_request_id == request.id)
            .order_by(RequestDecision.created_at, RequestDecision.id)
        ).scalars()
        for decision in decisions:
            entries.append(TimelineEntry(at=decision.created_at, kind="decision", decision=decision))
        if request.sent_at is not None:
            entries.append(
                TimelineEntry(
                    at=request.sent_at,
                    kind="email",
                    email={"what": "invitation", "sent_at": request.sent_at,
                           "message_id": request.message_id},
                )
            )
        if request.reminder_sent_at is not None:
            entries.append(
                TimelineEntry(
                    at=request.reminder_sent_at,
                    kind="email",
                    email={"what": "reminder", "sent_at": request.reminder_sent_at,
                           "message_id": None},
                )
            )
        # After the email: the customer's side, as far as King-Avis knows it.
        if request.opened_at is not None:
            entries.append(TimelineEntry(at=request.opened_at, kind="opened"))
        if request.clicked_at is not None:
            entries.append(TimelineEntry(at=request.clicked_at, kind="clicked"))
        review = db.session.execute(
            select(Review).where(Review.review_request_id == request.id,
                                 Review.product_id.is_(None))
        ).scalar_one_or_none()
        if review is not None:
            entries.append(TimelineEntry(at=review.created_at, kind="review", review=review))
    address = normalize_email(order.customer_email)
    left_at = unsubscribed_at(order.shop_id, customer_key(order.shop_id, address)) if address else None
    if left_at is not None:
        entries.append(TimelineEntry(at=left_at, kind="unsubscribed"))
    rank = {"event": 0, "decision": 1, "email": 2, "opened": 3, "clicked": 4, "review": 5,
            "unsubscribed": 6}

    def key(entry: TimelineEntry) -> tuple[datetime, int, int]:
        row = entry.event or entry.decision
        return (entry.at, rank[entry.kind], row.id if row is not None else 0)

    return sorted(entries, key=key)


# Exported for templates and the CLI alike.
__all__ = [
    "Action",
    "ActionError",
    "ActionResult",
    "HistoryFilter",
    "PendingFilter",
    "apply",
    "cancel",
    "count_pending",
    "history_query",
    "matching_ids",
    "pending_query",
    "postpone",
    "scheduled_among",
    "search_orders",
    "send_now",
    "timeline",
    "validate_postpone_days",
    "week_end",
]
