"""RQ's cron scheduler runs the dispatcher tick: ``rq cron --url $REDIS_URL kingavis.cron_config``.

An entry point beside the worker (docs/architecture.md, layer 12): it names the worker's jobs,
so it stands above the delivery code, which never imports the worker.

The tick is enqueued every minute on the ``kingavis`` queue and run by an ``rq worker`` like
any job; it claims what is due and enqueues one job per batch. A tick that waited in the
queue longer than a minute is dropped (``ttl``): the next one does the same work.

Once a day (03:15 UTC) the personal data retention job anonymises the orders inactive for
longer than their shop's retention period (kingavis.personal_data.retention.run_retention).
"""

from __future__ import annotations

import os

from rq import cron

from kingavis.delivery import QUEUE_NAME
from kingavis.worker import dispatch_tick, retention_run

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

RETENTION_CRON = "15 3 * * *"

cron.register(
    retention_run,
    queue_name=QUEUE,
    cron=RETENTION_CRON,
    job_timeout=3600,
    ttl=12 * 3600,
    result_ttl=7 * 24 * 3600,
    name="kingavis-retention",
)
