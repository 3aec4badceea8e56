"""POST /webhooks/v1/<shop key>/order-status (docs/webhooks.md), on SQLite and PostgreSQL.

Every refusal is checked for its RFC 9457 body and for storing nothing at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from conftest import make_app
from factories import make_shop, new_webhook_id, post_event, sign, status_event
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from kingavis.extensions import db
from kingavis.logging import JsonFormatter
from kingavis.models import Order, OrderEvent, RequestDecision, ReviewRequest, ShopStatus
from webhooks.signing import sign as sign_entry

PROBLEM_BASE = "https://kingavis.dev/problems/"
LIMIT = 64 * 1024


def url(shop: Any) -> str:
    return f"/webhooks/v1/{shop.key}/order-status"


def stored() -> dict[str, int]:
    """Row counts of everything a webhook may write."""
    counts = {
        model.__name__: db.session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Order, OrderEvent, ReviewRequest, RequestDecision, ShopStatus)
    }
    db.session.commit()  # end the read transaction (SQLite takes its write lock up front)
    return counts


def signed(secret: str, raw: bytes, content_type: str | None = "application/json",
           webhook_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    headers = sign(secret, raw, webhook_id or new_webhook_id(), timestamp)
    if content_type is None:
        headers.pop("Content-Type")
    else:
        headers["Content-Type"] = content_type
    return headers


def raw_signed(secret: str, raw: bytes, content_type: str = "application/json") -> dict[str, str]:
    """Signed over the raw bytes (the package can only sign text)."""
    webhook_id, ts = new_webhook_id(), int(time.time())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
            "webhook-signature": sign_entry(secret, webhook_id, ts, raw), "Content-Type": content_type}


def assert_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == PROBLEM_BASE + kind
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


# --- accepted -------------------------------------------------------------------------------


def test_a_delivered_order_is_accepted_and_scheduled(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    changed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    webhook_id = new_webhook_id()
    response = post_event(client, shop, secret, status_event("1234", "5", changed_at), webhook_id=webhook_id)

    assert response.status_code == 202
    assert response.mimetype == "application/json"
    assert "Idempotent-Replayed" not in response.headers
    body = response.get_json()
    assert body["webhook_id"] == webhook_id
    assert body["order_id"] == "1234"
    assert body["outcome"] == "scheduled"
    request = body["review_request"]
    assert request["state"] == "scheduled"
    assert request["reason"] is None
    assert request["due_at"] == (changed_at + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    counts = stored()
    assert counts["OrderEvent"] == 1
    assert counts["ReviewRequest"] == 1


def test_the_raw_body_is_kept_with_unknown_fields(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    body = status_event(status_id="2", module_version="1.4.0")
    body["data"]["order"]["total_paid"] = "49.90"
    response = post_event(client, shop, secret, body)
    assert response.status_code == 202
    assert response.get_json()["outcome"] == "recorded"
    event = db.session.execute(select(OrderEvent)).scalar_one()
    assert event.payload == body
    assert event.payload["data"]["order"]["total_paid"] == "49.90"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON; charset=UTF-8"])
def test_json_content_types_are_accepted(client: Any, shop_and_secret: Any, content_type: str) -> None:
    shop, secret = shop_and_secret
    raw = json.dumps(status_event(status_id="2")).encode()
    response = client.post(url(shop), data=raw, headers=signed(secret, raw, content_type))
    assert response.status_code == 202


def test_a_body_of_exactly_64_kib_is_accepted(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    body = status_event(status_id="2", padding="")
    base = len(json.dumps(body).encode())
    body["data"]["padding"] = "x" * (LIMIT - base)
    raw = json.dumps(body).encode()
    assert len(raw) == LIMIT
    response = client.post(url(shop), data=raw, headers=signed(secret, raw))
    assert response.status_code == 202


# --- replay ---------------------------------------------------------------------------------


def test_the_same_webhook_id_again_replays_the_first_answer(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    webhook_id = new_webhook_id()
    body = status_event("77", "5", datetime.now(UTC) - timedelta(days=1))
    first = post_event(client, shop, secret, body, webhook_id=webhook_id)
    assert first.status_code == 202
    # A later cancellation changes the request, but the replay still answers the first outcome.
    cancel = post_event(client, shop, secret, status_event("77", "6", datetime.now(UTC)))
    assert cancel.get_json()["outcome"] == "cancelled"

    again = post_event(client, shop, secret, body, webhook_id=webhook_id)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.get_json()["review_request"]["state"] == "scheduled"
    assert stored()["OrderEvent"] == 2


# --- refusals: problem body, nothing stored -------------------------------------------------

Case = Callable[[Any, str], tuple[str, bytes, dict[str, str]]]


def _valid_raw() -> bytes:
    return json.dumps(status_event(status_id="5", changed_at=datetime.now(UTC))).encode()


def _sig_case(mutate: Callable[[dict[str, str]], None], secret: str | None = None) -> Case:
    def build(shop: Any, shop_secret: str) -> tuple[str, bytes, dict[str, str]]:
        raw = _valid_raw()
        headers = signed(secret or shop_secret, raw)
        mutate(headers)
        return url(shop), raw, headers
    return build


def _drop_all(headers: dict[str, str]) -> None:
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers.pop(name)


def _set(name: str, value: str) -> Callable[[dict[str, str]], None]:
    return lambda headers: headers.__setitem__(name, value)


def _timestamp_shift(seconds: int) -> Case:
    def build(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
        raw = _valid_raw()
        return url(shop), raw, signed(secret, raw, timestamp=int(time.time()) + seconds)
    return build


def _tampered(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
    raw = _valid_raw()
    headers = signed(secret, raw)
    return url(shop), raw.replace(b'"5"', b'"6"', 1), headers


def _non_utf8_unsigned(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
    raw = b'{"type": "order.status_changed", "x": "\xe9\xff"}'
    headers = signed(secret, b"{}")
    return url(shop), raw, headers


UNAUTHORIZED: dict[str, Case] = {
    "no signature headers": _sig_case(_drop_all),
    "bad signature": _sig_case(_set("webhook-signature", "v1," + base64.b64encode(b"0" * 32).decode())),
    "wrong secret": _sig_case(lambda h: None, secret="whsec_" + base64.b64encode(b"k" * 32).decode()),
    "expired timestamp": _timestamp_shift(-600),
    "future timestamp": _timestamp_shift(600),
    "malformed signature header": _sig_case(_set("webhook-signature", "v1,a,b v1 ,,, v1,%%%")),
    "malformed timestamp": _sig_case(_set("webhook-timestamp", "1.7e9")),
    "over-long webhook id": _sig_case(_set("webhook-id", "m" * 300)),
    "body changed after signing": _tampered,
    "non-UTF-8 body, unsigned": _non_utf8_unsigned,
}


def _unknown_shop(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
    raw = _valid_raw()
    return "/webhooks/v1/shp_doesnotexist/order-status", raw, signed(secret, raw)


def _too_long_key(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
    raw = _valid_raw()
    return f"/webhooks/v1/{'k' * 500}/order-status", raw, signed(secret, raw)


def _oversized(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
    body = status_event(status_id="5", padding="x" * LIMIT)
    raw = json.dumps(body).encode()
    return url(shop), raw, signed(secret, raw)


def _oversized_unknown_shop(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
    raw = b"x" * (LIMIT + 1)
    return "/webhooks/v1/shp_doesnotexist/order-status", raw, {"Content-Type": "application/json"}


def _content_type(content_type: str | None) -> Case:
    def build(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
        raw = _valid_raw()
        return url(shop), raw, signed(secret, raw, content_type)
    return build


def _body(raw: bytes) -> Case:
    def build(shop: Any, secret: str) -> tuple[str, bytes, dict[str, str]]:
        return url(shop), raw, raw_signed(secret, raw)
    return build


REFUSALS: dict[str, tuple[int, str, Case]] = {
    **{f"401 {name}": (401, "invalid-signature", case) for name, case in UNAUTHORIZED.items()},
    "404 unknown shop key": (404, "unknown-shop", _unknown_shop),
    "404 absurd shop key": (404, "unknown-shop", _too_long_key),
    "413 body over 64 KiB": (413, "payload-too-large", _oversized),
    "413 before 404": (413, "payload-too-large", _oversized_unknown_shop),
    "415 text/plain": (415, "unsupported-media-type", _content_type("text/plain")),
    "415 no content type": (415, "unsupported-media-type", _content_type(None)),
    "415 form": (415, "unsupported-media-type", _content_type("application/x-www-form-urlencoded")),
    "415 latin-1 charset": (415, "unsupported-media-type", _content_type("application/json; charset=latin-1")),
    "400 not JSON": (400, "invalid-json", _body(b"type=order.status_changed")),
    "400 empty body": (400, "invalid-json", _body(b"")),
    "400 truncated JSON": (400, "invalid-json", _body(_valid_raw()[:-1])),
    "400 array": (400, "invalid-json", _body(b"[1, 2]")),
    "400 string": (400, "invalid-json", _body(b'"order.status_changed"')),
    "400 null": (400, "invalid-json", _body(b"null")),
    "400 NaN": (400, "invalid-json", _body(b'{"type": NaN}')),
    "400 non-UTF-8 body, signed": (400, "invalid-json", _body(b'{"type": "\xe9"}')),
    "400 deeply nested": (400, "invalid-json", _body(b"[" * 30000 + b"]" * 30000)),
}


@pytest.mark.parametrize("status, kind, case", REFUSALS.values(), ids=REFUSALS.keys())
def test_refused_requests_answer_a_problem_and_store_nothing(
    client: Any, shop_and_secret: Any, status: int, kind: str, case: Case
) -> None:
    shop, secret = shop_and_secret
    before = stored()
    path, raw, headers = case(shop, secret)
    response = client.post(path, data=raw, headers=headers)
    assert_problem(response, status, kind)
    assert stored() == before


def test_401_says_why(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    raw = _valid_raw()
    expired = client.post(url(shop), data=raw, headers=signed(secret, raw, timestamp=int(time.time()) - 600))
    assert "webhook-timestamp" in assert_problem(expired, 401, "invalid-signature")["detail"]
    missing = client.post(url(shop), data=raw, headers={"Content-Type": "application/json"})
    assert assert_problem(missing, 401, "invalid-signature")["detail"] == (
        "missing header(s): webhook-id, webhook-timestamp, webhook-signature"
    )


def test_an_unsigned_request_learns_nothing_about_the_body(client: Any, shop_and_secret: Any) -> None:
    """Without a valid signature, bad content type, bad JSON and bad schema all look alike."""
    shop, _ = shop_and_secret
    for raw, content_type in ((b"not json", "text/plain"), (b"[]", "application/json"),
                              (json.dumps({"type": "nope"}).encode(), "application/json")):
        response = client.post(url(shop), data=raw, headers={
            "Content-Type": content_type, "webhook-id": "msg_x",
            "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"})
        assert_problem(response, 401, "invalid-signature")


@pytest.mark.parametrize("length", [LIMIT + 1, 16 * 1024 * 1024])
def test_a_lying_content_length_is_refused_without_reading(
    client: Any, shop_and_secret: Any, length: int
) -> None:
    shop, secret = shop_and_secret
    raw = _valid_raw()
    read: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            read.append(len(chunk))
            return chunk

    response = client.post(url(shop), input_stream=Recording(raw), headers=signed(secret, raw),
                           environ_overrides={"CONTENT_LENGTH": str(length)})
    assert_problem(response, 413, "payload-too-large")
    assert sum(read) == 0


def test_a_body_without_length_is_read_only_up_to_the_limit(client: Any, shop_and_secret: Any) -> None:
    """Chunked uploads have no Content-Length: the endpoint stops reading at limit + 1 bytes."""
    shop, secret = shop_and_secret
    raw = b"x" * (LIMIT * 4)
    read: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            read.append(len(chunk))
            return chunk

        def readinto(self, buffer: Any) -> int:
            count = super().readinto(buffer)
            read.append(count)
            return count

    before = stored()
    response = client.post(url(shop), input_stream=Recording(raw), headers=signed(secret, raw),
                           environ_base={"wsgi.input_terminated": True})
    assert_problem(response, 413, "payload-too-large")
    assert sum(read) <= LIMIT + 1
    assert stored() == before


# --- 422: every field error by its path -----------------------------------------------------


def test_schema_violations_list_every_field_by_path(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    body = status_event(status_id="5", email="zoe.example.com", changed_at="2026-11-22T10:00:00")
    body["type"] = "order.created"
    body["data"]["order"]["id"] = 1234
    body["data"]["order"]["customer"]["review_consent"] = "yes"
    body["data"]["order"]["customer"]["first_name"] = "Z" * 201
    body["data"]["order"]["placed_at"] = "last tuesday"
    del body["data"]["status"]["name"]
    body["data"]["previous_status"] = "4"
    before = stored()

    response = post_event(client, shop, secret, body)

    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"] == {
        "type": ['must be "order.status_changed"'],
        "data.order.id": ['must be a string, e.g. "1234" (send ids as JSON strings, not numbers)'],
        "data.order.customer.email": ["must be a valid email address, e.g. zoe@example.com"],
        "data.order.customer.review_consent": ["must be true or false"],
        "data.order.customer.first_name": ["must be at most 200 characters"],
        "data.order.placed_at": [
            "must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-22T10:00:00+01:00"],
        "data.status.name": ["is required"],
        "data.previous_status": ["must be an object"],
        "data.changed_at": ["must carry a UTC offset (Z or ±hh:mm), e.g. 2026-11-22T10:00:00+01:00"],
    }
    assert stored() == before


@pytest.mark.parametrize("change, path", [
    (lambda b: b.pop("type"), "type"),
    (lambda b: b["data"]["order"].pop("id"), "data.order.id"),
    (lambda b: b["data"]["order"]["customer"].pop("email"), "data.order.customer.email"),
    (lambda b: b["data"]["status"].pop("id"), "data.status.id"),
    (lambda b: b["data"]["status"].pop("name"), "data.status.name"),
    (lambda b: b["data"].pop("changed_at"), "data.changed_at"),
    (lambda b: b["data"]["order"].pop("customer"), "data.order.customer"),
    (lambda b: b["data"].pop("status"), "data.status"),
    (lambda b: b.pop("data"), "data"),
], ids=["type", "order.id", "email", "status.id", "status.name", "changed_at", "customer", "status", "data"])
def test_each_required_field_is_required(client: Any, shop_and_secret: Any, change: Any, path: str) -> None:
    shop, secret = shop_and_secret
    body = status_event(status_id="5")
    change(body)
    response = post_event(client, shop, secret, body)
    assert assert_problem(response, 422, "validation-failed")["errors"] == {path: ["is required"]}
    assert stored()["OrderEvent"] == 0


@pytest.mark.parametrize("field, value, message", [
    ("email", "zoe@example.com\r\nBcc: all@example.com", "must not contain control characters"),
    ("email", "z" * 310 + "@example.com", "must be at most 320 characters"),
    ("locale", "fr\nBcc", 'must be a language tag such as "fr" or "fr-FR"'),
])
def test_header_unsafe_customer_fields_are_refused(
    client: Any, shop_and_secret: Any, field: str, value: str, message: str
) -> None:
    shop, secret = shop_and_secret
    body = status_event(status_id="5")
    body["data"]["order"]["customer"][field] = value
    response = post_event(client, shop, secret, body)
    errors = assert_problem(response, 422, "validation-failed")["errors"]
    assert message in errors[f"data.order.customer.{field}"][0]
    assert stored()["Order"] == 0


def test_a_status_id_over_64_characters_is_refused(client: Any, shop_and_secret: Any) -> None:
    shop, secret = shop_and_secret
    response = post_event(client, shop, secret, status_event(status_id="9" * 65))
    assert assert_problem(response, 422, "validation-failed")["errors"] == {
        "data.status.id": ["must be 1 to 64 characters"]}


# --- 429 ------------------------------------------------------------------------------------


@pytest.fixture
def build_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Apps on the test database with config overrides; cleaned up afterwards."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        new = make_app(database_url, tmp_path, **overrides)
        apps.append(new)
        return new

    yield build
    for built in apps:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


def _assert_rate_limited(response: Any) -> None:
    body = assert_problem(response, 429, "rate-limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert body["retry_after"] == retry_after


RATE = {"WEBHOOK_RATE_LIMIT": 2, "WEBHOOK_RATE_WINDOW_SECONDS": 3600}


def test_too_many_requests_for_one_shop_get_429_in_process(build_app: Callable[..., Flask]) -> None:
    limited = build_app(**RATE)
    with limited.app_context():
        shop, secret = make_shop()
        other, other_secret = make_shop("Autre boutique")
        client = limited.test_client()
        # Unsigned requests do not use up the shop's allowance (401 comes first).
        for _ in range(3):
            assert client.post(url(shop), data=b"{}", headers={"Content-Type": "application/json"}).status_code == 401
        for n in range(2):
            assert post_event(client, shop, secret, status_event(f"o{n}", "2")).status_code == 202
        before = stored()
        _assert_rate_limited(post_event(client, shop, secret, status_event("o3", "2")))
        assert stored() == before
        # Another shop has its own allowance.
        assert post_event(client, other, other_secret, status_event("o1", "2")).status_code == 202


def test_the_limit_is_shared_through_redis(build_app: Callable[..., Flask], redis_url: str) -> None:
    """Two app instances (as two worker processes) count against one Redis counter."""
    first = build_app(REDIS_URL=redis_url, **RATE)
    second = build_app(REDIS_URL=redis_url, **RATE)
    with first.app_context():
        made, secret = make_shop()
        shop = SimpleNamespace(key=made.key)
        assert post_event(first.test_client(), shop, secret, status_event("o1", "2")).status_code == 202
    with second.app_context():
        client = second.test_client()
        assert post_event(client, shop, secret, status_event("o2", "2")).status_code == 202
        before = stored()
        _assert_rate_limited(post_event(client, shop, secret, status_event("o3", "2")))
        assert stored() == before


def test_webhooks_still_work_when_redis_is_down(build_app: Callable[..., Flask]) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = build_app(REDIS_URL=f"redis://127.0.0.1:{port}/0", **RATE)
    with down.app_context():
        shop, secret = make_shop()
        client = down.test_client()
        for n in range(3):  # over the limit of 2: the limiter fails open
            assert post_event(client, shop, secret, status_event(f"o{n}", "2")).status_code == 202


def test_a_limit_of_zero_turns_the_limiter_off(build_app: Callable[..., Flask]) -> None:
    unlimited = build_app(WEBHOOK_RATE_LIMIT=0, WEBHOOK_RATE_WINDOW_SECONDS=3600)
    with unlimited.app_context():
        shop, secret = make_shop()
        client = unlimited.test_client()
        for n in range(5):
            assert post_event(client, shop, secret, status_event(f"o{n}", "2")).status_code == 202


# --- logging --------------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def webhook_log() -> Iterator[Collect]:
    """The records of the "kingavis.webhooks" logger (which does not propagate to the root)."""
    logger = logging.getLogger("kingavis.webhooks")
    # Running migrations in this process (alembic's fileConfig) disables existing loggers.
    was_disabled, logger.disabled = logger.disabled, False
    handler = Collect()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.disabled = was_disabled


def _lines(handler: Collect) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in handler.records]


def test_one_log_line_per_request_without_secrets_or_full_email(
    client: Any, shop_and_secret: Any, webhook_log: Collect
) -> None:
    shop, secret = shop_and_secret
    email = "zoe.lukasiewicz@example.com"
    raw = json.dumps(status_event("1234", "5", email=email)).encode()
    webhook_id = new_webhook_id()
    headers = signed(secret, raw, webhook_id=webhook_id)
    accepted = client.post(url(shop), data=raw, headers=headers)
    refused = client.post(url(shop), data=raw, headers={**headers, "webhook-signature": "v1,AAAA"})
    assert (accepted.status_code, refused.status_code) == (202, 401)

    lines = _lines(webhook_log)
    assert len(lines) == 2
    ok, bad = lines
    assert ok["webhook_id"] == webhook_id
    assert ok["shop"] == shop.key
    assert ok["order_id"] == "1234"
    assert ok["outcome"] == "scheduled"
    assert ok["status"] == 202
    assert isinstance(ok["duration_ms"], float)
    assert bad["status"] == 401
    assert bad["outcome"] == "rejected"
    assert bad["problem"] == "invalid-signature"
    assert bad["webhook_id"] == webhook_id

    text = "\n".join(JsonFormatter().format(r) for r in webhook_log.records)
    secret_key = secret.removeprefix("whsec_")
    for forbidden in (secret, secret_key, headers["webhook-signature"].split(",", 1)[1], email,
                      "lukasiewicz"):
        assert forbidden not in text


def test_error_responses_are_logged_too(client: Any, webhook_log: Collect) -> None:
    response = client.post("/webhooks/v1/shp_nope/order-status", data=b"{}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    (line,) = _lines(webhook_log)
    assert line["status"] == 404
    assert line["problem"] == "unknown-shop"
    assert line["shop"] == "shp_nope"


# --- a real HTTP server, a separate process-like client -------------------------------------


def test_end_to_end_over_http_signed_by_the_package(build_app: Callable[..., Flask]) -> None:
    served = build_app()
    with served.app_context():
        shop, secret = make_shop()
        key = shop.key
        db.session.remove()  # the server uses its own connections
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/webhooks/v1/{key}/order-status"
    try:
        raw = json.dumps(status_event("e2e", "5", datetime.now(UTC) - timedelta(days=2))).encode()
        headers = signed(secret, raw)
        first = requests.post(base, data=raw, headers=headers, timeout=30)
        again = requests.post(base, data=raw, headers=headers, timeout=30)

        def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length
            for _ in range(5):
                yield b"x" * (LIMIT // 2)

        big = requests.post(base, data=chunks(), headers=headers, timeout=30)
    finally:
        server.shutdown()
        thread.join(10)
    assert first.status_code == 202
    assert first.json()["outcome"] == "scheduled"
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert big.status_code == 413
    assert big.headers["Content-Type"] == "application/problem+json"
    with served.app_context():
        assert stored()["OrderEvent"] == 1


def test_hmac_over_raw_bytes_is_what_the_contract_says(client: Any, shop_and_secret: Any) -> None:
    """`{id}.{timestamp}.{raw body}` keyed with the decoded secret, computed by hand."""
    shop, secret = shop_and_secret
    raw = json.dumps(status_event(status_id="2"), ensure_ascii=False).encode()
    webhook_id, ts = "msg_by_hand", int(time.time())
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{ts}.".encode() + raw, hashlib.sha256).digest()
    response = client.post(url(shop), data=raw, headers={
        "webhook-id": webhook_id, "webhook-timestamp": str(ts),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "Content-Type": "application/json"})
    assert response.status_code == 202


def test_a_schema_refusal_logs_the_field_paths_not_the_values(
    client: Any, shop_and_secret: Any, webhook_log: Collect
) -> None:
    shop, secret = shop_and_secret
    response = post_event(client, shop, secret, status_event(status_id="5", email="zoe.lukasiewicz@"))
    assert response.status_code == 422
    (line,) = _lines(webhook_log)
    assert line["status"] == 422
    assert line["error_fields"] == ["data.order.customer.email"]
    assert "lukasiewicz" not in JsonFormatter().format(webhook_log.records[0])
