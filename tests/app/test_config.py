"""Configuration from the environment (docs/configuration.md): fails fast, with a message naming the variable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kingavis.config import ConfigError, load_config

BASE = {"SECRET_KEY": "s3cret"}


def load(tmp_path: Path, **env: str) -> dict:
    return load_config(tmp_path, env={**BASE, **env})


def test_defaults(tmp_path: Path) -> None:
    config = load(tmp_path)

    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'kingavis.db'}"
    assert config["REDIS_URL"] is None
    assert config["MAIL_URL"] == f"file://{tmp_path / 'outbox'}"
    assert config["MAIL_FROM"] == "no-reply@localhost"
    assert config["KINGAVIS_BASE_URL"] == "http://127.0.0.1:5000"
    assert config["WEBHOOK_RATE_LIMIT"] == 100
    assert config["WEBHOOK_MAX_BYTES"] == 65536
    assert config["WEBHOOK_TOLERANCE_SECONDS"] == 300
    assert config["SECRET_KEY"] == "s3cret"
    assert config["DEBUG"] is False


def test_values_from_the_environment(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        DATABASE_URL="postgres://u:p@db.internal:5432/kingavis",
        REDIS_URL="redis://cache:6379/2",
        MAIL_URL="smtp+starttls://user:pw@mail.example.com:587",
        MAIL_FROM="avis@example.com",
        KINGAVIS_BASE_URL="https://avis.example.com/",
        KINGAVIS_WEBHOOK_RATE_LIMIT="0",
        KINGAVIS_DISPATCH_BATCH_SIZE="50",
        KINGAVIS_DISPATCH_RETRY_DELAYS="30, 120",
        KINGAVIS_DISPATCH_MAX_ATTEMPTS="4",
    )

    # Heroku-style postgres:// is accepted and mapped to the psycopg 3 driver we ship.
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/kingavis"
    assert config["REDIS_URL"] == "redis://cache:6379/2"
    assert config["MAIL_URL"] == "smtp+starttls://user:pw@mail.example.com:587"
    assert config["MAIL_FROM"] == "avis@example.com"
    assert config["KINGAVIS_BASE_URL"] == "https://avis.example.com"
    assert config["WEBHOOK_RATE_LIMIT"] == 0
    assert config["DISPATCH_BATCH_SIZE"] == 50
    assert config["DISPATCH_RETRY_DELAYS"] == (30, 120)
    assert config["DISPATCH_MAX_ATTEMPTS"] == 4
    assert config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/kingavis"}, ("DATABASE_URL", "mysql")),
        ({"MAIL_URL": "http://mail.example.com"}, ("MAIL_URL", "http")),
        ({"MAIL_URL": "file:relative/outbox"}, ("MAIL_URL", "absolute")),
        ({"MAIL_URL": "file://relative/outbox"}, ("MAIL_URL", "absolute")),
        ({"MAIL_URL": "smtp://mail.example.com?verify=no"}, ("MAIL_URL", "verify")),
        ({"MAIL_URL": "smtp://"}, ("MAIL_URL", "host")),
        ({"KINGAVIS_BASE_URL": "avis.example.com"}, ("KINGAVIS_BASE_URL", "avis.example.com")),
        ({"KINGAVIS_BASE_URL": "ftp://avis.example.com"}, ("KINGAVIS_BASE_URL",)),
        ({"KINGAVIS_WEBHOOK_RATE_LIMIT": "fast"}, ("KINGAVIS_WEBHOOK_RATE_LIMIT", "fast")),
        ({"KINGAVIS_WEBHOOK_RATE_LIMIT": "1.5"}, ("KINGAVIS_WEBHOOK_RATE_LIMIT",)),
        ({"KINGAVIS_WEBHOOK_RATE_LIMIT": "-1"}, ("KINGAVIS_WEBHOOK_RATE_LIMIT",)),
        ({"KINGAVIS_DISPATCH_BATCH_SIZE": "0"}, ("KINGAVIS_DISPATCH_BATCH_SIZE",)),
        ({"REDIS_URL": "localhost:6379"}, ("REDIS_URL",)),
        ({"KINGAVIS_DISPATCH_RETRY_DELAYS": "60,soon"}, ("KINGAVIS_DISPATCH_RETRY_DELAYS", "soon")),
        ({"KINGAVIS_DISPATCH_MAX_ATTEMPTS": "0"}, ("KINGAVIS_DISPATCH_MAX_ATTEMPTS",)),
        ({"KINGAVIS_LOG_LEVEL": "LOUD"}, ("KINGAVIS_LOG_LEVEL", "LOUD")),
        ({"KINGAVIS_CALLBACK_ALLOW_PRIVATE": "maybe"}, ("KINGAVIS_CALLBACK_ALLOW_PRIVATE", "maybe")),
        ({"KINGAVIS_CALLBACK_ALLOW_PRIVATE": "2"}, ("KINGAVIS_CALLBACK_ALLOW_PRIVATE", "true or false")),
    ],
    ids=["db-scheme", "mail-scheme", "mail-relative-file", "mail-relative-file-host", "mail-unknown-param", "mail-no-host", "base-url-relative",
         "base-url-scheme", "rate-text", "rate-float", "rate-negative", "batch-zero", "redis-scheme", "retry-delays-text", "max-attempts-zero", "log-level",
         "callback-allow-private-text", "callback-allow-private-number"],
)
def test_bad_values_fail_fast_naming_the_variable(tmp_path: Path, env: dict, fragments: tuple) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, **env)

    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_secret_key_missing_without_debug_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(tmp_path, env={})

    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("debug", ["0", "false", ""])
def test_secret_key_missing_with_debug_off_is_an_error(tmp_path: Path, debug: str) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(tmp_path, env={"FLASK_DEBUG": debug})


def test_debug_generates_a_key_once_and_reuses_it(tmp_path: Path) -> None:
    instance = tmp_path / "instance"

    first = load_config(instance, env={"FLASK_DEBUG": "1"})["SECRET_KEY"]
    second = load_config(instance, env={"FLASK_DEBUG": "1"})["SECRET_KEY"]

    key_file = instance / "secret_key"
    assert key_file.read_text().strip() == first
    assert second == first
    assert len(first) >= 32
    # Readable by the owner only.
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Once written, the instance key is used with debug off too (make run writes it this way).
    assert load_config(instance, env={})["SECRET_KEY"] == first


def test_secret_key_from_the_environment_wins_over_the_instance_key(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("from-file\n")

    assert load_config(tmp_path, env={})["SECRET_KEY"] == "from-file"
    assert load_config(tmp_path, env={"SECRET_KEY": "from-env"})["SECRET_KEY"] == "from-env"


def test_proxy_count_makes_the_app_see_the_forwarded_client_address(tmp_path: Path) -> None:
    from flask import request

    from kingavis import create_app

    env = {"SECRET_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    seen: list[str | None] = []
    for proxies in ("0", "1"):
        app = create_app(env={**env, "KINGAVIS_PROXY_COUNT": proxies})

        @app.get("/whoami")
        def whoami() -> str:
            seen.append(request.remote_addr)
            return "ok"

        app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"},
                              environ_base={"REMOTE_ADDR": "10.0.0.1"})
    # Not trusted by default (a client could claim any address); trusted behind one proxy.
    assert seen == ["10.0.0.1", "203.0.113.7"]


@pytest.mark.parametrize(("raw", "allowed"), [
    (None, False), ("", False), ("0", False), ("false", False), ("No", False), ("off", False),
    ("1", True), ("true", True), ("YES", True), (" on ", True),
])
def test_callbacks_reach_only_public_addresses_unless_allowed(tmp_path: Path, raw: str | None,
                                                             allowed: bool) -> None:
    env = {} if raw is None else {"KINGAVIS_CALLBACK_ALLOW_PRIVATE": raw}
    assert load(tmp_path, **env)["CALLBACK_ALLOW_PRIVATE"] is allowed


def test_a_bad_callback_switch_stops_the_real_app_with_one_line(tmp_path: Path) -> None:
    from processes import flask_env, run_flask

    env = flask_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "instance",
                    KINGAVIS_CALLBACK_ALLOW_PRIVATE="sometimes")
    result = run_flask(["routes"], env)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: KINGAVIS_CALLBACK_ALLOW_PRIVATE must be true or false (1/0, yes/no, on/off), "
        "got 'sometimes'"]
