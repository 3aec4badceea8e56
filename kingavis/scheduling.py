"""The rule book: when a review request is asked for, and when it must not be — plain
functions with no database, named by what they decide.

Each shop has one active rule (trigger status ids, a delay in days, an optional send hour, a
time zone), a set of cancel status ids and a few guards (explicit consent required or not, the
per-customer window in days). The rules, numbered as the timeline, the README and the tests
refer to them:

1. A review request is created only when an order reaches a trigger status; never for any
   other status (``decide``).
2. It is due ``changed_at`` + the delay; with a send hour H, on the local date of that instant
   at H:00 in the rule's time zone. A due time already past is due at once (``compute_due_at``).
3. One request per order, ever: reaching a trigger status again leaves it as it is. A request
   cancelled because of an order status may be scheduled again when the order reaches a
   trigger status later; one cancelled by the merchant, or already sent, never is (``decide``).
4. An event whose status is a cancel status cancels the order's scheduled request at once,
   reason ``order_cancelled`` (``decide``).
5. At send time the order is checked again: a cancel status, or a latest status not paid,
   cancels the request instead (``order_cancelled``, ``order_unpaid``); the address the email
   would go to is checked against the unsubscribe list then too (``send_time_decision``).
6. Events apply in ``changed_at`` order per order: an older event than the latest applied is
   stored but changes nothing, ``ignored_stale`` (``decide``).
7. No consent (``review_consent: false``, or none while the shop requires it) suppresses the
   request (``no_consent``); so does an address that used the unsubscribe link
   (``unsubscribed``), an address that hard-bounced or whose owner complained
   (``bounced``, ``complained``: docs/deliverability.md), and a request sent or scheduled for
   the same address in the same shop within the per-customer window, either side
   (``recent_request``). Where several apply, the first of ``no_consent``, ``complained``,
   ``unsubscribed``, ``bounced``, ``recent_request`` is given (``suppression_reason``,
   ``within_window``).
8. While a shop is paused, due requests wait; nothing is lost (the dispatcher and the send
   job, kingavis.delivery).

The services (``kingavis.orders.events`` for the webhook, ``kingavis.delivery.send_time`` at send time)
load the state, ask these functions, and store the answer; property-based tests drive them
directly as well as through the database.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from kingavis.models import RESCHEDULABLE_REASONS, Reason, RequestState

DEFAULT_DELAY_DAYS = 10
DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_CUSTOMER_WINDOW_DAYS = 30
MAX_DELAY_DAYS = 365


@lru_cache(maxsize=1)
def prestashop_preset() -> dict[str, Any]:
    """PrestaShop's default order states and the preset roles (trigger / cancel / unpaid)."""
    raw = resources.files("kingavis").joinpath("data/prestashop-order-states.json").read_text("utf-8")
    data = json.loads(raw)
    states = data["states"]
    return {
        "states": states,
        "trigger": [s["id"] for s in states if s.get("role") == "trigger"],
        "cancel": [s["id"] for s in states if s.get("role") == "cancel"],
        "unpaid": [s["id"] for s in states if s.get("role") == "unpaid"],
    }


def validate_timezone(name: str) -> ZoneInfo:
    """Return the zone, or raise ValueError with a clear message."""
    if not name or name not in _zones():
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True)
class Rule:
    trigger_status_ids: frozenset[str]
    delay_days: int = DEFAULT_DELAY_DAYS
    send_hour: int | None = None
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def of(cls, rule: Any) -> Rule:
        """The rule book's view of a stored rule: an ``InvitationRule`` or the webhook's
        snapshot of one, anything with these four attributes."""
        return cls(
            trigger_status_ids=frozenset(rule.trigger_status_ids or ()),
            delay_days=rule.delay_days,
            send_hour=rule.send_hour,
            timezone=rule.timezone,
        )


@dataclass(frozen=True)
class Guards:
    cancel_status_ids: frozenset[str]
    require_consent: bool = False
    customer_window_days: int = DEFAULT_CUSTOMER_WINDOW_DAYS


def compute_due_at(changed_at: datetime, rule: Rule, now: datetime | None = None) -> datetime:
    """Rule 2: changed_at + delay days; with a send hour, that local date at H:00.

    Without a send hour the delay is exact (N x 24 h). With one, the delay counts calendar
    days in the shop's time zone: the local date of ``changed_at`` plus N days, at H:00 local
    time. The result depends only on the instant ``changed_at``, never on the UTC offset it
    was written with. An hour that does not exist that day (DST gap) moves forward by the
    gap; an hour that occurs twice takes its first occurrence. A due time already past is due
    at once (``now``). The result is UTC.
    """
    if changed_at.tzinfo is None:
        raise ValueError("changed_at must carry a UTC offset")
    if rule.send_hour is None:
        due = changed_at.astimezone(UTC) + timedelta(days=rule.delay_days)
    else:
        zone = ZoneInfo(rule.timezone)
        local_date = changed_at.astimezone(zone).date() + timedelta(days=rule.delay_days)
        # fold=0: a missing wall time is read with the offset in force before the gap, so
        # 02:00 on a spring-forward night becomes 03:00 local; a repeated one is the first.
        local = datetime.combine(local_date, time(rule.send_hour), tzinfo=zone)
        due = local.astimezone(UTC)
    if now is not None and due < now:
        return now.astimezone(UTC)
    return due


def suppression_reason(
    *,
    review_consent: bool | None,
    require_consent: bool,
    unsubscribed: bool,
    recent_request: bool,
    suppressed: str | None = None,
) -> str | None:
    """Rule 7, in its order of precedence: no_consent, complained, unsubscribed, bounced,
    recent_request.

    ``suppressed`` is the reason the address is on the shop's suppression list, if it is
    (``bounced`` or ``complained``). The customer's own choices come first: a refusal of
    consent, then a complaint (the strongest "no more mail", which also unsubscribed them),
    then the unsubscribe link; a bounce says only that the mailbox does not take mail, and
    comes after them; the window is the weakest reason, about timing only.
    """
    if review_consent is False or (require_consent and review_consent is not True):
        return Reason.NO_CONSENT.value
    if suppressed == Reason.COMPLAINED.value:
        return Reason.COMPLAINED.value
    if unsubscribed:
        return Reason.UNSUBSCRIBED.value
    if suppressed == Reason.BOUNCED.value:
        return Reason.BOUNCED.value
    if recent_request:
        return Reason.RECENT_REQUEST.value
    return None


def send_time_reason(
    *, latest_status_id: str | None, latest_status_paid: bool | None, cancel_status_ids: frozenset[str]
) -> str | None:
    """Rule 5: at send time, a cancel status or an unpaid latest status cancels the request."""
    if latest_status_id is not None and latest_status_id in cancel_status_ids:
        return Reason.ORDER_CANCELLED.value
    if latest_status_paid is False:
        return Reason.ORDER_UNPAID.value
    return None


def send_time_decision(
    *,
    latest_status_id: str | None,
    latest_status_paid: bool | None,
    cancel_status_ids: frozenset[str],
    review_consent: bool | None,
    require_consent: bool,
    unsubscribed: bool,
    suppressed: str | None = None,
) -> tuple[RequestState, str] | None:
    """Rules 5 and 7 at send time, for an invitation and a reminder alike: the new state and
    its reason when the email must not go, else None.

    The order's latest status first (a cancel status, or not paid: ``cancelled``), then consent
    and the unsubscribe and suppression lists for the address the email would go to
    (``suppressed``). The
    per-customer window is not asked again: it was decided when the request was scheduled.
    """
    reason = send_time_reason(latest_status_id=latest_status_id,
                              latest_status_paid=latest_status_paid,
                              cancel_status_ids=cancel_status_ids)
    if reason is not None:
        return RequestState.CANCELLED, reason
    reason = suppression_reason(review_consent=review_consent, require_consent=require_consent,
                                unsubscribed=unsubscribed, recent_request=False,
                                suppressed=suppressed)
    if reason is not None:
        return RequestState.SUPPRESSED, reason
    return None


class Action(enum.StrEnum):
    IGNORE_STALE = "ignore_stale"  # rule 6
    CANCEL = "cancel"  # rule 4
    CREATE = "create"  # rule 1
    RESCHEDULE = "reschedule"  # rule 3, after a cancellation by order status
    NOTHING = "nothing"


def decide(
    *,
    status_id: str,
    changed_at: datetime,
    latest_changed_at: datetime | None,
    request_state: str | None,
    request_reason: str | None,
    rule: Rule | None,
    guards: Guards,
) -> Action:
    """What one status event does to an order's review request (rules 1, 3, 4, 6)."""
    if latest_changed_at is not None and changed_at < latest_changed_at:
        return Action.IGNORE_STALE
    if status_id in guards.cancel_status_ids:
        if request_state == RequestState.SCHEDULED.value:
            return Action.CANCEL
        return Action.NOTHING
    if rule is not None and status_id in rule.trigger_status_ids:
        if request_state is None:
            return Action.CREATE
        if request_state == RequestState.CANCELLED.value and request_reason in RESCHEDULABLE_REASONS:
            return Action.RESCHEDULE
    return Action.NOTHING


def within_window(a: datetime, b: datetime, days: int) -> bool:
    """Rule 7's window: two due times closer than ``days`` days, whichever comes first."""
    return abs(a - b) < timedelta(days=days)
