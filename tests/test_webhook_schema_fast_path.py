"""``webhooks.schemas.load_event`` takes a short cut for the common body; it must give exactly
what the marshmallow schema gives, or step aside (and the schema then answers, errors and all).

Differential: the short cut (``_load_fast``) against ``Schema.load`` on real bodies and on
bodies mutated at every path with hostile values (hypothesis).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import status_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from webhooks import schemas
from webhooks.schemas import load_event


def full_load(payload: Any) -> Any:
    try:
        return schemas._schema.load(payload)
    except ValidationError as exc:
        return ("errors", exc.messages)


def assert_same(payload: Any) -> Any:
    fast = schemas._load_fast(schemas._schema, payload)
    full = full_load(payload)
    if fast is not None:
        assert fast == full
        assert list(fast) == list(full)  # the same keys, in the same order
    return fast


def test_the_short_cut_applies_to_the_event_schema() -> None:
    assert schemas._event_is_plain


COMPLETE = {
    "type": "order.status_changed",
    "timestamp": "2026-11-22T09:00:00Z",
    "data": {
        "order": {
            "id": "1234", "reference": "XKBKNABJK", "placed_at": "2026-11-12T09:12:00+01:00",
            "customer": {"email": "zoe@example.com", "first_name": "Zoë", "last_name": "Łukasiewicz",
                         "locale": "fr", "review_consent": True},
        },
        "status": {"id": "5", "name": "Livré", "paid": True, "shipped": True},
        "previous_status": {"id": "4", "name": "Expédié"},
        "changed_at": "2026-11-22T10:00:00+01:00",
    },
}


@pytest.mark.parametrize("payload", [
    COMPLETE,
    status_event(),
    status_event("7", "6", paid=None, consent=None, locale=None, first_name=None, last_name=None,
                 reference=None),
    status_event("8", "2", first_name=" Zo\u2028ë\t", status_name="Payé\n"),  # names cleaned up
    {**COMPLETE, "extra": [1, 2], "data": {**COMPLETE["data"], "previous_status": None,
                                           "unknown": {"x": 1}}},
    {**COMPLETE, "timestamp": None},
])
def test_ordinary_bodies_take_the_short_cut_and_load_the_same(payload: dict[str, Any]) -> None:
    assert assert_same(payload) is not None
    assert load_event(payload) == full_load(payload)


def test_a_refused_body_gets_every_error_from_the_schema() -> None:
    payload = copy.deepcopy(COMPLETE)
    payload["data"]["order"]["customer"]["email"] = "not an address"
    del payload["data"]["status"]["name"]
    payload["data"]["changed_at"] = "2026-11-22T10:00:00"  # no offset
    assert assert_same(payload) is None
    with pytest.raises(ValidationError) as refused:
        load_event(payload)
    assert set(schemas.flatten_errors(refused.value.messages)) == {
        "data.order.customer.email", "data.status.name", "data.changed_at",
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    return found


PATHS = _paths(COMPLETE)
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=80),
    st.sampled_from([
        "", " ", "5", "x" * 64, "x" * 65, "zoe@example.com", "a@[127.0.0.1]", "\"a b\"@example.com",
        "=?utf-8?q?x?=@example.com", "zoe@example", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00",
        "2026-11-22", "1969-12-31T23:59:59Z", "3000-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00", "2026-11-22T10:00:00.123456+01:00", "fr-FR", "fr_fr", "f",
        "order.status_changed", "a\nb", "a\x00b", "\u2028", "Zoë", True, 1.0, [], {}, ["5"],
        {"id": "5"},
    ]),
    st.dictionaries(st.sampled_from(["id", "name", "email", "x"]), st.text(max_size=10), max_size=3),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(HOSTILE, st.just("<drop>"))),
                        min_size=1, max_size=3))
def test_mutated_bodies_load_the_same_or_step_aside(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    payload = copy.deepcopy(COMPLETE)
    for path, value in changes:
        parent = payload
        for key in path[:-1]:
            if not isinstance(parent, dict) or key not in parent:
                break
            parent = parent[key]
        else:
            if isinstance(parent, dict):
                if value == "<drop>":
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = copy.deepcopy(value)
    assert_same(payload)
    try:
        expected: Any = schemas._schema.load(payload)
    except ValidationError as exc:
        expected = exc.messages
    try:
        got: Any = load_event(payload)
    except ValidationError as exc:
        got = exc.messages
    assert got == expected


def test_the_loaded_dates_are_aware_and_the_same_instant() -> None:
    loaded = load_event(COMPLETE)
    assert loaded["data"]["changed_at"] == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert loaded["data"]["changed_at"].utcoffset() is not None


def test_an_address_checked_once_is_judged_the_same_again() -> None:
    for address in ("zoe@example.com", "a@[127.0.0.1]", "zoe@example.com", "a@[127.0.0.1]"):
        payload = copy.deepcopy(COMPLETE)
        payload["data"]["order"]["customer"]["email"] = address
        if address.startswith("zoe"):
            assert load_event(payload)["data"]["order"]["customer"]["email"] == address
        else:
            with pytest.raises(ValidationError):
                load_event(payload)
