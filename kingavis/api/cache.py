"""A short-lived, per-process memory of what the public endpoints answer, so that the busiest
part of King-Avis (a request on every page view of every shop that embeds the widget) costs
no database query while nothing changed.

What is kept, per gunicorn worker: for each shop slug, the shop's name, public address and
rating summary (one entry serves ``/summary`` and ``/badge.svg`` in both languages), and for
each page of ``/reviews`` asked for, that page. Each entry carries its ETag, computed from the
data (not from the rendered body), and the bodies rendered so far; an unknown slug is kept too,
so a widget left on a page after its shop is gone does not query the database on every view.

Staleness bound (docs/publication.md: a publication, reply or withdrawal shows within 60 seconds):

- An entry lives ``PUBLIC_CACHE_SECONDS`` (25 s) at most (80 to 100 % of it, at random, so
  entries filled together are not all read again together), then the next request reads the
  database again. A commit in this process that changes a review or a shop forgets that shop's
  entries at once (``forget_on_commit``); other processes see it when their entry expires.
- Answers say ``Cache-Control: public, max-age=PUBLIC_MAX_AGE`` (30 s), so a browser or a
  shared cache may keep an answer that long before revalidating with ``If-None-Match``.

So a change shows everywhere within 25 + 30 = 55 seconds, under the 60 the contract allows.
Each worker reads each shop that is being viewed at most once per 20–25 s, whatever the
traffic: with 300 shops and 3 workers, about 40 small reads per second in all.
``staleness_bound`` computes it from the configuration and refuses settings over 60 s.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from kingavis.models import Review, Shop

EXTENSION = "kingavis_public_cache"
CACHE_SECONDS = 25.0
MAX_AGE_SECONDS = 30
MAX_ENTRIES = 4096
CONTRACT_BOUND_SECONDS = 60
_CHANGED = "kingavis_public_changed"


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
    # Rendered bodies by representation ("json", "badge:fr"…), filled on first use.
    bodies: dict[str, bytes] = field(default_factory=dict)

    def body(self, kind: str, render: Callable[[], bytes]) -> bytes:
        found = self.bodies.get(kind)
        if found is None:
            found = self.bodies[kind] = render()
        return found


class PublicCache:
    """Entries by key, each alive ``ttl`` seconds, at most ``max_entries`` (oldest first out).

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

    def get(self, key: Hashable) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires <= self.clock():
            return None
        return entry

    def put(self, key: Hashable, *, etag: str, value: Any, slug: str,
            shop_id: int | None) -> Entry:
        life = self.ttl * (1 - self.jitter * random.random())
        entry = Entry(etag=etag, value=value, slug=slug, shop_id=shop_id,
                      expires=self.clock() + life)
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
    if not event.contains(Session, "after_flush", _note_changes):
        event.listen(Session, "after_flush", _note_changes)
        event.listen(Session, "after_commit", forget_on_commit)
        event.listen(Session, "after_rollback", _drop_notes)
    return cache


def cache_of(app: Flask) -> PublicCache:
    return app.extensions[EXTENSION]


def _note_changes(session: Session, _flush_context: Any) -> None:
    """Remember which shops' public answers this transaction changes (reviews, shop rows).

    Reads only what the objects already hold (never a lazy load: a deleted row's attributes may
    be expired, and loading them here would break the flush); when a shop cannot be told, the
    whole cache is forgotten at commit instead."""
    changed: set[tuple[str, Any]] | None = None
    for obj in chain(session.new, session.dirty, session.deleted):
        if not isinstance(obj, Review | Shop):
            continue
        if changed is None:
            changed = session.info.setdefault(_CHANGED, set())
        loaded = inspect(obj).dict
        shop_id = loaded.get("shop_id" if isinstance(obj, Review) else "id")
        changed.add(("id", shop_id) if shop_id is not None else ("all", None))
        if isinstance(obj, Shop) and loaded.get("slug"):
            changed.add(("slug", loaded["slug"]))


def forget_on_commit(session: Session) -> None:
    """After a commit that changed reviews or shops, this process's entries of those shops go."""
    changed = session.info.pop(_CHANGED, None)
    if not changed or not has_app_context():
        return
    cache = current_app.extensions.get(EXTENSION)
    if cache is not None and ("all", None) in changed:
        cache.clear()
    elif cache is not None:
        cache.forget(shop_ids=[v for k, v in changed if k == "id" and v is not None],
                     slugs=[v for k, v in changed if k == "slug" and v])


def _drop_notes(session: Session) -> None:
    session.info.pop(_CHANGED, None)
