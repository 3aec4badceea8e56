"""Delivery policy and a shop's sending settings.

The retry policy after a temporary mail error (``retry_delay``, ``max_attempts``, from the app
config ``DISPATCH_RETRY_DELAYS`` / ``DISPATCH_MAX_ATTEMPTS``) and the claim's ``lease``, which
the dispatcher and the send path share; ``mask_emails`` for log lines; ``waiting_count``, the
requests a paused shop holds back. The shop settings that shape sending (the reminder, the
Review Balancing email split) are set in ``kingavis.shops.collection_settings``.
State changes of a request are not made here: kingavis.review_requests.lifecycle writes them
with their timeline row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from kingavis.extensions import db
from kingavis.models import RequestState, ReviewRequest, Shop, utcnow

log = logging.getLogger("kingavis.delivery")

# Delay before the n-th retry after a temporary delivery error (the last one repeats).
DEFAULT_RETRY_DELAYS: tuple[int, ...] = (60, 5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60, 6 * 60 * 60)
# After this many attempts a request that still meets temporary errors is given up (failed).
DEFAULT_MAX_ATTEMPTS = 10

_EMAIL = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


def retry_delays() -> Sequence[int]:
    delays = current_app.config.get("DISPATCH_RETRY_DELAYS") or DEFAULT_RETRY_DELAYS
    return tuple(int(d) for d in delays)


def max_attempts() -> int:
    return int(current_app.config.get("DISPATCH_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)


def retry_delay(failures: int) -> timedelta:
    """The wait after the ``failures``-th temporary error (1-based), capped at the last delay."""
    delays = retry_delays()
    index = min(max(failures, 1), len(delays)) - 1
    return timedelta(seconds=delays[index])


def lease() -> timedelta:
    return timedelta(seconds=int(current_app.config["DISPATCH_LEASE_SECONDS"]))


def mask_emails(text: str | None) -> str | None:
    """A server's reply with any address in it shortened (z***@example.com), for logs."""
    if text is None:
        return None
    from kingavis.logging import mask_email

    return _EMAIL.sub(lambda m: mask_email(m.group(0)) or "***", text)


def waiting_count(shop: Shop, now: datetime | None = None) -> int:
    """How many of the shop's requests are due now (those a pause holds back)."""
    now = now or utcnow()
    return int(
        db.session.execute(
            select(func.count(ReviewRequest.id)).where(
                ReviewRequest.shop_id == shop.id,
                ReviewRequest.state.in_([RequestState.SCHEDULED.value, RequestState.SENDING.value]),
                ReviewRequest.next_attempt_at <= now,
            )
        ).scalar_one()
    )
