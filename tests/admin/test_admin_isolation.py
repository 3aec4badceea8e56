"""Isolation matrix: one merchant can neither read nor change another merchant's shop.

Every rule of the app's URL map under /admin that takes a ``shop_key`` is enumerated (so the
pages added later are covered as soon as they exist), and for each of its methods:

- anonymous on B's URL → redirected to the login page (or 401), B's data unchanged;
- merchant A on B's URL (B's shop key, B's object ids) → 404, B's data unchanged;
- merchant A on A's shop key with B's object ids → 404, B's data unchanged;
- merchant B on the same URL → not 404 (the URL is right: the 404s above are the isolation).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from factories import make_shop, post_event, status_event
from sqlalchemy import select

from kingavis.accounts import audit
from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import InvitationRule, Order, Review, ReviewRequest, Suppression, User

PASSWORD = "correct horse battery"

# Which of B's objects fills each integer argument of a URL rule. A new argument name makes
# the matrix fail until it is added here, so no page escapes it.
ID_ARGS = {
    "order_id": "order",
    "rule_id": "rule",
    "request_id": "request",
    "review_request_id": "request",
    "review_id": "review",
    "audit_id": "audit",
    "entry_id": "audit",
    "suppression_id": "suppression",
}


def _shop_rules() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) of every /admin rule that takes a shop key."""
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(f"sqlite:///{tmp}/rules.db", Path(tmp))
        found = []
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/admin") or "shop_key" not in rule.arguments:
                continue
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, rule.rule, method))
        with app.app_context():
            db.engine.dispose()
    return sorted(found)


SHOP_RULES = _shop_rules()


class Merchant:
    def __init__(self, name: str, email: str, tag: str) -> None:
        shop, secret = make_shop(name)
        self.shop = shop
        self.key = shop.key
        self.name = shop.name
        self.user, _ = create_user(email, PASSWORD, shop)
        self.user_id = self.user.id
        self.email = email
        self.tag = tag
        self.secret = secret

    def fill(self, client: Any) -> None:
        """An order with a review request (through a real webhook), a review, a rule, an audit entry."""
        response = post_event(client, self.shop, self.secret,
                              status_event(f"{self.tag}-1", "5", email=f"client-{self.tag}@example.com"))
        assert response.status_code == 202, response.get_data(as_text=True)
        order = db.session.scalars(select(Order).where(Order.shop_id == self.shop.id)).one()
        request = db.session.scalars(select(ReviewRequest).where(ReviewRequest.order_id == order.id)).one()
        review = Review(shop_id=self.shop.id, order_id=order.id, review_request_id=request.id,
                        rating=4, comment=f"avis {self.tag}")
        rule = InvitationRule(shop_id=self.shop.id, name=f"Règle {self.tag}", trigger_status_ids=["4"],
                              delay_days=3, timezone="Europe/Paris", is_active=False)
        db.session.add_all([review, rule])
        db.session.flush()
        entry = audit.record(self.user, "test.entry", shop=self.shop, target_type="order", target_id=order.id)
        suppression = Suppression(shop_id=self.shop.id, email_normalized=f"client-{self.tag}@example.com",
                                  reason="bounced", status="5.1.1")
        db.session.add(suppression)
        db.session.commit()
        self.shop_id = self.shop.id
        self.ids = {"order": order.id, "request": request.id, "review": review.id, "rule": rule.id,
                    "audit": entry.id, "suppression": suppression.id}


def snapshot(m: Merchant) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to the merchant's shop, in every table, plus its user row."""
    db.session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        if table.name == "shops":
            query = table.select().where(table.c.id == m.shop_id)
        elif "shop_id" in table.c:
            query = table.select().where(table.c.shop_id == m.shop_id)
        elif "review_request_id" in table.c:
            query = table.select().where(table.c.review_request_id == m.ids["request"])
        else:
            continue
        rows = db.session.execute(query).all()
        tables[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    user = db.session.get(User, m.user_id)
    tables["user"] = [(user.email, user.password_hash, user.language or "", repr(user.locked_until))]
    db.session.rollback()
    return tables


def url_for_rule(rule: str, shop_key: str, ids: dict[str, int]) -> str:
    import re

    url = rule.replace("<shop_key>", shop_key)
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", url):
        if name not in ID_ARGS:
            pytest.fail(f"{rule}: add the argument {name!r} to ID_ARGS in {__file__}")
        url = url.replace(f"<{converter}:{name}>" if converter else f"<{name}>", str(ids[ID_ARGS[name]]))
    return url


def form_for(b: Merchant) -> dict[str, Any]:
    """A POST body that would do harm if accepted: B's ids under the usual field names."""
    rid = str(b.ids["request"])
    return {
        "confirm": "yes", "action": "cancel", "scope": "selected", "request_ids": [rid], "ids": [rid],
        "selected": [rid], "days": "3", "rule_id": str(b.ids["rule"]), "name": "pirate",
        "delay_days": "1", "trigger_status_ids": ["5"], "timezone": "Europe/Paris", "paused": "y",
        "apply": "yes", "language": "en",
        "lang": "fr", "kind": "invitation", "sender_name": "pirate", "subject": "pirate",
        "intro": "pirate {first_name}", "logo_url": "https://pirate.example/l.png",
        "brand_colour": "#ff0000",
    }


def send(client: Any, method: str, url: str, data: dict[str, Any]) -> Any:
    """One request in its own app context, as in production (its own ``g`` and DB session)."""
    with client.application.app_context():
        if method == "GET":
            return client.get(url)
        return client.open(url, method=method, data=data)


def login(client: Any, email: str) -> None:
    response = send(client, "POST", "/admin/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.location == "/admin/"


@pytest.fixture
def merchants(app, client) -> tuple[Merchant, Merchant]:
    a = Merchant("Boutique A", "a@example.com", "a")
    a.fill(client)
    b = Merchant("Boutique B", "b@example.com", "b")
    b.fill(client)
    # B's ids must differ from A's for "A's key with B's ids" to mean anything.
    assert all(a.ids[k] != b.ids[k] for k in a.ids)
    db.session.rollback()  # SQLite: no transaction left open while the requests run
    return a, b


def test_matrix_covers_the_back_office():
    endpoints = {endpoint for endpoint, _, _ in SHOP_RULES}
    assert {"admin.dashboard", "admin.credentials", "admin.credentials_reveal",
            "admin.credentials_rotate", "admin.audit_log", "admin.email_design_edit",
            "admin.email_design_preview", "admin.email_design_test"} <= endpoints


@pytest.mark.parametrize(("endpoint", "rule", "method"), SHOP_RULES,
                         ids=[f"{m} {r}" for _, r, m in SHOP_RULES])
def test_other_merchants_shop_is_out_of_reach(app, merchants, endpoint, rule, method):
    a, b = merchants
    data = form_for(b)
    b_url = url_for_rule(rule, b.key, b.ids)
    mixed_url = url_for_rule(rule, a.key, b.ids) if "<int:" in rule else None
    before = snapshot(b)

    anonymous = app.test_client()
    response = send(anonymous, method, b_url, data)
    assert response.status_code in (302, 401), (method, b_url, response.status_code)
    if response.status_code == 302:
        assert response.location.startswith("/admin/login")
    assert snapshot(b) == before

    client_a = app.test_client()
    login(client_a, a.email)
    response = send(client_a, method, b_url, data)
    assert response.status_code == 404, (method, b_url, response.status_code)
    assert b.name not in response.get_data(as_text=True)
    assert snapshot(b) == before
    if mixed_url is not None:
        response = send(client_a, method, mixed_url, data)
        assert response.status_code == 404, (method, mixed_url, response.status_code)
        assert snapshot(b) == before

    # Control: the URL is a real one for its owner.
    client_b = app.test_client()
    login(client_b, b.email)
    response = send(client_b, method, b_url, data)
    assert response.status_code != 404, (method, b_url)


def test_unknown_shop_key_is_not_found(app, merchants):
    a, _ = merchants
    client = app.test_client()
    login(client, a.email)
    for _, rule, method in SHOP_RULES:
        if "<int:" in rule:
            continue
        url = rule.replace("<shop_key>", "shp_doesnotexist")
        assert send(client, method, url, {}).status_code == 404, (method, url)


def test_shop_list_shows_only_own_shops(app, merchants):
    a, b = merchants
    c_shop, _ = make_shop("Boutique A — Belgique")
    create_user(a.email, PASSWORD, c_shop)
    c_key = c_shop.key
    db.session.rollback()
    client = app.test_client()
    login(client, a.email)
    html = send(client, "GET", "/admin/", {}).get_data(as_text=True)
    assert a.key in html and c_key in html
    assert b.key not in html and "Boutique B" not in html
