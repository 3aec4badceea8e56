"""The public version listener (kingavis/api/versions.py, docs/publication.md): on PostgreSQL a
worker answers a cached public request without asking the database while nothing changed, and
every change — a publication, a reply, a withdrawal, an erasure, a rename, SQL written by hand,
a deleted shop — shows in another worker as soon as PostgreSQL delivers the notification. With
the listener down, every request reads the database again, so nothing stale is served.

PostgreSQL only: SQLite has no notification channel, and there every request reads the shop's
row (tests/api/test_public_api_workers.py covers that path on both databases)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _truncate, captured_log, closed_port, make_app
from factories import make_shop
from flask import Flask
from publication_helpers import reviewed
from sqlalchemy import Engine, create_engine, event, text

from kingavis.api.versions import APPLICATION_NAME, VersionWatch, watch_of
from kingavis.extensions import db
from kingavis.models import Review, ReviewRequest, Shop, utcnow
from kingavis.personal_data.erasure import erase_customer
from kingavis.reviews.actions import withdraw_by_author

# How long a notification may take before a test calls it lost. Delivery takes milliseconds;
# the bound is generous for a loaded machine, and a test passing near it would still be right.
DELIVERY_BOUND = 10.0


@pytest.fixture
def pg_url(postgres_database: str) -> Iterator[str]:
    yield postgres_database
    _truncate(postgres_database)


@pytest.fixture
def writer(pg_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The worker changes are made through (its listener off: it does not read)."""
    app = make_app(pg_url, tmp_path / "writer")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def reader(pg_url: str, tmp_path: Path) -> Iterator[Flask]:
    """Another worker, with its own cache and its listener on."""
    app = make_app(pg_url, tmp_path / "reader", PUBLIC_VERSION_LISTENER=True)
    yield app
    with app.app_context():
        db.engine.dispose()  # stops the listener
    watch = watch_of(app)
    assert watch is not None and not (watch._thread and watch._thread.is_alive())


def statements_of(app: Flask) -> tuple[list[str], Callable[[], None]]:
    """Every SQL statement ``app`` sends from now on, through any engine (its main pool and its
    version check's pool), and how to stop recording."""
    seen: list[str] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(Engine, "before_cursor_execute", record)


class Reader:
    """What the listening worker answers for one shop."""

    def __init__(self, app: Flask, slug: str, what: str = "summary") -> None:
        self.client = app.test_client()
        self.watch = watch_of(app)
        self.path = f"/api/v1/shops/{slug}/{what}"
        self.tag = '"none"'

    def get(self) -> Any:
        db.session.rollback()  # the writer's session holds nothing meanwhile
        response = self.client.get(self.path, headers={"If-None-Match": self.tag})
        if response.status_code == 200:
            self.tag = response.headers["ETag"]
        return response

    def warm(self) -> None:
        assert self.get().status_code in (200, 304)
        assert self.watch is not None and self.watch.wait_live(DELIVERY_BOUND)
        self.get()  # read again now that the listener is live: this row is kept
        assert self.get().status_code == 304

    def until(self, check: Callable[[Any], bool]) -> Any:
        """The first answer ``check`` accepts, asked again until DELIVERY_BOUND."""
        deadline = time.monotonic() + DELIVERY_BOUND
        while True:
            response = self.get()
            assert response.status_code in (200, 304, 404)
            if check(response):
                return response
            assert time.monotonic() < deadline, "the change never showed in the other worker"
            time.sleep(0.005)


def count(response: Any) -> int | None:
    return response.get_json()["rating"]["count"] if response.status_code == 200 else None


def test_a_cached_answer_asks_nothing_of_the_database_while_nothing_changed(
        writer: Flask, reader: Flask) -> None:
    shop = make_shop("Boutique Zoë")[0]
    reviewed(shop, "100", 5)
    worker = Reader(reader, shop.slug)
    worker.warm()
    path = worker.path
    seen, stop = statements_of(reader)
    try:
        for _ in range(20):
            assert worker.get().status_code == 304
        page = reader.test_client().get(path)
        assert page.status_code == 200 and page.get_json()["rating"]["count"] == 1
    finally:
        stop()
    assert seen == []


def test_every_change_shows_in_another_worker_once_notified(writer: Flask, reader: Flask) -> None:
    shop = make_shop("Boutique Zoë")[0]
    first = reviewed(shop, "100", 5)
    worker = Reader(reader, shop.slug)
    worker.warm()
    delivered = worker.watch.delivered  # type: ignore[union-attr]

    second = reviewed(shop, "101", 3)  # a publication
    assert count(worker.until(lambda r: r.status_code == 200)) == 2

    review = db.session.get(Review, second.id)  # a reply: the summary's ETag stays
    review.reply_text = "Merci pour votre confiance."
    review.reply_published_at = utcnow()
    db.session.commit()
    reviews = Reader(reader, shop.slug, "reviews")
    assert "Merci pour votre confiance." in reviews.until(
        lambda r: r.status_code == 200 and b"Merci" in r.data).get_data(as_text=True)

    withdraw_by_author(db.session.get(ReviewRequest, second.review_request_id))  # a withdrawal
    assert count(worker.until(lambda r: r.status_code == 200)) == 1

    erase_customer(db.session.get(Shop, shop.id), "customer-100@example.com", source="cli")
    db.session.commit()  # an erasure
    assert count(worker.until(lambda r: r.status_code == 200)) == 0
    assert db.session.get(Review, first.id).status == "withdrawn"

    shop = db.session.get(Shop, shop.id)  # a rename
    shop.name = "Boutique Zoë & fils"
    db.session.commit()
    answer = worker.until(lambda r: r.status_code == 200)
    assert answer.get_json()["shop"]["name"] == "Boutique Zoë & fils"
    assert worker.watch.delivered > delivered  # type: ignore[union-attr]


def test_sql_by_hand_and_a_deleted_shop_show_too(writer: Flask, reader: Flask) -> None:
    """The trigger on ``shops`` tells the workers whoever the writer is."""
    shop = make_shop("Boutique Zoë")[0]
    worker = Reader(reader, shop.slug)
    worker.warm()
    db.session.execute(text("UPDATE shops SET name = 'Renommée à la main',"
                            " public_version = public_version + 1 WHERE id = :id"), {"id": shop.id})
    db.session.commit()
    answer = worker.until(lambda r: r.status_code == 200)
    assert answer.get_json()["shop"]["name"] == "Renommée à la main"

    assert worker.get().status_code == 304
    db.session.execute(text("DELETE FROM shops WHERE id = :id"), {"id": shop.id})
    db.session.commit()
    assert worker.until(lambda r: r.status_code == 404).get_json()["status"] == 404


def test_a_commit_of_the_worker_itself_shows_on_its_next_request(pg_url: str,
                                                                 tmp_path: Path) -> None:
    """No waiting for the notification in the process that made the change."""
    app = make_app(pg_url, tmp_path, PUBLIC_VERSION_LISTENER=True)
    try:
        with app.app_context():
            shop = make_shop("Boutique Zoë")[0]
            reviewed(shop, "100", 5)
            worker = Reader(app, shop.slug)
            worker.warm()
            for rating in (4, 2, 1):
                reviewed(shop, f"10{rating}", rating)
                answer = worker.get()  # at once: no waiting, no retry
                assert answer.status_code == 200 and count(answer) == {4: 2, 2: 3, 1: 4}[rating]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_with_the_listener_lost_every_request_reads_the_database(
        writer: Flask, reader: Flask, pg_url: str) -> None:
    shop = make_shop("Boutique Zoë")[0]
    worker = Reader(reader, shop.slug)
    worker.warm()
    watch = worker.watch
    assert watch is not None
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            killed = connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database()"),
                {"name": APPLICATION_NAME}).scalars().all()
        assert killed and all(killed)
        deadline = time.monotonic() + DELIVERY_BOUND
        while watch.live and time.monotonic() < deadline:
            time.sleep(0.005)
        if watch.live:  # it may already be back: then it forgot every row when it came back
            assert watch.known(shop.slug) is None
        # A change made while the listener cannot hear it shows on the very next request.
        reviewed(shop, "100", 5)
        answer = worker.get()
        assert answer.status_code == 200 and count(answer) == 1
        # The listener comes back, and a cached answer again asks nothing.
        assert watch.wait_live(DELIVERY_BOUND)
        worker.get()
        seen, stop = statements_of(reader)
        try:
            assert worker.get().status_code == 304
        finally:
            stop()
        assert seen == []
    finally:
        admin.dispose()


def test_a_listener_that_cannot_connect_trusts_nothing_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    watch = VersionWatch(f"postgresql://postgres:s3cret-word@127.0.0.1:{closed_port()}/kingavis",
                         max_age=25)
    with captured_log(caplog, "kingavis.api.versions", "WARNING"):
        watch.start()
        try:
            deadline = time.monotonic() + DELIVERY_BOUND
            while watch.generation < 3 and time.monotonic() < deadline:  # two failed attempts
                time.sleep(0.05)
            assert watch.generation >= 3 and not watch.live
            assert not watch.remember("a", Row(1), watch.generation)  # type: ignore[arg-type]
            assert watch.known("a") is None
        finally:
            watch.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "kingavis.api.versions"]
    assert len(warnings) == 1 and "reads the database until it is back" in warnings[0]
    assert "s3cret" not in caplog.text and "127.0.0.1" not in caplog.text


# --- the rules that keep a row honest, without a database -------------------------------------


class Row:
    def __init__(self, shop_id: int) -> None:
        self.id = shop_id


def live_watch() -> tuple[VersionWatch, list[float]]:
    now = [100.0]
    watch = VersionWatch("postgresql://unused", max_age=25, clock=lambda: now[0])
    watch.live = True
    return watch, now


def test_a_row_read_before_a_notification_is_not_kept() -> None:
    watch, _ = live_watch()
    noted = watch.generation
    watch.forget({7})  # a notification arrives while the row is being read
    assert not watch.remember("zoe", Row(7), noted)  # type: ignore[arg-type]
    assert watch.known("zoe") is None
    assert watch.remember("zoe", Row(7), watch.generation)  # type: ignore[arg-type]
    assert watch.known("zoe").id == 7  # type: ignore[union-attr]


def test_a_notification_forgets_only_its_shop_and_none_forgets_all() -> None:
    watch, _ = live_watch()
    for slug, shop_id in (("a", 1), ("b", 2), ("b-old", 2)):
        assert watch.remember(slug, Row(shop_id), watch.generation)  # type: ignore[arg-type]
    watch.forget({2})
    assert (watch.known("a") is not None, watch.known("b"), watch.known("b-old")) == \
        (True, None, None)
    watch.forget({None})
    assert watch.known("a") is None


def test_nothing_is_trusted_while_the_listener_is_down_or_after_the_cache_lifetime() -> None:
    watch, now = live_watch()
    assert watch.remember("a", Row(1), watch.generation)  # type: ignore[arg-type]
    now[0] += 24.9
    assert watch.known("a") is not None
    now[0] += 0.2
    assert watch.known("a") is None  # expired like a cache entry
    assert watch.remember("a", Row(1), watch.generation)  # type: ignore[arg-type]
    watch.live = False
    assert watch.known("a") is None
    assert not watch.remember("a", Row(1), watch.generation)  # type: ignore[arg-type]


def test_sqlite_and_a_listener_turned_off_read_every_time(app: Flask, tmp_path: Path) -> None:
    assert watch_of(app) is None  # the tests' default, and SQLite's only way
    assert watch_of(make_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path,
                             PUBLIC_VERSION_LISTENER=True)) is None
