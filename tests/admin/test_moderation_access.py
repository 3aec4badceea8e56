"""Who reaches the moderation pages and the review actions: operator, the shop's merchant,
another shop's merchant, anonymous. Operators see no shop page; merchants never reach the
queue; and no route lets a merchant delete or hide a review. Both databases, CSRF on."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from factories import make_shop
from flask import Flask
from moderation_helpers import PASSWORD, fresh, operator, reviewed
from sqlalchemy import select

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import Review, ReviewReport


@pytest.fixture
def app(database_url: str, tmp_path: Path):
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _rules(predicate: Any) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(f"sqlite:///{tmp}/rules.db", Path(tmp))
        found = [(rule.rule, method) for rule in app.url_map.iter_rules() if predicate(rule)
                 for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
        with app.app_context():
            db.engine.dispose()
    return sorted(found)


OPERATOR_RULES = _rules(lambda r: r.rule.startswith("/admin/moderation"))
SHOP_RULES = _rules(lambda r: r.rule.startswith("/admin") and "shop_key" in r.arguments)
# Every route that writes, but the signed shop webhooks (no merchant session gets past them).
WRITE_RULES = _rules(lambda r: bool((r.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"})
                     and not r.rule.startswith("/webhooks/"))


class Client:
    """A test client whose every request runs in its own app context (its own ``g`` and DB
    session), as in production: the test's own app context must not carry a login over."""

    def __init__(self, app: Flask) -> None:
        self._client = app.test_client()
        self._app = app

    def open(self, url: str, method: str = "GET", data: dict[str, Any] | None = None) -> Any:
        with self._app.app_context():
            return self._client.open(url, method=method, data=data)

    def get(self, url: str) -> Any:
        return self.open(url)

    def post(self, url: str, data: dict[str, Any] | None = None) -> Any:
        return self.open(url, "POST", data)


def csrf_of(client: Any, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, url
    return match.group(1)


def login(client: Any, email: str) -> None:
    token = csrf_of(client, "/admin/login")
    response = client.post("/admin/login", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


class World:
    def __init__(self) -> None:
        self.shop, _ = make_shop("Boutique A")
        self.other, _ = make_shop("Boutique B")
        self.owner, _ = create_user("a@example.com", PASSWORD, self.shop)
        self.stranger, _ = create_user("b@example.com", PASSWORD, self.other)
        self.operator = operator()
        self.pending = reviewed(self.shop, "1", 1, "Appelez le 06 12 34 56 78").id
        self.published = reviewed(self.shop, "2", 1, "Très déçu").id
        self.key = self.shop.key
        self.other_key = self.other.key
        db.session.rollback()

    def url(self, rule: str, review_id: int) -> str:
        url = rule.replace("<shop_key>", self.key)
        return re.sub(r"<int:\w+>", str(review_id), url)


@pytest.fixture
def world(app: Flask) -> World:
    return World()


def rows() -> list[tuple[Any, ...]]:
    db.session.rollback()
    reviews = [(r.id, r.status, r.comment, r.reply_text) for r in
               db.session.execute(select(Review).order_by(Review.id)).scalars()]
    reports = db.session.execute(select(ReviewReport.id)).all()
    db.session.rollback()
    return [*reviews, *reports]


def test_the_matrix_covers_the_new_routes() -> None:
    assert {r for r, _ in OPERATOR_RULES} == {
        "/admin/moderation", "/admin/moderation/reviews/<int:review_id>/publish",
        "/admin/moderation/reviews/<int:review_id>/reject"}
    assert {("/admin/shops/<shop_key>/reviews/<int:review_id>/reply", "POST"),
            ("/admin/shops/<shop_key>/reviews/<int:review_id>/report", "POST")} <= set(SHOP_RULES)


@pytest.mark.parametrize(("rule", "method"), OPERATOR_RULES, ids=[f"{m} {r}" for r, m in OPERATOR_RULES])
def test_only_operators_reach_the_moderation_queue(app: Flask, world: World, rule: str, method: str) -> None:
    url = world.url(rule, world.pending)
    before = rows()
    anonymous = Client(app)
    response = anonymous.open(url, method=method, data={"reason": "advertising"})
    assert response.status_code in (302, 400)  # login page, or no CSRF token
    for email in ("a@example.com", "b@example.com"):  # the shop's merchant, another merchant
        client = Client(app)
        login(client, email)
        token = csrf_of(client, f"/admin/shops/{world.key}/reviews") if email == "a@example.com" \
            else csrf_of(client, f"/admin/shops/{world.other_key}/reviews")
        response = client.open(url, method=method, data={"reason": "advertising", "csrf_token": token})
        assert response.status_code == 404, (email, url)
    assert rows() == before
    client = Client(app)
    login(client, "moderation@kingavis.test")
    token = csrf_of(client, "/admin/moderation")
    response = client.open(url, method=method, data={"reason": "advertising", "csrf_token": token})
    assert response.status_code in (200, 302), response.status_code


def test_moderation_forms_need_their_csrf_token(app: Flask, world: World) -> None:
    client = Client(app)
    login(client, "moderation@kingavis.test")
    before = rows()
    for action in ("publish", "reject"):
        response = client.post(f"/admin/moderation/reviews/{world.pending}/{action}",
                               data={"reason": "advertising"})
        assert response.status_code == 400
    merchant = Client(app)
    login(merchant, "a@example.com")
    for action, field in (("reply", "text"), ("report", "reason")):
        response = merchant.post(f"/admin/shops/{world.key}/reviews/{world.published}/{action}",
                                 data={field: "Bonjour à vous"})
        assert response.status_code == 400
    assert rows() == before


@pytest.mark.parametrize(("rule", "method"), SHOP_RULES, ids=[f"{m} {r}" for r, m in SHOP_RULES])
def test_operators_see_no_shop_page(app: Flask, world: World, rule: str, method: str) -> None:
    client = Client(app)
    login(client, "moderation@kingavis.test")
    token = csrf_of(client, "/admin/moderation")
    url = re.sub(r"<int:\w+>", str(world.published), rule.replace("<shop_key>", world.key))
    before = rows()
    response = client.open(url, method=method, data={"csrf_token": token, "text": "x", "reason": "x"})
    assert response.status_code == 404, url
    assert "Boutique A" not in response.get_data(as_text=True)
    assert rows() == before


def test_operator_lands_on_the_queue_after_login(app: Flask, world: World) -> None:
    client = Client(app)
    login(client, "moderation@kingavis.test")
    response = client.get("/admin/")
    assert response.status_code == 302 and response.location.endswith("/admin/moderation")
    page = client.get("/admin/moderation").get_data(as_text=True)
    assert "Appelez le 06 12 34 56 78" in page and "Boutique A" in page
    # What moderation needs, and nothing of the customer's.
    assert "customer-1@example.com" not in page and "Łukasiewicz" not in page and "REF-1" not in page


HARM = {"status": "rejected", "action": "delete", "hide": "1", "hidden": "y", "visible": "0",
        "delete": "1", "state": "withdrawn", "reason": "advertising", "text": "Réponse",
        "confirm": "yes"}


@pytest.mark.parametrize(("rule", "method"), WRITE_RULES, ids=[f"{m} {r}" for r, m in WRITE_RULES])
def test_no_route_lets_a_merchant_delete_or_hide_a_review(app: Flask, world: World, rule: str,
                                                           method: str) -> None:
    client = Client(app)
    login(client, "a@example.com")
    token = csrf_of(client, f"/admin/shops/{world.key}/reviews")
    url = rule.replace("<shop_key>", world.key).replace("<token>", "x" * 32)
    url = re.sub(r"<int:\w+>", str(world.published), url)
    url = re.sub(r"<(?:\w+:)?\w+>", "x", url)
    client.open(url, method=method, data={**HARM, "csrf_token": token})
    review = fresh(world.published)
    assert (review.status, review.comment) == ("published", "Très déçu"), (method, url)
    assert db.session.get(Review, world.published) is not None
