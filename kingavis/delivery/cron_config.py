"""RQ's cron scheduler runs the dispatcher tick: ``rq cron --url $REDIS_URL kingavis.delivery.cron_config``.

The tick is enqueued every minute on the ``kingavis`` queue and run by an ``rq worker`` like
any job; it claims what is due and enqueues one job per request. A tick that waited in the
queue longer than a minute is dropped (``ttl``): the next one does the same work.
"""

from __future__ import annotations

import os

from rq import cron

from kingavis.delivery.jobs import dispatch_tick

QUEUE = os.environ.get("KINGAVIS_RQ_QUEUE", "kingavis")
INTERVAL_SECONDS = int(os.environ.get("KINGAVIS_DISPATCH_INTERVAL", "60"))

cron.register(
    dispatch_tick,
    queue_name=QUEUE,
    interval=INTERVAL_SECONDS,
    job_timeout=300,
    ttl=INTERVAL_SECONDS,
    result_ttl=3600,
    name="kingavis-dispatch-tick",
)
