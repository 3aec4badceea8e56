"""`make test` runs pytest-xdist workers side by side: each one needs a Redis database of its own."""

from __future__ import annotations

from conftest import worker_redis_url


def test_each_worker_gets_the_next_redis_database_and_a_single_process_the_base() -> None:
    base = "redis://127.0.0.1:6379/12"
    assert worker_redis_url(base, "main") == base
    assert worker_redis_url(base, "gw0") == base
    assert worker_redis_url(base, "gw1") == "redis://127.0.0.1:6379/13"
    assert worker_redis_url("redis://:pw@cache:6380", "gw2") == "redis://:pw@cache:6380/2"
