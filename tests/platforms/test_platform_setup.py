"""Connecting a Shopify or WooCommerce shop: ``shops create --platform``, ``shops configure
--platform-secret`` and the back-office's Identifiants page (docs/platforms.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from platform_helpers import SHOPIFY_SECRET, fixture, platform_shop, post_shopify, post_woocommerce
from sqlalchemy import select

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import AuditLog, DataRequest, Shop, ShopStatus

PASSWORD = "correct horse battery"


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.mark.parametrize("platform, trigger, cancels, unpaid", [
    ("shopify", ["delivered"], ["cancelled", "refunded"], {"pending"}),
    ("woocommerce", ["completed"], ["cancelled", "refunded", "failed"], {"pending", "on-hold"}),
])
def test_shops_create_with_a_platform_prints_its_url_and_a_secret(app, platform, trigger, cancels,
                                                                   unpaid):
    result = run(app, "shops", "create", "--name", "Boutique Zoë", "--platform", platform, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["webhook_url"] == f"http://kingavis.test/webhooks/v1/{out['key']}/{platform}"
    assert out["webhook_secret"].startswith("whsec_")
    assert out["public_url"].startswith("http://kingavis.test/avis/")
    shop = db.session.execute(select(Shop).where(Shop.key == out["key"])).scalar_one()
    assert shop.platform == platform
    assert shop.active_rule.trigger_status_ids == trigger
    assert shop.active_rule.delay_days == 10 and shop.active_rule.send_hour is None
    assert shop.cancel_status_ids == cancels
    statuses = {s.status_id: s for s in db.session.scalars(
        select(ShopStatus).where(ShopStatus.shop_id == shop.id))}
    assert {sid for sid, s in statuses.items() if s.paid is False} - set(cancels) == unpaid


def test_shops_create_refuses_an_unknown_platform(app):
    result = run(app, "shops", "create", "--name", "X", "--platform", "magento", "--json")
    assert result.exit_code != 0
    assert db.session.execute(select(Shop)).first() is None


def test_configure_platform_secrets_every_one_is_valid(app):
    shop, _ = platform_shop("shopify")
    result = run(app, "shops", "configure", shop.key, "--platform-secret", "old-secret-1234",
                 "--platform-secret", "new-secret-5678")
    assert result.exit_code == 0, result.output
    client = app.test_client()
    order = fixture("shopify_order") | {"updated_at": datetime.now(UTC).isoformat()}
    for secret in ("old-secret-1234", "new-secret-5678"):
        assert post_shopify(client, shop, secret, "orders/paid", order).status_code in (200, 202)
    # The secret given before is no longer in the list.
    assert post_shopify(client, shop, SHOPIFY_SECRET, "orders/paid", order).status_code == 401


def test_configure_platform_secret_refuses_a_prestashop_shop_and_changes_nothing(app):
    from factories import make_shop

    shop, _ = make_shop()
    result = run(app, "shops", "configure", shop.key, "--delay-days", "3",
                 "--platform-secret", "s3cret-value")
    assert result.exit_code != 0
    assert "platform secrets are for shopify and woocommerce" in result.output
    db.session.expire_all()
    assert shop.active_rule.delay_days == 10


@pytest.fixture
def merchant(app, client):
    def login(platform: str):
        shop, secret = platform_shop(platform)
        user, _ = create_user("zoe@example.com", PASSWORD, shop)
        response = client.post("/admin/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
        return shop, secret
    return login


def test_identifiants_page_shows_what_to_paste_into_shopify(app, client, merchant):
    shop, secret = merchant("shopify")
    html = client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)
    assert f"http://kingavis.test/webhooks/v1/{shop.key}/shopify" in html
    for topic in ("orders/create", "orders/updated", "orders/paid", "orders/fulfilled",
                  "orders/cancelled", "fulfillment_events/create", "refunds/create"):
        assert f"<code>{topic}</code>" in html
    assert "Vos webhooks seront signés avec" in html
    assert SHOPIFY_SECRET not in html  # listed masked only
    assert SHOPIFY_SECRET[-4:] in html
    assert "example-curl" not in html  # the module's examples are not for a platform shop
    english = client.get(f"/admin/shops/{shop.key}/credentials",
                         headers={"Accept-Language": "en"})
    client.post("/admin/language", data={"language": "en"})
    html_en = client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)
    assert english.status_code == 200
    assert "Your webhooks will be signed with" in html_en
    assert "Order creation" in html_en


def test_identifiants_page_adds_and_removes_platform_secrets(app, client, merchant):
    shop, _ = merchant("shopify")
    added = client.post(f"/admin/shops/{shop.key}/credentials/platform-secrets",
                        data={"secret": "  rotated-secret-9876  "})
    assert added.status_code == 302
    db.session.expire_all()
    assert shop.platform_secrets == [SHOPIFY_SECRET, "rotated-secret-9876"]
    order = fixture("shopify_order") | {"updated_at": datetime.now(UTC).isoformat()}
    assert post_shopify(client, shop, "rotated-secret-9876", "orders/paid", order).status_code == 202
    removed = client.post(f"/admin/shops/{shop.key}/credentials/platform-secrets/remove",
                          data={"index": "0"})
    assert removed.status_code == 302
    db.session.expire_all()
    assert shop.platform_secrets == ["rotated-secret-9876"]
    assert post_shopify(client, shop, SHOPIFY_SECRET, "orders/paid", order).status_code == 401
    empty = client.post(f"/admin/shops/{shop.key}/credentials/platform-secrets", data={"secret": ""})
    assert empty.status_code == 422
    actions = list(db.session.scalars(select(AuditLog.action).where(AuditLog.shop_id == shop.id)))
    assert actions.count("platform.secrets_set") >= 3  # created, added, removed
    details = json.dumps([a.details for a in db.session.scalars(select(AuditLog))])
    assert "rotated-secret-9876" not in details


def test_the_check_shows_the_last_deliveries_and_their_verdicts(app, client, merchant):
    shop, secret = merchant("woocommerce")
    order = fixture("woocommerce_order") | {
        "status": "completed",
        "date_modified_gmt": (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")}
    assert post_woocommerce(client, shop, secret, "order.updated", order).status_code == 202
    assert post_woocommerce(client, shop, "wrong", "order.updated", order).status_code == 401
    html = client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)
    assert f"/webhooks/v1/{shop.key}/woocommerce" in html
    assert 'data-verdict="scheduled"' in html
    assert 'data-verdict="invalid-signature"' in html
    assert "Signature refusée" in html
    assert "john.doe@example.com" not in html


def test_a_data_request_waits_on_the_page_until_marked_done(app, client, merchant):
    shop, secret = merchant("shopify")
    post_shopify(client, shop, secret, "customers/data_request",
                 fixture("shopify_customers_data_request"))
    html = client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)
    assert "john@example.com" in html
    request = db.session.execute(select(DataRequest)).scalar_one()
    exported = client.post(f"/admin/shops/{shop.key}/customers/export",
                           data={"email": "john@example.com"})
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    # Another shop's request id is not found from this shop.
    other, _ = platform_shop("shopify")
    db.session.add(DataRequest(shop_id=other.id, email="x@example.com", email_hash="0" * 64))
    db.session.commit()
    foreign = db.session.execute(select(DataRequest.id).where(DataRequest.shop_id == other.id)).scalar_one()
    refused = client.post(f"/admin/shops/{shop.key}/credentials/data-requests/close",
                          data={"data_request": str(foreign)})
    assert refused.status_code == 404
    db.session.execute(DataRequest.__table__.delete().where(DataRequest.id == foreign))
    db.session.commit()
    done = client.post(f"/admin/shops/{shop.key}/credentials/data-requests/close",
                       data={"data_request": str(request.id)})
    assert done.status_code == 302
    assert db.session.execute(select(DataRequest)).first() is None


def test_erasing_the_customer_another_way_deletes_their_data_request(app):
    shop, secret = platform_shop("shopify")
    post_shopify(app.test_client(), shop, secret, "customers/data_request",
                 fixture("shopify_customers_data_request"))
    assert db.session.execute(select(DataRequest)).scalar_one().email == "john@example.com"
    result = run(app, "customers", "erase", "--shop", shop.key, "--email", "John@Example.com")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.execute(select(DataRequest)).first() is None
