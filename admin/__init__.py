"""The merchant back-office: one blueprint, a module per resource (CTFd style).

Every view that touches a shop goes through ``admin.access.shop_view``: login required, and the
shop must be one of the user's, else 404 (we never confirm that another merchant's shop exists).
"""

from flask import Blueprint

blueprint = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

from . import (  # noqa: E402,F401
    audit,
    auth,
    credentials,
    dashboard,
    history,
    orders,
    pending,
    reviews,
    settings,
)
