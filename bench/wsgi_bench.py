"""The real service plus two reference routes, for the webhook benchmark only.

``POST /bench/noop`` parses the JSON body and answers 202, on the same server, workers and
middleware as the real endpoint: the difference between the two is what the endpoint costs.

``POST /bench/floor/<shop key>`` is the least any implementation of the endpoint has to do
to meet the issue's own conditions ("every request verified and durably stored before it is
answered"): check the Standard Webhooks signature (the shop's secrets read once and then kept
in memory), parse the JSON, and store the raw body with one ``INSERT … ON CONFLICT DO
NOTHING`` in autocommit mode (one round trip, PostgreSQL's default durable commit), then
answer 202. No schema, no rules, no rate limit, no log line. What the floor reaches against
the no-op route is the ceiling of the ratio on this machine, whatever the design.

Both echo the ``webhook-id`` so the load script can match answers to requests.

``GET /bench/noop`` (bench/widget) answers a small constant JSON document: the baseline of
the public API and widget.js, on the same server, workers and middleware.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import psycopg
from flask import abort, request

from kingavis import create_app
from kingavis.extensions import csrf
from webhooks.signing import SignatureError, verify

app = create_app()

FLOOR_TABLE = "bench_floor_events"
_floor = threading.local()
_floor_secrets: dict[str, list[str]] = {}


@app.post("/bench/noop")
@csrf.exempt
def bench_noop() -> tuple[dict[str, Any], int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return {"webhook_id": request.headers.get("webhook-id", ""), "outcome": "noop"}, 202


@app.get("/bench/noop")
def bench_noop_get() -> dict[str, Any]:
    return {"ok": True}


def _floor_connection() -> psycopg.Connection[Any]:
    conn = getattr(_floor, "conn", None)
    if conn is None or conn.closed:
        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
        conn = _floor.conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
    return conn


@app.post("/bench/floor/<shop_key>")
@csrf.exempt
def bench_floor(shop_key: str) -> tuple[dict[str, Any], int]:
    raw = request.get_data()
    conn = _floor_connection()
    secrets = _floor_secrets.get(shop_key)
    if secrets is None:
        row = conn.execute(
            "SELECT array(SELECT secret FROM shop_secrets WHERE shop_id = shops.id) "
            "FROM shops WHERE key = %s", (shop_key,)).fetchone()
        if row is None:
            abort(404)
        secrets = _floor_secrets[shop_key] = list(row[0])
    try:
        webhook_id = verify(secrets, request.headers, raw)
    except SignatureError:
        abort(401)
    body = json.loads(raw)
    if not isinstance(body, dict):
        abort(400)
    conn.execute(
        f"INSERT INTO {FLOOR_TABLE} (shop_key, webhook_id, body) VALUES (%s, %s, %s) "  # noqa: S608 - a constant
        "ON CONFLICT DO NOTHING", (shop_key, webhook_id, raw.decode("utf-8")))
    return {"webhook_id": webhook_id, "outcome": "stored"}, 202
