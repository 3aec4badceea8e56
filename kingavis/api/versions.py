"""Which shops' public rows a worker may trust without asking the database: a listener on
PostgreSQL's ``kingavis_public`` channel (docs/publication.md, "Freshness").

Without it, every public request reads the shop's row and ``public_version`` (one round trip,
``kingavis.api.cache.read_current``), which is most of what a cached answer costs. With it, a
worker keeps the row it read last for each slug and reads it again only when the database
tells it that the shop changed: a trigger on ``shops`` (migration 0029) sends the shop's id on
the channel whenever its ``public_version`` or ``slug`` changes or the shop is deleted, and
PostgreSQL delivers that notification when the transaction commits. One thread per worker
process listens on its own connection and forgets the rows of the shops it is told about.

What makes it safe:

- **Nothing is trusted unless the listener is live.** A row is kept only while the listener
  holds its ``LISTEN`` (``live``); when its connection fails, every kept row is forgotten and
  every request reads the database again until the listener is back (it retries every
  ``RETRY_SECONDS``). It also sends ``SELECT 1`` every ``PING_SECONDS`` when the channel is
  quiet, so a connection lost without a word is noticed, and TCP keepalives bound the wait.
- **No row read before a notification is kept after it.** ``generation`` goes up with every
  notification and every (re)connection; a request notes it before reading the row and
  ``remember`` keeps the row only if it has not moved since. A change committed while the row
  was being read is therefore never hidden: its notification either arrives before
  ``remember`` (the row is not kept) or after (the row is forgotten).
- **Kept rows also expire** after ``max_age`` seconds (the public cache's lifetime), as cache
  entries do: a change the channel cannot carry still shows within the contract's bound.

What it does not give: the *very next* request after a commit in another process may still be
answered from the row kept before it, for as long as PostgreSQL takes to deliver the
notification (milliseconds after the commit). The process that made the change forgets the
shop's row when its own transaction commits.

SQLite has no channel: there, and with ``PUBLIC_VERSION_LISTENER`` false, every request reads
the row (``read_current``), the behaviour of before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from flask import Flask, current_app, has_app_context
from sqlalchemy import Engine, Row, event
from sqlalchemy.orm import Session

from kingavis.reviews.publication import CHANGED_SHOPS

log = logging.getLogger(__name__)

CHANNEL = "kingavis_public"
EXTENSION = "kingavis_public_versions"
# How the listener's connection shows in pg_stat_activity.
APPLICATION_NAME = "kingavis public versions"
PING_SECONDS = 5.0
WAIT_SECONDS = 0.5
RETRY_SECONDS = 1.0


class VersionWatch:
    """The shop rows one process may use without a round trip, and the thread that keeps them
    honest (see the module's docstring). ``start`` is safe to call on every request: it starts
    the listener once per process (again after a fork)."""

    def __init__(self, conninfo: str, max_age: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conninfo = conninfo
        self.max_age = max_age
        self.clock = clock
        self.generation = 0
        self.live = False
        self.delivered = 0  # notifications received (tests read it)
        self._rows: dict[str, tuple[Row[Any], float]] = {}
        self._slugs: dict[int, set[str]] = {}  # the slugs kept for each shop id
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._warned = False

    # --- what requests call -----------------------------------------------------------------

    def known(self, slug: str) -> Row[Any] | None:
        """The row kept for ``slug`` if it may still be trusted, else None (read it)."""
        found = self._rows.get(slug)
        if found is None or not self.live or found[1] <= self.clock():
            return None
        return found[0]

    def remember(self, slug: str, row: Row[Any], generation: int) -> bool:
        """Keep ``row``, read after ``generation`` was noted, unless the listener is down or
        anything was notified since. Returns whether it was kept."""
        with self._lock:
            if not self.live or generation != self.generation:
                return False
            self._rows[slug] = (row, self.clock() + self.max_age)
            self._slugs.setdefault(row.id, set()).add(slug)
            return True

    def forget(self, shop_ids: set[int | None]) -> None:
        """Forget the kept rows of these shops (a notification, or this process's own commit);
        None among them stands for every shop."""
        with self._lock:
            self.generation += 1
            if None in shop_ids:
                self._rows.clear()
                self._slugs.clear()
                return
            for shop_id in shop_ids:
                for slug in self._slugs.pop(shop_id, ()):  # type: ignore[arg-type]
                    self._rows.pop(slug, None)

    def start(self) -> None:
        pid = os.getpid()
        if self._pid == pid or self._stop.is_set():
            return
        with self._lock:
            if self._pid == pid:
                return
            self._pid = pid
            self._lost()  # whatever a parent process kept is not this process's to trust
            self._thread = threading.Thread(target=self._run, name="kingavis-public-versions",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (the app's engine is disposed, or a test is over)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_live(self, timeout: float) -> bool:
        """Whether the listener is live within ``timeout`` seconds (tests, the benchmark)."""
        deadline = time.monotonic() + timeout
        while not self.live and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.live

    # --- the listener thread ----------------------------------------------------------------

    def _lost(self) -> None:
        with self._lock:
            self.live = False
            self.generation += 1
            self._rows.clear()
            self._slugs.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - whatever it was, listen again
                # The address and password are in conninfo: only the error's class is logged,
                # once per outage (not at every retry while the database is down).
                if not self._stop.is_set() and not self._warned:
                    self._warned = True
                    log.warning("public version listener lost its connection (%s); every public "
                                "request reads the database until it is back",
                                type(exc).__name__)
            finally:
                self._lost()
            self._stop.wait(RETRY_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                             keepalives=1, keepalives_idle=5, keepalives_interval=2,
                             keepalives_count=2, tcp_user_timeout=10_000,
                             application_name=APPLICATION_NAME) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            with self._lock:  # rows read before now were read without the channel
                self._rows.clear()
                self._slugs.clear()
                self.generation += 1
                self.live = True
            self._warned = False
            heard = time.monotonic()
            while not self._stop.is_set():
                # A short wait, so that ``stop`` is obeyed within it.
                for notice in connection.notifies(timeout=WAIT_SECONDS):
                    self.delivered += 1
                    self.forget({_shop_id(notice.payload)})
                    heard = time.monotonic()
                if time.monotonic() - heard >= PING_SECONDS:
                    connection.execute("SELECT 1")
                    heard = time.monotonic()


def _shop_id(payload: str) -> int:
    try:
        return int(payload)
    except ValueError:
        return -1  # not ours to read: forget nothing, but the generation still moves


def watch_of(app: Flask) -> VersionWatch | None:
    """The app's watch, or None when every request reads the database (SQLite, or
    ``PUBLIC_VERSION_LISTENER`` false)."""
    return app.extensions.get(EXTENSION)


def init_app(app: Flask, engine: Engine, max_age: float) -> VersionWatch | None:
    """Set up the watch of ``app`` on PostgreSQL when ``PUBLIC_VERSION_LISTENER`` (default: on,
    but off under ``TESTING``, whose many short-lived apps would each keep a thread; the tests
    of the listener turn it on). The listener starts on the first public request of each
    process, so gunicorn's workers each start their own after the fork."""
    # Always: the shops a session changed are noted on it (kingavis/reviews/publication.py),
    # and this takes the note off at its commit or rollback, watch or not.
    _follow_own_commits()
    if engine.dialect.name != "postgresql" or not app.config.get(
            "PUBLIC_VERSION_LISTENER", not app.testing):
        return None
    url = engine.url.set(drivername="postgresql")
    watch = VersionWatch(url.render_as_string(hide_password=False), max_age)
    app.extensions[EXTENSION] = watch
    event.listen(engine, "engine_disposed", lambda _engine: watch.stop())
    return watch


def _follow_own_commits() -> None:
    """After a commit of this process that changed shops' public answers, forget those shops'
    rows at once in every watch of the process (the notification would do it a moment later)."""
    if not event.contains(Session, "after_commit", _forget_committed):
        event.listen(Session, "after_commit", _forget_committed)
        event.listen(Session, "after_rollback", _drop_changed)


def _drop_changed(session: Session) -> None:
    session.info.pop(CHANGED_SHOPS, None)


def _forget_committed(session: Session) -> None:
    ids = session.info.pop(CHANGED_SHOPS, None)
    if ids and has_app_context():
        watch = watch_of(current_app)
        if watch is not None:
            watch.forget(ids)
