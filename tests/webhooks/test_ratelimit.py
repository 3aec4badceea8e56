"""The per-shop webhook limiter, with an explicit clock: in process and through a real Redis."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from redis import Redis

from kingavis.ratelimit import MemoryLimiter, RedisLimiter

T0 = 1_795_338_000.25  # a quarter second into a window of one second


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    connection = Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_the_request_over_the_limit_gets_the_seconds_to_wait(kind: str, redis: Redis) -> None:
    limiter = MemoryLimiter() if kind == "memory" else RedisLimiter(redis)
    assert [limiter.hit("shop", 3, 1, now=T0) for _ in range(3)] == [None, None, None]
    assert limiter.hit("shop", 3, 1, now=T0 + 0.5) == 1
    # Another shop is counted apart; the next window starts afresh.
    assert limiter.hit("other", 3, 1, now=T0) is None
    assert limiter.hit("shop", 3, 1, now=T0 + 1) is None


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_retry_after_counts_to_the_end_of_a_longer_window(kind: str, redis: Redis) -> None:
    limiter = MemoryLimiter() if kind == "memory" else RedisLimiter(redis)
    start = 1_795_338_000.0  # a multiple of 60: the start of a minute window
    assert limiter.hit("shop", 1, 60, now=start + 10) is None
    assert limiter.hit("shop", 1, 60, now=start + 10.5) == 50


def test_redis_counts_are_shared_between_processes(redis: Redis, redis_url: str) -> None:
    other = Redis.from_url(redis_url)
    try:
        first, second = RedisLimiter(redis), RedisLimiter(other)
        assert first.hit("shop", 2, 1, now=T0) is None
        assert second.hit("shop", 2, 1, now=T0) is None
        assert first.hit("shop", 2, 1, now=T0) == 1
    finally:
        other.close()
    keys = redis.keys("kingavis:ratelimit:webhooks:shop:*")
    assert len(keys) == 1
    assert 0 < redis.ttl(keys[0]) <= 2  # counters expire by themselves


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_concurrent_requests_never_pass_the_limit(kind: str, redis: Redis, redis_url: str) -> None:
    allowed: list[bool] = []
    lock = threading.Lock()
    memory = MemoryLimiter()

    def worker() -> None:
        connection = Redis.from_url(redis_url)
        limiter = memory if kind == "memory" else RedisLimiter(connection)
        results = [limiter.hit("shop", 100, 1, now=T0) is None for _ in range(40)]
        connection.close()
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(allowed) == 320
    assert sum(allowed) == 100


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_redis_down_lets_requests_through_then_counts_in_process() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = RedisLimiter(Redis(host="127.0.0.1", port=port, socket_connect_timeout=2))
    logger = logging.getLogger("kingavis.ratelimit")
    handler = Collect()
    was_disabled, logger.disabled = logger.disabled, False
    logger.addHandler(handler)
    try:
        # Over the limit of 1, yet let through: Redis failing never refuses a webhook.
        assert limiter.hit("shop", 1, 1, now=T0) is None
        # Meanwhile this process counts by itself rather than waiting on Redis each time.
        assert limiter.hit("shop", 1, 1, now=T0) is None
        assert limiter.hit("shop", 1, 1, now=T0) == 1
    finally:
        logger.removeHandler(handler)
        logger.disabled = was_disabled
    (warning,) = handler.records
    assert warning.levelno == logging.WARNING
    assert warning.fields["error"] == "ConnectionError"


def test_redis_counts_go_on_after_its_scripts_are_flushed(redis: Redis) -> None:
    """A Redis restart forgets the counting script: the limiter loads it again, still counts."""
    limiter = RedisLimiter(redis)
    now = 1_700_000_000.2
    assert limiter.hit("shop", 2, 1, now) is None
    redis.script_flush()
    assert limiter.hit("shop", 2, 1, now) is None
    assert limiter.hit("shop", 2, 1, now) == 1  # the third request of the window is refused


def test_after_a_redis_failure_the_process_counts_alone_for_30_s_then_uses_redis_again(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented fallback: 30 s by default, then back to the shared counts."""
    import types

    from kingavis import ratelimit

    clock = [1000.0]
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(
        monotonic=lambda: clock[0], time=ratelimit.time.time))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)
    limiter = RedisLimiter(client)
    assert limiter.hit("shop", 1, 1, now=T0) is None  # Redis down: let through
    client.connection_pool = redis.connection_pool  # Redis is back...

    def shared_count() -> int:
        return sum(int(redis.get(k) or 0) for k in redis.keys("*shop*"))

    clock[0] += 29.9  # ...but for 30 s this process keeps counting alone
    assert limiter.hit("shop", 5, 1, now=T0) is None
    assert shared_count() == 0
    clock[0] += 0.2  # 30.1 s after the failure: the counts are shared again
    assert limiter.hit("shop", 5, 1, now=T0) is None
    assert shared_count() == 1


# --- reservations: from 2 × LEASE_SHARE requests per window up ---------------------------


class CountingScript:
    """The limiter's Redis script, counting its calls (one call, one round trip)."""

    def __init__(self, limiter: RedisLimiter, redis: Redis) -> None:
        from kingavis.ratelimit import _COUNT_SCRIPT

        self.script = redis.register_script(_COUNT_SCRIPT)
        self.calls: list[int] = []  # the number of requests asked for, per call
        limiter._count = self

    def __call__(self, keys: list[str], args: list[int]) -> int:
        self.calls.append(args[1])
        return self.script(keys=keys, args=args)


def test_below_200_a_window_every_request_asks_redis(redis: Redis) -> None:
    limiter = RedisLimiter(redis)
    script = CountingScript(limiter, redis)
    assert all(limiter.hit("shop", 199, 1, now=T0) is None for _ in range(20))
    assert script.calls == [1] * 20


def test_a_busy_shop_reserves_a_share_of_the_limit_and_asks_redis_seldom(redis: Redis) -> None:
    limiter = RedisLimiter(redis)
    script = CountingScript(limiter, redis)
    assert all(limiter.hit("shop", 100_000, 1, now=T0) is None for _ in range(500))
    # The reservations grow with what the shop sent: 1, 1, 2, 4, … (at most 1 % of the limit).
    assert len(script.calls) <= 11
    assert max(script.calls) <= 100_000 // 100
    calls = len(script.calls)
    # The next window starts with what the last one needed: one call for as many requests.
    assert all(limiter.hit("shop", 100_000, 1, now=T0 + 1) is None for _ in range(500))
    assert len(script.calls) == calls + 1
    # Redis counted what was reserved, never less than what was admitted.
    counts = [int(redis.get(k)) for k in redis.keys("kingavis:ratelimit:webhooks:shop:*")]
    assert sorted(counts)[0] >= 500 and sum(counts) <= 500 + 500 + 2 * 1000


def test_reservations_never_admit_more_than_the_limit(redis: Redis, redis_url: str) -> None:
    """Four processes hammering one shop: never over the limit, and at worst P % under it."""
    limit, processes = 1000, 4
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        connection = Redis.from_url(redis_url)
        limiter = RedisLimiter(connection)
        results = [limiter.hit("shop", limit, 1, now=T0) is None for _ in range(400)]
        connection.close()
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(allowed) == processes * 400
    assert limit * (1 - processes / 100) <= sum(allowed) <= limit


def test_a_reservation_is_shared_by_the_threads_of_a_process(redis: Redis) -> None:
    limiter = RedisLimiter(redis)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        results = [limiter.hit("shop", 1000, 1, now=T0) is None for _ in range(300)]
        with lock:
            allowed.extend(results)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # One process: nothing reserved is left unused while its own requests are refused.
    assert sum(allowed) == 1000


def test_the_request_over_a_reserved_limit_gets_the_seconds_to_wait(redis: Redis) -> None:
    limiter, other = RedisLimiter(redis), RedisLimiter(redis)
    start = 1_795_338_000.0  # the start of a minute window
    assert all(limiter.hit("shop", 300, 60, now=start + 1) is None for _ in range(300))
    assert limiter.hit("shop", 300, 60, now=start + 10) == 50
    assert other.hit("shop", 300, 60, now=start + 10.5) == 50
    # The next window starts afresh.
    assert limiter.hit("shop", 300, 60, now=start + 60) is None
