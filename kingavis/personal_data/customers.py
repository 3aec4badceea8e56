"""A customer, as the personal-data services find them (docs/personal-data.md): the address
checked and normalized, and the shop's orders that hold it.

Matching ignores case: an order belongs to the customer when its address, its request's
hashed address, or one of its stored webhook bodies holds the address. Other shops are never
looked at.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError
from marshmallow.validate import Email
from sqlalchemy import Text, cast, func, select

from kingavis.customer_keys import customer_key
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.models import Order, OrderEvent, ReviewRequest, Shop

MAX_EMAIL = 320
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class PersonalDataError(ValueError):
    """Invalid input (an address that is not one); the message is for the person who gave it."""


def validate_email(email: Any) -> str:
    """The address, normalized (lower case, trimmed), or PersonalDataError.

    Accepts what the order-status webhook accepts (marshmallow's email check), so that any
    address stored from a webhook can be erased and exported."""
    if not isinstance(email, str) or not email.strip():
        raise PersonalDataError("an email address is required")
    value = normalize_email(email)
    if len(value) > MAX_EMAIL:
        raise PersonalDataError(f"the email address must be at most {MAX_EMAIL} characters")
    try:
        if _CONTROL.search(value):
            raise ValidationError("control characters")
        Email()(value)
    except ValidationError:
        raise PersonalDataError("not an email address, e.g. zoe@example.com") from None
    return value


def customer_order_ids(shop: Shop, email: str) -> list[int]:
    """Ids of the shop's orders that hold this address (any case), however it got there."""
    normalized = normalize_email(email)
    key = customer_key(shop.id, normalized)
    by_order = select(Order.id).where(Order.shop_id == shop.id,
                                      func.lower(Order.customer_email) == normalized)
    by_request = select(ReviewRequest.order_id).where(ReviewRequest.shop_id == shop.id,
                                                      ReviewRequest.customer_email_hash == key)
    # An earlier address of the order, only in a stored webhook body: the whole JSON string
    # "zoe@example.com", quotes included, so that bzoe@example.com is not taken for it.
    by_event = select(OrderEvent.order_id).where(
        OrderEvent.shop_id == shop.id,
        func.lower(cast(OrderEvent.payload, Text)).contains(f'"{normalized}"', autoescape=True),
    )
    ids: set[int] = set()
    for query in (by_order, by_request, by_event):
        ids.update(db.session.execute(query).scalars())
    return sorted(ids)
