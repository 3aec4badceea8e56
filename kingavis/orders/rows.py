"""The order event's statements on its order, request and event rows (``kingavis.orders.events``).

PostgreSQL makes an ordinary event three statements and a COMMIT: the order and its request
locked in one (``lock_order``), the shop's status recorded when this process has not yet,
and the order's UPDATE sent with the event's INSERT as one statement (``insert_event``).
Each statement is a round trip, and on a loaded machine the round trips, not the SQL, are
most of a webhook's time (bench/README.md). SQLite keeps one statement per step: its
transactions hold the single write lock from their start, and nothing waits in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Integer,
    Row,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import (
    column as sql_column,
)

from kingavis.models import (
    Order,
    OrderEvent,
    ReviewRequest,
    ShopStatus,
    UTCDateTime,
    request_outcome,
    utcnow,
)

_orders = Order.__table__
_events = OrderEvent.__table__
_requests = ReviewRequest.__table__
_statuses = ShopStatus.__table__

# The order's upsert, skipped when this webhook id was already applied (a replay).
_UPSERT_ORDER = (
    "INSERT INTO orders (shop_id, external_id, customer_email, created_at, updated_at) "
    "SELECT :shop_id, :external_id, :customer_email, :now, :now "
    "WHERE NOT EXISTS (SELECT 1 FROM order_events "
    "WHERE shop_id = :shop_id AND webhook_id = :webhook_id) "
    "ON CONFLICT (shop_id, external_id) DO UPDATE SET updated_at = :now "
)


def of_shop(column: Any, key: Any, parameter: str) -> Any:
    """``SELECT column FROM its table WHERE shop_id = :b_shop_id AND key = :parameter``: the
    one shape of the per-shop lookups the event's statements embed."""
    return select(column).where(column.table.c.shop_id == bindparam("b_shop_id"),
                                key == bindparam(parameter))


# No row back: this webhook id was already applied (a replay), and the order is left alone.
_LOCK_ORDER = (
    text(
        _UPSERT_ORDER  # noqa: S608 (constant text; the values are bound parameters)
        + "RETURNING id, external_id, review_consent, latest_changed_at, "
        "(SELECT settings_version FROM shops WHERE id = :shop_id) AS shop_version"
    )
    .bindparams(bindparam("now", type_=UTCDateTime))
    .columns(
        _orders.c.id, _orders.c.external_id, _orders.c.review_consent, _orders.c.latest_changed_at,
        sql_column("shop_version", Integer),
    )
)
# PostgreSQL: the order and its request locked in one statement, in that order (the lateral
# read runs for the order row the upsert returns). The whole statement reads one snapshot,
# taken before the upsert waited for a concurrent event of the order: a request that event
# inserted is invisible to the lateral read, where the upsert itself sees and locks the newest
# order row. ``current`` says whether the order row this statement's snapshot sees is the one
# the upsert replaced (its ``xmax`` is this transaction's, as the returned row's is), or the
# order is new; when it is not, ``lock_order`` reads the request again in a statement of its own.
# A request row the snapshot sees is read as it is now: FOR UPDATE follows its updates.
_LOCK_ORDER_AND_REQUEST = (
    text(
        "WITH o AS ("  # noqa: S608 (constant text; the values are bound parameters)
        + _UPSERT_ORDER
        + "RETURNING id, external_id, review_consent, latest_changed_at, xmax) "
        "SELECT o.id, o.external_id, o.review_consent, o.latest_changed_at, "
        "(SELECT settings_version FROM shops WHERE id = :shop_id) AS shop_version, "
        "(o.xmax = '0'::xid OR EXISTS (SELECT 1 FROM orders s "
        "WHERE s.id = o.id AND s.xmax = o.xmax)) AS current, "
        "r.id AS request_id, r.state AS request_state, r.reason AS request_reason, "
        "r.due_at AS request_due_at "
        "FROM o LEFT JOIN LATERAL (SELECT id, state, reason, due_at FROM review_requests "
        "WHERE order_id = o.id FOR UPDATE) r ON true"
    )
    .bindparams(bindparam("now", type_=UTCDateTime))
    .columns(
        _orders.c.id, _orders.c.external_id, _orders.c.review_consent, _orders.c.latest_changed_at,
        sql_column("shop_version", Integer), sql_column("current", Boolean),
        _requests.c.id.label("request_id"), _requests.c.state.label("request_state"),
        _requests.c.reason.label("request_reason"), _requests.c.due_at.label("request_due_at"),
    )
)
_REQUEST = select(
    _requests.c.id, _requests.c.state, _requests.c.reason, _requests.c.due_at
).where(_requests.c.order_id == bindparam("b_order_id"))
_REQUEST_FOR_UPDATE = _REQUEST.with_for_update()
_UPDATE_ORDER = update(_orders).where(_orders.c.id == bindparam("b_order_id"))
# The module did not say whether the status is paid: use what is known of it (the preset's
# flags, or what the shop sent before), so rule 5 still sees "awaiting payment" as unpaid.
_KNOWN_PAID = of_shop(_statuses.c.paid, _statuses.c.status_id, "b_status_id").scalar_subquery()
_UPDATE_ORDER_KNOWN_PAID = _UPDATE_ORDER.values(latest_status_paid=_KNOWN_PAID)
# The order's items: the latest list received wins, whatever the event's age
# (docs/product-reviews.md).
_SET_ITEMS = update(_orders).where(_orders.c.id == bindparam("b_order_id"))
_INSERT_EVENT = insert(_events)


@dataclass(frozen=True)
class RequestRow:
    """The order's review request as this event leaves it (what the outcome object shows)."""

    id: int
    state: str
    reason: str | None
    due_at: datetime

    def to_outcome(self) -> dict[str, Any]:
        return request_outcome(self.id, self.state, self.reason, self.due_at)


def lock_order(
    conn: Connection, shop_id: int, webhook_id: str, order_data: dict[str, Any]
) -> tuple[Row[Any] | None, RequestRow | None]:
    """Create the order row if needed and lock it, then its request, unless the webhook id was
    seen. Returns the order row as it was before this event (None when an event with this
    webhook id is already stored: nothing written) and its request.

    ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` takes the row lock on PostgreSQL (a
    concurrent delivery of the same order waits here until this event commits); on SQLite the
    transaction already holds the write lock. On PostgreSQL the request comes in the same
    statement (``_LOCK_ORDER_AND_REQUEST``): one round trip, except after waiting for a
    concurrent event of the order, when it is read again with a fresh snapshot.
    """
    values = {
        "shop_id": shop_id,
        "webhook_id": webhook_id,
        "external_id": order_data["id"],
        "customer_email": order_data["customer"]["email"],
        "now": utcnow(),
    }
    if conn.dialect.name != "postgresql":
        order = conn.execute(_LOCK_ORDER, values).one_or_none()
        return order, None if order is None else _lock_request(conn, order.id)
    order = conn.execute(_LOCK_ORDER_AND_REQUEST, values).one_or_none()
    if order is None:
        return None, None
    if not order.current:
        return order, _lock_request(conn, order.id)
    if order.request_id is None:
        return order, None
    return order, RequestRow(
        order.request_id, order.request_state, order.request_reason, order.request_due_at
    )


def _lock_request(conn: Connection, order_id: int) -> RequestRow | None:
    """The order's request, locked on PostgreSQL until this event commits.

    The dispatcher moves a request from scheduled to sending and sent under its own row lock;
    without this lock an event that read `scheduled` could write `cancelled` over a request
    sent meanwhile (which a later trigger would then schedule, and send, again). With it, the
    event either goes first (the claim skips or re-reads the row) or sees the new state.
    """
    query = _REQUEST_FOR_UPDATE if conn.dialect.name == "postgresql" else _REQUEST
    row = conn.execute(query, {"b_order_id": order_id}).one_or_none()
    return None if row is None else RequestRow(row.id, row.state, row.reason, row.due_at)


def order_columns(
    order_data: dict[str, Any], status: dict[str, Any], changed_at: datetime
) -> dict[str, Any]:
    """The order's columns as this (newest) event describes them; ``latest_status_paid`` only
    when the event says whether the status is paid (else ``_KNOWN_PAID`` is used)."""
    customer = order_data["customer"]
    # An order the shop describes again after an erasure holds personal data again: it is
    # no longer erased, and retention looks at it like any other.
    values: dict[str, Any] = {"customer_email": customer["email"], "erased_at": None}
    for column, key in (
        ("customer_first_name", "first_name"),
        ("customer_last_name", "last_name"),
        ("customer_locale", "locale"),
        ("review_consent", "review_consent"),
    ):
        if key in customer:
            values[column] = customer[key]
    for key in ("reference", "placed_at", "items"):
        if order_data.get(key) is not None:
            values[key] = order_data[key]
    values["latest_status_id"] = status["id"]
    values["latest_status_name"] = status["name"]
    values["latest_changed_at"] = changed_at
    values["updated_at"] = utcnow()
    if status.get("paid") is not None:
        values["latest_status_paid"] = status["paid"]
    return values


def set_items(conn: Connection, order_id: int, items: list[dict[str, Any]]) -> None:
    """The items of an order whose event is older than its latest (the latest list received
    wins, whatever the event's age); a newer event sets them with ``update_order``."""
    conn.execute(_SET_ITEMS, {"b_order_id": order_id, "items": items})


def update_order(
    conn: Connection, shop_id: int, order_id: int, columns: dict[str, Any]
) -> None:
    """The order as this (newest) event describes it; one UPDATE."""
    values = {**columns, "b_order_id": order_id}
    statement = _UPDATE_ORDER
    if "latest_status_paid" not in columns:
        statement = _UPDATE_ORDER_KNOWN_PAID
        values.update(b_shop_id=shop_id, b_status_id=columns["latest_status_id"])
    conn.execute(statement, values)


def insert_event(
    conn: Connection,
    shop_id: int,
    order_id: int,
    columns: dict[str, Any] | None,
    event_values: dict[str, Any],
) -> Any:
    """INSERT the event row; with ``columns``, the order's UPDATE in the same statement
    (a data-modifying CTE, PostgreSQL): one round trip for both."""
    if columns is None:
        return conn.execute(_INSERT_EVENT, event_values)
    # Every key prefixed: a key named like a column of orders would be taken for one more
    # column of the UPDATE.
    return conn.execute(
        _event_after_order_update(frozenset(columns)),
        {
            **{f"e_{name}": value for name, value in event_values.items()},
            **{f"o_{name}": value for name, value in columns.items()},
            "b_order_id": order_id,
            "b_shop_id": shop_id,
            "b_status_id": columns["latest_status_id"],
        },
    )


# One statement per set of order columns, built once (as SQLAlchemy caches a statement's SQL
# per set of parameter keys): `WITH order_update AS (UPDATE orders …) INSERT INTO order_events`.
_EVENT_AFTER_ORDER_UPDATE: dict[frozenset[str], Any] = {}
_EVENT_COLUMNS = (
    "shop_id", "order_id", "webhook_id", "status_id", "status_name", "status_paid",
    "status_shipped", "previous_status_id", "changed_at", "received_at", "stale", "outcome",
    "response", "payload",
)


def _event_after_order_update(columns: frozenset[str]) -> Any:
    statement = _EVENT_AFTER_ORDER_UPDATE.get(columns)
    if statement is None:
        order_update = _UPDATE_ORDER.values(
            {name: bindparam(f"o_{name}", type_=_orders.c[name].type) for name in sorted(columns)}
        )
        if "latest_status_paid" not in columns:
            order_update = order_update.values(latest_status_paid=_KNOWN_PAID)
        statement = _INSERT_EVENT.values(
            {name: bindparam(f"e_{name}", type_=_events.c[name].type) for name in _EVENT_COLUMNS}
        ).add_cte(order_update.returning(_orders.c.id).cte("order_update"))
        _EVENT_AFTER_ORDER_UPDATE[columns] = statement
    return statement
