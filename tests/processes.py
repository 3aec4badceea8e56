"""Helpers to run the real command line (`flask --app wsgi …`) against brand-new databases.

Used by the CLI, migration and README tests: a subprocess proves the installed entry point,
the environment-variable configuration and the exit codes work, not only the click objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get(
    "KINGAVIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# scrypt, the production hash, costs tens of milliseconds per password: the tests' apps and
# processes use a cheap one (docs/tests.md); tests/accounts/test_password_hashing.py checks scrypt.
TEST_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
# Variables the service reads; a test process starts from none of them.
_SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "MAIL_URL", "MAIL_FROM", "SECRET_KEY", "FLASK_DEBUG", "FLASK_APP")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """An empty, uniquely named PostgreSQL database, dropped afterwards. Yields its URL."""
    name = f"kingavis_fresh_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def flask_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a real `flask` process: only what is given, plus PATH and HOME."""
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARS and not k.startswith("KINGAVIS_")}
    instance.mkdir(parents=True, exist_ok=True)
    env.update(
        DATABASE_URL=database_url,
        KINGAVIS_INSTANCE_PATH=str(instance),
        SECRET_KEY="cli-test-secret-key",
        MAIL_URL=f"file://{instance / 'outbox'}",
        PYTHONUNBUFFERED="1",
        # A developer's .env (written by `make run`) must not leak into the tests' processes.
        FLASK_SKIP_DOTENV="1",
        KINGAVIS_PASSWORD_HASH_METHOD=TEST_PASSWORD_HASH_METHOD,
    )
    env.update(extra)
    return env


def run_flask(args: list[str], env: dict[str, str], stdin: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`flask --app wsgi ARGS` from the project root, as an operator types it."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def table_counts(database_url: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Row counts read on a connection of our own (never the app's session)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}  # noqa: S608
    finally:
        engine.dispose()
