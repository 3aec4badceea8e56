"""Back-office accounts: login, logout, lock-out, per-address slow-down, safe redirects, language."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import make_app
from factories import make_shop
from sqlalchemy import select

from kingavis.accounts import service as accounts
from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import AuditLog, User, utcnow

PASSWORD = "correct horse battery"
INVALID = "Email ou mot de passe incorrect"
LOCKED = "la connexion à ce compte est bloquée"
THROTTLED = "Trop de tentatives de connexion depuis votre adresse"


def post_login(client, email: str, password: str, **extra: str):
    return client.post("/admin/login", data={"email": email, "password": password, **extra})


def error_text(html: str) -> str | None:
    match = re.search(r'<p class="error login-error" role="alert" id="login-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else None


def actions(user: User | None = None) -> list[str]:
    db.session.expire_all()
    query = select(AuditLog.action).order_by(AuditLog.id)
    if user is not None:
        query = query.where(AuditLog.user_id == user.id)
    return list(db.session.scalars(query))


@pytest.fixture
def merchant(app):
    shop, _ = make_shop("Boutique Zoë")
    user, _ = create_user("zoe@example.com", PASSWORD, shop)
    return user, shop


def test_login_page_has_a_labelled_form(client, merchant):
    response = client.get("/admin/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Mot de passe</label>' in html
    assert 'autocomplete="current-password"' in html


def test_login_success_lands_on_the_dashboard_and_is_audited(client, merchant):
    user, shop = merchant
    response = post_login(client, "  ZOE@example.com ", PASSWORD)
    assert response.status_code == 302
    assert response.location == "/admin/"
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.location == f"/admin/shops/{shop.key}/"
    page = client.get(response.location)
    assert page.status_code == 200
    assert "Tableau de bord" in page.get_data(as_text=True)
    assert actions(user) == ["login"]
    # Remember-me is off: only the session cookie is set.
    assert client.get_cookie("remember_token") is None


def test_wrong_password_and_unknown_email_get_the_same_answer(client, merchant):
    user, _ = merchant
    wrong = post_login(client, "zoe@example.com", "not the password")
    unknown = post_login(client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert error_text(wrong.get_data(as_text=True)) == error_text(unknown.get_data(as_text=True))
    assert INVALID in error_text(wrong.get_data(as_text=True))
    # Nobody is logged in.
    assert client.get("/admin/").status_code == 302
    db.session.refresh(user)
    assert user.failed_logins == 1


def test_empty_fields_get_a_message_next_to_each_field(client, merchant):
    response = post_login(client, "", "")
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and "Saisissez votre email." in html
    assert 'id="password-error"' in html and "Saisissez votre mot de passe." in html
    assert 'aria-invalid="true"' in html
    assert actions() == []


def test_session_is_regenerated_at_login(client, merchant):
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    post_login(client, "zoe@example.com", PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"]


def test_five_failures_lock_the_account_for_fifteen_minutes(client, merchant):
    user, _ = merchant
    for _ in range(4):
        assert INVALID in error_text(post_login(client, "zoe@example.com", "wrong").get_data(as_text=True))
    fifth = post_login(client, "zoe@example.com", "wrong")
    assert LOCKED in error_text(fifth.get_data(as_text=True))
    db.session.refresh(user)
    assert user.locked_until is not None
    assert timedelta(minutes=14) < user.locked_until - utcnow() <= timedelta(minutes=15)

    # Even the right password is refused while locked, and nothing says whether it was right.
    right = post_login(client, "zoe@example.com", PASSWORD)
    assert LOCKED in error_text(right.get_data(as_text=True))
    assert client.get("/admin/").status_code == 302
    assert actions(user).count("login.locked") == 1
    assert "login" not in actions(user)

    # Once the lock is over, the right password works and the counter starts again.
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert post_login(client, "zoe@example.com", PASSWORD).status_code == 302
    db.session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_success_resets_the_failure_counter(client, merchant):
    user, _ = merchant
    for _ in range(4):
        post_login(client, "zoe@example.com", "wrong")
    assert post_login(client, "zoe@example.com", PASSWORD).status_code == 302
    client.post("/admin/logout")
    for _ in range(4):
        post_login(client, "zoe@example.com", "wrong")
    db.session.refresh(user)
    assert user.locked_until is None
    assert user.failed_logins == 4


def test_lock_message_does_not_reveal_whether_the_account_exists(client, merchant):
    answers = {}
    for email in ("zoe@example.com", "ghost@example.com"):
        texts = [error_text(post_login(client, email, "wrong").get_data(as_text=True)) for _ in range(6)]
        answers[email] = texts
    assert answers["zoe@example.com"] == answers["ghost@example.com"]
    assert LOCKED in answers["ghost@example.com"][4]
    assert INVALID in answers["ghost@example.com"][3]


def test_too_many_failures_from_one_address_slow_it_down(database_url, tmp_path, merchant):
    app = make_app(database_url, tmp_path, LOGIN_IP_MAX_FAILURES=3)
    with app.app_context():
        client = app.test_client()
        for n in range(3):
            post_login(client, f"guess{n}@example.com", "wrong")
        refused = post_login(client, "zoe@example.com", PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert THROTTLED in error_text(refused.get_data(as_text=True))
        assert client.get("/admin/").status_code == 302  # not logged in
        # The account itself is not penalised, and another address may still log in.
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
        assert post_login(other, "zoe@example.com", PASSWORD).status_code == 302
        db.session.remove()
        db.engine.dispose()


def test_address_counter_is_shared_through_redis(database_url, tmp_path, merchant, redis_url):
    from redis import Redis

    # Two app instances on the same Redis, as two worker processes would be.
    first = make_app(database_url, tmp_path, LOGIN_IP_MAX_FAILURES=2, REDIS_URL=redis_url)
    second = make_app(database_url, tmp_path, LOGIN_IP_MAX_FAILURES=2, REDIS_URL=redis_url)
    with first.app_context():
        client = first.test_client()
        post_login(client, "a@example.com", "wrong")
        post_login(client, "b@example.com", "wrong")
        db.session.remove()
    with second.app_context():
        response = post_login(second.test_client(), "zoe@example.com", PASSWORD)
        assert response.status_code == 429
        db.session.remove()
        db.engine.dispose()
    keys = [k.decode() for k in Redis.from_url(redis_url).keys("kingavis:login:*")]
    assert keys and not any("example.com" in k for k in keys)  # no address stored in clear


@pytest.mark.parametrize("target", [
    "//evil.example/admin/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
    "http:/evil.example", "/admin/\r\nLocation: http://evil.example",
])
def test_next_only_redirects_within_the_site(client, merchant, target):
    response = post_login(client, "zoe@example.com", PASSWORD, next=target)
    assert response.status_code == 302
    assert response.location == "/admin/"


def test_next_returns_to_the_page_asked_for(client, merchant):
    _, shop = merchant
    asked = f"/admin/shops/{shop.key}/credentials"
    bounce = client.get(asked)
    assert bounce.status_code == 302 and bounce.location.startswith("/admin/login")
    login_page = client.get(bounce.location).get_data(as_text=True)
    assert f'value="{asked}"' in login_page
    response = post_login(client, "zoe@example.com", PASSWORD, next=asked)
    assert response.location == asked


def test_logout_ends_the_session_and_is_audited(client, merchant):
    user, _ = merchant
    post_login(client, "zoe@example.com", PASSWORD)
    assert client.get("/admin/logout").status_code == 405  # a link cannot log anyone out
    response = client.post("/admin/logout")
    assert response.status_code == 302 and response.location == "/admin/login"
    assert client.get("/admin/").status_code == 302
    assert actions(user) == ["login", "logout"]


def test_post_without_csrf_token_is_refused(database_url, tmp_path, merchant):
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        assert post_login(client, "zoe@example.com", PASSWORD).status_code == 400
        assert client.get("/admin/").status_code == 302  # still anonymous
        page = client.get("/admin/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert post_login(client, "zoe@example.com", PASSWORD, csrf_token=token).status_code == 302
        # Logged in now; a logout without the token is refused too.
        assert client.post("/admin/logout").status_code == 400
        assert client.get("/admin/").status_code == 302
        assert client.get(client.get("/admin/").location).status_code == 200
        db.session.remove()
        db.engine.dispose()


def test_session_cookie_is_secure_behind_https(database_url, tmp_path, merchant):
    from kingavis import create_app

    app = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False, "MAIL_URL": f"file://{tmp_path}/outbox"},
        env={"SECRET_KEY": "k", "DATABASE_URL": database_url,
             "KINGAVIS_BASE_URL": "https://avis.example.com"},
    )
    with app.app_context():
        client = app.test_client()
        response = client.post("/admin/login", base_url="https://avis.example.com",
                               data={"email": "zoe@example.com", "password": PASSWORD})
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        db.session.remove()
        db.engine.dispose()


def test_index_lists_every_shop_of_the_user(client, merchant):
    user, shop = merchant
    second, _ = make_shop("Boutique Zoë — Belgique")
    create_user("zoe@example.com", PASSWORD, second)
    other, _ = make_shop("Chez quelqu'un d'autre")
    post_login(client, "zoe@example.com", PASSWORD)
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'href="/admin/shops/{shop.key}/"' in html
    assert f'href="/admin/shops/{second.key}/"' in html
    assert other.key not in html and "Chez quelqu" not in html


def test_user_without_shop_is_told_so(client, merchant):
    shop, _ = make_shop("Temporaire")
    user, _ = create_user("solo@example.com", PASSWORD, shop)
    user.shops.clear()
    db.session.commit()
    post_login(client, "solo@example.com", PASSWORD)
    assert "aucune boutique" in client.get("/admin/").get_data(as_text=True)


def test_language_switch_is_stored_on_the_user(client, merchant):
    user, shop = merchant
    post_login(client, "zoe@example.com", PASSWORD)
    dashboard = f"/admin/shops/{shop.key}/"
    assert '<html lang="fr">' in client.get(dashboard).get_data(as_text=True)
    response = client.post("/admin/language", data={"language": "en", "next": dashboard})
    assert response.status_code == 302 and response.location == dashboard
    db.session.refresh(user)
    assert user.language == "en"
    assert '<html lang="en">' in client.get(dashboard).get_data(as_text=True)

    bad = client.post("/admin/language", data={"language": "de", "next": "https://evil.example/"},
                      follow_redirects=False)
    assert bad.location == "/admin/"
    db.session.refresh(user)
    assert user.language == "en"


def test_anonymous_pages_redirect_to_login(client, merchant):
    _, shop = merchant
    for url in ("/admin/", f"/admin/shops/{shop.key}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
    assert client.post("/admin/language", data={"language": "en"}).status_code == 302


def test_authenticate_service_refuses_unknown_languages(app, merchant):
    user, _ = merchant
    with pytest.raises(ValueError, match="fr, en"):
        accounts.set_language(user, "xx")


def test_unknown_shop_key_is_not_found(client, merchant):
    post_login(client, "zoe@example.com", PASSWORD)
    assert client.get("/admin/shops/shp_doesnotexist/").status_code == 404


def test_language_switch_after_a_post_returns_to_a_page_that_can_be_shown(client, merchant):
    _, shop = merchant
    post_login(client, "zoe@example.com", PASSWORD)
    revealed = client.post(f"/admin/shops/{shop.key}/credentials/reveal").get_data(as_text=True)
    back = re.search(r'<input id="next" name="next" type="hidden" value="([^"]*)">', revealed).group(1)
    assert back == f"/admin/shops/{shop.key}/"
    on_get = client.get(f"/admin/shops/{shop.key}/audit?action=login").get_data(as_text=True)
    assert f'value="/admin/shops/{shop.key}/audit?action=login"' in on_get


def test_concurrent_failures_are_all_counted(app, merchant, live_server):
    """Failures arriving together through a real server still lock the account."""
    import urllib.error
    import urllib.parse
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    user, _ = merchant
    user_id = user.id
    db.session.rollback()  # SQLite: no transaction open while the server writes

    def attempt(_: int) -> int:
        data = urllib.parse.urlencode({"email": "zoe@example.com", "password": "wrong"}).encode()
        try:
            with urllib.request.urlopen(f"{live_server.url}/admin/login", data=data, timeout=60) as r:  # noqa: S310
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert statuses == [200] * 8
    found = db.session.get(User, user_id)
    assert found.locked_until is not None and found.locked_until > utcnow()
    db.session.rollback()
