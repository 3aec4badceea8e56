"""What a platform delivery asks King-Avis to do, before anything is read or stored.

``kingavis.platforms.shopify`` and ``kingavis.platforms.woocommerce`` turn a topic and its
payload into one of these plain values; ``kingavis.platforms.service`` carries it out. A
status change becomes the order-status event of docs/webhooks (``order.status_changed``),
so the platforms' orders follow exactly the same rules as a module's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kingavis.platforms.items import clean_text

EVENT_TYPE = "order.status_changed"
MAX_REFERENCE = 64
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class StatusChange:
    """An order reached a status. ``customer`` None: the payload does not carry the customer
    (a fulfilment event, a refund, a deleted order), the stored order's is used."""

    order_id: str
    status_id: str
    status_name: str
    paid: bool | None
    shipped: bool | None
    changed_at: datetime
    customer: dict[str, Any] | None
    reference: str | None = None
    placed_at: datetime | None = None
    items: list[dict[str, Any]] | None = None

    def event(self, customer: dict[str, Any], timestamp: datetime) -> dict[str, Any]:
        """The order-status event body (JSON values), with ``customer`` as its customer."""
        order: dict[str, Any] = {"id": self.order_id, "customer": customer}
        if self.reference is not None:
            order["reference"] = self.reference
        if self.placed_at is not None:
            order["placed_at"] = self.placed_at.isoformat()
        if self.items:
            order["items"] = self.items
        status: dict[str, Any] = {"id": self.status_id, "name": self.status_name}
        if self.paid is not None:
            status["paid"] = self.paid
        if self.shipped is not None:
            status["shipped"] = self.shipped
        return {
            "type": EVENT_TYPE,
            "timestamp": timestamp.astimezone(UTC).isoformat(),
            "data": {"order": order, "status": status,
                     "changed_at": self.changed_at.isoformat()},
        }


@dataclass(frozen=True)
class Erase:
    """Erase one customer's personal data (docs/personal-data)."""

    email: str


@dataclass(frozen=True)
class ExportRequest:
    """Prepare a customer's data for the merchant."""

    email: str
    request_id: str | None = None


@dataclass(frozen=True)
class EraseShop:
    """Erase the personal data of every customer of the shop."""


@dataclass(frozen=True)
class TestOrder:
    """A platform's test order (Shopify's "Send test notification", an order paid with the
    test gateway): checked like a real one, answered ``"outcome": "test"``, nothing stored, as
    a module's test event (docs/platforms.md)."""

    order_id: str


@dataclass(frozen=True)
class Ignore:
    """Nothing to do; ``reason`` says why (shown in the delivery log)."""

    reason: str
    order_id: str | None = None


Action = StatusChange | Erase | ExportRequest | EraseShop | TestOrder | Ignore


@dataclass
class Customer:
    """The customer fields of the event, built from whichever of a payload's places has them."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    review_consent: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_event(self) -> dict[str, Any] | None:
        if not self.email:
            return None
        found: dict[str, Any] = {"email": self.email}
        for key in ("first_name", "last_name", "locale", "review_consent"):
            value = getattr(self, key)
            if value is not None:
                found[key] = value
        return found


def parse_time(value: Any, *, naive_is_utc: bool = False) -> datetime | None:
    """An ISO 8601 date-time as an aware datetime, or None.

    A date-time without an offset is read as UTC only when ``naive_is_utc`` (WooCommerce's
    ``*_gmt`` fields are UTC without saying so); otherwise it is not a usable time.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        if not naive_is_utc:
            return None
        moment = moment.replace(tzinfo=UTC)
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        return None
    return moment if 1970 <= year <= 2999 else None


def locale_tag(value: Any) -> str | None:
    """A language tag the event accepts (``fr``, ``en-US``), or None."""
    text = clean_text(value, 16)
    return text if text is not None and _LOCALE.fullmatch(text) else None


def email_of(*candidates: Any) -> str | None:
    """The first candidate that is a non-empty single-line string (the event's schema checks
    it is an address the mailer accepts)."""
    for candidate in candidates:
        text = clean_text(candidate, 320)
        if text is not None:
            return text
    return None


def reference_of(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return clean_text(value, MAX_REFERENCE)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
