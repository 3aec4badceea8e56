"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi …``."""

from kingavis import create_app
from kingavis.config import ConfigError, load_env_file

# The checkout's .env (written by `make run`): every process of one checkout builds the same
# links. Variables already set in the environment win.
load_env_file()

try:
    app = create_app()
except ConfigError as exc:
    # One clear line instead of a traceback (docs/command-line.md: errors are one line on stderr).
    raise SystemExit(f"Error: {exc}") from None
