"""Back-office authentication: password check, account lock-out and per-address slow-down.

- An account is locked for ``LOCK_MINUTES`` after ``MAX_FAILURES`` failed logins in a row
  (``User.failed_logins`` / ``User.locked_until``); a success resets the counter.
- An email that has no account is counted the same way (in the counter store), so the lock-out
  message shows up after the same number of attempts whether the account exists or not.
- Each client address may fail ``LOGIN_IP_MAX_FAILURES`` times per ``LOGIN_IP_WINDOW_SECONDS``
  (app config, defaults 20 per 15 minutes); beyond that its attempts are refused unchecked.

Counters live in Redis when the app has one (shared by every process), else in this process;
when Redis fails, in this process for a while (``FallbackCounters``).
A password is checked against a dummy hash when the account does not exist, so the answer
takes as long either way.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import func, select, update

from kingavis.accounts import audit
from kingavis.accounts.passwords import check_against_dummy, check_password
from kingavis.emails import normalize_email
from kingavis.extensions import db
from kingavis.i18n import LANGUAGES
from kingavis.models import User, utcnow

log = logging.getLogger("kingavis.accounts")

MAX_FAILURES = 5
LOCK_MINUTES = 15
DEFAULT_IP_MAX_FAILURES = 20
DEFAULT_IP_WINDOW_SECONDS = 15 * 60
# Failures of an email without an account are forgotten after a day without another one.
UNKNOWN_EMAIL_MEMORY_SECONDS = 24 * 3600
EXTENSION_KEY = "kingavis_login_counters"
REDIS_PREFIX = "kingavis:login:"


class Counters(Protocol):
    def get(self, key: str) -> int: ...

    def incr(self, key: str, ttl: int) -> int: ...

    def set(self, key: str, value: int, ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryCounters:
    """Expiring integer counters in this process (thread-safe)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}
        self._max_keys = max_keys

    def _live(self, key: str, now: float) -> int:
        value, expires = self._values.get(key, (0, 0.0))
        return value if expires > now else 0

    def get(self, key: str) -> int:
        with self._lock:
            return self._live(key, time.monotonic())

    def incr(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        with self._lock:
            value = self._live(key, now) + 1
            self._values[key] = (value, now + ttl)
            if len(self._values) > self._max_keys:
                self._values = {k: v for k, v in self._values.items() if v[1] > now}
            return value

    def set(self, key: str, value: int, ttl: int) -> None:
        with self._lock:
            self._values[key] = (value, time.monotonic() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)


class RedisCounters:
    """The same counters in Redis, shared by every process of the deployment."""

    def __init__(self, redis: Any, prefix: str = REDIS_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    def get(self, key: str) -> int:
        value = self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    def incr(self, key: str, ttl: int) -> int:
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(self._prefix + key)
        pipe.expire(self._prefix + key, ttl)
        value, _ = pipe.execute()
        return int(value)

    def set(self, key: str, value: int, ttl: int) -> None:
        self._redis.set(self._prefix + key, value, ex=ttl)

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class FallbackCounters:
    """Redis counters that fall back to this process's own when Redis fails.

    As for the webhook's rate limit (``kingavis.ratelimit``): a failure is logged and, for
    ``pause_seconds``, the process counts on its own instead of waiting on Redis for every
    login. Logging in must not depend on a cache: the lock-out of an account is in the
    database, and the per-address limit still holds, per process, meanwhile.
    """

    def __init__(self, redis: Any, pause_seconds: float = 30.0) -> None:
        self._redis = RedisCounters(redis)
        self._memory = MemoryCounters()
        self._pause_seconds = pause_seconds
        self._paused_until = 0.0

    def _call(self, name: str, *args: Any) -> Any:
        from redis.exceptions import RedisError

        if time.monotonic() >= self._paused_until:
            try:
                return getattr(self._redis, name)(*args)
            except RedisError as exc:
                self._paused_until = time.monotonic() + self._pause_seconds
                log.warning(
                    "Redis failed: login limits counted in this process for a while",
                    extra={"fields": {"error": type(exc).__name__,
                                      "pause_seconds": self._pause_seconds}},
                )
        return getattr(self._memory, name)(*args)

    def get(self, key: str) -> int:
        return int(self._call("get", key))

    def incr(self, key: str, ttl: int) -> int:
        return int(self._call("incr", key, ttl))

    def set(self, key: str, value: int, ttl: int) -> None:
        self._call("set", key, value, ttl)

    def delete(self, key: str) -> None:
        self._call("delete", key)


def counters_for(app: Flask) -> Counters:
    counters = app.extensions.get(EXTENSION_KEY)
    if counters is None:
        redis = app.extensions.get("redis")
        made: Counters = FallbackCounters(redis) if redis is not None else MemoryCounters()
        counters = app.extensions.setdefault(EXTENSION_KEY, made)
    return counters


@dataclass
class LoginResult:
    """``outcome``: ok, invalid (wrong email or password), locked, or throttled (this address)."""

    outcome: str
    user: User | None = None
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def _email_key(email: str) -> str:
    # Never keep the address itself in the counter store.
    return "email:" + hashlib.sha256(email.encode("utf-8")).hexdigest()


def _ip_limits() -> tuple[int, int]:
    config = current_app.config
    limit = int(config.get("LOGIN_IP_MAX_FAILURES", DEFAULT_IP_MAX_FAILURES))
    window = max(1, int(config.get("LOGIN_IP_WINDOW_SECONDS", DEFAULT_IP_WINDOW_SECONDS)))
    return limit, window


def find_user(email: str) -> User | None:
    email = normalize_email(email)
    if not email:
        return None
    return db.session.execute(
        select(User).where(func.lower(User.email) == email)
    ).scalar_one_or_none()


def authenticate(email: str, password: str, ip: str | None, now: datetime | None = None) -> LoginResult:
    """Check a login attempt and record its effects (counters, lock, audit). Commits."""
    now = now or utcnow()
    email = normalize_email(email)
    counters = counters_for(current_app._get_current_object())  # type: ignore[attr-defined]
    ip_key = f"ip:{ip or 'unknown'}"
    ip_limit, ip_window = _ip_limits()

    if ip_limit > 0 and counters.get(ip_key) >= ip_limit:
        log.warning("login refused: too many failures from this address",
                    extra={"fields": {"ip": ip}})
        return LoginResult("throttled", retry_after=ip_window)

    user = find_user(email)
    lock_seconds = LOCK_MINUTES * 60
    if user is not None:
        if user.locked_until is not None and user.locked_until > now:
            return LoginResult("locked", retry_after=int((user.locked_until - now).total_seconds()) + 1)
        password_ok = check_password(user.password_hash, password)
    else:
        if counters.get(_email_key(email) + ":locked"):
            return LoginResult("locked", retry_after=lock_seconds)
        check_against_dummy(password)
        password_ok = False

    if password_ok:
        assert user is not None
        user.failed_logins = 0
        user.locked_until = None
        audit.record(user, "login")
        db.session.commit()
        log.info("login", extra={"fields": {"user_id": user.id}})
        return LoginResult("ok", user=user)

    if ip_limit > 0:
        counters.incr(ip_key, ip_window)
    if user is not None:
        # One atomic increment, so concurrent attempts cannot lose a failure.
        failures = db.session.execute(
            update(User).where(User.id == user.id)
            .values(failed_logins=func.coalesce(User.failed_logins, 0) + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        locked = failures >= MAX_FAILURES
        if locked:
            db.session.execute(
                update(User).where(User.id == user.id)
                .values(failed_logins=0, locked_until=now + timedelta(minutes=LOCK_MINUTES))
                .execution_options(synchronize_session=False)
            )
            audit.record(user, "login.locked", details={"minutes": LOCK_MINUTES, "ip": ip})
        else:
            audit.record(user, "login.failed", details={"ip": ip})
        user_id = user.id
        db.session.commit()
        log.info("login failed", extra={"fields": {"user_id": user_id, "locked": locked}})
    else:
        failures = counters.incr(_email_key(email), UNKNOWN_EMAIL_MEMORY_SECONDS)
        locked = failures >= MAX_FAILURES
        if locked:
            counters.set(_email_key(email) + ":locked", 1, lock_seconds)
            counters.delete(_email_key(email))
        log.info("login failed", extra={"fields": {"user_id": None, "locked": locked}})
    if locked:
        return LoginResult("locked", retry_after=lock_seconds)
    return LoginResult("invalid")


def record_logout(user: User) -> None:
    """Audit a logout. Commits."""
    audit.record(user, "logout")
    db.session.commit()


def set_language(user: User, language: str) -> None:
    """Store the user's back-office language (fr or en). Commits."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    user.language = language
    db.session.commit()
