"""Placeholder, replaced by the endpoint."""
