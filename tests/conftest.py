"""Fixtures: one per real service (PostgreSQL, Redis), and the app on each database.

Every test that uses ``app`` runs twice: on SQLite and on PostgreSQL. A service that is down
stops the run with the command that starts it; nothing is skipped silently.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask
from processes import TEST_PASSWORD_HASH_METHOD
from sqlalchemy import create_engine, text

# Fixture modules registered once for the whole run. The browser fixtures must not be imported
# into test modules: each import would make its own "session" Chromium, and Playwright's sync
# API allows one running instance at a time.
pytest_plugins = ["browser", "log_privacy", "pytester"]

POSTGRES_URL = os.environ.get(
    "KINGAVIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_redis_url(base: str, worker: str) -> str:
    """The Redis database of one pytest-xdist worker: the base URL's number plus the worker's.

    ``gw0`` keeps the base database, ``gw1`` the next one, and so on (docs/tests.md), so two
    workers never flush or read each other's queues and counters. Outside xdist: the base.
    """
    if not worker.startswith("gw"):
        return base
    index = int(worker[2:])
    parts = urlsplit(base)
    database = int(parts.path.strip("/") or 0) + index
    return urlunsplit(parts._replace(path=f"/{database}"))


REDIS_URL = worker_redis_url(
    os.environ.get("KINGAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/1"), _worker()
)

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    # The once-per-process check of Python's email package logs its error here, before any
    # test watches the logs (docs/email-headers.md), not in whichever test runs first.
    from kingavis.mail_headers import check_python_email

    check_python_email()
    down = []
    if not _reachable(POSTGRES_URL, 5432):
        down.append(("PostgreSQL", POSTGRES_URL))
    if not _reachable(REDIS_URL, 6379):
        down.append(("Redis", REDIS_URL))
    if down:
        lines = [f"{name} is not reachable at {url}; start it with:\n    {HOW_TO_START[name]}" for name, url in down]
        pytest.exit("\n".join(lines), returncode=3)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (``make test``), the browser tests share a worker,
    and so do the real-PrestaShop tests.

    One Chromium runs instead of one per worker, on machines where memory is scarcer than
    cores; the other worker takes the rest of the suite meanwhile (docs/tests.md).
    """
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
        elif item.get_closest_marker("prestashop"):
            # One real PrestaShop installed per run, not one per worker.
            item.add_marker(pytest.mark.xdist_group("prestashop"))


def _stuck_threads(config: pytest.Config) -> str:
    """The stacks of the threads a test left running (waiting up to 30 s for them), or ""."""
    import sys
    import threading
    import traceback

    if hasattr(config, "_kingavis_stuck_threads"):
        return config._kingavis_stuck_threads
    deadline = time.monotonic() + 30
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threading.enumerate()
             if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    frames = sys._current_frames()
    report = "".join(
        f"\nthread {thread.name!r} is still running after the tests:\n"
        + "".join(traceback.format_stack(frames.get(thread.ident)))
        for thread in stuck
    )
    config._kingavis_stuck_threads = report  # type: ignore[attr-defined]
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, hand the stuck threads' stacks to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["stuck_threads"] = _stuck_threads(session.config)
    elif getattr(session.config, "_kingavis_workers_stuck", False):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    """pytest-xdist controller: print a worker's stuck threads and fail the run."""
    report = getattr(node, "workeroutput", {}).get("stuck_threads")
    if report:
        import sys

        sys.stderr.write(f"\n[{node.gateway.id}]{report}")
        sys.stderr.flush()
        node.config._kingavis_workers_stuck = True


def pytest_unconfigure(config: pytest.Config) -> None:
    """Fail, naming them, on threads a test left running, rather than hang at exit.

    Python waits for every non-daemon thread before it exits: one stuck thread (a barrier
    whose partner died) would keep the finished run open until CI's deadline. Under
    pytest-xdist each worker checks its own threads and reports them to the controller
    (``pytest_sessionfinish`` above), which fails the run.
    """
    import sys

    report = _stuck_threads(config)
    if report:
        if not hasattr(config, "workeroutput"):
            sys.stderr.write(report)
            sys.stderr.flush()
        os._exit(1)


def _migrate(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def make_app(database_url: str, tmp_path: Path, **overrides: object) -> Flask:
    from kingavis import create_app

    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "KINGAVIS_BASE_URL": "http://kingavis.test",
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": None,
        # A cheap password hash (tests/processes.py says why).
        "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH_METHOD,
    }
    config.update(overrides)
    env = {"SECRET_KEY": "test-secret-key", "DATABASE_URL": database_url}
    return create_app(config, env=env)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated once with `db upgrade`."""
    name = f"kingavis_test_{_worker()}_{os.getpid()}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    app = make_app(url, tmp)
    _migrate(app)
    with app.app_context():
        from kingavis.extensions import db

        db.engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once with `db upgrade`; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    app = make_app(f"sqlite:///{path}", path.parent)
    _migrate(app)
    with app.app_context():
        from kingavis.extensions import db

        db.engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "kingavis.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        yield url
        _truncate(url)


def _truncate(url: str) -> None:
    """Empty every table and restart every sequence, as ``TRUNCATE … RESTART IDENTITY`` would.

    ``DELETE`` with foreign-key triggers off (``session_replication_role``, this transaction
    only) instead of ``TRUNCATE``: truncating some forty tables replaces each one's files, about
    half a second per test; deleting the few rows a test wrote takes a few milliseconds."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'")).scalars().all()
        sequences = conn.execute(text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars().all()
        deletes = "".join(f'DELETE FROM "{table}";' for table in tables)  # noqa: S608 - catalog names
        restarts = "".join(f"SELECT setval('\"{name}\"', 1, false);" for name in sequences)
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica;" + deletes + restarts)
    engine.dispose()


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path)
    with app.app_context():
        yield app
        from kingavis.extensions import db

        db.session.remove()
        db.engine.dispose()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable(database_url: str, tmp_path: Path) -> str:
    """A URL of the same kind as ``database_url`` whose database cannot be reached."""
    if database_url.startswith("postgresql"):
        return f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/kingavis"
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'kingavis.db'}"


@pytest.fixture
def down(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app whose database is down, with the same secret key as the ``app`` fixture's."""
    from kingavis.extensions import db

    app = make_app(unreachable(database_url, tmp_path), tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def shop_and_secret(app: Flask):
    """A shop with the PrestaShop preset (``factories.make_shop``) and its webhook secret."""
    from factories import make_shop

    return make_shop()


@pytest.fixture
def shop(shop_and_secret):
    """The shop of ``shop_and_secret``: a test that needs the secret asks for both."""
    return shop_and_secret[0]


@pytest.fixture
def shop_with_markup_in_name(app: Flask):
    """A shop named ``Boutique <Zoë> & Fils``: its name must come out escaped on every page."""
    from factories import make_shop

    return make_shop("Boutique <Zoë> & Fils")[0]


@pytest.fixture
def merchant_client(app: Flask, shop):
    """A test client signed in as the merchant of ``shop`` (``requests_helpers.merchant``)."""
    from requests_helpers import login, merchant

    client = app.test_client()
    login(client, merchant(shop))
    return client


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis, flushed before and after the test (database 1 by default)."""
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()
    connection.close()


@contextmanager
def captured_log(caplog: pytest.LogCaptureFixture, name: str, level: str) -> Iterator[None]:
    """``caplog.at_level`` for one of King-Avis's loggers, which do not propagate to the root
    (kingavis/logging.py): pytest's handler is put on the logger itself for the block, and the
    logger enabled again if a migration's ``fileConfig`` disabled it."""
    logger = logging.getLogger(name)
    was_disabled, logger.disabled = logger.disabled, False
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(level, logger=name):
            yield
    finally:
        logger.removeHandler(caplog.handler)
        logger.disabled = was_disabled
