"""Password hashes: the one place that makes and checks them.

The method is the app's ``PASSWORD_HASH_METHOD`` (docs/configuration.md): werkzeug's scrypt
unless ``KINGAVIS_PASSWORD_HASH_METHOD`` says otherwise. Only the test suite lowers it (a
cheap ``pbkdf2`` round count), because scrypt is made to be slow and the tests create and
sign in hundreds of accounts. A hash records its own method, so a stored hash is checked the
same way whatever the current setting: changing it only affects passwords set afterwards.
"""

from __future__ import annotations

import threading

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

DEFAULT_METHOD = "scrypt"
_DUMMY_INPUT = "not a password, only makes the check take its usual time"
_dummy_hashes: dict[str, str] = {}
_dummy_lock = threading.Lock()


def current_method() -> str:
    """The hash method of the running app (``DEFAULT_METHOD`` when the config has none)."""
    return current_app.config.get("PASSWORD_HASH_METHOD") or DEFAULT_METHOD


def hash_password(password: str) -> str:
    """The hash to store for ``password``, made with the app's method."""
    return generate_password_hash(password, method=current_method())


def check_password(password_hash: str, password: str | None) -> bool:
    """Whether ``password`` matches ``password_hash`` (compared in constant time)."""
    return check_password_hash(password_hash, password or "")


def check_against_dummy(password: str | None) -> None:
    """Spend the time a real check takes, for an email that has no account.

    Without it, "no such account" would answer faster than "wrong password" and tell who has
    an account. The dummy hash uses the app's current method, so both take as long; it is made
    once per method, on first use (not at import, where no app says which method).
    """
    method = current_method()
    dummy = _dummy_hashes.get(method)
    if dummy is None:
        with _dummy_lock:
            dummy = _dummy_hashes.get(method)
            if dummy is None:
                dummy = _dummy_hashes[method] = generate_password_hash(_DUMMY_INPUT, method=method)
    check_password_hash(dummy, password or "")

