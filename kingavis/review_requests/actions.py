"""The merchant's actions on pending review requests: cancel, send now, postpone.

Usable from views, the CLI and jobs alike: nothing here needs a request context. They apply to
the given request ids of one shop, only to those still ``scheduled`` (a request the dispatcher
claimed meanwhile is left alone), record a ``RequestDecision`` per changed request and one
audit entry with the count. They commit. Which requests a filter selects:
``kingavis.review_requests.queries``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from kingavis.accounts import audit
from kingavis.extensions import db
from kingavis.models import Reason, RequestDecision, RequestState, ReviewRequest, Shop, User, utcnow
from kingavis.review_requests import lifecycle
from kingavis.review_requests.lifecycle import decision_row
from kingavis.review_requests.notes import NoteCode
from kingavis.review_requests.queries import chunks

MIN_POSTPONE_DAYS = 1
MAX_POSTPONE_DAYS = 365


class RequestActionError(ValueError):
    """Invalid action input; the message is meant for the person who gave it."""


class RequestAction(enum.StrEnum):
    CANCEL = "cancel"
    SEND_NOW = "send_now"
    POSTPONE = "postpone"


@dataclass(frozen=True)
class RequestActionResult:
    action: RequestAction
    requested: int  # the shop's own requests among the ids asked for, whatever their state
    changed_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.changed_ids)

    @property
    def skipped(self) -> int:
        return self.requested - self.changed


def validate_postpone_days(days: Any) -> int:
    """The number of days to postpone by, as an int in 1..365, or RequestActionError."""
    try:
        value = int(str(days).strip())
    except (TypeError, ValueError):
        raise RequestActionError(
            f"le nombre de jours doit être un entier entre {MIN_POSTPONE_DAYS} et {MAX_POSTPONE_DAYS}"
        ) from None
    if not MIN_POSTPONE_DAYS <= value <= MAX_POSTPONE_DAYS:
        raise RequestActionError(
            f"le nombre de jours doit être entre {MIN_POSTPONE_DAYS} et {MAX_POSTPONE_DAYS}, "
            f"reçu {value}"
        )
    return value


# The three shortcuts take apply's keyword options (user, actor, note, now) unchanged.


def cancel(shop: Shop, request_ids: Iterable[int], **options: Any) -> RequestActionResult:
    """Cancel by the merchant (reason merchant_cancelled: never rescheduled). Commits."""
    return apply(shop, RequestAction.CANCEL, request_ids, **options)


def send_now(shop: Shop, request_ids: Iterable[int], **options: Any) -> RequestActionResult:
    """Make the requests due now: the dispatcher sends them on its next tick. Commits."""
    return apply(shop, RequestAction.SEND_NOW, request_ids, **options)


def postpone(
    shop: Shop, request_ids: Iterable[int], days: int, **options: Any
) -> RequestActionResult:
    """Move the due time N days later (from now if already overdue). Commits."""
    return apply(shop, RequestAction.POSTPONE, request_ids, days=days, **options)


def apply(
    shop: Shop,
    action: RequestAction | str,
    request_ids: Iterable[int],
    *,
    days: int | None = None,
    user: User | None = None,
    actor: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> RequestActionResult:
    """Apply ``action`` to the shop's requests among ``request_ids`` that are still scheduled.

    Other shops' ids are ignored. Rows are locked (PostgreSQL; SQLite transactions are
    single-writer) and every UPDATE repeats ``state = 'scheduled'``, so a request the
    dispatcher claimed meanwhile is not touched. Commits; on error rolls back and changes nothing.
    """
    try:
        action = RequestAction(action)
    except ValueError:
        raise RequestActionError(f"action inconnue : {action!r}") from None
    if action is RequestAction.POSTPONE:
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
        if action is RequestAction.CANCEL:
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
    return RequestActionResult(action=action, requested=len(own), changed_ids=changed_ids)


def _default_note(action: RequestAction, days: int | None) -> tuple[NoteCode | None, dict[str, Any] | None]:
    """The note King-Avis writes when the merchant wrote none: a code, worded on display."""
    if action is RequestAction.CANCEL:
        return None, None  # the reason, merchant_cancelled, says it all
    if action is RequestAction.SEND_NOW:
        return NoteCode.SEND_NOW_BY_MERCHANT, None
    return NoteCode.POSTPONED_BY_MERCHANT, {"days": days}


def _own(shop: Shop, ids: Sequence[int]) -> list[int]:
    """The ids among ``ids`` that are this shop's requests (other shops' are ignored)."""
    own: list[int] = []
    for chunk in chunks(ids):
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
    for chunk in chunks(ids):
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
    for chunk in chunks(sorted(request_id for request_id, _ in rows)):
        for request_id, due_at in lifecycle.transition_where(
            chunk, RequestState.CANCELLED, only_from=(RequestState.SCHEDULED,),
            reason=Reason.MERCHANT_CANCELLED.value, values={"next_attempt_at": None}, **why,
        ):
            changed.append((request_id, RequestState.CANCELLED.value,
                            Reason.MERCHANT_CANCELLED.value, due_at))
    _forget_loaded(changed)
    return sorted(changed)


def _update(
    action: RequestAction, rows: list[tuple[int, datetime]], days: int | None, now: datetime
) -> list[tuple[int, str, str | None, datetime]]:
    """Postpone or send now (the state stays scheduled): the guarded UPDATEs; returns (id, state,
    reason, due_at) of the changed requests."""
    if not rows:
        return []
    guard = ReviewRequest.state == RequestState.SCHEDULED.value
    changed: list[tuple[int, str, str | None, datetime]] = []
    if action is RequestAction.POSTPONE:
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
    for chunk in chunks(sorted(due)):
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
