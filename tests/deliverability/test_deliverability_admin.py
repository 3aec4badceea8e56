"""Deliverability in the back-office (docs/deliverability.md): the merchant's suppressed
addresses (listed per shop, removable after a warning), the bounce and complaint rates, the
automatic pause above 0.3 % complaints with its banner and email, and the operator's pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import bounce_samples
import pytest
from delivery_helpers import event, schedule
from dns_server import DNSServer
from factories import days_ago, make_shop, new_webhook_id
from flask import Flask
from moderation_helpers import operator
from requests_helpers import login, merchant
from sqlalchemy import insert, select

from kingavis.deliverability.service import receive, suppress
from kingavis.extensions import db
from kingavis.models import (
    AuditLog,
    DeliveryReport,
    Order,
    Reason,
    ReviewRequest,
    Shop,
    Suppression,
    utcnow,
)
from kingavis.orders.events import apply_status_event

BOUNCE_DOMAIN = "bounce.kingavis.test"


@pytest.fixture
def bounce_app(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    app.config.update(KINGAVIS_BOUNCE_DOMAIN=BOUNCE_DOMAIN, MAIL_FROM="avis@kingavis.test")
    yield app


def suppressed(shop: Shop, order_id: str, email: str, reason: Reason) -> ReviewRequest:
    request = db.session.get(ReviewRequest, schedule(shop, order_id, email=email))
    assert request is not None
    suppress(shop, request, reason, "5.1.1" if reason is Reason.BOUNCED else "abuse", utcnow())
    db.session.commit()
    return request


def test_the_merchant_sees_and_removes_a_suppressed_address_after_a_warning(
        bounce_app: Flask, client) -> None:
    shop, _ = make_shop("Boutique A")
    other, _ = make_shop("Boutique B")
    suppressed(shop, "1", "zoe@example.com", Reason.BOUNCED)
    suppressed(other, "9", "yann@example.org", Reason.COMPLAINED)
    login(client, merchant(shop))

    page = client.get(f"/admin/shops/{shop.key}/suppressions").get_data(as_text=True)
    assert "zoe@example.com" in page and "yann@example.org" not in page
    row = db.session.execute(select(Suppression).where(Suppression.shop_id == shop.id)).scalar_one()
    foreign = db.session.execute(select(Suppression).where(Suppression.shop_id == other.id)).scalar_one()
    # Another shop's entry does not exist for this merchant.
    assert client.post(f"/admin/shops/{shop.key}/suppressions/{foreign.id}/remove",
                       data={"confirm": "yes"}).status_code == 404

    warning = client.post(f"/admin/shops/{shop.key}/suppressions/{row.id}/remove")
    assert warning.status_code == 200
    assert "Ne rétablissez l'adresse que si" in warning.get_data(as_text=True)
    assert db.session.get(Suppression, row.id) is not None  # nothing removed yet

    done = client.post(f"/admin/shops/{shop.key}/suppressions/{row.id}/remove",
                       data={"confirm": "yes"})
    assert done.status_code == 302
    db.session.rollback()
    assert db.session.execute(select(Suppression.shop_id)).scalars().all() == [other.id]
    assert db.session.execute(select(AuditLog.actor_email).where(
        AuditLog.action == "deliverability.suppression_removed")).scalar_one() == "marchand@example.com"
    # The address's next order is asked again.
    result = apply_status_event(shop, event("2", "5", days_ago(1), email="zoe@example.com"),
                                new_webhook_id())
    assert result.body["review_request"]["reason"] != "bounced"


def test_rates_on_the_dashboard_and_statistics(bounce_app: Flask, client) -> None:
    shop, _ = make_shop()
    request = suppressed(shop, "1", "zoe@example.com", Reason.BOUNCED)
    request.sent_at = utcnow() - timedelta(days=2)
    for n in range(3):
        r = db.session.get(ReviewRequest, schedule(shop, f"s{n}", email=f"c{n}@example.com"))
        r.sent_at = utcnow() - timedelta(days=3)
    db.session.execute(insert(DeliveryReport),
                       [{"shop_id": shop.id, "review_request_id": request.id, "email_hash": "h",
                         "kind": "permanent", "status": "5.1.1", "report_key": "k1",
                         "received_at": utcnow()}])
    db.session.commit()
    login(client, merchant(shop))
    for path in ("/", "/stats"):
        page = client.get(f"/admin/shops/{shop.key}{path}").get_data(as_text=True)
        assert 'id="stat-bounce-rate">25,0' in page, path  # 1 bounce for 4 emails
        assert 'id="stat-complaint-rate">0,0' in page


def _bulk_sent(shop: Shop, count: int) -> list[int]:
    """``count`` review requests sent yesterday (orders and requests inserted in bulk)."""
    sent_at = utcnow() - timedelta(days=1)
    db.session.execute(insert(Order), [
        {"shop_id": shop.id, "external_id": f"bulk-{n}", "customer_email": f"b{n}@example.com",
         "created_at": sent_at, "updated_at": sent_at} for n in range(count)])
    orders = db.session.execute(select(Order.id, Order.customer_email).where(
        Order.shop_id == shop.id, Order.external_id.like("bulk-%")).order_by(Order.id)).all()
    db.session.execute(insert(ReviewRequest), [
        {"shop_id": shop.id, "order_id": order_id, "state": "sent", "due_at": sent_at,
         "sent_at": sent_at, "customer_email_normalized": email, "token": f"tok{order_id}",
         "bounce_token": f"{order_id:032x}", "message_id": f"<bulk.{order_id}@kingavis.test>",
         "created_at": sent_at, "updated_at": sent_at} for order_id, email in orders])
    db.session.commit()
    return [row[0] for row in orders]


def test_complaints_above_the_threshold_pause_the_shop_with_a_banner_and_an_email(
        bounce_app: Flask, client, tmp_path: Path) -> None:
    shop, _ = make_shop()
    user = merchant(shop)
    ids = _bulk_sent(shop, 1000)
    requests = db.session.execute(select(ReviewRequest).where(ReviewRequest.order_id.in_(ids[:4]))
                                  .order_by(ReviewRequest.id)).scalars().all()
    headers = [(r.bounce_token, r.message_id, r.customer_email_normalized) for r in requests]
    for n, (token, message_id, email) in enumerate(headers):
        original = f"To: {email}\r\nMessage-ID: {message_id}\r\n\r\nBonjour\r\n".encode()
        report = bounce_samples.arf(original, f"bounces+{token}@{BOUNCE_DOMAIN}", email)
        report = report.replace(b".arf@", f".{n}.arf@".encode())
        assert receive(report, recipient=f"fbl@{BOUNCE_DOMAIN}").action == "complained"
        db.session.rollback()
        # 3 in 1,000 is 0.3 %: not above it; the 4th is.
        assert db.session.get(Shop, shop.id).paused is (n == 3)

    outbox = list((tmp_path / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    notice = BytesParser(policy=policy.default).parsebytes(outbox[0].read_bytes())
    assert notice["To"] == user.email and "plaintes" in notice["Subject"]
    assert "4 clients sur 1000" in notice.get_content()

    login(client, user)
    page = client.get(f"/admin/shops/{shop.key}/").get_data(as_text=True)
    assert 'id="complaint-pause-banner"' in page and "trop de plaintes" in page
    # Resumed by the merchant: the banner goes.
    from kingavis.shops.settings import set_paused

    set_paused(db.session.get(Shop, shop.id), user, False)
    page = client.get(f"/admin/shops/{shop.key}/").get_data(as_text=True)
    assert 'id="complaint-pause-banner"' not in page


def test_operator_pages(bounce_app: Flask, client) -> None:
    receive(b"From: someone@example.org\r\nSubject: Hello there\r\n\r\nhi\r\n",
            recipient=f"info@{BOUNCE_DOMAIN}")
    shop, _ = make_shop()
    login(client, merchant(shop))
    assert client.get("/admin/operator/inbound").status_code == 404
    from flask import g

    g.pop("_login_user", None)  # requests share the test's app context: forget the merchant
    mod = operator()
    login(client, mod)
    page = client.get("/admin/operator/inbound").get_data(as_text=True)
    assert "Hello there" in page and "not_a_report" in page

    with DNSServer({"_dmarc.kingavis.test": ["v=DMARC1; p=none"]}) as dns:
        bounce_app.config["DELIVERABILITY_NAMESERVER"] = dns.address
        page = client.get("/admin/operator/domain").get_data(as_text=True)
    # In the operator's language (French here); the command line says it in English.
    assert f"SPF : aucun enregistrement v=spf1 pour {BOUNCE_DOMAIN}" in page
    assert f"{BOUNCE_DOMAIN}. TXT &#34;v=spf1 mx -all&#34;" in page


def test_a_suppressed_address_is_exported_and_erased_with_the_customer(bounce_app: Flask) -> None:
    from kingavis.personal_data.erasure import erase_customer
    from kingavis.personal_data.export import export_customer

    shop, _ = make_shop()
    suppressed(shop, "1", "zoe@example.com", Reason.BOUNCED)
    receive(b"From: zoe@example.com\r\nSubject: Re: votre avis\r\n\r\nmerci\r\n",
            recipient=f"info@{BOUNCE_DOMAIN}")
    receive(b"From: other@example.org\r\nSubject: hello\r\n\r\nx\r\n", recipient=f"info@{BOUNCE_DOMAIN}")
    document = export_customer(shop, "Zoe@Example.com")
    assert document["suppression"]["reason"] == "bounced"
    assert document["suppression"]["status"] == "5.1.1"

    erase_customer(shop, "zoe@example.com", source="cli")
    db.session.rollback()
    row = db.session.execute(select(Suppression)).scalar_one()
    assert row.email_normalized is None and row.reason == "bounced"  # the hash stays
    from kingavis.models import InboundMessage

    assert db.session.execute(select(InboundMessage.subject)).scalars().all() == ["hello"]
    # Still suppressed: the next order of the address is answered "bounced".
    result = apply_status_event(shop, event("2", "5", days_ago(1), email="zoe@example.com"),
                                new_webhook_id())
    assert (result.body["review_request"]["state"], result.body["review_request"]["reason"]) == (
        "suppressed", "bounced")


def test_at_send_time_a_suppressed_address_is_not_mailed(bounce_app: Flask) -> None:
    """A request claimed before its address was suppressed (the list is read again when it
    is sent): suppressed, reason bounced, nothing sent."""
    from kingavis.customer_keys import customer_key
    from kingavis.delivery.dispatcher import tick

    shop, _ = make_shop()
    request_id = schedule(shop, "1", email="zoe@example.com")
    db.session.add(Suppression(shop_id=shop.id, email_normalized="zoe@example.com",
                               email_hash=customer_key(shop.id, "zoe@example.com"),
                               reason="bounced", status="5.1.1"))
    db.session.commit()
    tick()
    db.session.rollback()
    row = db.session.get(ReviewRequest, request_id)
    assert (row.state, row.reason, row.sent_at) == ("suppressed", "bounced", None)
