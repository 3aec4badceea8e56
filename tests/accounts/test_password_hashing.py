"""Password hashes: scrypt in production, a cheap method only where the tests ask for it.

Every other test runs with ``TEST_PASSWORD_HASH_METHOD`` (tests/processes.py); this file is
where the production default is checked end to end: stored as scrypt, and signing in works.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_app
from factories import make_shop
from processes import TEST_PASSWORD_HASH_METHOD, flask_env, run_flask
from sqlalchemy import select

from kingavis.accounts.users import create_user
from kingavis.config import ConfigError, load_config
from kingavis.extensions import db
from kingavis.models import User

PASSWORD = "correct horse battery"
INVALID = "Email ou mot de passe incorrect"


def login(client, email: str, password: str):
    return client.post("/admin/login", data={"email": email, "password": password})


def test_production_hashes_with_scrypt_and_signing_in_works(database_url: str, tmp_path: Path) -> None:
    production = load_config(tmp_path, {"SECRET_KEY": "k"})["PASSWORD_HASH_METHOD"]
    assert production == "scrypt"
    app = make_app(database_url, tmp_path, PASSWORD_HASH_METHOD=production)
    with app.app_context():
        shop, _ = make_shop("Boutique Zoë")
        create_user("zoe@example.com", PASSWORD, shop)
        stored = db.session.execute(select(User.password_hash)).scalar_one()
        assert stored.startswith("scrypt:32768:8:1$")
        assert PASSWORD not in stored

        client = app.test_client()
        wrong = login(client, "zoe@example.com", PASSWORD + "x")
        unknown = login(client, "nobody@example.com", PASSWORD)
        right = login(client, "zoe@example.com", PASSWORD)

        assert wrong.status_code == unknown.status_code == 200
        assert INVALID in wrong.get_data(as_text=True)
        assert INVALID in unknown.get_data(as_text=True)
        assert right.status_code == 302
        page = client.get(f"/admin/shops/{shop.key}/")
        assert page.status_code == 200 and "Tableau de bord" in page.get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()


def test_a_password_set_under_one_method_still_signs_in_under_another(database_url: str,
                                                                       tmp_path: Path) -> None:
    """A hash names its method: lowering or raising the setting locks nobody out."""
    cheap = make_app(database_url, tmp_path)
    with cheap.app_context():
        shop, _ = make_shop("Boutique Zoë")
        create_user("zoe@example.com", PASSWORD, shop)
        stored = db.session.execute(select(User.password_hash)).scalar_one()
        assert stored.startswith(TEST_PASSWORD_HASH_METHOD + "$")
        db.session.remove()
        db.engine.dispose()

    strong = make_app(database_url, tmp_path, PASSWORD_HASH_METHOD="scrypt")
    with strong.app_context():
        client = strong.test_client()
        assert login(client, "zoe@example.com", PASSWORD).status_code == 302
        db.session.remove()
        db.engine.dispose()


def test_the_method_is_read_from_the_environment_only_when_set(tmp_path: Path) -> None:
    env = {"SECRET_KEY": "k", "KINGAVIS_PASSWORD_HASH_METHOD": " pbkdf2:sha256:1000 "}
    assert load_config(tmp_path, env)["PASSWORD_HASH_METHOD"] == "pbkdf2:sha256:1000"
    assert load_config(tmp_path, {"SECRET_KEY": "k", "KINGAVIS_PASSWORD_HASH_METHOD": ""})[
        "PASSWORD_HASH_METHOD"] == "scrypt"


@pytest.mark.parametrize("method", ["md5", "pbkdf2:sha256:many", "pbkdf2:nosuchhash", "scrypt:x"])
def test_an_unknown_method_stops_the_start_naming_the_variable(tmp_path: Path, method: str) -> None:
    with pytest.raises(ConfigError, match="KINGAVIS_PASSWORD_HASH_METHOD") as excinfo:
        load_config(tmp_path, {"SECRET_KEY": "k", "KINGAVIS_PASSWORD_HASH_METHOD": method})
    assert repr(method) in str(excinfo.value)


def test_the_command_line_hashes_with_the_configured_method(tmp_path: Path) -> None:
    """`users create` in a real process follows KINGAVIS_PASSWORD_HASH_METHOD (the tests' one)."""
    database = f"sqlite:///{tmp_path / 'kingavis.db'}"
    env = flask_env(database, tmp_path / "instance")
    assert run_flask(["db", "upgrade"], env).returncode == 0
    created = run_flask(["shops", "create", "--name", "Boutique Zoë", "--json"], env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    result = run_flask(["users", "create", "--email", "zoe@example.com", "--shop", key], env,
                       stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr

    app = make_app(database, tmp_path)
    with app.app_context():
        stored = db.session.execute(select(User.password_hash)).scalar_one()
        assert stored.startswith(TEST_PASSWORD_HASH_METHOD + "$")
        assert login(app.test_client(), "zoe@example.com", PASSWORD).status_code == 302
        db.session.remove()
        db.engine.dispose()
