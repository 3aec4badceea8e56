"""Delivery: the durable dispatcher, RQ jobs, review-request emails and mail transports."""

# The one RQ queue: the web app and the dispatcher enqueue on it, the Procfile's worker listens on it.
QUEUE_NAME = "kingavis"
