"""The webhook endpoint's throughput benchmark (run it with bench/webhooks)."""
