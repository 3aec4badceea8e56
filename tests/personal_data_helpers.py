"""A customer with data in every table that can hold it, and a whole-database dump to search."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from factories import days_ago, new_webhook_id, status_event
from sqlalchemy import inspect, text

from kingavis.accounts import audit
from kingavis.extensions import db
from kingavis.models import (
    RequestDecision,
    Review,
    ReviewRequest,
    Shop,
    Unsubscription,
    utcnow,
)
from kingavis.orders.events import apply_status_event
from kingavis.privacy.unsubscriptions import unsubscribe

EMAIL = "zoeline.quark@example.com"
# The shop sends it in another case on one order: matching ignores case.
EMAIL_OTHER_CASE = "Zoeline.Quark@Example.COM"
FIRST, LAST = "Zoeline", "Quarkowska"
OTHER_EMAIL = "max.other@example.org"


@dataclass
class Customer:
    sent_request: int
    scheduled_request: int
    sending_request: int
    review_id: int


def apply(shop: Shop, order_id: str, status_id: str = "5", *, days: float = 1,
          email: str = EMAIL, webhook_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("first_name", FIRST)
    kwargs.setdefault("last_name", LAST)
    body = status_event(order_id, status_id, days_ago(days), email=email, **kwargs)
    phone = "+33 6 12 34 56 78" if email.lower() == EMAIL else "+33 1 00 00 00 00"
    raw = {**body, "data": {**body["data"], "extra": {
        "phone": phone, "shipping_name": f"{kwargs['first_name']} {kwargs['last_name']}"}}}
    loaded = {**body, "data": {**body["data"]}}
    from datetime import datetime

    loaded["data"]["changed_at"] = datetime.fromisoformat(body["data"]["changed_at"])
    return apply_status_event(shop, loaded, webhook_id or new_webhook_id(), raw_payload=raw).body


def make_customer(shop: Shop) -> Customer:
    """Three orders of one customer in ``shop``: one sent, reviewed, replied to and with a
    pending reminder; one scheduled; one being sent. Unsubscribed, with the address and names
    in timeline notes, delivery errors and the audit log too."""
    now = utcnow()
    # The per-customer window would suppress the second and third requests: none here.
    shop.customer_window_days = 0
    db.session.commit()
    sent = int(apply(shop, "A-1", days=40)["review_request"]["id"])
    scheduled = int(apply(shop, "A-2", email=EMAIL_OTHER_CASE)["review_request"]["id"])
    sending = int(apply(shop, "A-3", days=2)["review_request"]["id"])
    shop.customer_window_days = 30
    db.session.commit()

    row = db.session.get(ReviewRequest, sent)
    assert row is not None
    row.state, row.sent_at, row.message_id = "sent", now - timedelta(days=30), "<abc.1@kingavis>"
    row.reminder_due_at = now + timedelta(days=3)
    row.last_error = f"451 4.2.2 <{EMAIL_OTHER_CASE}>: mailbox full"
    row.opened_at = now - timedelta(days=29)
    db.session.add(RequestDecision(review_request_id=sent, state="sent", actor="marchand@example.com",
                                   note=f"Appel de {FIRST} {LAST} ({EMAIL}) : ok"))
    review = Review(shop_id=shop.id, order_id=row.order_id, review_request_id=sent, rating=5,
                    comment=f"Parfait, signé {FIRST} {LAST}", status="published",
                    published_at=now - timedelta(days=20), reply_text=f"Merci {FIRST} !")
    db.session.add(review)
    sending_row = db.session.get(ReviewRequest, sending)
    assert sending_row is not None
    sending_row.state, sending_row.attempts = "sending", 1
    sending_row.next_attempt_at = now + timedelta(minutes=10)
    audit.record(None, "review_requests.cancel", shop=shop,
                 details={"note": f"demande de {EMAIL_OTHER_CASE}", "name": LAST})
    db.session.commit()
    unsubscribe(shop.id, EMAIL, row.customer_email_hash)
    return Customer(sent, scheduled, sending, review.id)


def dump(database_url: str) -> str:
    """Every row of every table, as text: SQLite's iterdump, PostgreSQL's pg_dump (or, where
    pg_dump is missing, every column of every table selected as text)."""
    db.session.remove()
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(url.database))
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    if shutil.which("pg_dump"):
        result = subprocess.run(
            ["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
             "-U", url.username or "postgres", url.database or ""],
            capture_output=True, text=True, check=True, timeout=120,
        )
        return result.stdout
    lines = []
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            columns = [c["name"] for c in inspect(conn).get_columns(table)]
            select_list = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
            for row in conn.execute(text(f'SELECT {select_list} FROM "{table}"')):  # noqa: S608
                lines.append(f"{table}: {row}")
    return "\n".join(lines)


def assert_nowhere(database_url: str, *terms: str) -> None:
    everything = dump(database_url).lower()
    assert "quark" in EMAIL  # the terms are distinctive: a hit is this customer's data
    for term in terms:
        assert term.lower() not in everything, f"{term!r} is still in the database"


def unsubscribed_hashes(shop: Shop) -> list[tuple[str | None, str]]:
    db.session.expire_all()
    return [(u.email_normalized, u.email_hash) for u in db.session.query(Unsubscription)
            .filter(Unsubscription.shop_id == shop.id)]
