"""Structured (one JSON object per line) logging. Never log secrets, signatures or full emails."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger("kingavis")
    if not any(getattr(h, "_kingavis", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._kingavis = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def mask_email(email: str | None) -> str | None:
    """z***@example.com: enough to recognise, not enough to harvest."""
    if not email or "@" not in email:
        return None if email is None else "***"
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"
