"""The command line of docs/command-line.md: `shops create`, `shops configure`, `users create`.

In-process runs (Flask's CLI runner) cover every option and error on SQLite and PostgreSQL;
subprocess runs of the real `flask --app wsgi …` prove the entry point, exit codes and the
"one line on stderr" promise on a brand-new SQLite file and a brand-new PostgreSQL database.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_one_line_error, invoke
from flask import Flask
from processes import flask_env as make_env
from processes import fresh_postgres_database, run_flask, table_counts
from sqlalchemy import select, text
from werkzeug.security import check_password_hash

from kingavis.extensions import db
from kingavis.models import Shop, ShopStatus, User
from kingavis.shops.service import describe

TABLES = ("shops", "shop_secrets", "invitation_rules", "shop_statuses", "users", "user_shops")
PASSWORD = "correct horse battery"


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the CLI writes, read on a connection of its own."""
    with db.engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1'))] for t in TABLES  # noqa: S608
        }


def shop_state(key: str) -> dict[str, Any]:
    shop = db.session.execute(select(Shop).where(Shop.key == key)).scalar_one()
    state = describe(shop)
    state["secrets"] = [s.secret for s in shop.secrets]
    state["statuses"] = {
        s.status_id: (s.name, s.paid, s.shipped)
        for s in db.session.execute(select(ShopStatus).where(ShopStatus.shop_id == shop.id)).scalars()
    }
    db.session.remove()
    return state


def create(app: Flask, name: str = "Boutique Zoë", *extra: str) -> dict[str, Any]:
    result = invoke(app, "shops", "create", "--name", name, *extra, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- shops create -----------------------------------------------------------------------------


def test_shops_create_prints_credentials_and_applies_the_prestashop_preset(app: Flask) -> None:
    result = invoke(app, "shops", "create", "--name", "Boutique Zoë", "--json")

    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    out = json.loads(result.stdout)
    assert set(out) == {"key", "webhook_url", "webhook_secret", "public_url"}
    assert out["webhook_url"] == f"http://kingavis.test/webhooks/v1/{out['key']}/order-status"
    assert out["webhook_secret"].startswith("whsec_")
    assert len(base64.b64decode(out["webhook_secret"][len("whsec_"):], validate=True)) >= 24

    state = shop_state(out["key"])
    assert state["name"] == "Boutique Zoë"
    assert state["language"] == "fr"
    assert state["timezone"] == "Europe/Paris"
    assert state["rule"]["trigger_status_ids"] == ["5"]
    assert state["rule"]["delay_days"] == 10
    assert state["rule"]["send_hour"] is None
    assert state["rule"]["timezone"] == "Europe/Paris"
    assert state["cancel_status_ids"] == ["6", "7", "8"]
    assert state["customer_window_days"] == 30
    assert state["require_consent"] is False
    assert state["paused"] is False
    assert state["secrets"] == [out["webhook_secret"]]
    # PrestaShop's default states, named in the shop's language.
    assert state["statuses"]["5"][0] == "Livré"
    assert state["statuses"]["6"][0] == "Annulé"


def test_shops_create_with_timezone_and_language(app: Flask) -> None:
    out = create(app, "Corner Shop", "--timezone", "America/Montreal", "--language", "en")

    state = shop_state(out["key"])
    assert state["timezone"] == "America/Montreal"
    assert state["rule"]["timezone"] == "America/Montreal"
    assert state["language"] == "en"
    assert state["statuses"]["5"][0] == "Delivered"


def test_shops_create_prints_the_public_page_made_from_the_name(app: Flask) -> None:
    first = create(app, "Boutique Zoë")
    second = create(app, "Boutique  ZOË!")
    odd = create(app, "日本")

    assert first["public_url"] == "http://kingavis.test/avis/boutique-zoe"
    # Two shops never share an address: the second gets a numbered one.
    assert second["public_url"] == "http://kingavis.test/avis/boutique-zoe-2"
    # A name with no ASCII letter still gets a usable, URL-safe address.
    assert odd["public_url"] == "http://kingavis.test/avis/boutique"


def test_each_shop_gets_its_own_key_and_secret(app: Flask) -> None:
    first, second = create(app, "One"), create(app, "Two")

    assert first["key"] != second["key"]
    assert first["webhook_secret"] != second["webhook_secret"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--name", "Zoë", "--timezone", "Mars/Olympus_Mons"), ("unknown time zone", "Mars/Olympus_Mons")),
        (("--name", ""), ("shop name",)),
        (("--name", "   "), ("shop name",)),
        (("--name", "Zoë", "--language", "de"), ("--language", "de")),
        (("--json",), ("Missing option", "--name")),
        (("--name", "Zoë", "--colour", "red"), ("No such option", "--colour")),
    ],
    ids=["unknown-timezone", "empty-name", "blank-name", "bad-language", "no-name", "unknown-option"],
)
def test_shops_create_refuses_bad_input_and_writes_nothing(
    app: Flask, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    create(app, "Existing shop")
    before = snapshot()

    result = invoke(app, "shops", "create", *args)

    assert_one_line_error(result, *fragments)
    assert result.stdout == ""
    assert snapshot() == before


# --- shops configure --------------------------------------------------------------------------


def test_shops_configure_changes_each_option(app: Flask) -> None:
    key = create(app)["key"]

    result = invoke(
        app, "shops", "configure", key,
        "--delay-days", "3", "--send-hour", "9", "--timezone", "Europe/Brussels",
        "--trigger-status", "4", "--trigger-status", "5",
        "--cancel-status", "6", "--cancel-status", "7",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    state = shop_state(key)
    assert state["rule"]["delay_days"] == 3
    assert state["rule"]["send_hour"] == 9
    assert state["rule"]["timezone"] == "Europe/Brussels"
    assert state["rule"]["trigger_status_ids"] == ["4", "5"]
    assert state["cancel_status_ids"] == ["6", "7"]
    assert shown["rule"] == state["rule"]
    assert shown["cancel_status_ids"] == ["6", "7"]


def test_shops_configure_send_hour_none_clears_the_hour_and_keeps_the_rest(app: Flask) -> None:
    key = create(app)["key"]
    assert invoke(app, "shops", "configure", key, "--send-hour", "18", "--delay-days", "5").exit_code == 0

    result = invoke(app, "shops", "configure", key, "--send-hour", "none")

    assert result.exit_code == 0, result.stderr
    state = shop_state(key)
    assert state["rule"]["send_hour"] is None
    assert state["rule"]["delay_days"] == 5
    assert state["rule"]["trigger_status_ids"] == ["5"]
    assert state["cancel_status_ids"] == ["6", "7", "8"]


def test_shops_configure_one_option_leaves_the_others(app: Flask) -> None:
    key = create(app)["key"]

    result = invoke(app, "shops", "configure", key, "--cancel-status", "8")

    assert result.exit_code == 0, result.stderr
    state = shop_state(key)
    assert state["cancel_status_ids"] == ["8"]
    assert state["rule"]["delay_days"] == 10
    assert state["rule"]["trigger_status_ids"] == ["5"]


def test_shops_configure_delay_zero_is_allowed(app: Flask) -> None:
    key = create(app)["key"]

    assert invoke(app, "shops", "configure", key, "--delay-days", "0").exit_code == 0
    assert shop_state(key)["rule"]["delay_days"] == 0


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--timezone", "Europe/Pariss"), ("--timezone: Unknown time zone", "IANA")),
        (("--send-hour", "24"), ("--send-hour", "'24'")),
        (("--send-hour", "abc"), ("--send-hour", "'abc'")),
        (("--send-hour", "-1"), ("--send-hour",)),
        (("--delay-days", "-1"), ("--delay-days", "-1")),
        (("--delay-days", "ten"), ("--delay-days", "ten")),
        (("--trigger-status", "5", "--cancel-status", "5"),
         ("--trigger-status: A status cannot be both a trigger and a cancel status: 5.",)),
        (("--trigger-status", "6"), ("both a trigger and a cancel status: 6.",)),
        (("--trigger-status", ""), ("--trigger-status: Choose at least one trigger status.",)),
        # The back-office's check: only statuses the shop has (preset or sent by the shop).
        (("--trigger-status", "42"), ("--trigger-status: Unknown status for this shop: 42.",)),
        (("--cancel-status", "5", "--cancel-status", "99"),
         ("--cancel-status: Unknown status for this shop: 99.",)),
        # A valid option next to a bad one changes nothing either.
        (("--delay-days", "2", "--send-hour", "25"), ("--send-hour",)),
        (("--delay-days", "2", "--timezone", "Nowhere"), ("Unknown time zone",)),
        (("--delay-days", "2", "--trigger-status", "42"), ("Unknown status for this shop: 42.",)),
    ],
    ids=["timezone", "hour-24", "hour-abc", "hour-negative", "delay-negative", "delay-text",
         "overlap", "overlap-existing-cancel", "empty-trigger", "unknown-trigger", "unknown-cancel",
         "partial-hour", "partial-timezone", "partial-unknown"],
)
def test_shops_configure_refuses_bad_input_and_changes_nothing(
    app: Flask, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    key = create(app)["key"]
    before = snapshot()

    result = invoke(app, "shops", "configure", key, *args)

    assert_one_line_error(result, *fragments)
    assert snapshot() == before


def test_shops_configure_moves_a_status_from_cancel_to_trigger_in_one_call(app: Flask) -> None:
    """Checked together: 6 leaves the cancel statuses as it becomes a trigger."""
    key = create(app)["key"]

    result = invoke(app, "shops", "configure", key, "--trigger-status", "5",
                    "--trigger-status", "6", "--cancel-status", "7", "--cancel-status", "8")

    assert result.exit_code == 0, result.stderr
    state = shop_state(key)
    assert state["rule"]["trigger_status_ids"] == ["5", "6"]
    assert state["cancel_status_ids"] == ["7", "8"]


def test_shops_configure_is_the_back_office_service_with_its_audit_entries(app: Flask) -> None:
    """The same audit entries as the back-office's rule and settings forms, by the command line;
    the audit page says so in the merchant's words. A no-op leaves no entry."""
    from kingavis.models import AuditLog, Shop

    key = create(app)["key"]
    assert invoke(app, "shops", "configure", key, "--delay-days", "3",
                  "--cancel-status", "6", "--cancel-status", "7").exit_code == 0
    assert invoke(app, "shops", "configure", key, "--delay-days", "3").exit_code == 0

    shop = db.session.execute(select(Shop).where(Shop.key == key)).scalar_one()
    entries = db.session.execute(select(AuditLog).where(AuditLog.shop_id == shop.id)
                                 .order_by(AuditLog.id)).scalars().all()
    assert [(e.action, e.actor_email, e.user_id) for e in entries] == [
        ("rule.update", "cli", None), ("settings.update", "cli", None)]
    assert entries[0].details["changes"] == {"delay_days": [10, 3]}
    assert entries[1].details["changes"] == {"cancel_status_ids": [["6", "7", "8"], ["6", "7"]]}

    from admin.audit_words import Wording

    assert Wording.actor(entries[0]) == "Ligne de commande"


def test_shops_configure_every_setting_in_one_call_with_their_audit_entries(app: Flask) -> None:
    """The rule, the platform secrets and the products to review through one service: the
    audit entries in order, and a delay of 0 days is a value, not "not given"."""
    from kingavis.models import AuditLog

    key = create(app, "Boutique Zoë", "--platform", "shopify")["key"]
    result = invoke(app, "shops", "configure", key, "--delay-days", "0",
                    "--platform-secret", "s3cret", "--product-reviews", "2")

    assert result.exit_code == 0, result.stderr
    shop = db.session.execute(select(Shop).where(Shop.key == key)).scalar_one()
    assert (shop.active_rule.delay_days, shop.platform_secrets, shop.product_review_count) == (
        0, ["s3cret"], 2)
    entries = db.session.execute(select(AuditLog.action).where(AuditLog.shop_id == shop.id)
                                 .order_by(AuditLog.id)).scalars().all()
    assert entries == ["rule.update", "platform.secrets_set", "collection.update"]


def test_shops_configure_refuses_a_bad_product_count_before_changing_the_rule(app: Flask) -> None:
    key = create(app)["key"]
    before = snapshot()

    result = invoke(app, "shops", "configure", key, "--delay-days", "3", "--product-reviews", "11")

    assert_one_line_error(result, "product reviews must be between 0 and 10")
    assert snapshot() == before


def test_shops_configure_unknown_shop(app: Flask) -> None:
    create(app)
    before = snapshot()

    result = invoke(app, "shops", "configure", "shp_doesnotexist", "--delay-days", "3")

    assert_one_line_error(result, "no shop", "shp_doesnotexist")
    assert snapshot() == before


# --- users create -----------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin_and_stores_only_a_hash(app: Flask) -> None:
    key = create(app)["key"]

    result = invoke(app, "users", "create", "--email", "Marie@Example.com", "--shop", key,
                    stdin=PASSWORD + "\n")

    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    user = db.session.execute(select(User)).scalar_one()
    assert user.email == "marie@example.com"
    assert PASSWORD not in user.password_hash
    assert check_password_hash(user.password_hash, PASSWORD)
    assert not check_password_hash(user.password_hash, PASSWORD + "x")
    assert [s.key for s in user.shops] == [key]
    db.session.remove()
    dump = json.dumps(snapshot(), default=str)
    assert PASSWORD not in dump


def test_users_create_same_user_for_a_second_shop_gives_access(app: Flask) -> None:
    first, second = create(app, "One")["key"], create(app, "Two")["key"]
    assert invoke(app, "users", "create", "--email", "marie@example.com", "--shop", first,
                  stdin=PASSWORD + "\n").exit_code == 0
    hash_before = db.session.execute(select(User.password_hash)).scalar_one()
    db.session.remove()

    result = invoke(app, "users", "create", "--email", "MARIE@example.com", "--shop", second,
                    stdin="another password entirely\n")

    assert result.exit_code == 0, result.stderr
    users = db.session.execute(select(User)).scalars().all()
    assert len(users) == 1
    assert sorted(s.key for s in users[0].shops) == sorted([first, second])
    assert users[0].password_hash == hash_before


@pytest.mark.parametrize(
    ("email", "shop", "password", "fragments"),
    [
        ("marie@example.com", "KEY", "short", ("password", "at least")),
        ("marie@example.com", "KEY", "", ("password",)),
        ("marie@example.com", "shp_unknown", PASSWORD, ("no shop", "shp_unknown")),
        ("not-an-email", "KEY", PASSWORD, ("not a valid email", "not-an-email")),
        ("marie@", "KEY", PASSWORD, ("not a valid email",)),
    ],
    ids=["short-password", "empty-password", "unknown-shop", "bad-email", "half-email"],
)
def test_users_create_refuses_bad_input_and_writes_nothing(
    app: Flask, email: str, shop: str, password: str, fragments: tuple[str, ...]
) -> None:
    key = create(app)["key"]
    before = snapshot()

    result = invoke(app, "users", "create", "--email", email, "--shop", key if shop == "KEY" else shop,
                    stdin=password + "\n")

    assert_one_line_error(result, *fragments)
    assert snapshot() == before


def test_users_create_twice_for_the_same_shop_is_an_error(app: Flask) -> None:
    key = create(app)["key"]
    assert invoke(app, "users", "create", "--email", "marie@example.com", "--shop", key,
                  stdin=PASSWORD + "\n").exit_code == 0
    before = snapshot()

    result = invoke(app, "users", "create", "--email", "marie@example.com", "--shop", key,
                    stdin=PASSWORD + "\n")

    assert_one_line_error(result, "already has access")
    assert snapshot() == before


# --- the real command line --------------------------------------------------------------------


def _real_command_line(database_url: str, tmp_path: Path) -> None:
    env = make_env(database_url, tmp_path / "instance", KINGAVIS_BASE_URL="https://avis.example.com/")

    upgrade = run_flask(["db", "upgrade"], env)
    assert upgrade.returncode == 0, upgrade.stderr

    created = run_flask(["shops", "create", "--name", "Boutique Zoë", "--json"], env)
    assert created.returncode == 0, created.stderr
    out = json.loads(created.stdout)
    assert out["webhook_url"] == f"https://avis.example.com/webhooks/v1/{out['key']}/order-status"
    assert out["webhook_secret"].startswith("whsec_")

    configured = run_flask(["shops", "configure", out["key"], "--send-hour", "none",
                            "--trigger-status", "4", "--trigger-status", "5"], env)
    assert configured.returncode == 0, configured.stderr
    assert json.loads(configured.stdout)["rule"]["trigger_status_ids"] == ["4", "5"]

    user = run_flask(["users", "create", "--email", "marie@example.com", "--shop", out["key"]], env,
                     stdin=PASSWORD + "\n")
    assert user.returncode == 0, user.stderr
    counts = table_counts(database_url, TABLES)

    for args in (
        ["shops", "configure", out["key"], "--send-hour", "24"],
        ["shops", "configure", out["key"], "--delay-days", "-1"],
        ["shops", "create", "--name", "Other", "--timezone", "Mars/Olympus_Mons", "--json"],
        ["shops", "configure", "shp_nope", "--delay-days", "1"],
    ):
        failed = run_flask(args, env)
        assert failed.returncode != 0, args
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert failed.stderr.startswith("Error: ")
        assert failed.stdout == ""

    assert table_counts(database_url, TABLES) == counts


def test_real_command_line_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    _real_command_line(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)


def test_real_command_line_on_a_fresh_postgresql_database(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        _real_command_line(url, tmp_path)


def test_real_command_line_database_down_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = make_env(f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing", tmp_path / "instance")

    failed = run_flask(["shops", "create", "--name", "Zoë", "--json"], env)

    assert failed.returncode != 0
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert failed.stderr.startswith("Error: database error")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("dispatch", "--bogus"), ("No such option", "--bogus")),
        (("dispatch", "--interval", "0"), ("--interval",)),
        (("shops", "pause"), ("Missing argument", "KEY")),
        (("shops", "resume", "shp_nope"), ("shp_nope",)),
    ],
    ids=["dispatch-unknown-option", "dispatch-bad-interval", "pause-no-key", "resume-unknown-shop"],
)
def test_delivery_commands_errors_are_one_line(
    app: Flask, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    before = snapshot()

    result = invoke(app, *args)

    assert_one_line_error(result, *fragments)
    assert snapshot() == before
