"""review.published, review.withdrawn and review.replied on the shop's signed callback, and
the author emails, sent by the dispatcher tick: inline (embedded mode) to a real HTTP receiver
on loopback and a real SMTP server, and through a real ``rq worker``. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import make_app
from delivery_helpers import request_row, worker_env
from factories import make_shop
from flask import Flask
from moderation_helpers import PASSWORD, fresh, operator, outgoing, reviewed
from processes import BIN, ROOT
from smtp_server import SMTPServer
from test_callbacks import Receiver

from kingavis.accounts.users import create_user
from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import utcnow
from kingavis.reviews.actions import operator_publish, reply_to_review, withdraw_by_author
from kingavis.shops.collection_settings import set_callback


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def app(database_url: str, tmp_path: Path, smtp: SMTPServer) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path, CALLBACK_ALLOW_PRIVATE=True, MAIL_URL=smtp.url,
                   MAIL_FROM="avis@kingavis.test", CALLBACK_RETRY_INTERVALS=[30])
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started: list[Receiver] = []

    def start(secret: str, statuses: list[int] | None = None) -> Receiver:
        r = Receiver(secret, statuses)
        started.append(r)
        return r

    yield start  # type: ignore[misc]
    for r in started:
        r.close()


def shop_with_callback(start, statuses=None):
    shop, _ = make_shop("Boutique Zoë")
    secret = set_callback(shop, "http://placeholder.invalid/")
    r = start(secret, statuses)
    set_callback(shop, r.url)
    return shop, r


def events(r: Receiver) -> list[tuple[str, str]]:
    return [(got["body"]["type"], got["headers"]["webhook-id"]) for got in r.received]


def test_publication_reply_and_withdrawal_each_reach_the_callback_once_signed(
        app: Flask, receiver) -> None:
    shop, r = shop_with_callback(receiver)
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    review = reviewed(shop, "1", 4, "Très bien, merci")
    review_id, request_id = review.id, review.review_request_id
    tick()  # review.created and review.published, queued with the submission
    reply_to_review(shop, review_id, merchant, "Merci à vous !")
    tick()
    withdraw_by_author(request_row(request_id))
    withdraw_by_author(request_row(request_id))  # idempotent: no second event
    tick()
    tick()

    kinds = [(t, h) for t, h in events(r) if t != "review.created"]
    assert [t for t, _ in kinds] == ["review.published", "review.replied", "review.withdrawn"]
    assert len({h for _, h in kinds}) == 3
    assert all(got["verified"] for got in r.received)
    published, replied, withdrawn = (got["body"] for got in r.received if got["body"]["type"] != "review.created")
    assert published["data"]["review"] == {
        "id": str(review_id), "status": "published", "rating": 4, "comment": "Très bien, merci",
        "author": "Zoë Ł.", "published_at": published["data"]["review"]["published_at"]}
    assert published["data"]["order"] == {"id": "1", "reference": "REF-1"}
    assert replied["data"]["review"]["reply"]["text"] == "Merci à vous !"
    assert withdrawn["data"]["review"]["status"] == "withdrawn"
    assert "comment" not in withdrawn["data"]["review"]  # a withdrawn review's text never leaves
    # review.created, the 3 events and the reply email
    assert [state for _, _, state in outgoing(review_id)] == ["sent"] * 5


def test_a_pending_review_is_announced_when_an_operator_publishes_it(app: Flask, receiver) -> None:
    shop, r = shop_with_callback(receiver)
    review = reviewed(shop, "1", 1, "écrivez-moi : zoe@example.com")
    tick()
    assert [t for t, _ in events(r) if t != "review.created"] == []
    operator_publish(review.id, operator())
    tick()
    assert [t for t, _ in events(r) if t != "review.created"] == ["review.published"]


def test_a_5xx_is_retried_with_the_same_webhook_id_and_a_4xx_fails(app: Flask, receiver) -> None:
    # review.created (queued first, sent first) takes the 200, review.published the 503.
    shop, r = shop_with_callback(receiver, statuses=[200, 503])
    review = reviewed(shop, "1", 5, "Parfait")
    tick()
    assert outgoing(review.id) == [("callback", "review.created", "sent"),
                                   ("callback", "review.published", "pending")]
    tick(utcnow() + timedelta(seconds=31))
    first, second = [got for got in r.received if got["body"]["type"] == "review.published"]
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert (first["status"], second["status"]) == (503, 200)
    assert outgoing(review.id) == [("callback", "review.created", "sent"),
                                   ("callback", "review.published", "sent")]

    r.statuses = [400]
    withdraw_by_author(request_row(review.review_request_id))
    tick()
    assert outgoing(review.id)[-1] == ("callback", "review.withdrawn", "failed")


def test_no_callback_url_queues_no_event(app: Flask) -> None:
    shop, _ = make_shop()
    review = reviewed(shop, "1", 3, "Bien")
    withdraw_by_author(request_row(review.review_request_id))
    assert outgoing(review.id) == []


def test_rq_workers_send_emails_and_events_once(app: Flask, database_url: str, tmp_path: Path,
                                               redis_url: str, smtp: SMTPServer, receiver) -> None:
    import subprocess

    shop, r = shop_with_callback(receiver)
    merchant, _ = create_user("marchand@example.com", PASSWORD, shop)
    review = reviewed(shop, "1", 2, "Bof")
    reply_to_review(shop, review.id, merchant, "Désolés, nous allons faire mieux.")
    review_id = review.id
    db.session.rollback()  # SQLite: hold no transaction while the other app and the worker write
    queued = make_app(database_url, tmp_path, REDIS_URL=redis_url, MAIL_URL=smtp.url,
                      CALLBACK_ALLOW_PRIVATE=True)
    with queued.app_context():
        result = tick()
        # review.created, review.published, review.replied and the reply email
        assert (result.mode, result.messages_claimed, result.messages_enqueued) == ("rq", 4, 4)
        assert tick().messages_claimed == 0  # leased: not claimed twice
        db.session.remove()
        db.engine.dispose()
    env = worker_env(database_url, tmp_path / "worker", redis_url, smtp.url,
                     KINGAVIS_CALLBACK_ALLOW_PRIVATE="1")
    done = subprocess.run([str(BIN / "rq"), "worker", "--burst", "--url", redis_url,
                           "--worker-class", "rq.worker.SimpleWorker", "kingavis"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(t for t, _ in events(r) if t != "review.created") == ["review.published", "review.replied"]
    with smtp.lock:
        notices = [m for m in smtp.messages if "review-reply" in str(m.message["Message-ID"])]
    assert len(notices) == 1 and notices[0].rcpt_tos == ["customer-1@example.com"]
    assert [state for _, _, state in outgoing(review_id)] == ["sent"] * 4
    assert fresh(review_id).reply_text == "Désolés, nous allons faire mieux."
