"""One request at a time, in-process: which SQL statements a webhook costs, and how long.

Runs signed requests through the Flask test client against the benchmark's database (no
contention: this measures the endpoint itself) and times every statement SQLAlchemy sends,
the COMMIT, and the pool's checkout (with pre-ping), grouped by statement shape.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from .load import Plan, ShopCredentials, signed_request, webhook_path

_SPACES = re.compile(r"\s+")
_PARAMS = re.compile(r"%\(\w+\)s|\$\d+|%s")


def _shape(statement: str) -> str:
    text = _SPACES.sub(" ", statement).strip()
    text = _PARAMS.sub("?", text)
    verb = text.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", text, re.IGNORECASE)
    detail = ""
    if verb == "SELECT":
        where = re.search(r"WHERE (.*?)(?: LIMIT| FOR UPDATE|$)", text)
        detail = f" WHERE {where.group(1)[:70]}" if where else ""
        if "FOR UPDATE" in text:
            detail += " FOR UPDATE"
    elif verb == "INSERT" and "ON CONFLICT" in text:
        action = re.search(r"ON CONFLICT .*?DO (NOTHING|UPDATE)", text, re.IGNORECASE | re.S)
        detail = f" ON CONFLICT DO {action.group(1).upper()}" if action else " ON CONFLICT"
    if table is None:
        return text[:90]
    return f"{verb} {table.group(1)}{detail}"


def statement_profile(env: dict[str, str], plan: Plan, shops: list[ShopCredentials]) -> str:
    """Send ``plan``'s events one by one in-process; return a table of where the time went."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({**env, "KINGAVIS_LOG_LEVEL": "WARNING"})
    try:
        from sqlalchemy import event

        from kingavis import create_app
        from kingavis.extensions import db

        app = create_app()
        secret_by_key = {s.key: s.secret for s in shops}
        timings: dict[str, list[float]] = defaultdict(list)
        raw_timings: dict[tuple[str, bool], list[float]] = {}  # shaped after the run
        state: dict[str, Any] = {}

        with app.app_context():
            engine = db.engine

            @event.listens_for(engine, "before_cursor_execute")
            def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                        many: bool) -> None:
                state["t"] = time.perf_counter()

            @event.listens_for(engine, "after_cursor_execute")
            def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                       many: bool) -> None:
                elapsed = time.perf_counter() - state["t"]
                key = (statement, state.pop("first", False))
                raw_timings.setdefault(key, []).append(elapsed)

            @event.listens_for(engine, "commit")
            def _commit(conn: Any) -> None:
                state["commit"] = time.perf_counter()

            ping = engine.dialect.do_ping

            def _timed_ping(dbapi_connection: Any) -> bool:
                started = time.perf_counter()
                try:
                    return ping(dbapi_connection)
                finally:
                    timings["(pool pre-ping on checkout)"].append(time.perf_counter() - started)

            engine.dialect.do_ping = _timed_ping  # type: ignore[method-assign]

            from sqlalchemy.orm import Session

            @event.listens_for(Session, "after_commit")
            def _after_commit(session: Any) -> None:
                if "commit" in state:
                    timings["COMMIT"].append(time.perf_counter() - state.pop("commit"))

        client = app.test_client()
        totals = []
        profiler = cProfile.Profile(time.process_time)  # CPU time, not waiting
        cpu_started = time.process_time()
        signers = {key: Webhook(secret) for key, secret in secret_by_key.items()}
        now = datetime.now(UTC)
        for event_ in plan.events:
            headers, body = signed_request(event_, signers[event_.shop_key], now)
            state["request"] = time.perf_counter()
            state["first"] = True
            profiler.enable()
            response = client.post(webhook_path(event_.shop_key), data=body, headers=headers)
            profiler.disable()
            totals.append(time.perf_counter() - state.pop("request"))
            if response.status_code not in (200, 202):
                return f"statement profile: unexpected {response.status_code}: {response.text[:300]}"
        cpu_ms = 1000 * (time.process_time() - cpu_started) / max(1, len(totals))
        with app.app_context():
            db.engine.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)

    for (statement, first), values in raw_timings.items():
        shape = _shape(statement)
        if first:
            shape += "  [first of the transaction: includes BEGIN]"
        timings[shape].extend(values)
    n = len(totals)
    total_ms = 1000 * sum(totals) / n
    lines = [f"statement profile: {n} requests one at a time in-process (no contention), "
             f"{total_ms:.2f} ms per request on average, of which {cpu_ms:.2f} ms CPU in "
             "Python (under cProfile, which inflates it)",
             f"  {'per request':>11} {'mean ms':>8} {'ms/request':>10} {'share':>6}  statement"]
    accounted = 0.0
    rows = []
    for shape, values in timings.items():
        per_request_ms = 1000 * sum(values) / n
        accounted += per_request_ms
        rows.append((per_request_ms, len(values) / n, 1000 * sum(values) / len(values), shape))
    statements = sum(len(v) for k, v in timings.items() if not k.startswith(("(", "COMMIT")))
    for per_request_ms, count, mean_ms, shape in sorted(rows, reverse=True):
        lines.append(f"  {count:11.2f} {mean_ms:8.3f} {per_request_ms:10.3f} "
                     f"{100 * per_request_ms / total_ms:5.1f}%  {shape}")
    rest = total_ms - accounted
    lines.append(f"  {'':11} {'':8} {rest:10.3f} {100 * rest / total_ms:5.1f}%  "
                 "everything else (Python: Flask, signature, schema, ORM, logging)")
    lines.append(f"  {statements / n:.1f} SQL statements per request (COMMIT and pre-ping not counted)")
    lines.append(_cpu_profile(profiler, n))
    return "\n".join(lines)


# Functions worth naming in the CPU profile: (label, file fragment, function name).
WATCH = [
    ("Flask test client + WSGI + routing (not in production path)", "werkzeug/test.py", "open"),
    ("signature check (standardwebhooks/hmac)", "webhooks/signing.py", "verify"),
    ("JSON parse of the body", "webhooks/views.py", "_parse_json"),
    ("schema load (marshmallow)", "webhooks/schemas.py", "load_event"),
    ("find the shop (cached per process; one query on a miss)", "webhooks/views.py", "_find_shop"),
    ("rate limit check", "kingavis/ratelimit.py", "check_webhook_rate"),
    ("apply_status_event (all SQL + commit)", "kingavis/orders/events.py", "apply_status_event"),
    ("  commit", "sqlalchemy/orm/session.py", "commit"),
    ("  psycopg execute (all statements)", "psycopg/cursor.py", "execute"),
    ("  SQL compilation", "sqlalchemy/sql/compiler.py", "__init__"),
    ("JSON log line (logging)", "logging/__init__.py", "info"),
    ("response JSON", "webhooks/views.py", "_json_response"),
]


def _cpu_profile(profiler: cProfile.Profile, n: int) -> str:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    lines = [f"  cProfile (CPU time) of the same {n} requests, cumulative CPU ms per request "
             "(the profiler inflates it; compare the lines with each other):"]
    raw = stats.stats  # type: ignore[attr-defined]
    for label, fragment, function in WATCH:
        cumulative = sum(v[3] for (path, _, name), v in raw.items()
                         if fragment in path and name == function)
        if cumulative:
            lines.append(f"    {1000 * cumulative / n:8.3f}  {label}")
    lines.append("  top own CPU time (ms per request):")
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:15]
    for (path, line, name), v in ranked:
        short = path.split("site-packages/")[-1].split("/work/main/")[-1]
        lines.append(f"    {1000 * v[2] / n:8.3f}  {name} ({short}:{line}) x{v[1] / n:.1f}")
    return "\n".join(lines)
