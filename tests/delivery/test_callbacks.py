"""The shop's review.created callback (issue 5 point 7): a real HTTP server on loopback checks
the Standard Webhooks signature. The callback is an outgoing message stored with the review and
sent by the dispatcher tick: inline without Redis, else by a real ``rq worker --burst`` process;
a retry is claimed again by a later tick. Runs on SQLite and PostgreSQL.

The receiver listens on 127.0.0.1, which the SSRF guard refuses by default, so these apps and
workers run with CALLBACK_ALLOW_PRIVATE on (test_callback_ssrf.py tests the guard itself)."""

from __future__ import annotations

import binascii
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from delivery_helpers import request_row, schedule, worker_env
from factories import make_shop
from flask import Flask
from processes import BIN, ROOT
from sqlalchemy import select, update
from standardwebhooks import Webhook, WebhookVerificationError

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import OutgoingMessage, Review, Shop, utcnow
from kingavis.shops.collection_settings import set_callback
from kingavis.shops.service import ShopError


class Receiver:
    """A shop's server: answers with the queued status codes (then 200), checks signatures.

    ``location``: the Location header of a 3xx answer. ``context``: serve https with it.
    """

    def __init__(self, secret: str, statuses: list[int] | None = None, *,
                 location: str | None = None, context: ssl.SSLContext | None = None) -> None:
        self.secret = secret
        self.statuses = list(statuses or [])
        self.location = location
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"headers": headers, "body": json.loads(body),
                                              "verified": verified, "status": status})
                self.send_response(status)
                if receiver.location and 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hooks/kingavis"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The suite's app, allowed to call the receiver on loopback."""
    app = make_app(database_url, tmp_path, CALLBACK_ALLOW_PRIVATE=True)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for r in started:
        r.close()


def shop_with_callback(receivers: list[Receiver], statuses: list[int] | None = None) -> tuple[Shop, Receiver]:
    shop, _ = make_shop("Boutique Zoë")
    secret = set_callback(shop, "http://placeholder.invalid/")
    assert secret is not None and secret.startswith("whsec_")
    receiver = Receiver(secret, statuses)
    receivers.append(receiver)
    set_callback(shop, receiver.url)
    assert shop.callback_secret == secret  # kept when only the URL changes
    return shop, receiver


def sent_token(shop: Shop, order_id: str = "1001") -> tuple[str, int]:
    request_id = schedule(shop, order_id, reference="REF-" + order_id)
    assert tick().sent == 1
    return request_row(request_id).token, request_id


def the_review() -> Review:
    db.session.rollback()
    review = db.session.execute(select(Review).execution_options(populate_existing=True)).scalar_one()
    db.session.expunge(review)  # keep its values, hold no transaction (the worker writes)
    db.session.rollback()
    return review


def only_review_created() -> None:
    """Only review.created is under test here: the review.published event queued with it (the
    review is published at once) is dropped before the outbox sends anything."""
    db.session.execute(update(OutgoingMessage).where(OutgoingMessage.kind != "review.created")
                       .values(state="dropped", next_attempt_at=None))
    db.session.commit()


def created_message() -> OutgoingMessage:
    db.session.rollback()
    message = db.session.execute(
        select(OutgoingMessage).where(OutgoingMessage.kind == "review.created")
        .execution_options(populate_existing=True)).scalar_one()
    db.session.expunge(message)
    db.session.rollback()
    return message


def retry_until_settled(now: datetime | None = None, *, ticks: int = 10) -> None:
    """Inline ticks, each once the next attempt is due, until the callback is sent or failed."""
    now = now or utcnow()
    for _ in range(ticks):
        message = created_message()
        if message.state not in ("pending", "sending"):
            return
        assert message.next_attempt_at is not None
        now = max(now, message.next_attempt_at) + timedelta(seconds=1)
        tick(now)
    raise AssertionError("the callback is still being tried")


def work_until_settled(database_url: str, tmp_path: Path, redis_url: str, *,
                       allow_private: bool = True, ticks: int = 8) -> None:
    """Ticks that enqueue each attempt once it is due and real workers that send it, until the
    callback is sent or failed. The worker keeps the default retry intervals (1 min, 5 min…):
    each tick is run at the time the next attempt is due."""
    now = utcnow()
    for _ in range(ticks):
        message = created_message()
        if message.state not in ("pending", "sending"):
            return
        assert message.next_attempt_at is not None
        now = max(now, message.next_attempt_at) + timedelta(seconds=1)
        assert tick(now).messages_enqueued == 1
        run_worker(database_url, tmp_path, redis_url, allow_private=allow_private)
    raise AssertionError("the callback is still being tried")


def run_worker(database_url: str, tmp_path: Path, redis_url: str, *, allow_private: bool = True) -> str:
    """``rq worker --burst`` with the app configured from the environment, as in production."""
    extra = {"KINGAVIS_CALLBACK_ALLOW_PRIVATE": "1"} if allow_private else {}
    env = worker_env(database_url, tmp_path / "worker", redis_url, f"file://{tmp_path / 'outbox'}",
                     **extra)
    done = subprocess.run(
        [str(BIN / "rq"), "worker", "--burst", "--url", redis_url,
         "--worker-class", "rq.worker.SimpleWorker", "kingavis"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def check_delivery(got: dict[str, Any], review: Review) -> None:
    assert got["verified"], "signature must verify with the shop's callback secret"
    assert got["headers"]["webhook-id"] == f"review_created_{review.id}"
    assert got["headers"]["content-type"] == "application/json"
    assert got["body"] == {
        "type": "review.created",
        "timestamp": review.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "review": {"id": str(review.id), "rating": 4, "comment": "Très bien, merci !",
                       "created_at": review.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "order": {"id": "1001", "reference": "REF-1001"},
        },
    }


def test_without_redis_the_callback_goes_with_the_next_tick(client, receivers: list[Receiver]) -> None:
    shop, receiver = shop_with_callback(receivers)
    token, _ = sent_token(shop)

    response = client.post(f"/r/{token}", data={"rating": "4", "comment": "Très bien, merci !"})
    response.close()

    assert response.status_code == 200
    assert receiver.received == []  # never sent from the customer's request
    assert the_review().callback_state == "pending"
    only_review_created()
    assert tick().messages_claimed == 1
    review = the_review()
    (got,) = receiver.received
    check_delivery(got, review)
    assert (review.callback_state, review.callback_attempts, review.callback_last_error) == ("delivered", 1, None)
    assert tick().messages_claimed == 0  # nothing sent twice


def test_without_redis_an_unreachable_shop_is_retried_then_recorded_as_failed(
        client, receivers: list[Receiver]) -> None:
    shop, receiver = shop_with_callback(receivers)
    receiver.close()
    receivers.remove(receiver)
    token, _ = sent_token(shop)

    response = client.post(f"/r/{token}", data={"rating": "4"})
    response.close()

    assert response.status_code == 200  # the customer's page does not care
    only_review_created()
    tick()
    review = the_review()
    assert review.callback_state == "pending" and review.callback_attempts == 1
    assert "ConnectionError" in (review.callback_last_error or "")
    retry_until_settled()
    review = the_review()
    assert review.callback_state == "failed" and review.callback_attempts == 6  # 1 + 5 retries
    assert "ConnectionError" in (review.callback_last_error or "")


def test_redis_down_the_review_is_kept_and_its_callback_goes_with_a_tick(
        database_url: str, tmp_path: Path, receivers: list[Receiver]) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL="redis://127.0.0.1:1/0",
                   CALLBACK_ALLOW_PRIVATE=True)
    with app.app_context():
        shop, receiver = shop_with_callback(receivers)
        token, _ = sent_token_rq(app, shop)
        response = app.test_client().post(f"/r/{token}", data={"rating": "4", "comment": "Très bien, merci !"})
        response.close()
        assert response.status_code == 200
        assert the_review().callback_state == "pending"  # stored with the review, not lost
        only_review_created()
        inline_tick(app)  # Redis is down: the embedded dispatcher sends it
        review = the_review()
        (got,) = receiver.received
        check_delivery(got, review)
        assert review.callback_state == "delivered"
        db.session.remove()
        db.engine.dispose()


def test_rq_worker_retries_a_5xx_with_the_same_webhook_id(database_url: str, tmp_path: Path,
                                                         redis_url: str, receivers: list[Receiver]) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, CALLBACK_ALLOW_PRIVATE=True)
    with app.app_context():
        shop, receiver = shop_with_callback(receivers, statuses=[500])
        token, _ = sent_token_rq(app, shop)

        response = app.test_client().post(f"/r/{token}", data={"rating": "4", "comment": "Très bien, merci !"})
        assert response.status_code == 200
        # Queued, not sent from the customer's request.
        assert receiver.received == []
        assert the_review().callback_state == "pending"
        only_review_created()

        work_until_settled(database_url, tmp_path, redis_url)

        review = the_review()
        first, second = receiver.received
        assert (first["status"], second["status"]) == (500, 200)
        check_delivery(first, review)
        check_delivery(second, review)
        assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
        assert (review.callback_state, review.callback_attempts, review.callback_last_error) == ("delivered", 2, None)
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(("statuses", "expected_posts", "error"), [
    ([400], 1, "HTTP 400"),            # a client error is not retried
    ([503, 429, 500, 502, 504, 500], 6, "HTTP 500"),  # retries exhausted (5 retries)
])
def test_rq_worker_gives_up(database_url: str, tmp_path: Path, redis_url: str, receivers: list[Receiver],
                            statuses: list[int], expected_posts: int, error: str) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, CALLBACK_ALLOW_PRIVATE=True)
    with app.app_context():
        shop, receiver = shop_with_callback(receivers, statuses=statuses)
        token, _ = sent_token_rq(app, shop)
        assert app.test_client().post(f"/r/{token}", data={"rating": "2"}).status_code == 200
        only_review_created()

        work_until_settled(database_url, tmp_path, redis_url)

        review = the_review()
        assert len(receiver.received) == expected_posts
        assert all(r["verified"] for r in receiver.received)
        assert (review.callback_state, review.callback_attempts, review.callback_last_error) == (
            "failed", expected_posts, error)
        db.session.remove()
        db.engine.dispose()


def sent_token_rq(app: Flask, shop: Shop) -> tuple[str, int]:
    """Send the review request inline (the dispatcher would enqueue it with Redis on)."""
    queue = app.extensions["rq_queue"]
    app.extensions["rq_queue"] = None
    try:
        return sent_token(shop)
    finally:
        app.extensions["rq_queue"] = queue


def inline_tick(app: Flask) -> None:
    """One tick of the embedded dispatcher (no Redis), in an app that has a queue."""
    queue = app.extensions["rq_queue"]
    app.extensions["rq_queue"] = None
    try:
        tick()
    finally:
        app.extensions["rq_queue"] = queue


def test_no_callback_url_no_callback(client, app: Flask) -> None:
    shop, _ = make_shop()
    token, _ = sent_token(shop)
    client.post(f"/r/{token}", data={"rating": "5"}).close()
    assert the_review().callback_state is None


def test_set_callback_validates(app: Flask) -> None:
    shop, _ = make_shop()
    for url in ("ftp://example.com", "https://", "not a url", "https://u:p@example.com/x"):
        with pytest.raises(ShopError):
            set_callback(shop, url)
        db.session.rollback()
    assert shop.callback_url is None and shop.callback_secret is None
    with pytest.raises(binascii.Error, match="base64"):
        set_callback(shop, "https://example.com/hook", secret="whsec_not*base64")
    db.session.rollback()
    assert db.session.get(Shop, shop.id).callback_url is None  # type: ignore[union-attr]


def test_the_callback_is_retried_after_1_min_5_min_30_min_2_h_and_6_h_by_default(
    app: Flask, client, receivers: list[Receiver]
) -> None:
    """The documented retry schedule, as the outbox keeps it (no interval configured)."""
    assert not app.config.get("CALLBACK_RETRY_INTERVALS")
    shop, receiver = shop_with_callback(receivers, statuses=[500] * 6)
    token, _ = sent_token(shop)
    assert client.post(f"/r/{token}", data={"rating": "5"}).status_code == 200
    assert receiver.received == []  # queued, not sent from the customer's request
    only_review_created()
    now, waits = utcnow(), []
    while True:
        tick(now)
        message = created_message()
        if message.state != "pending":
            break
        assert message.next_attempt_at is not None
        waits.append(round((message.next_attempt_at - now).total_seconds()))
        assert tick(message.next_attempt_at - timedelta(seconds=1)).messages_claimed == 0
        now = message.next_attempt_at
    assert waits == [60, 5 * 60, 30 * 60, 2 * 3600, 6 * 3600]
    assert message.state == "failed" and len(receiver.received) == 6
    assert {r["headers"]["webhook-id"] for r in receiver.received} == {
        f"review_created_{the_review().id}"}
