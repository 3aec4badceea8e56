"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi …``."""

from kingavis import create_app
from kingavis.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One clear line instead of a traceback (CONTRACT 2: errors are one line on stderr).
    raise SystemExit(f"Error: {exc}") from None
