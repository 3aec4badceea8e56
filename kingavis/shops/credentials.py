"""Webhook secrets of a shop: the current one, rotation with an overlap, the audit of both."""

from __future__ import annotations

from datetime import datetime, timedelta

from kingavis.accounts import audit
from kingavis.extensions import db
from kingavis.models import Shop, ShopSecret, User, utcnow
from kingavis.shops.service import new_webhook_secret, secret_is_valid

ROTATION_OVERLAP = timedelta(hours=24)


def valid_secrets(shop: Shop, now: datetime | None = None) -> list[ShopSecret]:
    """The secrets that verify webhooks now, newest first."""
    now = now or utcnow()
    valid = [s for s in shop.secrets if secret_is_valid(s.expires_at, now)]
    return sorted(valid, key=lambda s: s.id, reverse=True)


def current_secret(shop: Shop, now: datetime | None = None) -> ShopSecret | None:
    """The secret a shop module should sign with: the newest valid one."""
    valid = valid_secrets(shop, now)
    return valid[0] if valid else None


def reveal(shop: Shop, user: User, now: datetime | None = None) -> ShopSecret | None:
    """The current secret, with an audit entry saying who saw it. Commits."""
    secret = current_secret(shop, now)
    audit.record(user, "secret.reveal", shop=shop, target_type="shop_secret",
                 target_id=secret.id if secret else None)
    db.session.commit()
    return secret


def rotate(shop: Shop, user: User, now: datetime | None = None) -> ShopSecret:
    """A new secret; every older one still valid keeps working for 24 more hours at most. Commits.

    Rotating twice in a row never extends an older secret: it keeps the earlier of its expiry
    and now + 24 h.
    """
    now = now or utcnow()
    overlap_end = now + ROTATION_OVERLAP
    retired: list[int] = []
    for old in valid_secrets(shop, now):
        if old.expires_at is None or old.expires_at > overlap_end:
            old.expires_at = overlap_end
        retired.append(old.id)
    new = ShopSecret(secret=new_webhook_secret(), created_at=now)
    shop.secrets.append(new)
    db.session.flush()
    audit.record(user, "secret.rotate", shop=shop, target_type="shop_secret", target_id=new.id,
                 details={"old_secret_ids": retired, "old_valid_until": overlap_end.isoformat()})
    db.session.commit()
    return new
