"""Back-office credentials: webhook URL, secret revealed on demand, rotation with a 24 h overlap,
and copy-paste examples that really are accepted by the webhook endpoint."""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from factories import make_shop, post_event, status_event
from sqlalchemy import select, text

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import AuditLog, ShopSecret, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
def merchant(app, client):
    shop, secret = make_shop("Boutique Zoë")
    user, _ = create_user("zoe@example.com", PASSWORD, shop)
    response = client.post("/admin/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return shop, secret, user


def audit_actions(shop) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(AuditLog.action).where(AuditLog.shop_id == shop.id).order_by(AuditLog.id)))


def pre(html: str, element_id: str) -> str:
    match = re.search(rf'<pre class="example" id="{element_id}"[^>]*>(.*?)</pre>', html, re.S)
    assert match, element_id
    return htmllib.unescape(match.group(1))


def test_page_shows_the_url_but_not_the_secret(client, merchant):
    shop, secret, _ = merchant
    response = client.get(f"/admin/shops/{shop.key}/credentials")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"http://kingavis.test/webhooks/v1/{shop.key}/order-status" in html
    assert secret not in html
    assert "whsec_VOTRE_SECRET" in pre(html, "example-curl")
    assert "whsec_VOTRE_SECRET" in pre(html, "example-python")
    assert "Remplacez whsec_VOTRE_SECRET par votre secret" in html
    assert "whsec_YOUR_SECRET" not in html
    assert audit_actions(shop) == []


def test_the_placeholder_is_in_the_merchants_language(client, merchant):
    shop, secret, _ = merchant
    page = f"/admin/shops/{shop.key}/credentials"
    client.post("/admin/language", data={"language": "en", "next": page})
    html = client.get(page).get_data(as_text=True)
    assert "whsec_YOUR_SECRET" in pre(html, "example-curl")
    assert "whsec_YOUR_SECRET" in pre(html, "example-python")
    assert "Replace whsec_YOUR_SECRET with your secret" in html
    assert "whsec_VOTRE_SECRET" not in html and secret not in html


def test_reveal_shows_the_secret_and_is_audited(client, merchant):
    shop, secret, user = merchant
    response = client.post(f"/admin/shops/{shop.key}/credentials/reveal")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert '<code id="webhook-secret" data-secret-id="' in html and secret in html
    assert secret in pre(html, "example-curl") and secret in pre(html, "example-python")
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "secret.reveal")).one()
    assert entry.shop_id == shop.id and entry.actor_email == user.email
    # A GET never shows it.
    assert secret not in client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)


def test_rotation_asks_for_confirmation_first(client, merchant):
    shop, secret, _ = merchant
    response = client.post(f"/admin/shops/{shop.key}/credentials/rotate")
    html = response.get_data(as_text=True)
    assert 'id="confirm-rotate"' in html and "24 heures" in html
    db.session.expire_all()
    assert len(db.session.scalars(select(ShopSecret).where(ShopSecret.shop_id == shop.id)).all()) == 1
    assert audit_actions(shop) == []


def test_old_secret_works_for_24_hours_after_rotation(client, merchant):
    shop, old_secret, _ = merchant
    response = client.post(f"/admin/shops/{shop.key}/credentials/rotate", data={"confirm": "yes"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    new_secret = re.search(r'<code id="webhook-secret" data-secret-id="\d+">(whsec_[^<]+)</code>', html).group(1)
    assert new_secret != old_secret
    assert "L&#39;ancien reste valable 24 heures" in html or "ancien reste valable 24 heures" in html
    assert audit_actions(shop) == ["secret.rotate"]

    db.session.expire_all()
    old = db.session.scalars(select(ShopSecret).where(ShopSecret.secret == old_secret)).one()
    assert timedelta(hours=23, minutes=59) < old.expires_at - utcnow() <= timedelta(hours=24)

    assert post_event(client, shop, old_secret, status_event("1", "2")).status_code == 202
    assert post_event(client, shop, new_secret, status_event("2", "2")).status_code == 202

    old.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert post_event(client, shop, old_secret, status_event("3", "2")).status_code == 401
    assert post_event(client, shop, new_secret, status_event("4", "2")).status_code == 202

    # The page now lists the old secret as expired and reveals only the new one.
    page = client.post(f"/admin/shops/{shop.key}/credentials/reveal").get_data(as_text=True)
    assert new_secret in page and old_secret not in page
    assert "Expiré le" in page


def test_rotating_again_never_extends_an_old_secret(client, merchant):
    shop, first_secret, _ = merchant
    client.post(f"/admin/shops/{shop.key}/credentials/rotate", data={"confirm": "yes"})
    db.session.expire_all()
    first = db.session.scalars(select(ShopSecret).where(ShopSecret.secret == first_secret)).one()
    first.expires_at = utcnow() + timedelta(hours=2)
    db.session.commit()
    client.post(f"/admin/shops/{shop.key}/credentials/rotate", data={"confirm": "yes"})
    db.session.expire_all()
    secrets = db.session.scalars(
        select(ShopSecret).where(ShopSecret.shop_id == shop.id).order_by(ShopSecret.id)).all()
    assert len(secrets) == 3
    assert secrets[0].expires_at - utcnow() <= timedelta(hours=2)
    assert timedelta(hours=23) < secrets[1].expires_at - utcnow() <= timedelta(hours=24)
    assert secrets[2].expires_at is None


def test_rotation_without_csrf_token_is_refused(database_url, tmp_path, merchant):
    from conftest import make_app

    shop, _, _ = merchant
    key = shop.key
    db.session.rollback()  # SQLite: let the second app's requests write
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        page = client.get("/admin/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert client.post("/admin/login", data={"email": "zoe@example.com", "password": PASSWORD,
                                                 "csrf_token": token}).status_code == 302
        response = client.post(f"/admin/shops/{key}/credentials/rotate", data={"confirm": "yes"})
        assert response.status_code == 400
        response = client.post(f"/admin/shops/{key}/credentials/reveal")
        assert response.status_code == 400
        db.session.remove()
        db.engine.dispose()
    db.session.expire_all()
    assert len(db.session.scalars(select(ShopSecret).where(ShopSecret.shop_id == shop.id)).all()) == 1


def _run(args: list[str], **kwargs) -> str:
    db.session.rollback()  # end this session's transaction: SQLite has one writer at a time
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, **kwargs)
    assert done.returncode == 0, done.stderr
    return done.stdout


def every_row() -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, read on a connection of its own."""
    db.session.rollback()
    with db.engine.connect() as conn:
        return {
            table.name: sorted(tuple(str(v) for v in row)
                               for row in conn.execute(text(f'SELECT * FROM "{table.name}"')))  # noqa: S608
            for table in db.metadata.sorted_tables
        }


def _live_order(client, shop, secret) -> None:
    """Order 1234 of the shop, scheduled: what the example must never overwrite."""
    event = status_event("1234", "5", email="vraie.cliente@example.com", first_name="Anne")
    assert post_event(client, shop, secret, event).status_code == 202


def test_the_examples_send_a_test_event(client, merchant):
    shop, _, _ = merchant
    html = client.get(f"/admin/shops/{shop.key}/credentials").get_data(as_text=True)
    assert '"test":true' in pre(html, "example-curl")
    assert '"test": True' in pre(html, "example-python")
    assert "Rien n&#39;est enregistré" in html or "Rien n'est enregistré" in html


def test_shell_example_is_accepted_as_it_is_and_stores_nothing(app, client, merchant, live_server):
    shop, secret, _ = merchant
    _live_order(client, shop, secret)
    html = client.post(f"/admin/shops/{shop.key}/credentials/reveal").get_data(as_text=True)
    script = pre(html, "example-curl")
    assert live_server.url in script
    before = every_row()
    out = _run(["bash", "-c", script + " -w '\\n%{http_code}'"])
    body, status = out.rsplit("\n", 1)
    assert status == "200", body
    answer = json.loads(body)
    assert answer["outcome"] == "test" and answer["review_request"] is None
    # Order 1234 keeps its customer; no order, request, timeline row or status was written.
    assert every_row() == before


def test_python_example_is_accepted_as_it_is_and_stores_nothing(app, client, merchant, live_server):
    shop, secret, _ = merchant
    _live_order(client, shop, secret)
    html = client.post(f"/admin/shops/{shop.key}/credentials/reveal").get_data(as_text=True)
    script = pre(html, "example-python")
    before = every_row()
    out = _run([sys.executable, "-c", script], env={**os.environ, "NO_PROXY": "127.0.0.1"})
    status, body = out.strip().split(" ", 1)
    assert status == "200", body
    assert json.loads(body)["outcome"] == "test"
    assert every_row() == before
