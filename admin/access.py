"""The one access decorator of the back-office."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, request
from flask_login import current_user, login_required

from kingavis.models import Shop

F = TypeVar("F", bound=Callable[..., Any])

# Beyond this a page number only asks the database for an offset it cannot hold.
MAX_PAGE = 100_000


def user_shop(shop_key: str) -> Shop:
    """The current user's shop with that key, or 404 (also for another merchant's shop)."""
    for shop in current_user.shops:
        if shop.key == shop_key:
            return shop
    abort(404)


def shop_view(view: F) -> F:
    """Login required; the URL's ``shop_key`` must be one of the user's shops.

    The view receives ``shop`` (a Shop) in place of ``shop_key``; ``g.shop`` is set for templates.
    Anything the view loads by id must then be filtered by ``shop.id`` (see ``get_or_404``).
    """

    @wraps(view)
    @login_required
    def wrapper(shop_key: str, *args: Any, **kwargs: Any) -> Any:
        shop = user_shop(shop_key)
        g.shop = shop
        return view(shop, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def get_or_404(model: Any, object_id: int, shop: Shop) -> Any:
    """Load a row by id only if it belongs to ``shop``; 404 otherwise."""
    from kingavis.extensions import db

    row = db.session.get(model, object_id)
    if row is None or getattr(row, "shop_id", None) != shop.id:
        abort(404)
    return row


def page_arg() -> int:
    """The ``page`` query parameter as a page number: 1 when absent or not a whole number,
    at most MAX_PAGE (an empty page past the end, never an offset out of range)."""
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), MAX_PAGE)
