"""Delivery: the durable dispatcher, RQ jobs, review-request emails and mail transports."""
