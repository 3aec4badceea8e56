"""`make test`: are PostgreSQL and Redis up? Say how to start them if not (exit 1)."""

from __future__ import annotations

import os
import sys

POSTGRES_URL = os.environ.get(
    "KINGAVIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("KINGAVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def check_postgres() -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


def check_redis() -> str | None:
    from redis import Redis

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def main() -> int:
    down = []
    for name, url, check in (("PostgreSQL", POSTGRES_URL, check_postgres), ("Redis", REDIS_URL, check_redis)):
        error = check()
        if error:
            down.append(f"{name} is not usable at {url} ({error}).\n  Start it with: {HOW_TO_START[name]}")
    if down:
        print("\n".join(down), file=sys.stderr)
        print(
            "(or point KINGAVIS_TEST_POSTGRES_URL / KINGAVIS_TEST_REDIS_URL at running servers)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
