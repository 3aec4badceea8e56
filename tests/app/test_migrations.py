"""Migrations: they build the schema from nothing, undo it, and match the models exactly.

The comparison test is what fails when someone changes a model without a migration (or the
reverse): alembic autogenerate's diff between the models and a freshly migrated database
must be empty, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import make_app
from flask import Flask, current_app
from processes import flask_env, fresh_postgres_database, run_flask
from sqlalchemy import Column, Integer, MetaData, create_engine, inspect

from kingavis import models
from kingavis.extensions import db

MODEL_TABLES = set(db.metadata.tables)
assert {"shops", "review_requests", "users"} <= MODEL_TABLES, models.__name__
assert {"platform_deliveries", "platform_data_requests"} <= MODEL_TABLES, models.__name__


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it (not the suite's pre-migrated one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def tables_in(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_with_the_real_command(empty_database: str, tmp_path: Path) -> None:
    env = flask_env(empty_database, tmp_path / "instance")
    assert tables_in(empty_database) == set()

    up = run_flask(["db", "upgrade"], env)
    assert up.returncode == 0, up.stderr
    assert tables_in(empty_database) == MODEL_TABLES | {"alembic_version"}
    current = run_flask(["db", "current"], env)
    assert "(head)" in current.stdout, current.stdout + current.stderr

    down = run_flask(["db", "downgrade", "base"], env)
    assert down.returncode == 0, down.stderr
    assert tables_in(empty_database) <= {"alembic_version"}

    again = run_flask(["db", "upgrade"], env)
    assert again.returncode == 0, again.stderr
    assert tables_in(empty_database) == MODEL_TABLES | {"alembic_version"}

    # Upgrading an up-to-date database is a no-op, not an error.
    noop = run_flask(["db", "upgrade"], env)
    assert noop.returncode == 0, noop.stderr


def model_vs_database_diff(app: Flask, metadata: MetaData | None = None) -> list[Any]:
    """alembic's autogenerate diff, with the options migrations/env.py gives alembic."""
    with app.app_context():
        migrate = current_app.extensions["migrate"]
        opts = dict(migrate.configure_args)
        opts["compare_type"] = True
        opts["target_metadata"] = metadata if metadata is not None else db.metadata
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts=opts)
            diff = compare_metadata(context, opts["target_metadata"])
        db.engine.dispose()
    return diff


@pytest.fixture
def migrated_app(empty_database: str, tmp_path: Path) -> Flask:
    from flask_migrate import upgrade

    app = make_app(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return app


def test_models_and_migrations_agree(migrated_app: Flask) -> None:
    diff = model_vs_database_diff(migrated_app)

    assert diff == [], "models and migrations disagree; add a migration (flask db migrate):\n" + "\n".join(
        map(repr, diff)
    )


def test_the_comparison_notices_a_model_change(migrated_app: Flask) -> None:
    # The same models plus one column no migration creates: the check must report it.
    changed = MetaData()
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["shops"].append_column(Column("not_migrated", Integer, nullable=True))

    diff = model_vs_database_diff(migrated_app, changed)

    assert any(d[0] == "add_column" and d[3].name == "not_migrated" for d in diff), diff


def test_existing_shops_and_reviews_get_their_public_fields(empty_database: str, tmp_path: Path) -> None:
    """0004 gives every existing shop a unique slug, and existing reviews their publication."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    app = make_app(empty_database, tmp_path)
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as conn:
            for name in ("Boutique Zoë", "Boutique ZOË", "***"):
                conn.execute(
                    text("INSERT INTO shops (key, name, language, timezone, cancel_status_ids,"
                         " require_consent, customer_window_days, paused, created_at)"
                         " VALUES (:key, :name, 'fr', 'Europe/Paris', '[]', false, 30, false,"
                         " '2026-11-01 00:00:00')"),
                    {"key": f"shp_{name}", "name": name},
                )
            conn.execute(text(
                "INSERT INTO orders (shop_id, external_id, customer_email, created_at, updated_at)"
                " SELECT id, '1', 'zoe@example.com', created_at, created_at FROM shops"))
        upgrade()
        with db.engine.connect() as conn:
            slugs = conn.execute(text("SELECT slug FROM shops ORDER BY id")).scalars().all()
            months = conn.execute(text("SELECT DISTINCT retention_months FROM shops")).scalars().all()
            orders = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
        db.engine.dispose()
    # Altering the shops table (SQLite copies it) keeps every row that refers to it.
    assert orders == 3
    assert slugs == ["boutique-zoe", "boutique-zoe-2", "boutique"]
    assert months == [24]
