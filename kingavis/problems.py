"""RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM_BASE = "https://kingavis.dev/problems/"


def problem(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (type_ or HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "-")),
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
