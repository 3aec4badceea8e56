"""The real service plus one baseline route, for the webhook benchmark only.

``POST /bench/noop`` parses the JSON body and answers 202, on the same server, workers and
middleware as the real endpoint: the difference between the two is what the endpoint costs.
It echoes the ``webhook-id`` header so the load script can match answers to requests.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request

from kingavis import create_app
from kingavis.extensions import csrf

app = create_app()


@app.post("/bench/noop")
@csrf.exempt
def bench_noop() -> tuple[dict[str, Any], int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return {"webhook_id": request.headers.get("webhook-id", ""), "outcome": "noop"}, 202
