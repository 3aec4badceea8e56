"""GET /healthz (docs/production.md): 200 when the database (and Redis, when configured) answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from kingavis.extensions import db

blueprint = Blueprint("health", __name__)

# A health check must answer quickly even when Redis is stuck: its own client, short
# timeouts, no retries (the queue's client retries, which is right for enqueueing).
HEALTH_REDIS_TIMEOUT_SECONDS = 2


def _health_redis() -> Any:
    client = current_app.extensions.get("redis_health")
    if client is None:
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = Redis.from_url(
            current_app.config["REDIS_URL"],
            socket_connect_timeout=HEALTH_REDIS_TIMEOUT_SECONDS,
            socket_timeout=HEALTH_REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        current_app.extensions["redis_health"] = client
    return client


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    failed: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as exc:  # any failure means "not healthy"
        db.session.rollback()
        failed["database"] = type(exc).__name__
    if current_app.extensions.get("redis") is not None:
        try:
            _health_redis().ping()
        except Exception as exc:
            failed["redis"] = type(exc).__name__
    if failed:
        return jsonify({"status": "unavailable", "failed": failed}), 503
    return jsonify({"status": "ok"})
