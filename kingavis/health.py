"""GET /healthz (CONTRACT 6)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from .extensions import db

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    failed: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as exc:  # any failure means "not healthy"
        db.session.rollback()
        failed["database"] = type(exc).__name__
    redis = current_app.extensions.get("redis")
    if redis is not None:
        try:
            redis.ping()
        except Exception as exc:
            failed["redis"] = type(exc).__name__
    if failed:
        return jsonify({"status": "unavailable", "failed": failed}), 503
    return jsonify({"status": "ok"})
