"""Structured (one JSON object per line) logging. Never log secrets, signatures or full emails."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

# An email address, ASCII or internationalised; "z***@example.com" (masked) does not match.
_EMAIL = re.compile(r"[\w.!#$%&'+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
HIDDEN = "(message hidden: a database error may quote the data it was given)"


def scrub_emails(text: str) -> str:
    """``text`` with every email address masked as z***@example.com."""
    return _EMAIL.sub(lambda m: mask_email(m.group(0)) or "***", text)


def _database_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions whose message may quote data: the database's own (a failed JSON value, a
    duplicate key's value) and SQLAlchemy's, which add the statement."""
    found: list[type[BaseException]] = []
    try:
        from sqlalchemy.exc import SQLAlchemyError

        found.append(SQLAlchemyError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import psycopg

        found.append(psycopg.Error)
    except ImportError:  # pragma: no cover
        pass
    import sqlite3

    found.append(sqlite3.Error)
    return tuple(found)


def format_exception(exc_info: Any) -> str:
    """A traceback as ``logging`` writes it, where each database error in the chain shows its
    type but not its message: a failed statement's error quotes the values it was given
    (PostgreSQL's CONTEXT line quotes the JSON; a unique violation, the key)."""
    _type, value, tb = exc_info
    if value is None:
        return logging.Formatter().formatException(exc_info)
    hidden = _database_error_types()
    top = traceback.TracebackException(type(value), value, tb, compact=True)
    stack = [top]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        exc_type = getattr(current, "exc_type", None)
        if exc_type is not None and issubclass(exc_type, hidden):
            current._str = HIDDEN  # type: ignore[attr-defined]
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return "".join(top.format()).rstrip("\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Database errors' messages are left out of tracebacks, and, as
    a last line of defence, any email address left in the line is masked (``scrub=False``
    shows what the code itself wrote, for the tests that look for leaks)."""

    def __init__(self, *, scrub: bool = True) -> None:
        super().__init__()
        self.scrub = scrub

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return format_exception(ei)

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
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return scrub_emails(line) if self.scrub else line


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
