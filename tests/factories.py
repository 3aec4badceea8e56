"""Test data factories: shops, status events, and Standard Webhooks signed requests."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from kingavis.models import Shop
from kingavis.shops import rules
from kingavis.shops import settings as shop_settings
from kingavis.shops.service import create_shop

_ids = itertools.count(1)

PAST = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def make_shop(name: str = "Boutique Zoë", **config: Any) -> tuple[Shop, str]:
    """A shop with the PrestaShop preset; ``config`` goes to settings.configure. Returns (shop, secret).

    A status id outside the preset is registered first, as the shop's first event with it
    would (``Statut <id>``): the rules only accept statuses the shop is known to have.
    """
    created = create_shop(name, timezone=config.pop("timezone", "Europe/Paris"),
                          language=config.pop("language", "fr"))
    shop = created.shop
    for attr in ("require_consent", "customer_window_days", "paused"):
        if attr in config:
            setattr(shop, attr, config.pop(attr))
    if config:
        configure(shop, **config)
    else:
        from kingavis.extensions import db

        db.session.commit()
    return shop, created.secret


def configure(shop: Shop, **config: Any) -> None:
    """settings.configure after registering unknown status ids (see make_shop)."""
    from kingavis.extensions import db
    from kingavis.models import ShopStatus

    known = {status_id for status_id, _ in rules.status_options(shop)}
    for status_id in [*config.get("trigger_status_ids", ()), *config.get("cancel_status_ids", ())]:
        if status_id not in known:
            db.session.add(ShopStatus(shop_id=shop.id, status_id=status_id,
                                      name=f"Statut {status_id}"))
            known.add(status_id)
    db.session.flush()
    shop_settings.configure(shop, None, **config)


def status_event(
    order_id: str = "1234",
    status_id: str = "5",
    changed_at: datetime | str | None = None,
    *,
    email: str = "zoe@example.com",
    status_name: str | None = None,
    paid: bool | None = True,
    shipped: bool | None = None,
    consent: bool | None = True,
    locale: str | None = "fr",
    first_name: str | None = "Zoë",
    last_name: str | None = "Łukasiewicz",
    reference: str | None = "XKBKNABJK",
    placed_at: datetime | str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A webhook body as a shop module sends it (docs/webhooks.md)."""
    if changed_at is None:
        changed_at = datetime.now(UTC)
    if isinstance(changed_at, datetime):
        changed_at = changed_at.isoformat()
    names = {"1": "En attente de paiement par chèque", "2": "Paiement accepté", "3": "En cours de préparation",
             "4": "Expédié", "5": "Livré", "6": "Annulé", "7": "Remboursé", "8": "Erreur de paiement",
             "10": "En attente de virement bancaire"}
    customer: dict[str, Any] = {"email": email}
    for key, value in (("first_name", first_name), ("last_name", last_name), ("locale", locale),
                       ("review_consent", consent)):
        if value is not None:
            customer[key] = value
    order: dict[str, Any] = {"id": order_id, "customer": customer}
    if reference is not None:
        order["reference"] = reference
    if placed_at is not None:
        order["placed_at"] = placed_at.isoformat() if isinstance(placed_at, datetime) else placed_at
    status: dict[str, Any] = {"id": status_id, "name": status_name or names.get(status_id, f"Statut {status_id}")}
    if paid is not None:
        status["paid"] = paid
    if shipped is not None:
        status["shipped"] = shipped
    body = {
        "type": "order.status_changed",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"order": order, "status": status, "changed_at": changed_at},
    }
    body["data"].update(extra)
    return body


def new_webhook_id() -> str:
    return f"msg_test_{next(_ids)}_{time.monotonic_ns()}"


def sign(secret: str, body: bytes, webhook_id: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers signed by the `standardwebhooks` package, as a shop module would."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(ts, UTC), body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def post_event(client: Any, shop: Shop, secret: str, body: dict[str, Any] | bytes,
               webhook_id: str | None = None, timestamp: int | None = None,
               headers: dict[str, str] | None = None) -> Any:
    """POST a signed order-status webhook through the Flask test client."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    webhook_id = webhook_id or new_webhook_id()
    all_headers = sign(secret, raw, webhook_id, timestamp)
    all_headers.update(headers or {})
    return client.post(f"/webhooks/v1/{shop.key}/order-status", data=raw, headers=all_headers)


def days_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)
