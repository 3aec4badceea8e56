"""A shop's list of order statuses (``shop_statuses``): the one place that writes it.

Two sources fill it (docs/webhooks.md, "Order states"):

- every order-status event adds or refreshes its status (``remember_seen_status``, inside the
  event's own transaction; ``last_seen_at`` set);
- the shop declares its whole list with ``PUT …/order-states`` (``sync_declared_states``):
  each declared status is added or refreshed (``declared_at`` set), so the merchant can choose
  it as a trigger or cancel status before any order reaches it.

A status missing from a later declared list is kept when a rule still uses it (a trigger of
any of the shop's rules, or a cancel status) or when an event has had it (``last_seen_at``):
the rules accept any status "the list or one of the shop's events has". It is then only
marked as not declared (``declared_at`` None). Any other status missing from the list is
removed: the shop no longer has it and nothing depends on it.

A declared list carries the time the shop read it (``timestamp``); a list older than one
already applied (a retry delivered late) is recorded for replay but changes nothing.

The shop creation's preset rows (``kingavis.shops.service.create_shop``) are the only rows
written elsewhere: they are the list a new shop starts with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    TextClause,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from kingavis.extensions import db
from kingavis.models import InvitationRule, OrderStateSync, Shop, ShopStatus, UTCDateTime, utcnow
from kingavis.shops.service import ShopSnapshot
from kingavis.transactions import retry_on_conflict

AnyShop = Shop | ShopSnapshot

_statuses = ShopStatus.__table__
_syncs = OrderStateSync.__table__

def _upsert_status(flags: tuple[str, ...], stamp: str) -> TextClause:
    """Add a status or refresh its name, its ``flags`` and its ``stamp`` column (set to
    ``:now``). The SQL is the same on PostgreSQL and SQLite (3.35+). A flag the shop did not
    send keeps its known value."""
    columns = ("name", *flags, stamp)
    values = ", ".join(f":{column}" for column in ("name", *flags)) + ", :now"
    refresh = ", ".join(
        ["name = excluded.name"]
        + [f"{flag} = coalesce(excluded.{flag}, shop_statuses.{flag})" for flag in flags]
        + [f"{stamp} = excluded.{stamp}"]
    )
    return text(
        f"INSERT INTO shop_statuses (shop_id, status_id, {', '.join(columns)}) "  # noqa: S608 (column names of this module)
        f"VALUES (:shop_id, :status_id, {values}) "
        f"ON CONFLICT (shop_id, status_id) DO UPDATE SET {refresh}"
    ).bindparams(
        *(bindparam(flag, type_=Boolean) for flag in flags),
        bindparam("now", type_=UTCDateTime),
    )


_REMEMBER_STATUS = _upsert_status(("paid", "shipped"), "last_seen_at")
_DECLARE_STATUS = _upsert_status(("paid", "shipped", "delivered"), "declared_at")

# Statuses already recorded by this process: (shop key, status id) -> (name, paid, shipped).
# Only an event's upsert fills it, and such a row has ``last_seen_at``: a declared list never
# removes it, so the cache never hides a status that has to be written again.
StatusKey = tuple[str, str]
StatusValue = tuple[str, bool | None, bool | None]
_seen_statuses: dict[StatusKey, StatusValue] = {}


def remember_seen_status(
    conn: Connection, shop: AnyShop, status: dict[str, Any], now: datetime
) -> tuple[StatusKey, StatusValue] | None:
    """Add or refresh the status an order-status event has, in the event's transaction.

    One upsert; a flag the event did not send keeps its known value. Returns the cache entry
    to hand to ``seen_status_committed`` once the transaction commits (None: this process
    already recorded it as it is).
    """
    key = (shop.key, status["id"])
    value = (status["name"], status.get("paid"), status.get("shipped"))
    if _seen_statuses.get(key) == value:
        return None
    conn.execute(
        _REMEMBER_STATUS,
        {
            "shop_id": shop.id,
            "status_id": status["id"],
            "name": status["name"],
            "paid": status.get("paid"),
            "shipped": status.get("shipped"),
            "now": now,
        },
    )
    return key, value


def seen_status_committed(entry: tuple[StatusKey, StatusValue]) -> None:
    """Remember a recorded status, only once committed (a rollback must not count)."""
    _seen_statuses[entry[0]] = entry[1]


@dataclass(frozen=True)
class SyncResult:
    status_code: int  # always 200: a list is a replacement, not a creation
    body: dict[str, Any]
    replayed: bool


def _replay(conn: Connection, shop_id: int, webhook_id: str) -> SyncResult | None:
    previous = conn.execute(
        select(_syncs.c.response).where(_syncs.c.shop_id == shop_id,
                                        _syncs.c.webhook_id == webhook_id)
    ).scalar_one_or_none()
    return None if previous is None else SyncResult(200, previous, True)


def _answer_test(shop: AnyShop, body: dict[str, Any], webhook_id: str) -> SyncResult:
    """A test list (``"test": true``): the answer a real one would get, nothing stored.

    A webhook id already used by a real list is a replay, answered as such.
    """
    replay = _replay(db.session.connection(), shop.id, webhook_id)
    db.session.rollback()
    if replay is not None:
        return replay
    return SyncResult(200, {"states": len(body["data"]["states"]), "test": True}, False)


def rule_status_ids(conn: Connection, shop_id: int) -> set[str]:
    """Every status id a rule of the shop uses: its rules' triggers and its cancel statuses."""
    used: set[str] = set()
    for ids in conn.execute(
        select(InvitationRule.trigger_status_ids).where(InvitationRule.shop_id == shop_id)
    ).scalars():
        used.update(ids or ())
    cancels = conn.execute(
        select(Shop.cancel_status_ids).where(Shop.id == shop_id)
    ).scalar_one_or_none()
    used.update(cancels or ())
    return used


def sync_declared_states(
    shop: AnyShop, body: dict[str, Any], webhook_id: str, *, now: datetime | None = None
) -> SyncResult:
    """Apply a declared list of statuses (see the module docstring). Commits.

    ``body`` is the webhook body as ``webhooks.schemas.OrderStatesSchema`` loads it (distinct
    ids, ``timestamp`` an aware datetime or None). The same webhook id again answers the first
    answer and changes nothing. A test list (``"test": true``) stores nothing (``_answer_test``).
    """
    if body.get("test"):
        return _answer_test(shop, body, webhook_id)
    at = now or utcnow()
    return retry_on_conflict(lambda: _sync(shop, body, webhook_id, at))


def _sync(shop: AnyShop, body: dict[str, Any], webhook_id: str, now: datetime) -> SyncResult:
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # One list at a time per shop: two lists applied together could each keep what the
        # other removes. NO KEY UPDATE: the shop's events (whose inserts check their foreign
        # key to the shop) are not held up meanwhile.
        conn.execute(select(Shop.id).where(Shop.id == shop.id).with_for_update(key_share=True))
    replay = _replay(conn, shop.id, webhook_id)
    if replay is not None:
        db.session.rollback()
        return replay
    states = body["data"]["states"]
    listed_at = body.get("timestamp")
    listed_at = listed_at.astimezone(UTC) if listed_at is not None else None
    newer = None
    if listed_at is not None:
        newer = conn.execute(
            select(func.count()).select_from(_syncs).where(
                _syncs.c.shop_id == shop.id, _syncs.c.applied.is_(True),
                _syncs.c.listed_at > listed_at)
        ).scalar_one()
    applied = not newer
    response: dict[str, Any] = {"states": len(states)}
    if applied:
        _apply_list(conn, shop.id, states, now)
    else:
        response["ignored_stale"] = True
    conn.execute(insert(_syncs), {
        "shop_id": shop.id, "webhook_id": webhook_id, "listed_at": listed_at,
        "applied": applied, "response": response, "received_at": now,
    })
    db.session.commit()
    return SyncResult(200, response, False)


def _apply_list(conn: Connection, shop_id: int, states: list[dict[str, Any]], now: datetime) -> None:
    conn.execute(_DECLARE_STATUS, [
        {"shop_id": shop_id, "status_id": state["id"], "name": state["name"],
         "paid": state.get("paid"), "shipped": state.get("shipped"),
         "delivered": state.get("delivered"), "now": now}
        for state in states
    ])
    declared = [state["id"] for state in states]
    kept = sorted(rule_status_ids(conn, shop_id))
    missing = (_statuses.c.shop_id == shop_id) & _statuses.c.status_id.not_in(declared)
    conn.execute(delete(_statuses).where(
        missing, _statuses.c.last_seen_at.is_(None), _statuses.c.status_id.not_in(kept)))
    conn.execute(update(_statuses).where(missing, _statuses.c.declared_at.is_not(None))
                 .values(declared_at=None))
