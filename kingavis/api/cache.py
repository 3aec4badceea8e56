"""A per-process memory of what the public endpoints answer, kept in step with the database,
so that the busiest part of King-Avis (a request on every page view of every shop that embeds
the widget) costs no query while nothing changed, and a change shows in every process as soon
as the database says so.

What is kept, per gunicorn worker: for each shop slug, the shop's name, public address and
rating summary (one entry serves ``/summary`` and ``/badge.svg`` in both languages), and for
each page of ``/reviews`` (and each product's summary, JSON-LD and pages) asked for, that page.
Each entry carries its ETag, computed from the data (not from the rendered body), the bodies
rendered so far, and its *stamp*: the shop's id and ``shops.public_version`` when it was read.

Freshness (docs/publication.md):

- ``public_version`` goes up in the transaction of every change of what the answers show of a
  shop (a review written, published, replied to, withdrawn or erased, the shop renamed: one
  listener in kingavis/reviews/publication.py). A request needs the shop's current row,
  version included (``current_shop_row``): on PostgreSQL the row this worker kept, for as long
  as the public version listener has heard nothing of that shop (kingavis/api/versions.py: a
  trigger notifies every change of the version), else read by its slug (one indexed statement,
  one round trip: ``check_engine``). An entry whose stamp differs is read again. So once a
  change commits and its notification arrives, no worker serves an answer made before it.
- An entry also lives ``PUBLIC_CACHE_SECONDS`` (25 s) at most (80 to 100 % of it, at random),
  for what the version does not follow: an order's name changed by its platform.
- Answers say ``Cache-Control: public, max-age=PUBLIC_MAX_AGE`` (30 s), so a browser or a
  shared cache may keep an answer that long before revalidating with ``If-None-Match``.

So a change outside the version shows everywhere within 25 + 30 = 55 seconds, under the 60
the contract allows; ``staleness_bound`` computes it from the configuration and refuses
settings over 60 s.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, Executable, Row, create_engine, event
from sqlalchemy.exc import DBAPIError

from kingavis.api import versions
from kingavis.extensions import db
from kingavis.reviews.publication import follow_public_changes

EXTENSION = "kingavis_public_cache"
CHECK_ENGINE = "kingavis_public_check_engine"
CACHE_SECONDS = 25.0
MAX_AGE_SECONDS = 30
MAX_ENTRIES = 4096
CONTRACT_BOUND_SECONDS = 60


def staleness_bound(cache_seconds: float, max_age: int) -> float:
    """The longest a visitor can be shown an answer that a commit has made stale: the entry may
    have been filled just before the commit and live ``cache_seconds``, and the last answer made
    from it may be kept ``max_age`` by the browser or a shared cache. Raises ValueError when that
    exceeds the contract's 60 seconds or when max-age exceeds the contract's 300."""
    if cache_seconds < 0 or max_age < 0:
        raise ValueError("cache lifetime and max-age must not be negative")
    if max_age > 300:
        raise ValueError("max-age must be at most 300 seconds (docs/publication.md)")
    bound = cache_seconds + max_age
    if bound > CONTRACT_BOUND_SECONDS:
        raise ValueError(
            f"cache lifetime {cache_seconds:g} s + max-age {max_age} s = {bound:g} s: a change "
            f"must show within {CONTRACT_BOUND_SECONDS} s (docs/publication.md)"
        )
    return bound


@dataclass
class Entry:
    """What one public answer is made from. ``value`` None: no shop has this slug."""

    etag: str
    value: Any
    slug: str
    shop_id: int | None
    expires: float
    # What the entry was made from: (shop id, shops.public_version) when it was read.
    stamp: Hashable = None
    # Rendered bodies by representation ("json", "badge:fr"…), filled on first use.
    bodies: dict[str, bytes] = field(default_factory=dict)

    def body(self, kind: str, render: Callable[[], bytes]) -> bytes:
        found = self.bodies.get(kind)
        if found is None:
            found = self.bodies[kind] = render()
        return found


class PublicCache:
    """Entries by key, each alive ``ttl`` seconds, at most ``max_entries`` (oldest first out);
    ``get`` with a stamp finds only an entry made with that stamp.

    Reads take no lock (a dict lookup is atomic); writes do. ``clock`` is injectable so tests
    can move time forward instead of sleeping. ``ttl`` 0 keeps nothing. Each entry lives
    between ``(1 - jitter) * ttl`` and ``ttl``.
    """

    jitter = 0.2

    def __init__(self, ttl: float = CACHE_SECONDS, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, stamp: Hashable = None) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.stamp != stamp or entry.expires <= self.clock():
            return None
        return entry

    def put(self, key: Hashable, *, etag: str, value: Any, slug: str,
            shop_id: int | None, stamp: Hashable = None) -> Entry:
        life = self.ttl * (1 - self.jitter * random.random())
        entry = Entry(etag=etag, value=value, slug=slug, shop_id=shop_id,
                      expires=self.clock() + life, stamp=stamp)
        if self.ttl <= 0:
            return entry
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def forget(self, shop_ids: Iterable[int] = (), slugs: Iterable[str] = ()) -> int:
        """Drop every entry of these shops (by id) or these slugs; returns how many."""
        ids, names = set(shop_ids), set(slugs)
        if not ids and not names:
            return 0
        with self._lock:
            stale = [k for k, e in self._entries.items() if e.shop_id in ids or e.slug in names]
            for key in stale:
                del self._entries[key]
        return len(stale)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def init_app(app: Flask) -> PublicCache:
    """One cache per app (so per worker process), sized and timed from the configuration."""
    cache_seconds = float(app.config.get("PUBLIC_CACHE_SECONDS", CACHE_SECONDS))
    max_age = int(app.config.get("PUBLIC_MAX_AGE", MAX_AGE_SECONDS))
    staleness_bound(cache_seconds, max_age)
    cache = PublicCache(ttl=cache_seconds,
                        max_entries=int(app.config.get("PUBLIC_CACHE_ENTRIES", MAX_ENTRIES)))
    app.extensions[EXTENSION] = cache
    follow_public_changes()
    with app.app_context():
        versions.init_app(app, db.engine, cache_seconds)
    return cache


def cache_of(app: Flask) -> PublicCache:
    return app.extensions[EXTENSION]


def check_engine(app: Flask) -> Engine:
    """Where each request reads the shop's ``public_version``: connections in autocommit (one
    round trip per statement, no BEGIN nor ROLLBACK). On PostgreSQL a pool of its own, without
    the main pool's ping on every checkout (a second round trip): a connection the server
    dropped fails once, is replaced and the statement sent again (``read_current``). It goes
    when the main engine is disposed. Up to 4 connections per worker stay open (one per
    gunicorn thread), 20 at most. On SQLite, the main engine in autocommit."""
    engine = app.extensions.get(CHECK_ENGINE)
    if engine is not None:
        return engine
    with app.app_context():
        main = db.engine
    if main.dialect.name != "postgresql":
        engine = main.execution_options(isolation_level="AUTOCOMMIT")
    else:
        engine = create_engine(main.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                               pool_size=4, max_overflow=16, hide_parameters=True,
                               connect_args={"connect_timeout": 5})
    found = app.extensions.setdefault(CHECK_ENGINE, engine)
    if found is not engine:  # another thread made one first
        engine.dispose()
    elif engine.pool is not main.pool:
        event.listen(main, "engine_disposed", lambda _main: found.dispose())
    return found


def current_shop_row(statement: Executable, slug: str) -> Row[Any] | None:
    """The shop row ``statement`` reads by ``slug``, as last committed: the one this process
    kept while the public version listener says it has not changed (no round trip,
    kingavis/api/versions.py), else read now (``read_current``) and kept."""
    watch = versions.watch_of(current_app)
    if watch is None:
        return read_current(statement, {"slug": slug})
    watch.start()
    row = watch.known(slug)
    if row is None:
        generation = watch.generation
        row = read_current(statement, {"slug": slug})
        if row is not None:
            watch.remember(slug, row, generation)
    return row


def read_current(statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
    """The first row of ``statement``, as last committed (see ``check_engine``)."""
    engine = check_engine(current_app)
    for again in (False, True):
        try:
            with engine.connect() as connection:
                return connection.execute(statement, params).first()
        except DBAPIError as exc:
            if again or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")
