"""Rule 8: while a shop's automation is paused, due requests wait; nothing is lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from delivery_helpers import log_lines, request_row, schedule, timeline
from factories import days_ago, make_shop, post_event, status_event
from flask import Flask
from smtp_server import SMTPServer
from sqlalchemy import select

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import AuditLog, Shop, utcnow
from kingavis.shops.rules import RuleError
from kingavis.shops.settings import set_paused


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url)
    return app


def test_pause_and_resume_commands(mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    runner = mail_app.test_cli_runner()

    with log_lines("kingavis.settings") as logged:
        paused = runner.invoke(args=["shops", "pause", shop.key])
    assert logged.lines("shop paused") == [{"shop": shop.key, "actor": "cli"}]
    assert paused.exit_code == 0, paused.output
    out = json.loads(paused.output)
    assert out["key"] == shop.key and out["paused"] is True and out["due_now"] == 1
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).paused is True

    for _ in range(2):
        result = runner.invoke(args=["dispatch", "--once"])
        assert result.exit_code == 0 and "claimed 0" in result.output
    assert smtp.messages == []
    assert request_row(request_id).state == "scheduled"

    resumed = runner.invoke(args=["shops", "resume", shop.key])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["paused"] is False
    result = runner.invoke(args=["dispatch", "--once"])
    assert "claimed 1, sent 1" in result.output
    assert request_row(request_id).state == "sent"
    assert len(smtp.messages) == 1
    # The back-office's audit entries, by the command line.
    entries = db.session.execute(
        select(AuditLog.action, AuditLog.actor_email, AuditLog.user_id, AuditLog.target_type,
               AuditLog.target_id)
        .where(AuditLog.shop_id == shop.id).order_by(AuditLog.id)).all()
    assert [tuple(e) for e in entries] == [("shop.pause", "cli", None, "shop", str(shop.id)),
                                           ("shop.resume", "cli", None, "shop", str(shop.id))]


def test_pause_unknown_shop_is_one_clear_error(mail_app: Flask) -> None:
    shop, _ = make_shop()
    result = mail_app.test_cli_runner().invoke(args=["shops", "pause", "shp_nope"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: no shop with key 'shp_nope'"]
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).paused is False


def test_pausing_twice_and_resuming_twice_is_harmless(mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    with log_lines("kingavis.settings") as logged:
        assert set_paused(shop, None, True) is True
        assert set_paused(shop, None, True) is False  # already paused: nothing to say
    assert logged.lines("shop paused") == [{"shop": shop.key, "actor": "system"}]
    assert tick().claimed == 0
    with log_lines("kingavis.settings") as logged:
        assert set_paused(shop, None, False) is True
        assert set_paused(shop, None, False) is False
    assert logged.lines("shop resumed") == [{"shop": shop.key, "actor": "system"}]
    assert tick().sent == 1
    assert request_row(request_id).attempts == 1
    with pytest.raises(RuleError) as refused:
        set_paused(shop, None, "yes")  # type: ignore[arg-type]
    assert refused.value.errors == {"paused": ["La pause vaut oui ou non."]}
    # Only the two real changes are in the audit log, by the one service's entries.
    actions = db.session.execute(select(AuditLog.action).where(AuditLog.shop_id == shop.id)
                                 .order_by(AuditLog.id)).scalars().all()
    assert actions == ["shop.pause", "shop.resume"]


def test_webhooks_still_schedule_while_paused_and_everything_goes_out_on_resume(
    mail_app: Flask, client, smtp: SMTPServer
) -> None:
    shop, secret = make_shop()
    set_paused(shop, None, True)
    ids = []
    for n in range(5):
        response = post_event(client, shop, secret,
                              status_event(str(n), "5", days_ago(20 + n), email=f"c{n}@example.com"))
        assert response.status_code == 202, response.get_json()
        assert response.get_json()["outcome"] == "scheduled"
        ids.append(int(response.get_json()["review_request"]["id"]))

    # Weeks go by: nothing is sent, nothing expires.
    assert tick(utcnow() + timedelta(days=60)).claimed == 0
    assert smtp.messages == []
    assert {request_row(i).state for i in ids} == {"scheduled"}

    set_paused(shop, None, False)
    result = tick()
    assert (result.claimed, result.sent) == (5, 5)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [f"c{n}@example.com" for n in range(5)]
    assert timeline(ids[0])[-1] == ("sent", None)
