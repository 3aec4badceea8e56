"""Re-planning: applying a shop's active rule to the review requests already scheduled
(preview first, then apply on confirmation).

A rule change applies to orders that reach a trigger status from then on; the requests
already scheduled keep their due time until the merchant previews what the active rule would
make of them and confirms. The rule itself is the shops package's (``kingavis.shops.rules``);
moving a request's due time is this package's: each move writes the request's timeline row
(``RULE_APPLIED``), like every other change of a request's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import select, update

from kingavis.accounts import audit
from kingavis.accounts.audit import Actor
from kingavis.extensions import db
from kingavis.models import (
    InvitationRule,
    Order,
    RequestDecision,
    RequestState,
    ReviewRequest,
    Shop,
    utcnow,
)
from kingavis.review_requests.lifecycle import decision_row
from kingavis.review_requests.notes import NoteCode
from kingavis.scheduling import Rule, compute_due_at
from kingavis.shops.rules import RuleError, lock_shop

PREVIEW_LIMIT = 50


@dataclass(frozen=True)
class Move:
    request_id: int
    order_reference: str
    current_due: datetime
    new_due: datetime


@dataclass(frozen=True)
class Kept:
    request_id: int
    order_reference: str
    trigger_status: str
    due_at: datetime


@dataclass
class ReplanPreview:
    rule: InvitationRule
    moves: list[Move] = field(default_factory=list)
    unchanged: int = 0
    kept: list[Kept] = field(default_factory=list)

    @property
    def move_count(self) -> int:
        return len(self.moves)

    @property
    def total(self) -> int:
        return len(self.moves) + self.unchanged + len(self.kept)


def _plan(rule: InvitationRule, rows: Iterable[Any], now: datetime) -> ReplanPreview:
    target = Rule.of(rule)
    preview = ReplanPreview(rule=rule)
    for request_id, reference, external_id, due_at, triggered_at, trigger_id, trigger_name in rows:
        ref = reference or external_id
        if triggered_at is None or trigger_id not in target.trigger_status_ids:
            status = f"{trigger_name} ({trigger_id})" if trigger_name else (trigger_id or "—")
            preview.kept.append(Kept(request_id, ref, status, due_at))
            continue
        new_due = compute_due_at(triggered_at, target, now)
        if new_due == due_at or (due_at <= now and new_due == now):
            preview.unchanged += 1
        else:
            preview.moves.append(Move(request_id, ref, due_at, new_due))
    return preview


def _scheduled_rows(shop: Shop, *, lock: bool = False) -> list[Any]:
    query = (
        select(
            ReviewRequest.id,
            Order.reference,
            Order.external_id,
            ReviewRequest.due_at,
            ReviewRequest.triggered_at,
            ReviewRequest.trigger_status_id,
            ReviewRequest.trigger_status_name,
        )
        .join(Order, Order.id == ReviewRequest.order_id)
        .where(ReviewRequest.shop_id == shop.id,
               ReviewRequest.state == RequestState.SCHEDULED.value)
        .order_by(ReviewRequest.due_at, ReviewRequest.id)
    )
    if lock and db.session.get_bind().dialect.name == "postgresql":
        # Plain FOR UPDATE: wait for a dispatcher claim in progress, then see its result
        # (a claimed request is no longer 'scheduled' and is left alone).
        query = query.with_for_update(of=ReviewRequest)
    return list(db.session.execute(query).all())


def preview_apply(shop: Shop, now: datetime | None = None) -> ReplanPreview:
    """What applying the active rule to the shop's scheduled requests would do. Reads only."""
    rule = shop.active_rule
    if rule is None:
        raise RuleError({"rule": [gettext("Cette boutique n'a pas de règle active.")]})
    return _plan(rule, _scheduled_rows(shop), now or utcnow())


def apply_rule(shop: Shop, user: Actor, rule_id: int, now: datetime | None = None) -> int:
    """Move the scheduled requests to the due time of the active rule. Returns how many moved.

    ``rule_id`` is the rule the merchant previewed: if another rule became active since, nothing
    is applied. Only 'scheduled' requests move (never 'sending' or 'sent'); one transaction.
    """
    now = now or utcnow()
    lock_shop(shop)
    rule = db.session.execute(
        select(InvitationRule).where(InvitationRule.shop_id == shop.id,
                                     InvitationRule.is_active.is_(True))
    ).scalar_one_or_none()
    if rule is None or rule.id != rule_id:
        db.session.rollback()
        raise RuleError({"rule": [gettext(
            "La règle active a changé depuis l'aperçu\u00a0: vérifiez le nouvel aperçu avant "
            "d'appliquer.")]})
    plan = _plan(rule, _scheduled_rows(shop, lock=True), now)
    actor = user.email if user is not None else "system"
    moved = 0
    for move in plan.moves:
        # Guarded on the state: a request claimed meanwhile (SQLite) is not touched.
        result = db.session.execute(
            update(ReviewRequest)
            .where(ReviewRequest.id == move.request_id,
                   ReviewRequest.state == RequestState.SCHEDULED.value)
            .values(due_at=move.new_due, next_attempt_at=move.new_due, rule_id=rule.id,
                    updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            continue
        moved += 1
        db.session.add(RequestDecision(**decision_row(
            move.request_id, RequestState.SCHEDULED.value, due_at=move.new_due, actor=actor,
            note_code=NoteCode.RULE_APPLIED, now=now)))
    audit.record(user, "rule.apply", shop=shop, target_type="rule", target_id=rule.id,
                 details={"moved": moved, "unchanged": plan.unchanged, "kept": len(plan.kept)})
    db.session.commit()
    return moved
