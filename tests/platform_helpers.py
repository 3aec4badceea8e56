"""Shopify and WooCommerce deliveries for the tests: fixtures (tests/fixtures/platforms) signed
as each platform signs them."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.shops.service import create_shop
from kingavis.shops.settings import set_platform_secrets

FIXTURES = Path(__file__).with_name("fixtures") / "platforms"
SHOPIFY_SECRET = "shpss_0123456789abcdef0123456789abcdef"  # noqa: S105 (test value)
_ids = itertools.count(1)


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text("utf-8")))


def platform_shop(platform: str, **settings: Any) -> tuple[Shop, str]:
    """A shop of that platform; Shopify's gets SHOPIFY_SECRET as its platform secret. Returns
    (shop, the secret the platform signs with)."""
    created = create_shop("Boutique Zoë", platform=platform)
    shop = created.shop
    for name, value in settings.items():
        setattr(shop, name, value)
    db.session.commit()
    if platform == "shopify":
        set_platform_secrets(shop, [SHOPIFY_SECRET], None)
        return shop, SHOPIFY_SECRET
    return shop, created.secret


def hmac_b64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def wc_body(payload: dict[str, Any]) -> bytes:
    # WC_Webhook::deliver: trim(wp_json_encode($payload)); wp_json_encode escapes "/".
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def post_shopify(client: Any, shop: Shop, secret: str, topic: str, payload: dict[str, Any] | bytes,
                 *, event_id: str | None = None, webhook_id: str | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    n = next(_ids)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": hmac_b64(secret, body),
        "X-Shopify-Shop-Domain": "boutique-zoe.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id or f"b54557e4-8a5f-4f7d-a000-{n:012d}",
        "X-Shopify-Triggered-At": "2026-11-22T09:00:00.000000Z",
    }
    if event_id is not False:
        headers["X-Shopify-Event-Id"] = event_id or f"98880550-7158-44d4-b7cd-{n:012d}"
    return client.post(f"/webhooks/v1/{shop.key}/shopify", data=body, headers=headers)


def post_woocommerce(client: Any, shop: Shop, secret: str, topic: str,
                     payload: dict[str, Any] | bytes, *, delivery_id: str | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else wc_body(payload)
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": hmac_b64(secret, body),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id or hashlib.md5(str(next(_ids)).encode()).hexdigest(),  # noqa: S324
    }
    return client.post(f"/webhooks/v1/{shop.key}/woocommerce", data=body, headers=headers)
