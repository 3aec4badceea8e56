"""Standard Webhooks signatures: interoperability with the `standardwebhooks` package,
malformed input (always a SignatureError, never a crash), and secret rotation through the
endpoint on both databases."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, post_event, sign, status_event
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from standardwebhooks import Webhook

from kingavis.extensions import db
from kingavis.models import OrderEvent, ShopSecret
from kingavis.shops.service import new_webhook_secret
from webhooks import signing
from webhooks.signing import SignatureError, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + base64.b64encode(b"another shop's key, 32 bytes!!!").decode()
NOW = 1_795_338_000  # 2026-11-22T09:00:00Z
BODY = json.dumps(status_event(changed_at="2026-11-22T10:00:00+01:00")).encode()


def library_headers(secret: str, body: bytes, webhook_id: str = "msg_1", ts: int = NOW) -> dict[str, str]:
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(ts, UTC), body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


# --- interoperability ----------------------------------------------------------------------


def test_a_request_signed_by_the_standardwebhooks_package_verifies() -> None:
    headers = library_headers(SECRET, BODY)
    assert verify([SECRET], headers, BODY, now=NOW) == "msg_1"


def test_our_signature_verifies_with_the_standardwebhooks_package() -> None:
    now = int(time.time())
    headers = {
        "webhook-id": "msg_ours",
        "webhook-timestamp": str(now),
        "webhook-signature": signing.sign(SECRET, "msg_ours", now, BODY),
    }
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_several_signatures_in_the_header_one_valid_is_enough() -> None:
    good = library_headers(SECRET, BODY)["webhook-signature"]
    wrong = library_headers(OTHER_SECRET, BODY)["webhook-signature"]
    headers = library_headers(SECRET, BODY)
    headers["webhook-signature"] = f"v1a,c29tZXRoaW5nIGFzeW1tZXRyaWM= {wrong} v1,!!notbase64 {good}"
    assert verify([SECRET], headers, BODY, now=NOW) == "msg_1"


def test_any_of_the_shops_secrets_may_match() -> None:
    headers = library_headers(OTHER_SECRET, BODY)
    assert verify([SECRET, OTHER_SECRET], headers, BODY, now=NOW) == "msg_1"
    with pytest.raises(SignatureError, match="no signature matches"):
        verify([SECRET], headers, BODY, now=NOW)


@pytest.mark.parametrize("offset, accepted", [(-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_tolerance_is_five_minutes_either_way(offset: int, accepted: bool) -> None:
    headers = library_headers(SECRET, BODY, ts=NOW + offset)
    if accepted:
        assert verify([SECRET], headers, BODY, now=NOW) == "msg_1"
    else:
        with pytest.raises(SignatureError, match="webhook-timestamp is more than 300 seconds"):
            verify([SECRET], headers, BODY, now=NOW)


def test_the_signature_covers_id_timestamp_and_every_byte_of_the_body() -> None:
    headers = library_headers(SECRET, BODY)
    with pytest.raises(SignatureError):
        verify([SECRET], headers, BODY + b" ", now=NOW)
    with pytest.raises(SignatureError):
        verify([SECRET], {**headers, "webhook-id": "msg_2"}, BODY, now=NOW)
    with pytest.raises(SignatureError):
        verify([SECRET], {**headers, "webhook-timestamp": str(NOW + 1)}, BODY, now=NOW)


# --- malformed input: a SignatureError with a clear message, never another exception --------


def _with(**changes: str | None) -> dict[str, str]:
    headers = library_headers(SECRET, BODY)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return headers


MALFORMED = [
    ("no headers", {}, "missing header(s): webhook-id, webhook-timestamp, webhook-signature"),
    ("no signature", _with(webhook_signature=None), "missing header(s): webhook-signature"),
    ("empty id", _with(webhook_id=""), "missing header(s): webhook-id"),
    ("id with a space", _with(webhook_id="msg 1"), "webhook-id must be 1 to 255"),
    ("id too long", _with(webhook_id="m" * 256), "webhook-id must be 1 to 255"),
    ("non-ASCII id", _with(webhook_id="msg_é"), "webhook-id must be 1 to 255"),
    ("timestamp in ms", _with(webhook_timestamp=str(NOW * 1000)), "Unix time in whole seconds"),
    ("decimal timestamp", _with(webhook_timestamp=f"{NOW}.5"), "Unix time in whole seconds"),
    ("exponent timestamp", _with(webhook_timestamp="1.7e9"), "Unix time in whole seconds"),
    ("negative timestamp", _with(webhook_timestamp="-1"), "Unix time in whole seconds"),
    ("huge timestamp", _with(webhook_timestamp="9" * 400), "Unix time in whole seconds"),
    ("text timestamp", _with(webhook_timestamp="yesterday"), "Unix time in whole seconds"),
    ("no comma", _with(webhook_signature="v1"), "holds no v1,<base64> entry"),
    ("bad base64", _with(webhook_signature="v1,!!!"), "holds no v1,<base64> entry"),
    ("other version only", _with(webhook_signature="v2,AAAA"), "holds no v1,<base64> entry"),
    ("too many commas", _with(webhook_signature="v1,a,b"), "holds no v1,<base64> entry"),
    ("truncated digest", _with(webhook_signature="v1,AAAA"), "no signature matches"),
    ("empty digest", _with(webhook_signature="v1,"), "no signature matches"),
]


@pytest.mark.parametrize("headers, message", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_headers_are_refused_with_a_clear_reason(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify([SECRET], headers, BODY, now=NOW)
    assert message in str(caught.value)


@pytest.mark.parametrize(("headers", "message"), [
    (_with(webhook_timestamp="yesterday"), "webhook-timestamp must be Unix time in whole seconds"),
    (_with(webhook_signature="v2,AAAA"), "webhook-signature holds no v1,<base64> entry"),
    (_with(webhook_id="msg 1"), "webhook-id must be 1 to 255 visible ASCII characters"),
])
def test_the_reason_sent_back_is_worded_exactly(headers: dict[str, str], message: str) -> None:
    """The 401 problem's detail is this text as it is: the shop's developers read it."""
    with pytest.raises(SignatureError) as caught:
        verify([SECRET], headers, BODY, now=NOW)
    assert str(caught.value) == message


def test_the_webhook_id_is_read_for_the_log_only_when_well_formed() -> None:
    assert signing.webhook_id_of({"webhook-id": " msg_1 "}) == "msg_1"
    assert signing.webhook_id_of({"webhook-id": "msg 1"}) is None
    assert signing.webhook_id_of({"webhook-id": "m" * 256}) is None
    assert signing.webhook_id_of({}) is None


def test_a_non_utf8_body_is_a_signature_failure_not_a_crash() -> None:
    body = "é".encode("latin-1") + BODY
    headers = library_headers(SECRET, BODY)
    with pytest.raises(SignatureError):
        verify([SECRET], headers, body, now=NOW)


def test_a_secret_is_decoded_with_or_without_its_whsec_prefix() -> None:
    key = b"a shop's key of 32 bytes, random"
    encoded = base64.b64encode(key).decode()
    assert signing.decode_secret("whsec_" + encoded) == key
    assert signing.decode_secret(encoded) == key  # as the standardwebhooks package accepts it
    assert Webhook(encoded).sign("msg_1", datetime.fromtimestamp(NOW, UTC), "{}") == \
        signing.sign(encoded, "msg_1", NOW, b"{}")


@pytest.mark.parametrize(("secret", "message"), [
    ("whsec_not*base64", "webhook secret is not valid base64"),
    ("whsec_", "webhook secret is empty"),
])
def test_a_broken_secret_says_what_is_wrong(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        signing.decode_secret(secret)


def test_a_broken_secret_is_skipped_and_the_others_still_tried() -> None:
    headers = library_headers(SECRET, BODY)
    assert verify(["whsec_", "whsec_%%%", SECRET], headers, BODY, now=NOW) == "msg_1"
    with pytest.raises(SignatureError):
        verify([], headers, BODY, now=NOW)


@settings(max_examples=300, deadline=None)
@given(
    webhook_id=st.text(max_size=300),
    timestamp=st.text(max_size=30) | st.integers(NOW - 400, NOW + 400).map(str),
    signature=st.text(max_size=200)
    | st.lists(st.binary(max_size=40).map(lambda b: "v1," + base64.b64encode(b).decode()), max_size=4).map(" ".join),
    body=st.binary(max_size=200),
)
def test_any_input_gives_a_webhook_id_or_a_signature_error(
    webhook_id: str, timestamp: str, signature: str, body: bytes
) -> None:
    headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    try:
        result = verify([SECRET, OTHER_SECRET], headers, body, now=NOW)
    except SignatureError as exc:
        assert str(exc)
    else:  # only a real signature gets through; random ones never match
        pytest.fail(f"unsigned input accepted: {result!r}")


# --- rotation, through the endpoint, on both databases --------------------------------------


def _events() -> int:
    return db.session.execute(select(func.count()).select_from(OrderEvent)).scalar_one()


def _rotate(shop: Any, old_expires_at: datetime) -> str:
    """A new secret for the shop; the old one keeps working until old_expires_at."""
    for existing in shop.secrets:
        existing.expires_at = old_expires_at
    new = new_webhook_secret()
    shop.secrets.append(ShopSecret(secret=new))
    db.session.commit()
    return new


def test_after_rotation_both_secrets_work_until_the_old_one_expires(client: Any) -> None:
    shop, old = make_shop()
    new = _rotate(shop, old_expires_at=datetime.now(UTC) + timedelta(hours=1))

    for n, secret in enumerate((old, new)):
        response = post_event(client, shop, secret, status_event(order_id=f"r{n}", status_id="2"))
        assert response.status_code == 202, response.get_json()
    assert _events() == 2


def test_an_expired_secret_is_refused_and_stores_nothing(client: Any) -> None:
    shop, old = make_shop()
    new = _rotate(shop, old_expires_at=datetime.now(UTC) - timedelta(seconds=1))

    refused = post_event(client, shop, old, status_event(order_id="r1", status_id="2"))
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "no signature matches the shop's webhook secret"
    assert _events() == 0

    accepted = post_event(client, shop, new, status_event(order_id="r1", status_id="2"))
    assert accepted.status_code == 202
    assert _events() == 1


def test_one_valid_signature_among_several_is_accepted_by_the_endpoint(client: Any) -> None:
    shop, secret = make_shop()
    raw = json.dumps(status_event(status_id="2")).encode()
    webhook_id = new_webhook_id()
    good = sign(secret, raw, webhook_id)
    wrong = sign(OTHER_SECRET, raw, webhook_id)["webhook-signature"]
    good["webhook-signature"] = f"{wrong} v1,{base64.b64encode(b'x' * 32).decode()} {good['webhook-signature']}"
    response = client.post(f"/webhooks/v1/{shop.key}/order-status", data=raw, headers=good)
    assert response.status_code == 202
    assert response.get_json()["webhook_id"] == webhook_id
