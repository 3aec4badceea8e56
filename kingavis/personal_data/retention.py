"""Retention (docs/personal-data.md): an order inactive for longer than its shop's retention
period loses its contact data through the same ``erasure.erase_orders`` as an erasure, except
that a published review keeps its text and its public display name, as the charter says.
``run_retention`` is the daily job; the period itself is set with the shop's other settings
(``kingavis.shops.collection_settings.set_retention``)."""

from __future__ import annotations

import calendar
import logging
from datetime import datetime

from sqlalchemy import exists, or_, select, update

from kingavis.customer_keys import customer_key
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.models import Order, Review, ReviewRequest, Shop, Unsubscription, utcnow
from kingavis.personal_data.erasure import BATCH, erase_orders

log = logging.getLogger("kingavis.personal_data")

def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole calendar months; a day past the target month's end becomes its
    last day (31 March − 1 month = 28 or 29 February)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def inactive_order_ids(shop: Shop, cutoff: datetime, limit: int | None = None) -> list[int]:
    """The shop's orders still holding personal data with no activity since ``cutoff``.

    Activity: a webhook event for the order (``orders.updated_at``), a change of its request
    (sent, cancelled, retried…) or a request or reminder still due after the cutoff, and a
    review or reply. An order already erased counts again when an event came after it.
    """
    recent_request = exists().where(
        ReviewRequest.order_id == Order.id,
        or_(ReviewRequest.updated_at >= cutoff, ReviewRequest.due_at >= cutoff,
            ReviewRequest.reminder_due_at >= cutoff, ReviewRequest.sent_at >= cutoff),
    )
    recent_review = exists().where(
        Review.order_id == Order.id,
        or_(Review.created_at >= cutoff, Review.reply_updated_at >= cutoff),
    )
    query = (
        select(Order.id)
        .where(
            Order.shop_id == shop.id,
            or_(Order.erased_at.is_(None), Order.updated_at > Order.erased_at),
            Order.updated_at < cutoff,
            ~recent_request,
            ~recent_review,
        )
        .order_by(Order.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).scalars())


def apply_retention(shop: Shop, *, now: datetime | None = None) -> int:
    """Anonymise the shop's orders inactive for longer than its retention period, batch by
    batch, each committed. Returns how many orders were anonymised."""
    now = now or utcnow()
    cutoff = months_before(now, shop.retention_months)
    total = 0
    while True:
        ids = inactive_order_ids(shop, cutoff, BATCH)
        if not ids:
            break
        try:
            hashes = set(db.session.execute(
                select(ReviewRequest.customer_email_hash).where(ReviewRequest.order_id.in_(ids))
            ).scalars())
            emails = {normalize_email(e) for e in db.session.execute(
                select(Order.customer_email).where(Order.id.in_(ids),
                                                   Order.customer_email.is_not(None))
            ).scalars()}
            hashes |= {customer_key(shop.id, e) for e in emails}
            counts = erase_orders(shop, ids, now=now, actor="retention", retention=True)
            _forget_unsubscribed_addresses(shop, hashes)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        total += counts.orders
    if total:
        log.info("retention applied", extra={"fields": {"shop": shop.key, "orders": total,
                                                       "months": shop.retention_months}})
    return total


def _forget_unsubscribed_addresses(shop: Shop, hashes: set[str]) -> None:
    """Unsubscribed addresses that no order of the shop holds any more keep their hash only."""
    for key in hashes:
        still_used = db.session.execute(
            select(exists().where(ReviewRequest.shop_id == shop.id,
                                  ReviewRequest.customer_email_hash == key,
                                  ReviewRequest.customer_email_normalized.is_not(None)))
        ).scalar()
        if not still_used:
            db.session.execute(
                update(Unsubscription)
                .where(Unsubscription.shop_id == shop.id, Unsubscription.email_hash == key)
                .values(email_normalized=None)
                .execution_options(synchronize_session=False)
            )


def run_retention(*, now: datetime | None = None) -> dict[str, int]:
    """The daily job: retention applied to every shop. Returns {shop key: orders anonymised}."""
    now = now or utcnow()
    done: dict[str, int] = {}
    for shop in db.session.execute(select(Shop).order_by(Shop.id)).scalars().all():
        done[shop.key] = apply_retention(shop, now=now)
    return done
