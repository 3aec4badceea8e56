"""RQ's cron scheduler runs the dispatcher tick: ``rq cron --url $REDIS_URL kingavis.delivery.cron_config``.

The tick is enqueued every minute on the ``kingavis`` queue and run by an ``rq worker`` like
any job; it claims what is due and enqueues one job per request. A tick that waited in the
queue longer than a minute is dropped (``ttl``): the next one does the same work.
"""

from __future__ import annotations

import os

from rq import cron

from kingavis.delivery import QUEUE_NAME
from kingavis.delivery.jobs import dispatch_tick

QUEUE = QUEUE_NAME


def _interval() -> int:
    raw = os.environ.get("KINGAVIS_DISPATCH_INTERVAL", "60")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 3600:
        raise SystemExit(f"Error: KINGAVIS_DISPATCH_INTERVAL must be 1 to 3600 seconds, got {raw!r}")
    return value


INTERVAL_SECONDS = _interval()

cron.register(
    dispatch_tick,
    queue_name=QUEUE,
    interval=INTERVAL_SECONDS,
    job_timeout=300,
    ttl=INTERVAL_SECONDS,
    result_ttl=3600,
    name="kingavis-dispatch-tick",
)
