"""Per-shop request rate limit for the webhook endpoint: a fixed window counter.

The limit is ``app.config["WEBHOOK_RATE_LIMIT"]`` requests per window of
``app.config.get("WEBHOOK_RATE_WINDOW_SECONDS", 1)`` seconds for each shop; 0 turns it off.
With Redis configured (``app.extensions["redis"]``) the counter is shared by every process:
one script call (``INCRBY``, ``EXPIRE`` on the first hit) on a key named after the shop and the
window. Below ``2 × LEASE_SHARE`` (200) requests per window that is one call per request, and
the limit is exact across processes. From 200 up, a process reserves several requests of the
window in one call, at most 1/``LEASE_SHARE`` (1 %) of the limit at a time, sized on what the
shop sent to this process (in this window so far, or the last one), and admits them without
asking Redis again; a busy shop then costs about one call per process per window instead of
one per request. Never more than the limit is admitted. What a process reserved and did not
use by the end of the window is lost to the others: with P processes, a shop may be refused
after (1 − P/100) × the limit in a window at worst (97 % with 3 workers).
Without Redis each process counts for itself (thread-safe). If Redis fails the request is
let through (fail open) and the failure logged, and the process counts by itself for a
while: refusing a shop's webhooks because our cache is down would lose status changes,
which is worse than a burst.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Protocol

from flask import Flask, current_app

log = logging.getLogger("kingavis.ratelimit")

EXTENSION_KEY = "kingavis_webhook_ratelimiter"
REDIS_PREFIX = "kingavis:ratelimit:webhooks:"
LEASE_SHARE = 100  # a process reserves at most limit // LEASE_SHARE requests at a time


class Limiter(Protocol):
    def hit(self, key: str, limit: int, window: int, now: float | None = None) -> int | None:
        """Count one request; None when allowed, else the seconds to wait (Retry-After)."""


def _window(now: float, window: int) -> tuple[int, int]:
    """(index of the window holding ``now``, whole seconds until it ends, at least 1)."""
    index = int(now // window)
    remaining = (index + 1) * window - now
    return index, max(1, math.ceil(remaining))


class MemoryLimiter:
    """In-process counters: for one process, or when no Redis is configured."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}
        self._max_keys = max_keys

    def hit(self, key: str, limit: int, window: int, now: float | None = None) -> int | None:
        now = time.time() if now is None else now
        index, retry_after = _window(now, window)
        with self._lock:
            current_index, count = self._counts.get(key, (index, 0))
            if current_index != index:
                count = 0
            count += 1
            self._counts[key] = (index, count)
            if len(self._counts) > self._max_keys:
                # Forget the shops whose window is over.
                self._counts = {k: v for k, v in self._counts.items() if v[0] == index}
        return retry_after if count > limit else None


# INCRBY, and EXPIRE on the first hit of a window: one round trip (EVALSHA; redis-py loads the
# script again by itself after a Redis restart or SCRIPT FLUSH).
_COUNT_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


class _Lease:
    """Requests of one window reserved in Redis by this process and not used yet."""

    __slots__ = ("index", "left", "used", "previous_used")

    def __init__(self, index: int, previous_used: int) -> None:
        self.index = index  # of the window
        self.left = 0
        self.used = 0  # admitted by this process in this window
        self.previous_used = previous_used  # … in the window just before


class RedisLimiter:
    """Counters shared through Redis.

    When Redis fails, the failure is logged and, for ``pause_seconds``, this process counts
    on its own instead of waiting on Redis for every request (the Redis client retries a
    lost connection with a backoff of seconds).
    """

    def __init__(self, redis: Any, prefix: str = REDIS_PREFIX, pause_seconds: float = 30.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._pause_seconds = pause_seconds
        self._paused_until = 0.0
        self._fallback = MemoryLimiter()
        self._count: Any = None
        self._lock = threading.Lock()
        self._leases: dict[tuple[str, int], _Lease] = {}  # (key, window) -> this window's

    def hit(self, key: str, limit: int, window: int, now: float | None = None) -> int | None:
        from redis.exceptions import RedisError

        if time.monotonic() < self._paused_until:
            return self._fallback.hit(key, limit, window, now)
        now = time.time() if now is None else now
        index, retry_after = _window(now, window)
        name = f"{self._prefix}{key}:{window}:{index}"
        most = limit // LEASE_SHARE
        size = 1
        if most > 1:
            with self._lock:
                lease = self._lease((key, window), index)
                if lease.left > 0:  # reserved earlier in this window: no round trip
                    lease.left -= 1
                    lease.used += 1
                    return None
                size = min(most, max(1, lease.used, lease.previous_used))
        try:
            if self._count is None:
                self._count = self._redis.register_script(_COUNT_SCRIPT)
            count = int(self._count(keys=[name], args=[window + 1, size]))
        except RedisError as exc:
            self._paused_until = time.monotonic() + self._pause_seconds
            log.warning(
                "Redis failed: webhook rate limit counted in this process for a while",
                extra={"fields": {"error": type(exc).__name__, "detail": str(exc)[:200],
                                  "pause_seconds": self._pause_seconds}},
            )
            return None
        # What is left of the limit before this call, at most what was asked for.
        granted = min(size, max(0, limit - (count - size)))
        if granted == 0:
            return retry_after
        if most > 1:
            with self._lock:
                lease = self._lease((key, window), index)
                lease.left += granted - 1
                lease.used += 1
        return None

    def _lease(self, key: tuple[str, int], index: int) -> _Lease:
        """This process's reservation for the shop in window ``index`` (lock held)."""
        lease = self._leases.get(key)
        if lease is None or lease.index != index:
            previous = lease.used if lease is not None and lease.index == index - 1 else 0
            lease = self._leases[key] = _Lease(index, previous)
            if len(self._leases) > 10_000:  # forget the shops whose window is over
                self._leases = {k: v for k, v in self._leases.items() if v.index == index}
        return lease


def limiter_for(app: Flask) -> Limiter:
    """The app's limiter, made on first use: Redis-backed when Redis is configured."""
    limiter = app.extensions.get(EXTENSION_KEY)
    if limiter is None:
        redis = app.extensions.get("redis")
        limiter = RedisLimiter(redis) if redis is not None else MemoryLimiter()
        limiter = app.extensions.setdefault(EXTENSION_KEY, limiter)
    return limiter


def check_webhook_rate(shop_key: str, now: float | None = None) -> int | None:
    """Count one webhook for ``shop_key`` in the current app.

    Returns None when the request may go on, else the Retry-After seconds.
    """
    limit = int(current_app.config.get("WEBHOOK_RATE_LIMIT") or 0)
    if limit <= 0:
        return None
    window = max(1, int(current_app.config.get("WEBHOOK_RATE_WINDOW_SECONDS") or 1))
    return limiter_for(current_app._get_current_object()).hit(shop_key, limit, window, now)  # type: ignore[attr-defined]
