"""The queries behind the back-office lists of review requests, and a request by its token.

Usable from views, the CLI and jobs alike: nothing here needs a request context.

- ``PendingFilter`` + ``pending_query``: scheduled requests of a shop, with the back-office
  filters (due this week / within N days, order unpaid, not delivered, current status, no status
  change for more than N days, open status, search by reference or email).
- ``HistoryFilter`` + ``history_query``: sent, cancelled, suppressed and failed requests.
- ``search_orders``: the shop's orders, by reference or email.
- ``request_by_token``: the request a customer's link names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from kingavis.extensions import db
from kingavis.models import Order, RequestState, ReviewRequest, Shop, ShopStatus, utcnow

# Tokens are URL-safe base64 (models.new_token).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

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
    for chunk in chunks(wanted):
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


def chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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


def request_by_token(token: str) -> ReviewRequest | None:
    """The review request a customer's link names by its token, or None. Tokens are URL-safe
    base64 (``models.new_token``); anything else is not looked up."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    return db.session.execute(
        select(ReviewRequest).where(ReviewRequest.token == token)
    ).scalar_one_or_none()
