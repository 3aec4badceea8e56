"""The order-status webhook endpoint (docs/webhooks.md)."""

from flask import Blueprint

blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")

from webhooks import views  # noqa: E402,F401
