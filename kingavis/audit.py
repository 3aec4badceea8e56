"""The audit log of merchant actions: who, what, when."""

from __future__ import annotations

from typing import Any

from .extensions import db
from .models import AuditLog, Shop, User


def record(
    user: User | None,
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
        user_id=user.id if user is not None else None,
        actor_email=user.email if user is not None else "system",
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
    )
    db.session.add(entry)
    return entry
