"""Delivery: the durable dispatcher and its outbox, review-request emails, callbacks and mail
transports (the RQ jobs themselves are kingavis.worker's)."""

# The one RQ queue: the web app and the dispatcher enqueue on it, the Procfile's worker listens on it.
QUEUE_NAME = "kingavis"

# The worker's jobs, enqueued by name: the delivery code never imports the app factory that
# kingavis.worker needs (tests/test_architecture.py checks each name is a job there).
JOB_SEND_BATCH = "kingavis.worker.send_request_batch"
JOB_SEND_MESSAGE = "kingavis.worker.send_message"
