"""The audit log of merchant actions: who, what, when.

Who is a back-office account, or the name of a caller without one: ``CLI`` (``flask …`` on
the command line) or ``SYSTEM`` (a job). Every service that changes a setting takes that actor,
so the back-office and the command line leave the same entry for the same change.
"""

from __future__ import annotations

from typing import Any

from kingavis.extensions import db
from kingavis.models import AuditLog, Shop, User

CLI = "cli"
SYSTEM = "system"

Actor = User | str | None


def actor_name(actor: Actor) -> str:
    """How an actor is written in logs and the audit log: an account's email, or its name."""
    if isinstance(actor, User):
        return actor.email
    return actor or SYSTEM


def log_name(actor: Actor) -> str:
    """How an actor is written in a log line: never an address (``user:<id>`` for an account)."""
    if isinstance(actor, User):
        return f"user:{actor.id}"
    return actor or SYSTEM


def record(
    user: Actor,
    action: str,
    *,
    shop: Shop | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry to the session; the caller's commit stores it with the change."""
    entry = AuditLog(
        shop_id=shop.id if shop is not None else None,
        user_id=user.id if isinstance(user, User) else None,
        actor_email=actor_name(user),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
    )
    db.session.add(entry)
    return entry
