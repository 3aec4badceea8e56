"""The PrestaShop module, end to end: a stand-in shop (prestashop/tests/drivers/shop.php: the
module on stand-ins of PrestaShop's classes, its own table in SQLite, the real cURL) changes
order statuses, and the real King-Avis, served on loopback, receives them. Each driver run is
one PHP process, as one PrestaShop request is. Needs php-cli (`make php` installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import make_shop
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import BaseWSGIServer, make_server

from kingavis.extensions import db
from kingavis.models import Order, OrderEvent, Shop

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "prestashop" / "tests" / "drivers" / "shop.php"
ZOE = {"id": 7, "email": "zoe@example.com", "firstname": "Zoë", "lastname": "Łukasiewicz"}


class KingAvisServer:
    """The app on a loopback port that can be stopped and started again on the same port."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.port = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def king_avis(app: Flask) -> Iterator[KingAvisServer]:
    if shutil.which("php") is None:
        pytest.fail("php-cli is not installed: `make php` installs Debian's php-cli and phpunit")
    server = KingAvisServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shop(app: Flask) -> tuple[Shop, str]:
    return make_shop("Boutique Zoë")


class PrestaShop:
    """One stand-in shop with the module installed; `run` is one request to it."""

    def __init__(self, state: Path, url: str, key: str, secret: str) -> None:
        self.state = state
        self.settings = {"url": url, "key": key, "secret": secret}

    def configure(self, **settings: str) -> list[dict[str, str]]:
        """The module's configuration page, saved with these settings."""
        return self.run("configure", **{**self.settings, **settings})["result"]

    def run(self, command: str, **args: Any) -> dict[str, Any]:
        db.session.rollback()  # hold no lock while King-Avis writes (SQLite)
        done = subprocess.run(
            ["php", str(DRIVER), str(self.state), command, json.dumps(args)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return json.loads(done.stdout)


@pytest.fixture
def prestashop(tmp_path: Path, king_avis: KingAvisServer, shop: tuple[Shop, str]) -> PrestaShop:
    state = tmp_path / "prestashop"
    state.mkdir()
    ps = PrestaShop(state, king_avis.url, shop[0].key, shop[1])
    assert ps.configure() == [{"level": "success", "text": "Réglages enregistrés."}]
    return ps


def king_avis_order(shop: Shop, order_id: str) -> Order | None:
    db.session.rollback()
    return db.session.scalar(select(Order).where(Order.shop_id == shop.id, Order.external_id == order_id))


def test_a_delivered_order_schedules_a_review_request(prestashop: PrestaShop, shop: tuple[Shop, str]) -> None:
    placed = prestashop.run("order", id=1234, customer=ZOE, state=2, reference="XKBKNABJK",
                            date_add="2026-11-12 09:12:00")
    assert [a["status"] for a in placed["answers"]] == [202]  # the first status once, not once per hook
    assert placed["answers"][0]["body"]["outcome"] == "recorded"
    prestashop.run("status", id=1234, state=4)
    before = datetime.now(UTC)
    delivered = prestashop.run("status", id=1234, state=5)

    assert delivered["answers"][0]["status"] == 202
    assert delivered["answers"][0]["body"]["outcome"] == "scheduled"
    assert delivered["result"]["hook_seconds"] < 2
    assert [r["state"] for r in delivered["rows"]] == ["delivered"] * 3
    assert all(r["body"] == "" for r in delivered["rows"])

    order = king_avis_order(shop[0], "1234")
    assert order is not None
    assert order.customer_email == "zoe@example.com"
    assert (order.customer_first_name, order.customer_last_name) == ("Zoë", "Łukasiewicz")
    assert order.customer_locale == "fr"
    assert order.reference == "XKBKNABJK"
    assert order.placed_at == datetime(2026, 11, 12, 8, 12, tzinfo=UTC)  # 09:12 in Paris
    assert (order.latest_status_id, order.latest_status_name, order.latest_status_paid) == ("5", "Livré", True)
    request = order.review_request
    assert request is not None and request.state == "scheduled"
    due = request.due_at.astimezone(UTC)
    assert before + timedelta(days=10) - timedelta(seconds=5) <= due <= datetime.now(UTC) + timedelta(days=10)
    events = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)).all()
    assert [(e.status_id, e.previous_status_id) for e in events] == [("2", None), ("4", "2"), ("5", "4")]


def test_a_cancel_status_cancels_the_request(prestashop: PrestaShop, shop: tuple[Shop, str]) -> None:
    prestashop.run("order", id=1234, customer=ZOE, state=4)
    prestashop.run("status", id=1234, state=5)
    assert king_avis_order(shop[0], "1234").review_request.state == "scheduled"

    cancelled = prestashop.run("status", id=1234, state=6)

    assert cancelled["answers"][0]["body"]["outcome"] == "cancelled"
    request = king_avis_order(shop[0], "1234").review_request
    assert (request.state, request.reason) == ("cancelled", "order_cancelled")


def test_a_send_while_king_avis_is_down_is_retried_and_not_lost(
    prestashop: PrestaShop, king_avis: KingAvisServer, shop: tuple[Shop, str]
) -> None:
    prestashop.run("order", id=1234, customer=ZOE, state=4)
    king_avis.stop()

    down = prestashop.run("status", id=1234, state=5)
    assert down["answers"][0]["status"] == 0 and down["answers"][0]["error"]
    assert down["result"]["hook_seconds"] < 3, "the merchant's status change is not held up"
    assert down["logs"] == []  # a failed send is normal, not an error of the shop
    pending = down["rows"][-1]
    assert (pending["state"], pending["attempts"]) == ("pending", 1)
    # Another change meanwhile is queued without trying (King-Avis just failed).
    other = prestashop.run("order", id=1235, customer={**ZOE, "id": 8, "email": "marc@example.com"}, state=5)
    assert other["answers"] == []
    assert king_avis_order(shop[0], "1234").review_request is None

    king_avis.start()  # same port
    too_soon = prestashop.run("cron")
    assert too_soon["answers"] == [] or all(a["webhook_id"] != pending["webhook_id"] for a in too_soon["answers"])

    retried = prestashop.run("cron", advance=120)
    assert retried["result"]["remaining"] == 0
    assert pending["webhook_id"] in [a["webhook_id"] for a in retried["answers"]]
    assert {r["state"] for r in retried["rows"]} == {"delivered"}
    assert king_avis_order(shop[0], "1234").review_request.state == "scheduled"
    assert king_avis_order(shop[0], "1235").review_request.state == "scheduled"

    # Nothing is sent twice afterwards, not even by a backfill.
    count = db.session.scalar(select(func.count()).select_from(OrderEvent))
    prestashop.run("backfill", days=30)
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == count


def test_backfill_sends_the_orders_placed_before_the_module_once(prestashop: PrestaShop, shop: tuple[Shop, str]) -> None:
    marc = {**ZOE, "id": 8, "email": "marc@example.com"}
    prestashop.run("order", id=2001, customer=ZOE, state=5, before_module=True)
    prestashop.run("order", id=2002, customer=marc, state=6, before_module=True)
    prestashop.run("order", id=2003, customer=marc, state=3, before_module=True, date_add="2020-01-01 10:00:00")
    assert king_avis_order(shop[0], "2001") is None

    first = prestashop.run("backfill", days=30)
    assert first["result"] == {"orders": 2, "queued": 2, "known": 0, "left": 0, "delivered": 2, "rejected": 0, "pending": 0}
    assert [a["body"]["outcome"] for a in first["answers"]] == ["scheduled", "recorded"]
    assert king_avis_order(shop[0], "2001").review_request.state == "scheduled"
    assert king_avis_order(shop[0], "2002").latest_status_name == "Annulé"
    assert king_avis_order(shop[0], "2003") is None  # older than 30 days
    events = db.session.scalar(select(func.count()).select_from(OrderEvent))

    again = prestashop.run("backfill", days=30)
    assert again["result"]["queued"] == 0 and again["result"]["known"] == 2
    assert again["answers"] == []

    # Even with the module's table gone (reinstalled), the same changes carry the same ids:
    # King-Avis replays its first answers and records nothing twice.
    prestashop.run("reinstall")
    prestashop.configure()
    replayed = prestashop.run("backfill", days=30)
    assert [a["status"] for a in replayed["answers"]] == [200, 200]
    assert [a["webhook_id"] for a in replayed["answers"]] == [a["webhook_id"] for a in first["answers"]]
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == events


def test_the_test_button_shows_king_avis_answer(prestashop: PrestaShop) -> None:
    ok = prestashop.run("test-event")["result"]
    assert ok == [{"level": "success", "text": "King-Avis a répondu 202 : recorded"}]

    wrong = "whsec_" + "QUFB" * 11
    prestashop.configure(secret=wrong)
    refused = prestashop.run("test-event")["result"]
    assert refused[0]["level"] == "danger"
    assert refused[0]["text"].startswith("King-Avis a répondu 401 : ")


def test_the_erasure_hook_erases_the_customer_in_king_avis(prestashop: PrestaShop, shop: tuple[Shop, str]) -> None:
    prestashop.run("order", id=1234, customer=ZOE, state=4)
    prestashop.run("status", id=1234, state=5)
    assert king_avis_order(shop[0], "1234").review_request.state == "scheduled"

    erased = prestashop.run("erase", id=7, email="zoe@example.com")

    assert erased["result"] is True
    answer = erased["answers"][-1]
    assert answer["url"].endswith(f"/webhooks/v1/{shop[0].key}/customer-erasure")
    assert answer["status"] == 202
    assert answer["body"]["webhook_id"] == answer["webhook_id"]
    assert answer["body"]["erased"]["orders"] == 1
    assert answer["body"]["erased"]["review_requests_cancelled"] == 1
    assert erased["rows"][-1]["state"] == "delivered"
    order = king_avis_order(shop[0], "1234")
    assert order.customer_email != "zoe@example.com"
    assert (order.review_request.state, order.review_request.reason) == ("cancelled", "erased")


def test_the_module_zip_holds_the_module_only(tmp_path: Path) -> None:
    """`make prestashop-module`'s zip, as a merchant uploads it."""
    target = tmp_path / "kingavis.zip"
    done = subprocess.run(["python3", str(ROOT / "scripts" / "build-prestashop-zip.py"), str(target)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(target).namelist()
    assert all(n.startswith("kingavis/") for n in names)
    for required in ("kingavis/kingavis.php", "kingavis/config.xml", "kingavis/logo.png", "kingavis/index.php",
                     "kingavis/translations/fr.php", "kingavis/translations/en.php",
                     "kingavis/controllers/front/cron.php"):
        assert required in names
    assert not [n for n in names if "test" in n or "stubs" in n or "tools" in n]
    folders = {n.rsplit("/", 1)[0] for n in names}
    assert all(f"{folder}/index.php" in names for folder in folders)  # no folder can be listed
    again = tmp_path / "again.zip"
    subprocess.run(["python3", str(ROOT / "scripts" / "build-prestashop-zip.py"), str(again)], check=True, timeout=60)
    assert again.read_bytes() == target.read_bytes()
