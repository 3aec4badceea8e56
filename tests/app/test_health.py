"""GET /healthz (docs/production.md) against real, absent and stuck services."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_app
from flask import Flask

from kingavis.extensions import db


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a stuck Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def get_health(app: Flask) -> tuple[int, dict]:
    response = app.test_client().get("/healthz")
    assert response.is_json
    return response.status_code, response.get_json()


def test_healthy(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthy_with_redis(database_url: str, redis_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url)

    status, body = get_health(app)

    assert (status, body) == (200, {"status": "ok"})
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_database_down_is_503_naming_the_database(kind: str, tmp_path: Path) -> None:
    if kind == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/kingavis"
    else:  # a file in a directory that does not exist cannot be opened
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'kingavis.db'}"
    app = make_app(url, tmp_path)

    status, body = get_health(app)

    assert status == 503
    assert body["status"] != "ok"
    assert "database" in body["failed"]
    assert "redis" not in body["failed"]


def test_redis_down_is_503_naming_redis(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")

    status, body = get_health(app)

    assert status == 503
    assert set(body["failed"]) == {"redis"}
    with app.app_context():
        db.engine.dispose()


def test_stuck_redis_does_not_hang_the_health_check(
    database_url: str, tmp_path: Path, silent_server: int
) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=f"redis://127.0.0.1:{silent_server}/0")
    result: list[tuple[int, dict]] = []
    worker = threading.Thread(target=lambda: result.append(get_health(app)), daemon=True)

    worker.start()
    # Not a timing assertion: a generous bound that only a hang (no socket timeout) exceeds.
    worker.join(120)

    assert result, "GET /healthz did not answer while Redis was stuck"
    status, body = result[0]
    assert status == 503
    assert set(body["failed"]) == {"redis"}
    with app.app_context():
        db.engine.dispose()


def test_both_down_names_both(tmp_path: Path) -> None:
    app = make_app(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/kingavis",
        tmp_path,
        REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
    )

    status, body = get_health(app)

    assert status == 503
    assert set(body["failed"]) == {"database", "redis"}
