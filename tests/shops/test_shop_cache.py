"""The webhook's per-process cache of shop snapshots (``kingavis.shops.service.ShopSnapshotCache``).

How long an entry is kept, proved with an injected clock (never by sleeping), and that it is
never stale: a change made by another process (here: another ORM session, whose flush this
process's listeners are made to forget) is used by the next webhook, through
``shops.settings_version``; a change made through this process's ORM at once; a secret's
expiry at its expiry. And what it never does: serve one shop's entry for another key.
tests/shops/test_settings_at_once.py does the same with a real second process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from factories import make_shop, post_event, status_event
from flask import Flask
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

import kingavis.shops.service as service
from kingavis.extensions import db
from kingavis.models import InvitationRule, OrderEvent, Shop, ShopSecret, utcnow
from kingavis.shops.service import (
    SHOP_CACHE_EXTENSION,
    ShopSnapshotCache,
    new_webhook_secret,
    shop_cache,
)

TTL = 5.0


class Clock:
    """Monotonic seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(app: Flask) -> Clock:
    made = Clock()
    app.extensions[SHOP_CACHE_EXTENSION] = ShopSnapshotCache(TTL, clock=made)
    return made


@pytest.fixture
def shop_reads(app: Flask) -> Iterator[Callable[[], int]]:
    """How many times the shop was read from the database so far."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM shops" in statement and "shop_secrets" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield lambda: len(seen)
    event.remove(db.engine, "before_cursor_execute", count)


def elsewhere(statement: Any) -> None:
    """Run a write as another process would: on its own connection, no ORM session involved."""
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(statement)


def another_process(model: Any, shop_id: int, change: Callable[[Any], None]) -> None:
    """Change a shop, its rule or its secrets as the back-office or the CLI of another process
    does: through the ORM, in a session and on a connection of its own, committed."""
    db.session.commit()
    # This process's listeners see that flush too and would void its cache: undone, since
    # another process's flush never reaches this one.
    generation = service._generation
    with Session(db.engine) as other:
        column = model.id if model is Shop else model.shop_id
        for row in other.execute(select(model).where(column == shop_id)).scalars():
            change(row)
        other.commit()
    service._generation = generation


def outcome(response: Any) -> str:
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["outcome"]


def test_a_shop_is_read_once_per_ttl(client: Any, clock: Clock, shop_reads: Callable[[], int]) -> None:
    shop, secret = make_shop()
    for n in range(3):
        assert post_event(client, shop, secret, status_event(f"o{n}", "2")).status_code == 202
    assert shop_reads() == 1
    clock.advance(TTL - 0.01)
    assert post_event(client, shop, secret, status_event("o3", "2")).status_code == 202
    assert shop_reads() == 1
    clock.advance(0.02)  # the entry is now older than the TTL
    assert post_event(client, shop, secret, status_event("o4", "2")).status_code == 202
    assert shop_reads() == 2


def test_a_secret_revoked_by_another_process_is_refused_at_once(client: Any, clock: Clock) -> None:
    shop, secret = make_shop()
    assert post_event(client, shop, secret, status_event("o1", "2")).status_code == 202
    another_process(ShopSecret, shop.id,
                    lambda row: setattr(row, "expires_at", utcnow() - timedelta(seconds=1)))
    # The cached entry is well within its TTL: the version read with the order says it is old.
    response = post_event(client, shop, secret, status_event("o2", "2"))
    assert response.status_code == 401
    assert db.session.execute(select(OrderEvent.id)).scalars().all() != []
    assert len(db.session.execute(select(OrderEvent.id)).scalars().all()) == 1


def test_a_secret_revoked_by_another_process_stops_a_replay_too(client: Any, clock: Clock) -> None:
    shop, secret = make_shop()
    body = status_event("o1", "2")
    assert post_event(client, shop, secret, body, webhook_id="msg_same").status_code == 202
    another_process(ShopSecret, shop.id,
                    lambda row: setattr(row, "expires_at", utcnow() - timedelta(seconds=1)))
    assert post_event(client, shop, secret, body, webhook_id="msg_same").status_code == 401


def test_a_secret_revoked_in_this_process_is_refused_at_once(client: Any, clock: Clock) -> None:
    shop, secret = make_shop()
    assert post_event(client, shop, secret, status_event("o1", "2")).status_code == 202
    for row in shop.secrets:
        row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert post_event(client, shop, secret, status_event("o2", "2")).status_code == 401


def test_a_new_secret_made_by_another_process_is_accepted_at_once(
    client: Any, clock: Clock, shop_reads: Callable[[], int]
) -> None:
    shop, old = make_shop()
    assert post_event(client, shop, old, status_event("o1", "2")).status_code == 202
    new = new_webhook_secret()
    elsewhere(insert(ShopSecret.__table__).values(shop_id=shop.id, secret=new, created_at=utcnow()))
    # Not in the cached entry: the failed check reads the shop again and finds it.
    assert post_event(client, shop, new, status_event("o2", "2")).status_code == 202
    assert shop_reads() == 2
    # The entry read then is kept: both secrets verify without another read.
    assert post_event(client, shop, new, status_event("o3", "2")).status_code == 202
    assert post_event(client, shop, old, status_event("o4", "2")).status_code == 202
    assert shop_reads() == 2


def test_a_wrong_secret_is_refused_after_one_fresh_read(
    client: Any, clock: Clock, shop_reads: Callable[[], int]
) -> None:
    shop, secret = make_shop()
    assert post_event(client, shop, secret, status_event("o1", "2")).status_code == 202
    response = post_event(client, shop, new_webhook_secret(), status_event("o2", "2"))
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("invalid-signature")
    assert shop_reads() == 2


def test_a_rule_and_cancel_statuses_changed_by_another_process_apply_at_once(
    client: Any, clock: Clock, shop_reads: Callable[[], int]
) -> None:
    shop, secret = make_shop()  # trigger 5, cancel 6/7/8
    assert outcome(post_event(client, shop, secret, status_event("o1", "5", email="a@example.com"))) == "scheduled"
    another_process(InvitationRule, shop.id, lambda rule: setattr(rule, "trigger_status_ids", ["4"]))
    another_process(Shop, shop.id, lambda row: setattr(row, "cancel_status_ids", ["6", "7", "8", "9"]))
    assert shop_reads() == 1
    # Well within the TTL, the next webhooks use both changes.
    assert outcome(post_event(client, shop, secret, status_event("o3", "4", email="c@example.com"))) == "scheduled"
    assert outcome(post_event(client, shop, secret, status_event("o1", "9", email="a@example.com"))) == "cancelled"
    # One fresh read for the change, then the cache serves again.
    assert shop_reads() == 2
    assert outcome(post_event(client, shop, secret, status_event("o4", "2", email="d@example.com"))) == "recorded"
    assert shop_reads() == 2


def test_a_write_that_changes_nothing_keeps_the_version(app: Flask) -> None:
    shop, _ = make_shop()
    version = db.session.execute(select(Shop.settings_version).where(Shop.id == shop.id)).scalar_one()
    another_process(Shop, shop.id, lambda row: setattr(row, "paused", row.paused))
    assert db.session.execute(select(Shop.settings_version).where(Shop.id == shop.id)).scalar_one() == version
    another_process(Shop, shop.id, lambda row: setattr(row, "paused", not row.paused))
    assert db.session.execute(select(Shop.settings_version).where(Shop.id == shop.id)).scalar_one() == version + 1


def test_a_rule_changed_in_this_process_applies_at_once(client: Any, clock: Clock) -> None:
    shop, secret = make_shop()
    assert outcome(post_event(client, shop, secret, status_event("o1", "4", email="a@example.com"))) == "recorded"
    shop.active_rule.trigger_status_ids = ["4"]
    db.session.commit()
    assert outcome(post_event(client, shop, secret, status_event("o2", "4", email="b@example.com"))) == "scheduled"


def test_a_change_rolled_back_in_this_process_is_not_kept(app: Flask, clock: Clock) -> None:
    shop, _ = make_shop()
    cache = shop_cache(app)
    assert cache.get(shop.key)[0].active_rule.trigger_status_ids == ["5"]
    shop.active_rule.trigger_status_ids = ["4"]
    db.session.flush()
    # Read inside the flushing transaction (as a webhook in the same session would)…
    assert cache.get(shop.key)[0].active_rule.trigger_status_ids == ["4"]
    db.session.rollback()
    # …and forgotten with the rollback.
    snapshot, fresh = cache.get(shop.key)
    assert fresh and snapshot.active_rule.trigger_status_ids == ["5"]


def test_an_expiring_secret_stops_at_its_expiry_not_at_the_ttl(app: Flask, clock: Clock) -> None:
    shop, old = make_shop()
    expiry = utcnow() + timedelta(hours=1)
    shop.secrets[0].expires_at = expiry
    shop.secrets.append(ShopSecret(secret=new_webhook_secret()))
    db.session.commit()
    cache = shop_cache(app)
    before, fresh = cache.get(shop.key, now=expiry - timedelta(seconds=1))
    assert fresh and old in before.secrets and len(before.secrets) == 2
    after, fresh = cache.get(shop.key, now=expiry + timedelta(seconds=1))
    assert not fresh and old not in after.secrets and len(after.secrets) == 1


def test_an_entry_never_serves_another_shop(
    client: Any, clock: Clock, shop_reads: Callable[[], int]
) -> None:
    first, first_secret = make_shop("Boutique A")
    second, second_secret = make_shop("Boutique B")
    assert post_event(client, first, first_secret, status_event("o1", "2")).status_code == 202
    # The first shop's secret never opens the second shop, cached or not.
    assert post_event(client, second, first_secret, status_event("o1", "2")).status_code == 401
    assert post_event(client, second, second_secret, status_event("o1", "2")).status_code == 202
    assert post_event(client, first, second_secret, status_event("o2", "2")).status_code == 401
    stored = db.session.execute(select(OrderEvent.shop_id)).scalars().all()
    assert sorted(stored) == sorted([first.id, second.id])
    # A key that only looks like a cached one is another key: unknown.
    lookalike = type("Key", (), {"key": first.key.upper() if first.key != first.key.upper()
                                  else first.key.lower()})()
    assert post_event(client, lookalike, first_secret, status_event("o3", "2")).status_code == 404


def test_unknown_keys_are_not_kept(app: Flask, clock: Clock, shop_reads: Callable[[], int]) -> None:
    cache = shop_cache(app)
    assert cache.get("shp_nobody") == (None, True)
    assert cache.get("shp_nobody") == (None, True)
    assert shop_reads() == 2


def test_a_ttl_of_zero_reads_every_time(app: Flask, shop_reads: Callable[[], int]) -> None:
    app.config["WEBHOOK_SHOP_CACHE_SECONDS"] = 0
    app.extensions.pop(SHOP_CACHE_EXTENSION, None)
    shop, secret = make_shop()
    client = app.test_client()
    for n in range(2):
        assert post_event(client, shop, secret, status_event(f"o{n}", "2")).status_code == 202
    assert shop_reads() == 2


def test_the_default_ttl_is_a_few_seconds(app: Flask) -> None:
    app.extensions.pop(SHOP_CACHE_EXTENSION, None)
    assert 0 < shop_cache(app).ttl_seconds <= 5
