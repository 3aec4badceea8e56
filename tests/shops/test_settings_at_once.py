"""A settings change is used by the next webhook in every process (docs/settings-version.md).

Two real processes: this one serves webhooks with its shop cache warm and kept for an hour;
``flask shops configure`` in a subprocess changes the delay (or the trigger) and exits; the
very next webhook here is scheduled with the new delay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from factories import make_shop, post_event, status_event
from flask import Flask
from processes import flask_env, run_flask

from kingavis.extensions import db
from kingavis.shops.service import SHOP_CACHE_EXTENSION, ShopSnapshotCache


def _due(response: Any) -> datetime:
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["outcome"] == "scheduled", body
    return datetime.fromisoformat(body["review_request"]["due_at"].replace("Z", "+00:00"))


def test_a_delay_changed_by_the_cli_in_another_process_is_used_by_the_next_webhook(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    app.extensions[SHOP_CACHE_EXTENSION] = ShopSnapshotCache(3600)
    client = app.test_client()
    made, secret = make_shop()
    shop = SimpleNamespace(key=made.key)
    changed_at = datetime.now(UTC).replace(microsecond=0)
    first = _due(post_event(client, shop, secret, status_event("o1", "5", changed_at,
                                                               email="a@example.com")))
    assert first == changed_at + timedelta(days=10)
    db.session.commit()
    db.session.remove()

    result = run_flask(["shops", "configure", shop.key, "--delay-days", "3"],
                       flask_env(database_url, tmp_path / "cli"))
    assert result.returncode == 0, result.stderr

    second = _due(post_event(client, shop, secret, status_event("o2", "5", changed_at,
                                                                email="b@example.com")))
    assert second == changed_at + timedelta(days=3)


def test_a_trigger_changed_by_the_cli_in_another_process_is_used_by_the_next_webhook(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    app.extensions[SHOP_CACHE_EXTENSION] = ShopSnapshotCache(3600)
    client = app.test_client()
    made, secret = make_shop()
    shop = SimpleNamespace(key=made.key)
    response = post_event(client, shop, secret, status_event("o1", "4", email="a@example.com"))
    assert response.get_json()["outcome"] == "recorded"
    db.session.commit()
    db.session.remove()

    result = run_flask(["shops", "configure", shop.key, "--trigger-status", "4"],
                       flask_env(database_url, tmp_path / "cli"))
    assert result.returncode == 0, result.stderr

    response = post_event(client, shop, secret, status_event("o2", "4", email="b@example.com"))
    assert response.get_json()["outcome"] == "scheduled"
