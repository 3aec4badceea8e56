"""``POST /webhooks/v1/<shop key>/order-status`` (docs/webhooks.md),
``POST /webhooks/v1/<shop key>/customer-erasure`` (docs/personal-data.md),
``PUT /webhooks/v1/<shop key>/order-states`` (docs/webhooks.md) and their OpenAPI document.

The endpoints share the same pipeline (``_serve`` and ``_verified_body``). Checks run in this order, each answering an RFC 9457 problem and storing nothing:

1. 413 the body is over 64 KiB (Content-Length, then the bytes actually read; never more
   than the limit + 1 are read);
2. 404 no shop has this key;
3. 401 the Standard Webhooks signature does not verify on the raw body with any of the
   shop's active secrets, or its timestamp is outside the tolerance;
4. 429 the shop sent too many requests (``Retry-After``);
5. 415 the content type is not ``application/json`` (charset, if given, UTF-8);
6. 400 the body is not UTF-8 JSON or not a JSON object, or holds a number out of a double's
   range (``1e400``) or a lone surrogate escape (``\\ud800``), which nothing could store;
7. 422 the body does not match the schema (``errors`` by field path).

The signature comes before anything parses the body, so a caller without the secret learns
nothing beyond 413, 404 and 401. Then the event is applied: 202 with the outcome object, or
200 with ``Idempotent-Replayed: true`` and the first outcome object for a webhook id already
seen. A body with ``"test": true`` passes the same checks and is answered 200 without
storing anything (docs/webhooks.md). ``POST /webhooks/v1/<shop key>/shopify`` and
``…/woocommerce`` (docs/platforms.md) run the same checks with the platform's own signature at
step 3 (``kingavis.platforms.service``). The erasure endpoint answers the same way with its summary
(``kingavis.personal_data.erasure.erase_customer``); its log line never holds the address. While the
database cannot be reached each answers 503 with ``Retry-After``. The order-states endpoint
answers 200 ``{"states": n}`` (``kingavis.orders.statuses.sync_declared_states``).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Response, current_app, request
from marshmallow import ValidationError

from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.orders.events import apply_status_event
from kingavis.orders.statuses import sync_declared_states
from kingavis.outages import is_database_outage, unavailable_problem
from kingavis.personal_data.customers import PersonalDataError
from kingavis.personal_data.erasure import erase_customer
from kingavis.platforms import service as platforms
from kingavis.problems import problem
from kingavis.ratelimit import check_webhook_rate
from kingavis.shops.service import ShopChanged, ShopSnapshot, shop_cache
from webhooks import blueprint
from webhooks.schemas import flatten_errors, load_erasure, load_event, load_states
from webhooks.signing import SignatureError, verify, webhook_id_of

log = logging.getLogger("kingavis.webhooks")

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
MAX_SHOP_KEY = 64


class Rejected(Exception):
    """A request refused with a problem response; ``kind`` is the problem type slug."""

    def __init__(self, status: int, kind: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.extra = extra

    def response(self) -> Response:
        return problem(self.status, self.detail, type_=self.kind, **self.extra)


def _read_body(limit: int) -> bytes:
    """At most ``limit`` bytes of the body, or Rejected(413); never reads past limit + 1."""
    too_large = Rejected(413, "payload-too-large", f"the body must be at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large
    return b"".join(chunks)


def _unknown_shop() -> Rejected:
    return Rejected(404, "unknown-shop", "no shop has this key; check the webhook URL")


def _find_shop(shop_key: str) -> tuple[ShopSnapshot, bool]:
    """The shop, its valid secrets and its active rule as plain values, and whether they were
    just read from the database (False: from this process's cache, whose version the order
    upsert checks; see ``kingavis.shops.service.ShopSnapshotCache``)."""
    if not 0 < len(shop_key) <= MAX_SHOP_KEY:
        raise _unknown_shop()
    shop, fresh = shop_cache(current_app._get_current_object()).get(shop_key)  # type: ignore[attr-defined]
    if shop is None:
        raise _unknown_shop()
    return shop, fresh


def _verify(shop: ShopSnapshot, raw: bytes) -> str:
    """The verified webhook id; raises SignatureError."""
    return verify(
        shop.secrets,
        request.headers,
        raw,
        tolerance=int(current_app.config["WEBHOOK_TOLERANCE_SECONDS"]),
    )


def _check_content_type() -> None:
    mimetype = request.mimetype
    charset = request.mimetype_params.get("charset")
    if mimetype != "application/json":
        raise Rejected(
            415, "unsupported-media-type", "Content-Type must be application/json"
        )
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise Rejected(
            415, "unsupported-media-type", "the body must be UTF-8 (charset=utf-8)"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 reads as infinity, which JSON (and PostgreSQL's json type) cannot hold.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:32]} is out of range (at most about 1.8e308)")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
# A lone surrogate can only come from a JSON escape (UTF-8 cannot encode one): without a
# backslash-u escape of D800 to DFFF in the text, the parsed body holds none.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate_at(payload: Any) -> str | None:
    """The path of the first string (or key) holding a lone UTF-16 surrogate, e.g. from the
    escape ``\\ud800``: not a Unicode character, so it cannot be stored or shown. None if none."""
    stack: list[tuple[str, Any]] = [("$", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return path
                stack.append((key if path == "$" else f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "invalid-json", "the body is not valid UTF-8") from None
    try:
        payload = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise Rejected(400, "invalid-json", "the body nests too deeply") from None
    except ValueError as exc:
        raise Rejected(400, "invalid-json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "invalid-json", "the body must be a JSON object")
    where = _lone_surrogate_at(payload) if _SURROGATE_ESCAPE.search(text) else None
    if where is not None:
        raise Rejected(
            400, "invalid-json",
            f"the body is not valid JSON text: a lone surrogate escape (\\ud800 to \\udfff) "
            f"is not a Unicode character (at {where[:200]})",
        )
    return payload


def _json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# How many times a webhook starts again when the shop's settings changed under it.
MAX_SHOP_REREADS = 3


def _load_shop(shop_key: str) -> ShopSnapshot:
    """The shop as the database has it now, bypassing this process's cache (its secrets may
    predate a rotation made in another process); raises Rejected(404) if it is gone."""
    shop = shop_cache(current_app._get_current_object()).load(shop_key)  # type: ignore[attr-defined]
    if shop is None:
        raise _unknown_shop()
    return shop


def _check_rate(shop: ShopSnapshot) -> None:
    """Check 4: raises Rejected(429) while the shop sends too many requests."""
    retry_after = check_webhook_rate(shop.key)
    if retry_after is not None:
        raise Rejected(
            429, "rate-limited",
            f"too many requests for this shop; retry in {retry_after} s",
            retry_after=retry_after,
        )


def _reread(shop_key: str, raw: bytes) -> tuple[ShopSnapshot, str]:
    """The shop read afresh after a settings change (``ShopChanged``), and the webhook id
    verified again with its secrets as they are now; raises Rejected (401, 404)."""
    shop = _load_shop(shop_key)
    try:
        return shop, _verify(shop, raw)
    except SignatureError as exc:
        raise Rejected(401, "invalid-signature", str(exc)) from None


def _verified_body(shop_key: str, context: dict[str, Any]) -> tuple[ShopSnapshot, str, bytes, dict[str, Any]]:
    """Checks 1 to 6 (see the module docstring): the shop, the verified webhook id, the raw
    body and the parsed JSON object; raises Rejected."""
    raw = _read_body(int(current_app.config["WEBHOOK_MAX_BYTES"]))
    shop, fresh = _find_shop(shop_key)
    try:
        try:
            webhook_id = _verify(shop, raw)
        except SignatureError:
            if fresh:
                raise
            # The cached secrets may predate a rotation made in another process: a signature
            # that fails is checked again against the shop as the database has it now.
            shop = _load_shop(shop_key)
            webhook_id = _verify(shop, raw)
    except SignatureError as exc:
        raise Rejected(401, "invalid-signature", str(exc)) from None
    context["verified"] = True
    _check_rate(shop)
    _check_content_type()
    return shop, webhook_id, raw, _parse_json(raw)


def _loaded(load: Callable[[dict[str, Any]], dict[str, Any]], payload: dict[str, Any],
            what: str) -> dict[str, Any]:
    """Check 7: the JSON object as the endpoint's schema (``load``) reads it; a mismatch is
    Rejected(422) naming the ``what`` schema, with ``errors`` by field path."""
    try:
        return load(payload)
    except ValidationError as exc:
        raise Rejected(
            422, "validation-failed", f"the body does not match the {what} schema; see errors",
            errors=flatten_errors(exc.messages),
        ) from None


def _replied(body: dict[str, Any], status: int, replayed: bool) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return _json_response(body, status, headers)


def _answered(context: dict[str, Any], result: Any, outcome: Any, /, **fields: Any) -> Response:
    """The endpoint's answer to ``result`` (``body``, ``status_code`` and ``replayed``), with
    its outcome, whether it was replayed and any other ``fields`` noted for the log line."""
    context["outcome"] = outcome
    context["replayed"] = result.replayed
    context.update(fields)
    return _replied(result.body, result.status_code, result.replayed)


def _handle(shop_key: str, context: dict[str, Any]) -> Response:
    shop, webhook_id, raw, payload = _verified_body(shop_key, context)
    event = _loaded(load_event, payload, "order-status event")
    context["order_id"] = event["data"]["order"]["id"]

    # A settings change confirmed before this webhook arrived is used by it, whatever this
    # process had cached (docs/settings-version.md): the version is read in the order upsert.
    for attempt in range(1, MAX_SHOP_REREADS + 1):
        try:
            result = apply_status_event(shop, event, webhook_id, raw_payload=payload)
            break
        except ShopChanged:
            if attempt == MAX_SHOP_REREADS:
                raise
            shop, webhook_id = _reread(shop_key, raw)
    return _answered(context, result, result.body.get("outcome"))


def _handle_erasure(shop_key: str, context: dict[str, Any]) -> Response:
    snapshot, webhook_id, raw, payload = _verified_body(shop_key, context)
    body = _loaded(load_erasure, payload, "customer erasure")
    shop = db.session.get(Shop, snapshot.id)
    if shop is None:  # deleted since the signature check
        raise Rejected(404, "unknown-shop", "no shop has this key; check the webhook URL")
    if shop.settings_version != snapshot.settings_version:
        # Secrets changed since the snapshot was read: verified again with today's.
        snapshot, webhook_id = _reread(shop_key, raw)
    try:
        result = erase_customer(shop, body["data"]["customer"]["email"], source="webhook",
                                webhook_id=webhook_id, test=body["test"])
    except PersonalDataError as exc:  # an address the schema let through but erasure cannot use
        raise Rejected(
            422, "validation-failed", "the body does not match the customer erasure schema; see errors",
            errors={"data.customer.email": [str(exc)]},
        ) from None
    return _answered(context, result, "test" if result.body.get("test") else "erased",
                     **result.summary)


def _handle_states(shop_key: str, context: dict[str, Any]) -> Response:
    shop, webhook_id, _raw, payload = _verified_body(shop_key, context)
    body = _loaded(load_states, payload, "order states")
    result = sync_declared_states(shop, body, webhook_id)
    outcome = "test" if result.body.get("test") else (
        "ignored_stale" if result.body.get("ignored_stale") else "synced")
    return _answered(context, result, outcome, states=result.body.get("states"))


@blueprint.post("/v1/<shop_key>/order-status")
def order_status(shop_key: str) -> Response:
    return _serve(shop_key, _handle, order_id=None)


@blueprint.post("/v1/<shop_key>/customer-erasure")
def customer_erasure(shop_key: str) -> Response:
    return _serve(shop_key, _handle_erasure, endpoint="customer-erasure")


@blueprint.put("/v1/<shop_key>/order-states")
def order_states(shop_key: str) -> Response:
    return _serve(shop_key, _handle_states, endpoint="order-states")


def _platform_handler(platform: str) -> Any:
    """Shopify's or WooCommerce's own webhooks (docs/platforms.md), through
    ``kingavis.platforms.service``: the same body limit, shop lookup, rate limit and JSON checks
    as above, the platform's signature, and every verdict in the shop's delivery log."""

    def handle(shop_key: str, context: dict[str, Any]) -> Response:
        raw = _read_body(int(current_app.config["PLATFORM_WEBHOOK_MAX_BYTES"]))
        shop, fresh = _find_shop(shop_key)
        if shop.platform != platform:
            raise Rejected(404, "unknown-shop", f"this shop does not take {platform} webhooks; "
                           "check the webhook URL")
        try:
            try:
                verified = platforms.verify(platform, shop, request.headers, raw)
            except platforms.SignatureRefused:
                if fresh:
                    raise
                shop = _load_shop(shop_key)
                verified = platforms.verify(platform, shop, request.headers, raw)
        except platforms.SignatureRefused as exc:
            platforms.record_delivery(shop.id, platform, delivery_id=None, topic=None,
                                      status_code=401, verdict="invalid-signature")
            raise Rejected(401, "invalid-signature", str(exc)) from None
        context.update(verified=True, webhook_id=verified.delivery_id, topic=verified.topic)
        if verified.ping:  # answered, nothing stored
            context["outcome"] = "ping"
            return _json_response({"outcome": "ping"}, 200)
        try:
            _check_rate(shop)
            _check_content_type()
            reply = platforms.receive(shop, verified, _parse_json(raw), load=load_event,
                                      flatten=flatten_errors)
        except Rejected as rejected:
            platforms.record_delivery(shop.id, platform, delivery_id=verified.delivery_id,
                                      topic=verified.topic, status_code=rejected.status,
                                      verdict=rejected.kind)
            raise
        # The privacy topics' answers (ids and counts) are what a retry gets again.
        keep = reply.body if reply.verdict in ("export_prepared", "erased") else None
        platforms.record_delivery(shop.id, platform, delivery_id=verified.delivery_id,
                                  topic=verified.topic, status_code=reply.status_code,
                                  verdict=reply.verdict, order_id=reply.order_id,
                                  response=None if reply.replayed else keep)
        return _answered(context, reply, reply.verdict, order_id=reply.order_id)

    return handle


@blueprint.post("/v1/<shop_key>/shopify")
def shopify(shop_key: str) -> Response:
    return _serve(shop_key, _platform_handler("shopify"), endpoint="shopify")


@blueprint.post("/v1/<shop_key>/woocommerce")
def woocommerce(shop_key: str) -> Response:
    return _serve(shop_key, _platform_handler("woocommerce"), endpoint="woocommerce")


def _serve(shop_key: str, handler: Any, **fields: Any) -> Response:
    """Run one endpoint's handler, turn Rejected into its problem, log one line."""
    started = time.perf_counter()
    context: dict[str, Any] = {
        "shop": shop_key[:MAX_SHOP_KEY],
        "webhook_id": webhook_id_of(request.headers),
        **fields,
        "outcome": None,
    }
    try:
        response = handler(shop_key, context)
    except Rejected as rejected:
        context["outcome"] = "rejected"
        context["problem"] = rejected.kind
        context["detail"] = rejected.detail
        if "errors" in rejected.extra:  # the field paths only, never the values sent
            context["error_fields"] = sorted(rejected.extra["errors"])
        response = rejected.response()
        if rejected.status == 429:
            response.headers["Retry-After"] = str(rejected.extra["retry_after"])
    except Exception as exc:
        db.session.rollback()
        if is_database_outage(exc):
            # Nothing was stored: the module sends the same request again later.
            context.update(outcome="unavailable", status=503, duration_ms=_elapsed(started),
                           error=type(exc).__name__)
            log.warning("webhook: database unavailable", extra={"fields": context})
            return unavailable_problem()
        # No traceback here: database errors carry the statement's parameters (emails).
        context.update(outcome="error", status=500, duration_ms=_elapsed(started),
                       error=type(exc).__name__)
        log.error("webhook failed", extra={"fields": context})
        raise
    context.update(status=response.status_code, duration_ms=_elapsed(started))
    log.info("webhook", extra={"fields": context})
    return response


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


@blueprint.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of the webhook, served as the file says."""
    return current_app.response_class(OPENAPI_PATH.read_bytes(), mimetype="application/json")
