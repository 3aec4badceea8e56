"""Helpers for the back-office tests of pending requests, order timelines and history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from factories import days_ago, new_webhook_id, status_event
from flask import Flask
from sqlalchemy import select

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    Order,
    RequestDecision,
    ReviewRequest,
    Shop,
    User,
)
from kingavis.orders.events import apply_status_event

PASSWORD = "correct horse battery"


def event(shop: Shop, order_id: str, status_id: str = "5", changed_at: datetime | None = None,
          **kwargs: Any) -> dict[str, Any]:
    """Apply one status event to ``shop`` (as the webhook would) and return the outcome body."""
    body = status_event(order_id, status_id, changed_at or days_ago(1), **kwargs)
    body["data"]["changed_at"] = datetime.fromisoformat(body["data"]["changed_at"])
    order = body["data"]["order"]
    if isinstance(order.get("placed_at"), str):  # the service takes what the schema parsed
        order["placed_at"] = datetime.fromisoformat(order["placed_at"])
    return apply_status_event(shop, body, new_webhook_id()).body


def scheduled(shop: Shop, order_id: str, *, delivered_days_ago: float = 1, **kwargs: Any) -> int:
    """An order delivered ``delivered_days_ago`` days ago, with its scheduled request; its id."""
    kwargs.setdefault("email", f"client{order_id}@example.com")
    kwargs.setdefault("reference", f"REF{order_id}")
    body = event(shop, order_id, "5", days_ago(delivered_days_ago), **kwargs)
    assert body["outcome"] == "scheduled", body
    return int(body["review_request"]["id"])


def set_due(request_id: int, due_at: datetime) -> None:
    row = db.session.get(ReviewRequest, request_id)
    assert row is not None
    row.due_at = due_at
    row.next_attempt_at = due_at
    db.session.commit()


def request_row(request_id: int) -> ReviewRequest:
    db.session.expire_all()
    row = db.session.get(ReviewRequest, request_id)
    assert row is not None
    return row


def order_of(request_id: int) -> Order:
    return request_row(request_id).order


def decisions(request_id: int) -> list[RequestDecision]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(RequestDecision)
            .where(RequestDecision.review_request_id == request_id)
            .order_by(RequestDecision.id)
        ).scalars()
    )


def audit_entries(shop: Shop) -> list[AuditLog]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(AuditLog).where(AuditLog.shop_id == shop.id).order_by(AuditLog.id)
        ).scalars()
    )


def merchant(shop: Shop, email: str = "marchand@example.com") -> User:
    user, _ = create_user(email, PASSWORD, shop)
    return user


def login(client: Any, user: User) -> None:
    from flask_login.utils import _create_identifier

    app = client.application
    with app.test_request_context(environ_base=dict(client.environ_base)):
        identifier = _create_identifier()  # session protection "strong" checks it
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["_id"] = identifier


def row_ids(html: str) -> list[int]:
    """The request ids listed on a page (data-request-id attributes), in page order."""
    return [int(x) for x in re.findall(r'data-request-id="(\d+)"', html)]


def browser_login(page: Any, app: Flask, user: User) -> None:
    """Sign the browser in as ``user`` with a session cookie made by the app itself.

    (The login form is tested with the auth pages; here the session is what matters.)
    """
    from flask_login.utils import _create_identifier

    user_agent = page.evaluate("navigator.userAgent")
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                  headers={"User-Agent": user_agent}):
        identifier = _create_identifier()
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = serializer.dumps({"_user_id": str(user.id), "_fresh": True, "_id": identifier})
    page.context.add_cookies([{
        "name": app.config.get("SESSION_COOKIE_NAME", "session"),
        "value": cookie,
        "url": app.config["KINGAVIS_BASE_URL"],
    }])


# Every back-office page a signed-in merchant can open, by its path under /admin.
ADMIN_PAGES = ["", "/pending", "/weekly", "/orders", "/history", "/reviews", "/stats",
               "/settings", "/settings/rules/new", "/collection", "/credentials", "/audit"]
