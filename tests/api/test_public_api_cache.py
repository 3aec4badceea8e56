"""Caching of the public API (docs/publication.md): ETag and 304, what changes the ETag (publication,
reply, withdrawal), the staleness bound, and that a cached answer costs one SQL statement (the
shop's public_version)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from factories import make_shop
from flask import Flask
from publication_helpers import reviewed
from sqlalchemy import create_engine, event, text

from kingavis.api.cache import PublicCache, cache_of, check_engine, staleness_bound
from kingavis.api.views import if_none_match
from kingavis.extensions import db
from kingavis.models import Review, ReviewState, Shop, utcnow
from kingavis.reviews.publication import change_review_state

ENDPOINTS = ["summary", "reviews", "reviews?rating=5&per_page=5", "badge.svg", "badge.svg?lang=en"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Flask) -> Clock:
    fake = Clock()
    cache_of(app).clock = fake
    return fake


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement sent to the database while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = [db.engine]
    if check_engine(app).pool is not db.engine.pool:  # the version check's own pool
        engines.append(check_engine(app))
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    yield seen
    for engine in engines:
        event.remove(engine, "before_cursor_execute", record)


def etags(client: Any, shop: Shop) -> dict[str, str]:
    found = {}
    for path in ENDPOINTS:
        response = client.get(f"/api/v1/shops/{shop.slug}/{path}")
        assert response.status_code == 200, path
        found[path] = response.headers["ETag"]
    return found


def all_not_modified(client: Any, shop: Shop, tags: dict[str, str]) -> bool:
    return all(
        client.get(f"/api/v1/shops/{shop.slug}/{path}",
                   headers={"If-None-Match": tag}).status_code == 304
        for path, tag in tags.items()
    )


# --- If-None-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize("header, matches", [
    ('"abc"', True),
    ('W/"abc"', True),  # If-None-Match compares weakly (RFC 9110 13.1.2)
    ('"x", W/"y", "abc"', True),
    ('"x",W/"abc"', True),
    ("*", True),
    ('"abd"', False),
    ('"ab"', False),
    ('W/"abcd"', False),
    ("abc", True),  # a client that forgot the quotes: the same opaque tag
    ('"', False),
    ("", False),
    (",,,", False),
    ('"abc', False),
    (None, False),
])
def test_if_none_match_follows_rfc_9110(header: str | None, matches: bool) -> None:
    assert if_none_match(header, "abc") is matches


def test_a_matching_if_none_match_answers_304_with_the_same_headers(client, shop) -> None:
    reviewed(shop, "100", 5)
    for path in ENDPOINTS:
        url = f"/api/v1/shops/{shop.slug}/{path}"
        first = client.get(url)
        tag = first.headers["ETag"]
        for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            again = client.get(url, headers={"If-None-Match": header})
            assert again.status_code == 304, (path, header)
            assert again.data == b""
            assert again.headers["ETag"] == tag
            for name in ("Cache-Control", "Access-Control-Allow-Origin", "X-Content-Type-Options"):
                assert again.headers[name] == first.headers[name]
            assert "Set-Cookie" not in again.headers
        stale = client.get(url, headers={"If-None-Match": '"stale", W/"older"'})
        assert stale.status_code == 200 and stale.data == first.data


def test_errors_are_never_answered_304(client, shop) -> None:
    missing = client.get("/api/v1/shops/nope/summary")
    # An error has no ETag to revalidate, and is kept by no cache (issue 21).
    assert "ETag" not in missing.headers and missing.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/shops/nope/summary",
                      headers={"If-None-Match": '"anything"'}).status_code == 404
    assert client.get("/api/v1/shops/nope/summary", headers={"If-None-Match": "*"}).status_code == 404
    bad = client.get(f"/api/v1/shops/{shop.slug}/reviews?page=0", headers={"If-None-Match": "*"})
    assert bad.status_code == 400


def test_every_representation_has_its_own_etag(client, shop) -> None:
    reviewed(shop, "100", 5)
    tags = etags(client, shop)
    assert len(set(tags.values())) == len(tags)


# --- what changes the ETag --------------------------------------------------------------------


def test_a_publication_changes_every_etag(client, shop) -> None:
    reviewed(shop, "100", 5)
    before = etags(client, shop)
    assert all_not_modified(client, shop, before)

    reviewed(shop, "101", 5)

    after = etags(client, shop)
    assert all(after[p] != before[p] for p in ENDPOINTS)
    assert client.get(f"/api/v1/shops/{shop.slug}/summary").get_json()["rating"]["count"] == 2


def test_a_reply_changes_the_reviews_etag_and_shows(client, shop) -> None:
    review = reviewed(shop, "100", 5)
    url = f"/api/v1/shops/{shop.slug}/reviews"
    before = client.get(url).headers["ETag"]
    summary_before = client.get(f"/api/v1/shops/{shop.slug}/summary").headers["ETag"]

    review.reply_text = "Merci pour votre confiance."
    review.reply_published_at = utcnow()
    db.session.commit()

    response = client.get(url, headers={"If-None-Match": before})
    assert response.status_code == 200 and response.headers["ETag"] != before
    assert response.get_json()["reviews"][0]["reply"]["text"] == "Merci pour votre confiance."
    # An edited reply changes it again.
    review.reply_text = "Merci, à bientôt."
    db.session.commit()
    edited = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert edited.status_code == 200
    assert edited.get_json()["reviews"][0]["reply"]["text"] == "Merci, à bientôt."
    # The rating summary did not change: its ETag neither.
    summary = client.get(f"/api/v1/shops/{shop.slug}/summary",
                         headers={"If-None-Match": summary_before})
    assert summary.status_code == 304


@pytest.mark.parametrize("state", [ReviewState.WITHDRAWN, ReviewState.REJECTED])
def test_a_withdrawal_or_rejection_changes_every_etag(client, shop, state) -> None:
    reviewed(shop, "100", 4)
    going = reviewed(shop, "101", 5)
    before = etags(client, shop)

    change_review_state(going, state, actor="customer")
    db.session.commit()

    after = etags(client, shop)
    assert all(after[p] != before[p] for p in ENDPOINTS)
    body = client.get(f"/api/v1/shops/{shop.slug}/summary").get_json()
    assert (body["rating"]["count"], body["rating"]["average"]) == (1, 4.0)
    # ... and an operator publishing it again changes them back.
    if state == ReviewState.REJECTED:
        change_review_state(db.session.get(Review, going.id), ReviewState.PUBLISHED,
                            actor="operator")
        db.session.commit()
        assert etags(client, shop) == before


def test_a_renamed_shop_shows_its_new_name(client, shop) -> None:
    first = client.get(f"/api/v1/shops/{shop.slug}/summary")
    shop.name = "Boutique Zoë & fils"
    db.session.commit()
    second = client.get(f"/api/v1/shops/{shop.slug}/summary",
                        headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.get_json()["shop"]["name"] == "Boutique Zoë & fils"


def test_nothing_else_changes_the_etags(client, shop) -> None:
    reviewed(shop, "100", 5)
    before = etags(client, shop)
    make_shop("Une autre boutique")
    reviewed(make_shop("Encore une")[0], "900", 1)
    cache_of(client.application).clear()
    assert etags(client, shop) == before
    assert all_not_modified(client, shop, before)


# --- the staleness bound -------------------------------------------------------------------


def _update_elsewhere(app: Flask, sql: str, **params: Any) -> None:
    """A change committed by another process (its own connection, no ORM session events)."""
    db.session.rollback()  # let the other writer in (SQLite takes the write lock at BEGIN)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


def test_a_change_made_by_another_process_shows_within_the_bound(app, client, shop, clock) -> None:
    review_id = reviewed(shop, "100", 5).id
    reviewed(shop, "101", 3)
    url = f"/api/v1/shops/{shop.slug}/summary"
    first = client.get(url)
    tag = first.headers["ETag"]
    ttl = cache_of(app).ttl
    max_age = int(first.headers["Cache-Control"].rsplit("=", 1)[1])

    _update_elsewhere(app, "UPDATE reviews SET status = 'withdrawn' WHERE id = :id", id=review_id)

    # Within the cache lifetime this worker may still answer the old version...
    shortest = (1 - cache_of(app).jitter) * ttl
    clock.now += shortest - 1
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    # ... and never after it.
    clock.now += ttl - shortest + 1
    fresh = client.get(url, headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.get_json()["rating"]["count"] == 1
    # A browser or shared cache keeps the old answer max-age more at most: within 60 s overall.
    assert ttl + max_age == staleness_bound(ttl, max_age) <= 60


def test_the_documented_bound_is_55_seconds_and_settings_over_60_are_refused(app, tmp_path) -> None:
    from conftest import make_app

    assert (cache_of(app).ttl, app.config.get("PUBLIC_MAX_AGE", 30)) == (25, 30)
    assert staleness_bound(25, 30) == 55
    with pytest.raises(ValueError, match="60"):
        staleness_bound(31, 30)
    with pytest.raises(ValueError, match="300"):
        staleness_bound(0, 301)
    with pytest.raises(ValueError):
        make_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, PUBLIC_CACHE_SECONDS=50,
                 PUBLIC_MAX_AGE=30)


def test_the_cache_forgets_old_entries_when_full() -> None:
    clock = Clock()
    cache = PublicCache(ttl=15, max_entries=3, clock=clock)
    cache.jitter = 0
    for n in range(5):
        cache.put(("shop", f"s{n}"), etag=str(n), value=n, slug=f"s{n}", shop_id=n)
    assert len(cache) == 3
    assert cache.get(("shop", "s0")) is None and cache.get(("shop", "s4")).value == 4
    clock.now += 15
    assert cache.get(("shop", "s4")) is None
    assert cache.forget(shop_ids=[3], slugs=["s2"]) == 2 and len(cache) == 1


def test_jittered_entries_live_80_to_100_percent_of_the_lifetime() -> None:
    clock = Clock()
    cache = PublicCache(ttl=25, clock=clock)
    for n in range(200):
        cache.put(n, etag="t", value=n, slug="s", shop_id=1)
    assert all(cache.get(n) is not None for n in range(200))
    clock.now += 20 - 0.001
    assert all(cache.get(n) is not None for n in range(200))
    clock.now += 5.002
    assert all(cache.get(n) is None for n in range(200))


# --- cost per request -------------------------------------------------------------------------


def _version_checks(statements: list[str]) -> list[str]:
    return [s for s in statements
            if "shops.public_version" in s and "FROM shops" in s and "WHERE shops.slug" in s]


def test_a_cached_answer_sends_one_statement_the_version_check(client, shop, statements) -> None:
    reviewed(shop, "100", 5)
    reviewed(shop, "101", 2)
    tags = etags(client, shop)
    base = f"/api/v1/shops/{shop.slug}"
    statements.clear()

    for path, tag in tags.items():
        url = f"{base}/{path}"
        assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
        assert client.get(url).status_code == 200
        assert client.get(url, headers={"If-None-Match": '"old"'}).status_code == 200
    # One statement per request: the shop's row and public_version by its slug, nothing else.
    assert len(statements) == 3 * len(tags)
    assert _version_checks(statements) == statements

    # An unknown slug costs the same single statement.
    statements.clear()
    for _ in range(3):
        assert client.get("/api/v1/shops/unknown-shop/summary").status_code == 404
    assert len(statements) == 3 and _version_checks(statements) == statements


def test_a_miss_reads_the_shop_and_its_summary_in_two_statements(client, shop, statements, clock) -> None:
    reviewed(shop, "100", 5)
    base = f"/api/v1/shops/{shop.slug}"
    client.get(f"{base}/summary")
    clock.now += 60
    statements.clear()
    client.get(f"{base}/summary")
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    client.get(f"{base}/badge.svg")  # same entry: the version check alone
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3 and len(_version_checks(selects)) == 2


def test_a_304_renders_nothing(client, shop, monkeypatch) -> None:
    from kingavis.api import views

    reviewed(shop, "100", 5)
    tags = etags(client, shop)
    cache_of(client.application).clear()  # even on a miss: the ETag comes from the data

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("rendered for a 304")

    for name in ("summary_document", "reviews_document", "badge_svg", "_json"):
        monkeypatch.setattr(views, name, fail)
    assert all_not_modified(client, shop, tags)


def test_deleting_a_review_whose_attributes_were_expired_still_commits_and_shows(client, shop) -> None:
    review = reviewed(shop, "100", 5)
    reviewed(shop, "101", 4)
    review_id = review.id
    url = f"/api/v1/shops/{shop.slug}/summary"
    assert client.get(url).get_json()["rating"]["count"] == 2
    db.session.commit()  # expires every loaded attribute
    gone = db.session.get(Review, review_id)
    db.session.expire(gone)
    db.session.delete(gone)
    db.session.commit()
    assert client.get(url).get_json()["rating"]["count"] == 1
