"""A review request's lifecycle: the one place that moves a request from one state to another
and writes the row of the order's timeline that says why.

    scheduled ──claim──> sending ──accepted by the mail server──> sent
        │                  │ └──temporary error, pause, lease given back──> scheduled
        │                  └──refused, or too many attempts──> failed
        └──(webhook, send-time check, merchant, erasure)──> cancelled / suppressed

Every caller — the webhook's event service, the dispatcher's claim, the send job, the
merchant's actions in the back-office, applying a rule, the questionnaire, erasure — goes
through these functions:

- ``transition``: one loaded request (ORM) changes state; its reason is set and its timeline
  row added, in the caller's transaction.
- ``transition_where``: the Core variant for many rows in one statement (the dispatcher's
  claim, a merchant's bulk action, the webhook's fast path): ``UPDATE … WHERE id IN (…) AND
  state IN (…) RETURNING`` and one ``INSERT`` of the timeline rows, for the rows it changed.
- ``transition_locked``: ``transition`` for one request whose row the caller's transaction
  holds (the send path recording an accepted email): the same UPDATE and timeline row, as two
  statements built once instead of a unit-of-work flush.
- ``note``: a timeline row that keeps the state (a retry planned, a reminder, a rule applied).

All four build their row with ``decision_row``, so what a transition writes is decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm.attributes import set_committed_value

from kingavis.extensions import db
from kingavis.models import RequestDecision, RequestState, ReviewRequest, utcnow
from kingavis.review_requests.notes import NoteCode

SYSTEM = "system"
DISPATCHER = "dispatcher"


def json_args(args: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A note's parameters ready for JSON: numbers and text kept, anything else (an exception)
    as text; None when there are none."""
    if not args:
        return None
    return {str(k): v if v is None or isinstance(v, (str, int, float)) else str(v)
            for k, v in args.items()}


def decision_row(
    request_id: int,
    state: str,
    *,
    reason: str | None = None,
    due_at: datetime | None = None,
    actor: str = SYSTEM,
    note: str | None = None,
    note_code: NoteCode | str | None = None,
    note_args: Mapping[str, Any] | None = None,
    order_event_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The timeline row of one decision about request ``request_id``.

    King-Avis explains itself with ``note_code`` and ``note_args`` (worded in the reader's
    language when shown, kingavis.review_requests.notes); ``note`` is a person's own words, shown as written.
    """
    return {
        "review_request_id": request_id,
        "order_event_id": order_event_id,
        "state": state,
        "reason": reason,
        "due_at": due_at,
        "actor": actor,
        "note": note or None,
        "note_code": None if note_code is None else str(getattr(note_code, "value", note_code)),
        "note_args": json_args(note_args),
        "created_at": now or utcnow(),
    }


def transition(
    request: ReviewRequest,
    state: RequestState,
    *,
    reason: str | None = None,
    note: str | None = None,
    note_code: NoteCode | None = None,
    note_args: Mapping[str, Any] | None = None,
    actor: str = DISPATCHER,
    now: datetime | None = None,
) -> None:
    """Move ``request`` to ``state`` with ``reason`` and add its timeline row (not committed)."""
    request.state = state.value
    request.reason = reason
    db.session.add(RequestDecision(**decision_row(
        request.id, state.value, reason=reason, due_at=request.due_at, actor=actor, note=note,
        note_code=note_code, note_args=note_args, now=now)))


# Built once: executed with their parameters, they are compiled once per set of columns
# (SQLAlchemy's compiled cache). The INSERT is inline: nothing read back (no RETURNING of the id).
_UPDATE_ONE = update(ReviewRequest.__table__).where(ReviewRequest.__table__.c.id == bindparam("b_id"))
_INSERT_DECISION = insert(RequestDecision.__table__).inline()


def transition_locked(
    request: ReviewRequest,
    state: RequestState,
    *,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
    note_code: NoteCode | None = None,
    note_args: Mapping[str, Any] | None = None,
    actor: str = DISPATCHER,
    now: datetime | None = None,
) -> None:
    """``transition`` for a request whose row the caller's transaction holds and whose loaded
    object is current (PostgreSQL: locked ``FOR UPDATE``; SQLite: read under the write lock):
    moves it to ``state`` with ``reason``, sets ``values`` (columns), adds its timeline row.
    Not committed.

    What is written is what ``transition`` writes, but by two statements built once rather
    than a flush of the unit of work, which costs more than the send itself on the send path,
    once per email. The row is held, so ``WHERE id`` alone matches it, as the flush's UPDATE
    would. The loaded object gets the written values as its database state (not as changes to
    flush again).
    """
    now = now or utcnow()
    written = {"state": state.value, "reason": reason, "updated_at": now, **dict(values or {})}
    db.session.execute(_UPDATE_ONE, {"b_id": request.id, **written})
    db.session.execute(_INSERT_DECISION, decision_row(
        request.id, state.value, reason=reason, due_at=request.due_at, actor=actor,
        note_code=note_code, note_args=note_args, now=now))
    for key, value in written.items():
        set_committed_value(request, key, value)


def note(
    request: ReviewRequest,
    note_code: NoteCode,
    note_args: Mapping[str, Any] | None = None,
    *,
    reason: str | None = None,
    actor: str = DISPATCHER,
    now: datetime | None = None,
) -> None:
    """A timeline row that keeps the request's state (e.g. about its reminder). Not committed."""
    db.session.add(RequestDecision(**decision_row(
        request.id, request.state, reason=reason, due_at=request.due_at, actor=actor,
        note_code=note_code, note_args=note_args, now=now)))


def transition_where(
    ids: Iterable[int],
    state: RequestState,
    *,
    only_from: Iterable[RequestState],
    reason: str | None = None,
    values: Mapping[str, Any] | None = None,
    where: Iterable[Any] = (),
    note: str | None = None,
    note_code: NoteCode | None = None,
    note_args: Callable[[Any], Mapping[str, Any] | None] | Mapping[str, Any] | None = None,
    actor: str = SYSTEM,
    now: datetime | None = None,
    returning: Iterable[Any] = (),
) -> list[Any]:
    """Move the requests ``ids`` that are in one of ``only_from`` (and match ``where``) to
    ``state`` in one UPDATE, set ``values`` too, and add their timeline rows in one INSERT.

    Returns the changed rows: (id, due_at, *returning). ``note_args`` may be a function of such
    a row (e.g. the attempt number a claim just counted). A row another transaction changed
    first no longer matches and is left alone. Not committed.
    """
    wanted = list(ids)
    if not wanted:
        return []
    now = now or utcnow()
    rows = db.session.execute(
        update(ReviewRequest)
        .where(ReviewRequest.id.in_(wanted),
               ReviewRequest.state.in_([s.value for s in only_from]),
               *where)
        .values(state=state.value, reason=reason, updated_at=now, **dict(values or {}))
        .returning(ReviewRequest.id, ReviewRequest.due_at, *returning)
        .execution_options(synchronize_session=False)
    ).all()
    if rows:
        db.session.execute(insert(RequestDecision.__table__), [
            decision_row(
                row[0], state.value, reason=reason, due_at=row[1], actor=actor, note=note,
                note_code=note_code,
                note_args=note_args(row) if callable(note_args) else note_args, now=now)
            for row in rows
        ])
    return rows
