"""Public pages reached from links in emails (unsubscribe)."""

from flask import Blueprint

blueprint = Blueprint("pages", __name__)

from . import views  # noqa: E402,F401
