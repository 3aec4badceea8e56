"""A shop's unsubscribe list: the addresses that asked for no more review requests (docs/sending.md).

An entry is keyed by the address's keyed hash (``customer_keys``), which outlives an erasure:
an erased customer stays unsubscribed, and an erased request's link still unsubscribes its
address. The hash is per shop, so one shop's list never reaches another shop's customers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, text

from kingavis.extensions import db
from kingavis.models import Unsubscription, UTCDateTime, utcnow

# One statement on both databases: a second unsubscription of the same address changes nothing
# (the first date stays), and two at once never fail on the unique key.
_UNSUBSCRIBE = text(
    "INSERT INTO unsubscriptions (shop_id, email_normalized, email_hash, created_at) "
    "VALUES (:shop_id, :email_normalized, :email_hash, :now) "
    "ON CONFLICT (shop_id, email_hash) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime))


def unsubscribe(shop_id: int, email_normalized: str | None, email_hash: str) -> None:
    """Put the address on the shop's unsubscribe list. Idempotent. Commits."""
    db.session.execute(_UNSUBSCRIBE, {"shop_id": shop_id, "email_normalized": email_normalized,
                                      "email_hash": email_hash, "now": utcnow()})
    db.session.commit()


def unsubscribed_at(shop_id: int, email_hash: str) -> datetime | None:
    """When the address (by its key) left the shop's list of recipients, or None."""
    return db.session.execute(
        select(Unsubscription.created_at).where(Unsubscription.shop_id == shop_id,
                                                Unsubscription.email_hash == email_hash)
    ).scalar_one_or_none()


def is_unsubscribed(shop_id: int, email_hash: str) -> bool:
    """Whether the address (by its key) is on the shop's unsubscribe list."""
    return unsubscribed_at(shop_id, email_hash) is not None
