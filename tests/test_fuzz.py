"""Fuzzing every public entry point: no input may get a 5xx or write a traceback to the log.

- Schema-driven (schemathesis): every operation of every OpenAPI document in ``PUBLIC_APIS``,
  positive and negative cases, each request signed by the ``before_call`` hook below as a shop
  module would sign it, so the cases reach the body's parsing and the database.
- Hostile values (hypothesis): unstorable JSON numbers and strings spliced into real webhook
  bodies, hostile query strings on the back-office lists (``BACK_OFFICE_PAGES``, logged in),
  hostile tokens and query strings on the customer pages (``CUSTOMER_ROUTES``).
- Merchant text (``MERCHANT_TEXTS``): RFC 2047 encoded words (q and b, any charset case,
  decoding to line breaks, NUL or plain text) in every merchant-controlled text, typed in the
  back-office and the CLI or already stored: never a 5xx, never saved, never a header of its
  own in a message (docs/email-headers.md).
- Customer names: a first name (or last name) that is an email address, a phone number or a
  link never reaches a public author name (``kingavis.reviews.public.author_display``).

A new public endpoint joins by adding its OpenAPI URL to ``PUBLIC_APIS`` (with, if it is
signed, its path prefix to ``SIGNED_PATHS``), or its route to ``CUSTOMER_ROUTES`` /
``BACK_OFFICE_PAGES``. The example counts keep the whole file to a few hundred requests per
database (well under a minute of CPU on the development machine).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from factories import make_shop, status_event
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete, select, update

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from webhooks.signing import sign as sign_entry

# Public OpenAPI documents fuzzed by schema; later public APIs add theirs here.
PUBLIC_APIS = ["/webhooks/openapi.json", "/api/v1/openapi.json"]
# Operations under these path prefixes are signed with the shop's webhook secret.
SIGNED_PATHS = ("/webhooks/v1/",)
# Customer pages: routes with a {token}, and the query parameters they read.
CUSTOMER_ROUTES = ["/r/{token}", "/u/{token}", "/c/{token}", "/o/{token}.gif",
                   "/avis/{token}", "/avis/{token}/charte"]
CUSTOMER_PARAMS = ["to", "lang", "page", "x", "rating", "sort"]
# Back-office pages of a shop, and the query parameters they read.
BACK_OFFICE_PAGES = ["", "/pending", "/weekly", "/orders", "/history", "/reviews", "/stats",
                     "/audit", "/settings", "/collection", "/credentials", "/email", "/customers"]
BACK_OFFICE_PARAMS = ["q", "status", "due", "stale_days", "unpaid", "undelivered",
                      "open_status", "page", "state", "reason", "date_from", "date_to",
                      "rating", "action", "next"]

SCHEMA_EXAMPLES = 40  # per operation and generation mode
HOSTILE_EXAMPLES = 40
PASSWORD = "correct horse battery"
MERCHANT = "marie.merchant@kingavis.example"

FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

# The shop whose key and secret the hook signs with (set by the running test).
_target: dict[str, str] = {}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Sign the request as a shop module does: the body's exact bytes, a fresh id, now."""
    if not _target or not case.operation.path.startswith(SIGNED_PATHS):
        return
    if case.body is None or type(case.body).__name__ == "NotSet":
        raw = b""
    elif isinstance(case.body, bytes):
        raw = case.body
    else:
        raw = json.dumps(case.body).encode()
    kwargs["data"] = raw
    webhook_id = f"msg_fuzz_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    headers = dict(case.headers or {})
    headers.update({
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_entry(_target["secret"], webhook_id, timestamp, raw),
    })
    case.headers = headers


class Tracebacks(logging.Handler):
    """Records the log records that carry a traceback or an error."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.found: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            with self._lock:
                self.found.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    loggers = [logging.getLogger(name) for name in ("", "kingavis", "werkzeug")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    assert handler.found == [], "tracebacks or errors logged while fuzzing"


@pytest.fixture
def shop_and_secret(app: Flask) -> Iterator[tuple[Any, str]]:
    shop, secret = make_shop("Boutique Zoë")
    _target.update(key=shop.key, secret=secret)
    yield shop, secret
    _target.clear()


# --- schema-driven ----------------------------------------------------------------------------


@pytest.mark.parametrize("document", PUBLIC_APIS)
def test_every_public_operation_survives_schema_fuzzing(
    app: Flask, shop_and_secret: Any, tracebacks: Tracebacks, document: str
) -> None:
    shop, _ = shop_and_secret
    schema = schemathesis.openapi.from_wsgi(document, app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        fixed = {name: value for name, value in (("shop_key", shop.key), ("slug", shop.slug))
                 if "{" + name + "}" in operation.path} or None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            statuses: list[int] = []
            try:
                _schema_run(operation, mode, fixed, statuses)()
            except Unsatisfiable:
                # An operation with nothing a client can get wrong (no parameter, no body:
                # GET /widget.js) has no negative case; its positive cases ran.
                if mode is GenerationMode.NEGATIVE and not statuses:
                    continue
                raise
            assert statuses, operation.path
            if mode is GenerationMode.POSITIVE and operation.path.startswith(SIGNED_PATHS):
                # The signature holds: cases get past it and are applied.
                assert any(200 <= s < 300 for s in statuses), statuses


def _schema_run(operation: Any, mode: GenerationMode, fixed: dict[str, str] | None,
                statuses: list[int]) -> Any:
    """The hypothesis test of one operation in one generation mode: every response is checked
    for a 5xx, and positive cases also for the documented status codes, content types and
    response schemas."""
    checks = [not_a_server_error]
    if mode is GenerationMode.POSITIVE:
        checks += [status_code_conformance, content_type_conformance, response_schema_conformance]

    @settings(FUZZ, max_examples=SCHEMA_EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def run(case: Any) -> None:
        response = case.call()
        statuses.append(response.status_code)
        case.validate_response(response, checks=checks)

    return run


# --- hostile values ---------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\u2028", "\ufeff", "\U0001f600" * 50, "%00", "' OR 1=1 --",
                     "<script>alert(1)</script>", "../../etc/passwd", "{{7*7}}", "%s%s%n",
                     "\r\nSet-Cookie: x=1", "é" * 400, "", " ", "-1", "0", "1e400",
                     "99999999999999999999", "-99999999999999999999", "NaN", "Infinity",
                     "0001-01-01", "9999-12-31", "2026-02-30", "true", "null"]),
    st.text(max_size=40),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
# JSON text for a value: numbers beyond a double, lone surrogate escapes, NUL escapes, …
HOSTILE_JSON = st.one_of(
    st.sampled_from(["1e400", "-1e400", "1e-400", "123456789012345678901234567890",
                     '"\\ud800"', '"\\udfff x"', '"a\\u0000b"', '"\\u0000"', "-0",
                     '"' + "x" * 5000 + '"', "[" * 50 + "]" * 50, '{"a": {"b": [1e400]}}',
                     "true", "null", '""', "[]", "{}"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    HOSTILE_TEXT.map(json.dumps),
)
EVENT_SLOTS = ['"id": "1234"', '"email": "zoe@example.com"', '"first_name": "Zo\\u00eb"',
               '"reference": "XKBKNABJK"', '"id": "5"', '"paid": true', '"locale": "fr"',
               '"type": "order.status_changed"', '"data": {']


def test_hostile_json_values_in_signed_webhooks(
    app: Flask, shop_and_secret: Any, tracebacks: Tracebacks
) -> None:
    shop, secret = shop_and_secret
    client = app.test_client()
    template = json.dumps(status_event("1234", "5", email="zoe@example.com"))

    @settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
    @given(slot=st.sampled_from(EVENT_SLOTS), value=HOSTILE_JSON)
    def run(slot: str, value: str) -> None:
        if slot == '"data": {':
            raw = template.replace(slot, f'"data": {{"extra": {value}, ', 1)
        else:
            raw = template.replace(slot, f"{slot.split(':')[0]}: {value}", 1)
        body = raw.encode("utf-8", "surrogatepass")
        webhook_id = f"msg_fuzz_{uuid.uuid4().hex}"
        timestamp = int(time.time())
        response = client.post(
            f"/webhooks/v1/{shop.key}/order-status", data=body,
            headers={"Content-Type": "application/json", "webhook-id": webhook_id,
                     "webhook-timestamp": str(timestamp),
                     "webhook-signature": sign_entry(secret, webhook_id, timestamp, body)})
        assert response.status_code < 500, (raw[:300], response.get_data(as_text=True))

    run()


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())


def test_hostile_back_office_queries(app: Flask, tracebacks: Tracebacks) -> None:
    shop, _ = make_shop("Boutique Zoë")
    create_user(MERCHANT, PASSWORD, shop)
    client = app.test_client()
    assert client.post("/admin/login", data={"email": MERCHANT,
                                             "password": PASSWORD}).status_code == 302

    @settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
    @given(page=st.sampled_from(BACK_OFFICE_PAGES),
           params=st.dictionaries(st.sampled_from(BACK_OFFICE_PARAMS), HOSTILE_TEXT, max_size=3),
           suffix=st.sampled_from(["", "/orders/99999999999999999999", "/orders/-1",
                                   "/orders/%00", "/settings/rules/4294967296"]))
    def run(page: str, params: dict[str, str], suffix: str) -> None:
        path = f"/admin/shops/{shop.key}{suffix or page}"
        response = client.get(f"{path}?{_query(params)}")
        assert response.status_code < 500, (path, params)
        assert response.status_code != 302 or "/login" not in response.location, "logged out"

    run()


def test_hostile_customer_links(app: Flask, tracebacks: Tracebacks) -> None:
    client = app.test_client()
    tokens = st.one_of(HOSTILE_TEXT.filter(lambda t: "/" not in t and t not in ("", ".", "..")),
                       st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True))

    @settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
    @given(route=st.sampled_from(CUSTOMER_ROUTES), token=tokens,
           params=st.dictionaries(st.sampled_from(CUSTOMER_PARAMS), HOSTILE_TEXT, max_size=2),
           method=st.sampled_from(["GET", "POST", "HEAD"]))
    def run(route: str, token: str, params: dict[str, str], method: str) -> None:
        path = route.replace("{token}", quote(token, safe=""))
        response = client.open(f"{path}?{_query(params)}", method=method,
                               data={"rating": params.get("x", "5"), "comment": token})
        assert response.status_code < 500, (method, path, params)

    run()


# --- merchant text: encoded words -----------------------------------------------------------

# Every text a merchant (or an operator, for the shop's name) chooses that could reach a
# header: the email editor's fields (each language) and the shop's name.
MERCHANT_TEXTS = ["sender_name", "subject", "intro", "logo_url", "shop_name"]
_DECODES_TO = st.one_of(
    st.sampled_from(["\r\nReply-To: x@evil.test", "\r\n\r\nFake body", "\n", "\r", "\x00",
                     "a\tb", "\u2028", "Zoë", "=?utf-8?q?=0D=0A?=", "\r\n Folded: x"]),
    st.text(max_size=20),
)


def _encoded_word(text: str, encoding: str, charset: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    if encoding.lower() == "b":
        payload = base64.b64encode(data).decode("ascii")
    else:
        payload = "".join(f"={byte:02X}" for byte in data)
    return f"=?{charset}?{encoding}?{payload}?="


ENCODED_TEXT = st.builds(
    lambda before, word, after: f"{before}{word}{after}",
    st.sampled_from(["", "Votre avis ", "Boutique ", '"', "{shop_name} "]),
    st.builds(_encoded_word, _DECODES_TO, st.sampled_from(["q", "b", "Q", "B"]),
              st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii"])),
    st.sampled_from(["", " Fin", '"', "?=", " =?utf-8?q?x?="]),
)
_EXPECTED_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
                     "List-Unsubscribe-Post", "MIME-Version", "Content-Type", "Content-Language"}


def test_encoded_words_in_every_merchant_text(app: Flask, tracebacks: Tracebacks) -> None:
    from kingavis.mail_headers import header_text_problem
    from kingavis.models import EmailDesign
    from kingavis.shops.service import ShopError, create_shop

    shop, _ = make_shop("Boutique Zoë")
    create_user(MERCHANT, PASSWORD, shop)
    client = app.test_client()
    assert client.post("/admin/login", data={"email": MERCHANT,
                                             "password": PASSWORD}).status_code == 302

    @settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
    @given(field=st.sampled_from(MERCHANT_TEXTS), value=ENCODED_TEXT,
           lang=st.sampled_from(["fr", "en"]))
    def run(field: str, value: str, lang: str) -> None:
        if field == "shop_name":
            try:
                created = create_shop(value)
            except ShopError:
                return
            assert header_text_problem(created.shop.name) is None, value
            return
        form = {"lang": lang, "sender_name": "", "subject": "", "intro": "", "logo_url": "",
                "brand_colour": "", field: value}
        for url in (f"/admin/shops/{shop.key}/email/preview", f"/admin/shops/{shop.key}/email"):
            response = client.post(url, data=form)
            assert response.status_code < 500, (url, form)
        for row in db.session.scalars(select(EmailDesign)):
            assert header_text_problem(row.sender_name or "") is None, value
            assert header_text_problem(row.subject or "") is None, value

    run()


def test_stored_encoded_words_never_make_a_header(app: Flask) -> None:
    """Values stored before they were checked (written here with SQL): the message is refused,
    or every header is one of the expected ones and the body is still two parts."""
    from email import message_from_bytes, policy

    from delivery_helpers import schedule

    from kingavis.delivery.errors import UnsafeHeaderError
    from kingavis.delivery.messages import build_message
    from kingavis.models import EmailDesign, ReviewRequest, Shop

    shop, _ = make_shop("Boutique Zoë")
    request_id = schedule(shop, "1")

    @settings(FUZZ, max_examples=HOSTILE_EXAMPLES)
    @given(field=st.sampled_from(["sender_name", "subject", "shop_name"]), value=ENCODED_TEXT)
    def run(field: str, value: str) -> None:
        db.session.rollback()
        db.session.execute(delete(EmailDesign))
        if field == "shop_name":
            db.session.execute(update(Shop).where(Shop.id == shop.id).values(name=value))
        else:
            db.session.add(EmailDesign(shop_id=shop.id, language="fr", **{field: value}))
        db.session.commit()
        db.session.expire_all()
        request = db.session.get(ReviewRequest, request_id)
        try:
            message = build_message(request, base_url="http://kingavis.test",
                                    mail_from="avis@kingavis.test")
        except UnsafeHeaderError:
            return
        parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
        assert set(parsed.keys()) == _EXPECTED_HEADERS, (value, parsed.keys())
        assert parsed.get_content_type() == "multipart/alternative", value
        assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["From"]), value

    run()


# --- customer names: contact data is no author name -----------------------------------------

_PHONES = st.from_regex(r"(\+33 ?[1-9]( ?\d\d){4}|0[1-9](?:[ .-]?\d\d){4})", fullmatch=True)
_LINKS = st.builds(lambda host, tld, scheme: f"{scheme}{host}.{tld}",
                   st.from_regex(r"[a-z][a-z0-9-]{0,15}[a-z0-9]", fullmatch=True),
                   st.sampled_from(["com", "fr", "net", "shop", "io"]),
                   st.sampled_from(["", "www.", "https://", "http://"]))
CONTACT_DATA = st.one_of(st.emails(), _PHONES, _LINKS)


@settings(FUZZ, max_examples=200)
@given(contact=CONTACT_DATA, other=st.one_of(st.none(), st.text(max_size=20)),
       first=st.booleans())
def test_contact_data_as_a_name_is_never_an_author(contact: str, other: str | None,
                                                   first: bool) -> None:
    from kingavis.reviews.public import author_display

    names = (contact, other) if first else (other, contact)
    assert author_display(*names) == ""


def test_an_address_as_first_name_reaches_no_public_place(app: Flask,
                                                          tracebacks: Tracebacks) -> None:
    from publication_helpers import reviewed

    shop, _ = make_shop("Boutique Zoë")
    client = app.test_client()
    seen: list[str] = []

    @settings(FUZZ, max_examples=8)
    @given(address=st.emails())
    def run(address: str) -> None:
        if "@" not in address or len(address) > 200:
            return
        reviewed(shop, f"o{len(seen)}", 5, first_name=address, last_name="Dupont")
        seen.append(address)
        for path in (f"/avis/{shop.slug}", f"/api/v1/shops/{shop.slug}/reviews?per_page=100"):
            text = client.get(path).get_data(as_text=True)
            assert address not in text and address.split("@")[0] + "@" not in text, path

    run()
    assert seen
