"""The order-status webhook body (docs/webhooks.md) as marshmallow schemas.

Choices, documented in ``webhooks/openapi.json`` too:

- Ids (order, status, previous status) are JSON strings, as the contract says. A JSON number
  is refused with a message saying to send it as a string: ``5`` and ``"5"`` must not become
  two different statuses of one shop, and guessing a formatting for ``5.0`` would be worse.
- ``changed_at``, ``placed_at`` and ``timestamp`` are ISO 8601 date-times with a UTC offset
  (``Z`` or ``+01:00``); a naive date-time is refused, never guessed.
- Flags (``paid``, ``shipped``, ``review_consent``) are JSON booleans or ``null``; ``"true"`` or
  ``1`` are refused.
- Unknown fields are accepted and left out of the loaded data (modules may send more than we
  read); the endpoint keeps the raw body separately.
- The customer's email address must be one the mailer accepts (``kingavis.emails``: no quoted
  local part, no IP literal, no encoded word, at most 64 characters before the ``@``).
- Ids and the email address are refused if they hold control characters; line breaks and
  other control characters in customer names are replaced by spaces (a name is not a reason
  to lose a status change).
- ``data.order.items`` (optional, at most 100): ``product_id`` and ``name`` required in each;
  ``gtin`` an EAN-13, UPC-A, GTIN-14 or ISBN-13 whose check digit is right (spaces and
  hyphens dropped); ``url`` and ``image_url`` absolute http(s) URLs; ``quantity`` a whole
  number from 1 (docs/product-reviews.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from stdnum import ean
from stdnum.exceptions import ValidationError as NumberError

from kingavis.emails import InvalidAddress, parse_address

EVENT_TYPE = "order.status_changed"
ERASURE_TYPE = "customer.erasure_requested"
STATES_TYPE = "order_states.synced"
MAX_STATES = 500

MAX_ID = 64
MAX_EMAIL = 320
MAX_NAME = 200
MAX_REFERENCE = 64
MAX_LOCALE = 16
MAX_ITEMS = 100
MAX_PRODUCT_NAME = 200
MAX_MPN = 70
MAX_BRAND = 70
MAX_URL = 500
MAX_QUANTITY = 1_000_000
GTIN_LENGTHS = (12, 13, 14)  # UPC-A; EAN-13 and ISBN-13; GTIN-14
MIN_YEAR = 1970
MAX_YEAR = 2999

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")

STRING_MESSAGES = {"invalid": "must be a string"}
ID_MESSAGES = {"invalid": 'must be a string, e.g. "1234" (send ids as JSON strings, not numbers)'}
DATETIME_MESSAGES = {
    "invalid": "must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-22T10:00:00+01:00",
    "invalid_awareness": "must carry a UTC offset (Z or ±hh:mm), e.g. 2026-11-22T10:00:00+01:00",
}
REQUIRED_MESSAGES = {"required": "is required", "null": "must not be null"}


def _no_control_characters(value: str) -> None:
    if _CONTROL.search(value):
        raise ValidationError("must not contain control characters (line breaks, tabs, …)")


def _mailable(value: str) -> None:
    # The mailer's own rules (kingavis.emails): an address it would refuse is refused here.
    try:
        parse_address(value)
    except InvalidAddress:
        raise ValidationError("must be a valid email address, e.g. zoe@example.com") from None


def _language_tag(value: str) -> None:
    if not _LOCALE.fullmatch(value):
        raise ValidationError('must be a language tag such as "fr" or "fr-FR"')


def _single_line(value: str | None) -> str | None:
    if value is None:
        return None
    return _CONTROL.sub(" ", value).strip()


class StrictBoolean(fields.Boolean):
    """true, false (or null where allowed); no "yes", 1 or "true"."""

    default_error_messages = {"invalid": "must be true or false"}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _messages(*groups: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for group in groups:
        merged.update(group)
    return merged


def _id(required: bool) -> fields.String:
    return fields.String(
        required=required,
        allow_none=not required,
        validate=[
            validate.Length(min=1, max=MAX_ID, error=f"must be 1 to {MAX_ID} characters"),
            _no_control_characters,
        ],
        error_messages=_messages(ID_MESSAGES, REQUIRED_MESSAGES),
    )


def _text(max_length: int, *, required: bool = False, single_line: bool = False) -> fields.String:
    return fields.String(
        required=required,
        allow_none=not required,
        validate=validate.Length(
            min=1 if required else 0,
            max=max_length,
            error=f"must be 1 to {max_length} characters"
            if required
            else f"must be at most {max_length} characters",
        ),
        post_load=_single_line if single_line else None,
        error_messages=_messages(STRING_MESSAGES, REQUIRED_MESSAGES),
    )


def _plausible_datetime(value: datetime) -> None:
    # Out-of-range years would overflow once converted to UTC or shifted by a delay.
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationError(f"must be between the years {MIN_YEAR} and {MAX_YEAR}")


def _datetime(required: bool) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        format="iso",
        required=required,
        allow_none=not required,
        validate=_plausible_datetime,
        error_messages=_messages(DATETIME_MESSAGES, REQUIRED_MESSAGES),
    )


def _flag() -> StrictBoolean:
    return StrictBoolean(allow_none=True)


def _test_flag() -> StrictBoolean:
    """``"test": true`` makes a test event: checked like any other, stored nowhere
    (docs/webhooks.md). Absent means false; null or a string is refused."""
    return StrictBoolean(load_default=False, error_messages={"null": "must be true or false"})


def _nested(schema: type[Schema], required: bool) -> fields.Nested:
    return fields.Nested(
        schema,
        required=required,
        allow_none=not required,
        error_messages=_messages({"type": "must be an object"}, REQUIRED_MESSAGES),
    )


def _event_type(expected: str) -> fields.String:
    """The body's ``type``: each endpoint takes exactly one, so a body sent to the wrong
    address is refused rather than read as something else."""
    return fields.String(
        required=True,
        validate=validate.Equal(expected, error=f'must be "{expected}"'),
        error_messages=_messages(STRING_MESSAGES, REQUIRED_MESSAGES),
    )


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE

    error_messages = {"type": "must be an object"}


def _email() -> fields.String:
    return fields.String(
        required=True,
        validate=[
            validate.Length(max=MAX_EMAIL, error=f"must be at most {MAX_EMAIL} characters"),
            _no_control_characters,
            _mailable,
        ],
        error_messages=_messages(STRING_MESSAGES, REQUIRED_MESSAGES),
    )


def _short(max_length: int, check: Callable[[str], None] = _no_control_characters) -> fields.String:
    """An optional string of at most ``max_length`` characters that ``check`` accepts."""
    return fields.String(
        allow_none=True,
        validate=[
            validate.Length(max=max_length, error=f"must be at most {max_length} characters"),
            check,
        ],
        error_messages=STRING_MESSAGES,
    )


class CustomerSchema(_Base):
    email = _email()
    first_name = _text(MAX_NAME, single_line=True)
    last_name = _text(MAX_NAME, single_line=True)
    locale = _short(MAX_LOCALE, _language_tag)
    review_consent = _flag()


def _gtin(value: str) -> str:
    """A GTIN with a right check digit, in its compact form (digits only)."""
    digits = ean.compact(value)
    if not digits.isascii() or not digits.isdigit() or len(digits) not in GTIN_LENGTHS:
        raise ValidationError("must be an EAN-13, UPC-A, GTIN-14 or ISBN-13 (12 to 14 digits)")
    try:
        return ean.validate(digits)
    except NumberError:
        raise ValidationError("check digit is wrong: this is not a valid GTIN") from None


class GtinField(fields.String):
    default_error_messages = STRING_MESSAGES

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        return _gtin(super()._deserialize(value, attr, data, **kwargs))


def _http_url(value: str) -> None:
    from urllib.parse import urlsplit

    if _CONTROL.search(value) or any(ch.isspace() for ch in value):
        raise ValidationError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValidationError("must be an absolute http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError("must be an absolute http(s) URL, e.g. https://shop.example/p/42")
    if parts.username or parts.password:
        raise ValidationError("must not contain a user name or password")


def _url() -> fields.String:
    return _short(MAX_URL, _http_url)


class StrictInteger(fields.Integer):
    """A JSON whole number; no "1", no 1.5, no true."""

    default_error_messages = {"invalid": "must be a whole number"}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class ItemSchema(_Base):
    """One product of the order (docs/product-reviews.md)."""

    product_id = _id(required=True)
    variant_id = _id(required=False)
    name = _text(MAX_PRODUCT_NAME, required=True, single_line=True)
    reference = _short(MAX_REFERENCE)
    gtin = GtinField(allow_none=True)
    mpn = _short(MAX_MPN)
    brand = _short(MAX_BRAND)
    url = _url()
    image_url = _url()
    quantity = StrictInteger(
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_QUANTITY,
                                error=f"must be from 1 to {MAX_QUANTITY}"),
    )


class OrderSchema(_Base):
    id = _id(required=True)
    reference = _short(MAX_REFERENCE)
    placed_at = _datetime(required=False)
    customer = _nested(CustomerSchema, required=True)
    items = fields.List(
        fields.Nested(ItemSchema, error_messages={"type": "must be an object"}),
        allow_none=True,
        validate=validate.Length(max=MAX_ITEMS, error=f"must hold at most {MAX_ITEMS} items"),
        error_messages={"invalid": "must be a list"},
    )


class StatusSchema(_Base):
    id = _id(required=True)
    name = _text(MAX_NAME, required=True, single_line=True)
    paid = _flag()
    shipped = _flag()


class PreviousStatusSchema(_Base):
    id = _id(required=False)
    name = _text(MAX_NAME, single_line=True)


class EventDataSchema(_Base):
    order = _nested(OrderSchema, required=True)
    status = _nested(StatusSchema, required=True)
    previous_status = _nested(PreviousStatusSchema, required=False)
    changed_at = _datetime(required=True)


class OrderStatusEventSchema(_Base):
    """``POST /webhooks/v1/<shop key>/order-status`` body. ``load`` returns the data for
    :func:`kingavis.orders.events.apply_status_event` or raises :class:`ValidationError`."""

    type = _event_type(EVENT_TYPE)
    timestamp = _datetime(required=False)
    data = _nested(EventDataSchema, required=True)
    test = _test_flag()


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as ``{"data.order.customer.email": [messages]}``.

    A schema-level error (``_schema``) belongs to the object that holds it; list indexes
    become path segments too.
    """
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            # A schema-level error belongs to the object itself.
            path = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            for sub_path, sub_messages in flatten_errors(value, path).items():
                flat.setdefault(sub_path, []).extend(sub_messages)
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            flat.setdefault(prefix or "$", []).extend(messages)
        else:
            for item in messages:
                for sub_path, sub_messages in flatten_errors(item, prefix).items():
                    flat.setdefault(sub_path, []).extend(sub_messages)
    else:
        flat.setdefault(prefix or "$", []).append(str(messages))
    return flat


class ErasureCustomerSchema(_Base):
    email = _email()


class ErasureDataSchema(_Base):
    customer = _nested(ErasureCustomerSchema, required=True)


class CustomerErasureSchema(_Base):
    """``POST /webhooks/v1/<shop key>/customer-erasure`` body (docs/personal-data.md)."""

    type = _event_type(ERASURE_TYPE)
    timestamp = _datetime(required=False)
    data = _nested(ErasureDataSchema, required=True)
    test = _test_flag()


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _distinct_ids(states: list[dict[str, Any]]) -> None:
    """Each status once: two entries with one id would leave its name to chance."""
    first: dict[str, int] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for index, state in enumerate(states):
        if state["id"] in first:
            errors[index] = {"id": [f"is already at index {first[state['id']]}; list each status once"]}
        else:
            first[state["id"]] = index
    if errors:
        raise ValidationError(errors)  # type: ignore[arg-type]


class DeclaredStateSchema(_Base):
    id = _id(required=True)
    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_NAME, error=f"must be 1 to {MAX_NAME} characters"),
            _not_blank,
        ],
        post_load=_single_line,
        error_messages=_messages(STRING_MESSAGES, REQUIRED_MESSAGES),
    )
    paid = _flag()
    shipped = _flag()
    delivered = _flag()


class OrderStatesDataSchema(_Base):
    states = fields.List(
        fields.Nested(DeclaredStateSchema, error_messages={"type": "must be an object"}),
        required=True,
        validate=[
            validate.Length(min=1, max=MAX_STATES,
                            error=f"must list 1 to {MAX_STATES} statuses"),
            _distinct_ids,
        ],
        error_messages=_messages({"invalid": "must be a list"}, REQUIRED_MESSAGES),
    )


class OrderStatesSchema(_Base):
    """``PUT /webhooks/v1/<shop key>/order-states`` body: every status the shop has."""

    type = _event_type(STATES_TYPE)
    timestamp = _datetime(required=False)
    data = _nested(OrderStatesDataSchema, required=True)
    test = _test_flag()


_schema = OrderStatusEventSchema()
_erasure_schema = CustomerErasureSchema()
_states_schema = OrderStatesSchema()


def load_event(payload: Any) -> dict[str, Any]:
    """Validate a parsed webhook body. Raises :class:`ValidationError` whose
    ``normalized_messages()`` flatten with :func:`flatten_errors`."""
    return _schema.load(payload)


def load_erasure(payload: Any) -> dict[str, Any]:
    """Validate a parsed erasure webhook body; raises :class:`ValidationError` like
    :func:`load_event`."""
    return _erasure_schema.load(payload)


def load_states(payload: Any) -> dict[str, Any]:
    """Validate a parsed order-states body; raises :class:`ValidationError` like
    :func:`load_event`."""
    return _states_schema.load(payload)
