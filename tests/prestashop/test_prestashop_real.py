"""The module on a real PrestaShop 8.1.2 (tests/prestashop_shop.py): installed by bin/console,
configured through the real back-office page, orders changed the way the back-office and its
bulk action change them, and what reaches a real King-Avis checked (signature included).

The shop is installed once per run (about a minute); each test starts from a configured
module with an empty queue. docs/prestashop.md says what each test stands for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import make_app
from factories import make_shop
from prestashop_shop import (
    ROOT,
    BackOffice,
    KingAvisServer,
    PrerequisiteMissing,
    PrestaShop,
    Recorder,
    check_prerequisites,
)
from sqlalchemy import select

# One worker takes every test of the real shop: one shop installed per run.
pytestmark = [pytest.mark.prestashop, pytest.mark.xdist_group("prestashop")]

@dataclass
class KingAvis:
    app: Any
    server: KingAvisServer
    recorder: Recorder
    key: str
    secret: str
    shop_id: int

    def order(self, order_id: int) -> Any:
        from kingavis.extensions import db
        from kingavis.models import Order

        with self.app.app_context():
            found = db.session.scalar(select(Order).where(Order.shop_id == self.shop_id,
                                                         Order.external_id == str(order_id)))
            if found is not None:
                request = found.review_request
                return {"email": found.customer_email, "status": found.latest_status_id,
                        "request": request.state if request else None}
            return None


@pytest.fixture(scope="session")
def real_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrestaShop]:
    try:
        check_prerequisites()
    except PrerequisiteMissing as missing:
        pytest.fail(str(missing))
    reuse = os.environ.get("KINGAVIS_PRESTASHOP_REUSE")
    if reuse:  # a development shortcut: one shop kept running across runs (docs/prestashop.md)
        shop = PrestaShop.reused(Path(reuse))
        shop.install_module(reinstall=True)
        yield shop
        return
    folder = tmp_path_factory.mktemp("prestashop")
    shop = PrestaShop(folder)
    try:
        shop.install()
        shop.install_module()
        yield shop
    finally:
        shop.stop()  # the folder (about 600 MB) goes with pytest's old temporary folders


@pytest.fixture(scope="session")
def king_avis(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KingAvis]:
    folder = tmp_path_factory.mktemp("kingavis")
    shutil.copy(sqlite_template, folder / "kingavis.db")
    app = make_app(f"sqlite:///{folder / 'kingavis.db'}", folder)
    with app.app_context():
        shop, secret = make_shop("Boutique Zoé")
        key, shop_id = shop.key, shop.id
    recorder = Recorder(app)
    recorder.secret = secret
    server = KingAvisServer(recorder)
    server.start()
    yield KingAvis(app, server, recorder, key, secret, shop_id)
    server.stop()


def set_config(shop: PrestaShop, **values: Any) -> None:
    """Global Configuration values, as Configuration::updateGlobalValue writes them."""
    for name, value in values.items():
        shop.sql(f"DELETE FROM ps_configuration WHERE name = '{name}'")  # noqa: S608 (the test's own values)
        if value is not None:
            quoted = str(value).replace("\\", "\\\\").replace("'", "\\'")
            shop.sql("INSERT INTO ps_configuration (name, value, date_add, date_upd) "  # noqa: S608 (the test's own values)
                     f"VALUES ('{name}', '{quoted}', NOW(), NOW())")


def config(shop: PrestaShop, name: str) -> str | None:
    rows = shop.sql(f"SELECT value FROM ps_configuration WHERE name = '{name}' AND id_shop IS NULL")  # noqa: S608 (the test's own values)
    return rows[0]["value"] if rows else None


@pytest.fixture
def shop(real_shop: PrestaShop, king_avis: KingAvis) -> Iterator[PrestaShop]:
    """The shop with the module connected to King-Avis and nothing queued."""
    if king_avis.server._server is None:
        king_avis.server.start()
    king_avis.recorder.clear()
    real_shop.sql("DELETE FROM ps_kingavis_event")
    real_shop.sql("DELETE FROM ps_kingavis_consent")
    cursor = real_shop.sql("SELECT MAX(id_order_history) AS m FROM ps_order_history")[0]["m"]
    set_config(real_shop, KINGAVIS_URL=king_avis.server.url, KINGAVIS_SHOP_KEY=king_avis.key,
               KINGAVIS_WEBHOOK_SECRET=king_avis.secret, KINGAVIS_CONSENT_MODE="all", KINGAVIS_PAUSE_UNTIL=None,
               KINGAVIS_HISTORY_CURSOR=cursor)
    errors_before = real_shop.php_error_log.read_text() if real_shop.php_error_log.exists() else ""
    logs_before = int(real_shop.sql("SELECT COUNT(*) AS n FROM ps_log")[0]["n"])
    files_before = {log: log.stat().st_size for log in (real_shop.root / "var" / "logs").glob("*.log")}
    yield real_shop
    errors = (real_shop.php_error_log.read_text() if real_shop.php_error_log.exists() else "")[len(errors_before):]
    assert not [line for line in errors.splitlines() if "kingavis" in line.lower() and "Deprecated" not in line], errors
    new_logs = real_shop.sql(f"SELECT message FROM ps_log WHERE id_log > {logs_before} AND message LIKE 'King-Avis%'")  # noqa: S608 (the test's own values)
    assert new_logs == [], new_logs
    for log in (real_shop.root / "var" / "logs").glob("*.log"):
        with log.open("rb") as written:
            written.seek(files_before.get(log, 0))
            added = written.read().decode(errors="replace")
        problems = [line for line in added.splitlines()
                    if "kingavis" in line.lower() and re.search(r"\.(ERROR|CRITICAL|EMERGENCY|ALERT):", line)]
        assert problems == [], problems


def new_orders(shop: PrestaShop, count: int, email: str | None = None, state: int = 3) -> list[int]:
    """Orders like the demo order 1 (its lines), for a new customer when `email` is given;
    placed "before this test": the cron's catch-up starts after them."""
    code = """
$email = EMAIL;
$idCustomer = 2;
if ($email !== null) {
    $customer = (new Customer(2))->duplicateObject();
    $customer->email = $email;
    $customer->firstname = 'Zoë';
    $customer->lastname = 'Łukasiewicz';
    $customer->update();
    $idCustomer = (int) $customer->id;
}
$ids = [];
for ($i = 0; $i < COUNT; ++$i) {
    $order = (new Order(1))->duplicateObject();
    $order->id_customer = $idCustomer;
    $order->current_state = STATE;
    $order->reference = Order::generateReference();
    $order->update();
    foreach (OrderDetail::getList(1) as $line) {
        $copy = (new OrderDetail((int) $line['id_order_detail']))->duplicateObject();
        $copy->id_order = (int) $order->id;
        $copy->update();
    }
    Db::getInstance()->insert('order_history', ['id_employee' => 0, 'id_order' => (int) $order->id,
        'id_order_state' => STATE, 'date_add' => date('Y-m-d H:i:s')]);
    $ids[] = (int) $order->id;
}
Configuration::updateGlobalValue('KINGAVIS_HISTORY_CURSOR', (int) Db::getInstance()->getValue(
    'SELECT MAX(id_order_history) FROM ' . _DB_PREFIX_ . 'order_history'));
echo json_encode($ids);
"""
    code = code.replace("EMAIL", json.dumps(email) if email else "null").replace("COUNT", str(count))
    return shop.run_php(code.replace("STATE", str(state)))


def change_status(shop: PrestaShop, order_id: int, state: int, employee: int = 1) -> None:
    """A status change the way the back-office makes it, by `employee`."""
    shop.run_php(f"""
$order = new Order({order_id});
$context->currency = new Currency((int) $order->id_currency);
$context->employee = new Employee({employee});
$history = new OrderHistory();
$history->id_order = {order_id};
$history->id_employee = {employee};
$history->changeIdOrderState({state}, $order, true);
$history->addWithemail();
echo json_encode(true);
""")


def cron(shop: PrestaShop, token: str | None = None) -> requests.Response:
    token = token if token is not None else config(shop, "KINGAVIS_CRON_TOKEN")
    return requests.get(f"{shop.url}/index.php", params={"fc": "module", "module": "kingavis", "controller": "cron",
                                                         "token": token}, timeout=120)


def outbox(shop: PrestaShop) -> list[dict[str, str]]:
    return shop.sql("SELECT id_kingavis_event, kind, id_order, id_order_state, id_customer, state, attempts, "
                    "webhook_id, body FROM ps_kingavis_event ORDER BY id_kingavis_event")


def status_events(king_avis: KingAvis) -> list[dict[str, Any]]:
    return king_avis.recorder.of("/order-status")


# ---------------------------------------------------------------------------- configuration page


def french_catalogue(shop: PrestaShop) -> None:
    """Clear PrestaShop's cache before a test reads the module's French back-office words: a
    test before it (a shop added and deleted) may have left a translation catalogue rebuilt
    without this module, whatever the order the tests run in. A merchant's "Clear cache"."""
    shutil.rmtree(shop.root / "var" / "cache" / "prod", ignore_errors=True)


def test_each_button_of_the_configuration_page_does_its_own_job(shop: PrestaShop, king_avis: KingAvis) -> None:
    french_catalogue(shop)
    set_config(shop, KINGAVIS_URL=None, KINGAVIS_SHOP_KEY=None, KINGAVIS_WEBHOOK_SECRET=None)
    office = BackOffice(shop)
    page = office.configuration_page()
    assert "Connexion à King-Avis" in page, office.shown()  # the module's French (translations/fr-FR)

    saved = office.click("submitKingavisConnection", KINGAVIS_URL=king_avis.server.url,
                         KINGAVIS_SHOP_KEY=king_avis.key, KINGAVIS_WEBHOOK_SECRET=king_avis.secret,
                         KINGAVIS_SLUG=f"{king_avis.server.url}/avis/boutique-zoe")
    assert "Réglages enregistrés." in saved
    assert config(shop, "KINGAVIS_SLUG") == "boutique-zoe"
    assert config(shop, "KINGAVIS_SHOP_KEY") == king_avis.key
    # Saving tells King-Avis every order state of the shop, signed.
    states = king_avis.recorder.of("/order-states", "PUT")
    assert states and states[-1]["signature_valid"]
    sent = states[-1]["json"]
    assert sent["type"] == "order_states.synced"
    assert {"id": "5", "name": "Delivered", "paid": True, "shipped": True, "delivered": True} in sent["data"]["states"]

    tested = office.click("submitKingavisTest")
    test_event = status_events(king_avis)[-1]
    assert test_event["json"]["test"] is True and test_event["signature_valid"]
    assert f"King-Avis a répondu {test_event['status']}" in tested
    assert config(shop, "KINGAVIS_SHOP_KEY") == king_avis.key  # the test button saved nothing

    shown = office.click("submitKingavisDisplay", KINGAVIS_BADGE_FOOTER="1", KINGAVIS_WIDGET_PAGE="home",
                         KINGAVIS_WIDGET_REVIEWS="3")
    assert "Réglages enregistrés." in shown
    assert (config(shop, "KINGAVIS_BADGE_FOOTER"), config(shop, "KINGAVIS_WIDGET_PAGE"),
            config(shop, "KINGAVIS_WIDGET_REVIEWS")) == ("1", "home", "3")
    home = requests.get(shop.url + "/", timeout=60).text
    assert 'data-kingavis-shop="boutique-zoe" data-kingavis-reviews="3"' in home
    assert "/api/v1/shops/boutique-zoe/badge.svg" in home

    king_avis.recorder.clear()
    backfilled = office.click("submitKingavisBackfill", KINGAVIS_BACKFILL_DAYS="30")
    assert "commandes trouvées" in backfilled
    sent_orders = {e["json"]["data"]["order"]["id"] for e in status_events(king_avis)}
    assert {"1", "2", "3", "4", "5"} <= sent_orders
    assert all(e["signature_valid"] for e in status_events(king_avis))

    # "Send now" sends what waits (here: a change queued while King-Avis was paused).
    shop.sql("DELETE FROM ps_kingavis_event")
    order_id = new_orders(shop, 1)[0]
    set_config(shop, KINGAVIS_PAUSE_UNTIL=int(time.time()) + 600)
    change_status(shop, order_id, 4)
    assert [r["state"] for r in outbox(shop) if r["id_order"] == str(order_id)] == ["pending"]
    king_avis.recorder.clear()
    office.page = ""
    sent_now = office.click("submitKingavisSendNow")
    assert "1 webhooks livrés" in sent_now
    assert [e["json"]["data"]["order"]["id"] for e in status_events(king_avis)] == [str(order_id)]

    for text in (saved, tested, shown, backfilled, sent_now):
        assert "&amp;quot;" not in text and "&amp;#039;" not in text and "&amp;amp;" not in text


# ---------------------------------------------------------------------------- status changes


def test_a_back_office_status_change_reaches_king_avis_with_the_order_items(shop: PrestaShop, king_avis: KingAvis) -> None:
    email = f"zoe.{time.monotonic_ns()}@example.com"  # a customer King-Avis never asked before
    order_id = new_orders(shop, 1, email=email)[0]
    office = BackOffice(shop)

    assert office.change_status(order_id, 4) < 5
    assert office.change_status(order_id, 5) < 5

    events = status_events(king_avis)
    assert [(e["json"]["data"]["status"]["id"], e["json"]["data"]["previous_status"]["id"]) for e in events] == [
        ("4", "3"), ("5", "4")]
    assert all(e["signature_valid"] and e["status"] == 202 for e in events)
    delivered = events[-1]["json"]["data"]
    assert delivered["order"]["customer"]["email"] == email
    assert delivered["status"] == {"id": "5", "name": "Delivered", "paid": True, "shipped": True}
    items = delivered["order"]["items"]
    assert items and all(set(item) >= {"product_id", "name", "quantity", "url"} for item in items)
    assert items[0]["url"].startswith(shop.url) and items[0]["image_url"].startswith(shop.url)
    assert king_avis.order(order_id)["request"] == "scheduled"
    assert {r["state"] for r in outbox(shop)} == {"delivered"}
    assert all(r["body"] == "" for r in outbox(shop))  # no customer address kept once delivered


def test_the_same_status_again_is_a_new_change_even_without_the_previous_status(shop: PrestaShop, king_avis: KingAvis) -> None:
    """5 → 6 → 5: each change has its own id (the order_history row), so the second 5 is not
    taken for a duplicate, whatever the hook gives (PrestaShop 1.7 gives no old status)."""
    order_id = new_orders(shop, 1, state=5)[0]
    change_status(shop, order_id, 6)
    change_status(shop, order_id, 5)
    sent = [(e["json"]["data"]["status"]["id"], e["json"]["data"]["previous_status"]["id"]) for e in status_events(king_avis)]
    assert sent == [("6", "5"), ("5", "6")]
    assert len({e["headers"]["webhook-id"] for e in status_events(king_avis)}) == 2


def test_thirty_changes_in_one_bulk_request_stay_fast_with_a_slow_or_absent_king_avis(
    shop: PrestaShop, king_avis: KingAvis
) -> None:
    office = BackOffice(shop)
    slow = new_orders(shop, 30)
    king_avis.recorder.delay = 0.9
    assert office.bulk_change_status(slow, 4) <= 10
    assert len({r["id_order"] for r in outbox(shop)}) == 30  # all queued, some sent

    king_avis.server.stop()
    down = new_orders(shop, 30)
    assert office.bulk_change_status(down, 4) <= 5

    king_avis.server.start()
    king_avis.recorder.delay = 0
    set_config(shop, KINGAVIS_PAUSE_UNTIL=None)
    shop.sql("UPDATE ps_kingavis_event SET next_attempt_at = 0 WHERE state = 'pending'")
    for _ in range(3):
        answer = cron(shop)
        assert answer.status_code == 200
        if answer.json()["remaining"] == 0:
            break
        shop.sql("UPDATE ps_kingavis_event SET next_attempt_at = 0 WHERE state = 'pending'")
    delivered = {e["json"]["data"]["order"]["id"] for e in status_events(king_avis) if e["status"] in (200, 202)}
    assert delivered == {str(i) for i in slow + down}  # nothing lost
    assert all(e["signature_valid"] for e in status_events(king_avis))


def test_a_change_the_hook_never_saw_is_sent_by_the_cron(shop: PrestaShop, king_avis: KingAvis) -> None:
    """PrestaShop skips a module's hooks for an employee whose profile lacks its view right."""
    employee = shop.run_php("""
$profile = new Profile();
$profile->name = [(int) Configuration::get('PS_LANG_DEFAULT') => 'Logistique ' . uniqid()];
$profile->add();
$employee = new Employee();
$employee->firstname = 'Marc';
$employee->lastname = 'Logistique';
$employee->email = 'marc.' . uniqid() . '@example.com';
$employee->passwd = Tools::hash('Marc-logistique-2026');
$employee->id_profile = (int) $profile->id;
$employee->id_lang = (int) Configuration::get('PS_LANG_DEFAULT');
$employee->active = 1;
$employee->add();
echo json_encode([(int) $employee->id, Module::getPermissionStatic(Module::getModuleIdByName('kingavis'), 'view', $employee)]);
""")
    assert employee[1] is False
    order_id = new_orders(shop, 1)[0]

    change_status(shop, order_id, 5, employee=employee[0])
    assert status_events(king_avis) == []  # the hook did not run

    answer = cron(shop)
    assert answer.status_code == 200 and answer.json()["caught_up"] == 1
    events = status_events(king_avis)
    assert [(e["json"]["data"]["order"]["id"], e["json"]["data"]["status"]["id"],
             e["json"]["data"]["previous_status"]["id"]) for e in events] == [(str(order_id), "5", "3")]
    assert cron(shop).json()["caught_up"] == 0  # once


def test_a_failing_event_never_blocks_the_others_then_is_given_up_and_sent_again(shop: PrestaShop, king_avis: KingAvis) -> None:
    french_catalogue(shop)
    poison, other = new_orders(shop, 2)
    set_config(shop, KINGAVIS_PAUSE_UNTIL=int(time.time()) + 600)
    change_status(shop, poison, 4)
    change_status(shop, other, 4)
    first = outbox(shop)[0]
    assert first["id_order"] == str(poison)
    king_avis.recorder.fail_ids = {first["webhook_id"]}
    set_config(shop, KINGAVIS_PAUSE_UNTIL=None)

    assert cron(shop).status_code == 200
    states = {r["id_order"]: (r["state"], r["attempts"]) for r in outbox(shop)}
    assert states == {str(poison): ("pending", "1"), str(other): ("delivered", "1")}

    # Still failing at its last attempt: given up, listed on the configuration page.
    shop.sql("UPDATE ps_kingavis_event SET attempts = 11, next_attempt_at = 0 WHERE state = 'pending'")
    assert cron(shop).json()["given_up"] == 1
    office = BackOffice(shop)
    page = office.configuration_page()
    assert "1 webhooks ont été abandonnés" in page, office.shown()

    king_avis.recorder.fail_ids = set()
    retried = office.click("submitKingavisRetry")
    assert "1 webhooks remis en file : 1 livrés" in retried
    assert [e["status"] for e in status_events(king_avis) if e["json"]["data"]["order"]["id"] == str(poison)][-1] == 202

    # A given-up event's personal data goes after 30 days.
    shop.sql("UPDATE ps_kingavis_event SET state = 'given_up', date_upd = NOW() - INTERVAL 31 DAY")
    cron(shop)
    assert outbox(shop) == []


# ---------------------------------------------------------------------------- cron and reset


def test_the_cron_answers_and_survives_a_reset(shop: PrestaShop, king_avis: KingAvis) -> None:
    assert cron(shop, "wrong").status_code == 403
    answer = cron(shop)
    assert answer.status_code == 200 and answer.json()["remaining"] == 0
    token = config(shop, "KINGAVIS_CRON_TOKEN")

    shop.console("prestashop:module", "reset", "kingavis")

    assert config(shop, "KINGAVIS_CRON_TOKEN") == token
    assert config(shop, "KINGAVIS_SHOP_KEY") == king_avis.key
    assert cron(shop).status_code == 200
    order_id = new_orders(shop, 1)[0]
    change_status(shop, order_id, 4)
    assert [e["json"]["data"]["order"]["id"] for e in status_events(king_avis)] == [str(order_id)]


def test_an_upgrade_from_1_0_0_moves_to_the_history_hook(shop: PrestaShop, king_avis: KingAvis) -> None:
    """The module's upgrade/ script, run by PrestaShop's own upgrade of a 1.0.0 install."""
    shop.run_php("""
$module = Module::getInstanceByName('kingavis');
$module->unregisterHook('actionObjectOrderHistoryAddAfter');
$module->registerHook(['actionOrderStatusPostUpdate', 'actionValidateOrder']);
Db::getInstance()->update('module', ['version' => '1.0.0'], "name = 'kingavis'");
echo json_encode(true);
""")
    shop.console("prestashop:module", "upgrade", "kingavis")

    hooks = {r["name"] for r in shop.sql(
        "SELECT h.name FROM ps_hook_module hm JOIN ps_hook h ON h.id_hook = hm.id_hook "
        "JOIN ps_module m ON m.id_module = hm.id_module WHERE m.name = 'kingavis'")}
    assert "actionObjectOrderHistoryAddAfter" in hooks
    assert not hooks & {"actionOrderStatusPostUpdate", "actionValidateOrder"}
    assert shop.sql("SELECT version FROM ps_module WHERE name = 'kingavis'") == [{"version": "1.1.0"}]
    order_id = new_orders(shop, 1)[0]
    change_status(shop, order_id, 4)
    assert [e["json"]["data"]["order"]["id"] for e in status_events(king_avis)] == [str(order_id)]


# ---------------------------------------------------------------------------- personal data


def psgdpr_delete(office: BackOffice, kind: str, data: str) -> None:
    answer = office.http.delete(f"{office.base}/index.php/modules/psgdpr/api/customer/delete?_token={office.token}",
                                json={"dataTypeRequested": kind, "customerData": data}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]


@pytest.mark.parametrize("by", ["email", "customer"])
def test_psgdpr_2_erasure_reaches_king_avis_and_empties_the_queue(shop: PrestaShop, king_avis: KingAvis, by: str) -> None:
    email = f"erase.{by}@example.com"
    order_id = new_orders(shop, 1, email=email)[0]
    set_config(shop, KINGAVIS_PAUSE_UNTIL=int(time.time()) + 600)  # the change waits in the queue
    change_status(shop, order_id, 4)
    assert [r["state"] for r in outbox(shop)] == ["pending"]
    set_config(shop, KINGAVIS_PAUSE_UNTIL=None)
    customer = shop.sql(f"SELECT id_customer FROM ps_customer WHERE email = '{email}'")[0]["id_customer"]  # noqa: S608 (the test's own values)

    psgdpr_delete(BackOffice(shop), by, email if by == "email" else customer)

    erasures = king_avis.recorder.of("/customer-erasure")
    assert [e["json"]["data"]["customer"]["email"] for e in erasures] == [email]
    assert erasures[0]["signature_valid"] and erasures[0]["status"] == 202
    assert [r for r in outbox(shop) if r["kind"] == "order-status"] == []  # the queued change is gone
    assert not any(email in r["body"] for r in outbox(shop))


def test_psgdpr_1_4_shape_is_still_understood(shop: PrestaShop, king_avis: KingAvis) -> None:
    answer = shop.run_php("echo Hook::exec('actionDeleteGDPRCustomer', ['id' => 0, 'email' => 'old.shape@example.com',"
                          " 'firstname' => 'A', 'lastname' => 'B'], Module::getModuleIdByName('kingavis'));")
    assert answer is True
    assert [e["json"]["data"]["customer"]["email"] for e in king_avis.recorder.of("/customer-erasure")] == [
        "old.shape@example.com"]


# ---------------------------------------------------------------------------- order states


def test_a_new_order_state_is_sent_at_once(shop: PrestaShop, king_avis: KingAvis) -> None:
    state_id = shop.run_php("""
$state = new OrderState();
$state->name = [(int) Configuration::get('PS_LANG_DEFAULT') => 'Livré en point relais'];
$state->color = '#32CD32';
$state->delivery = true;
$state->shipped = true;
$state->paid = true;
$state->module_name = '';
$state->add();
echo json_encode((int) $state->id);
""")
    sent = king_avis.recorder.of("/order-states", "PUT")
    assert sent and sent[-1]["signature_valid"]
    names = {s["name"]: s for s in sent[-1]["json"]["data"]["states"]}
    assert names["Livré en point relais"]["delivered"] is True
    # King-Avis took the list, so the merchant can choose the new state as a trigger before any
    # order reaches it (the command line and the back-office share the check).
    assert sent[-1]["status"] == 200
    new_id = str(state_id)
    assert names["Livré en point relais"]["id"] == new_id
    configured = king_avis.app.test_cli_runner().invoke(
        args=["shops", "configure", king_avis.key, "--trigger-status", new_id])
    assert configured.exit_code == 0, configured.output
    assert new_id in json.loads(configured.output.strip().splitlines()[-1])["rule"]["trigger_status_ids"]


# ---------------------------------------------------------------------------- product reviews


def test_product_pages_show_the_stars_and_the_json_ld_rendered_on_the_server(shop: PrestaShop, king_avis: KingAvis) -> None:
    set_config(shop, KINGAVIS_SLUG="boutique-zoe")
    office = BackOffice(shop)
    office.configuration_page()
    office.click("submitKingavisDisplay", KINGAVIS_PRODUCT_STARS="1", KINGAVIS_PRODUCT_REVIEWS="1",
                 KINGAVIS_LIST_STARS="1", KINGAVIS_WIDGET_PAGE="none", KINGAVIS_WIDGET_REVIEWS="3")
    for cached in (shop.root / "var" / "cache").glob("*/kingavis"):
        shutil.rmtree(cached)
    hostile = {"@context": "https://schema.org", "@type": "Product", "name": "Robe </script><script>alert(1)</script>",
               "aggregateRating": {"@type": "AggregateRating", "ratingValue": 4.5, "reviewCount": 2}}
    king_avis.recorder.canned["/api/v1/shops/boutique-zoe/products/1/jsonld"] = json.dumps(hostile).encode()

    page = requests.get(f"{shop.url}/index.php", params={"controller": "product", "id_product": 1}, timeout=60).text

    assert ('class="kingavis-product-stars" data-kingavis-shop="boutique-zoe" data-kingavis-product="1" '
            'data-kingavis-reviews="0"') in page
    assert ('class="kingavis-product-reviews" data-kingavis-shop="boutique-zoe" data-kingavis-product="1" '
            'data-kingavis-reviews="3"') in page
    assert "<script>alert(1)" not in page
    # Marked as the widget marks its own, so widget.js never adds the same Product twice.
    assert '<script type="application/ld+json" data-kingavis-jsonld="boutique-zoe/1">' in page
    scripts = re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', page, re.S)
    assert hostile in [json.loads(s) for s in scripts if "aggregateRating" in s]
    assert page.count("/widget.js") == 1  # one script for every block of the page
    fetched = king_avis.recorder.of("/products/1/jsonld", "GET")
    assert len(fetched) == 1
    requests.get(f"{shop.url}/index.php", params={"controller": "product", "id_product": 1}, timeout=60)
    assert len(king_avis.recorder.of("/products/1/jsonld", "GET")) == 1  # cached

    listing = requests.get(f"{shop.url}/index.php", params={"controller": "category", "id_category": 2}, timeout=60).text
    assert listing.count('class="kingavis-list-stars"') >= 2

    # A slow King-Avis costs a product page at most about a second, once.
    started = time.monotonic()
    requests.get(f"{shop.url}/index.php", params={"controller": "product", "id_product": 3}, timeout=60)
    normal = time.monotonic() - started
    king_avis.recorder.delay = 5
    started = time.monotonic()
    slow = requests.get(f"{shop.url}/index.php", params={"controller": "product", "id_product": 2}, timeout=60)
    assert slow.status_code == 200 and time.monotonic() - started < normal + 2
    set_config(shop, KINGAVIS_PRODUCT_STARS=None, KINGAVIS_PRODUCT_REVIEWS=None, KINGAVIS_LIST_STARS=None)


# ---------------------------------------------------------------------------- multistore


def test_in_all_shops_context_every_configured_shop_is_told(shop: PrestaShop, king_avis: KingAvis) -> None:
    with king_avis.app.app_context():
        second, second_secret = make_shop("Boutique Zoé Belgique")
        second_key = second.key
    king_avis.recorder.secrets[second_key] = second_secret
    id_shop = shop.run_php("""
Configuration::updateGlobalValue('PS_MULTISHOP_FEATURE_ACTIVE', 1);
$shop = new Shop();
$shop->name = 'Boutique Zoé Belgique';
$shop->id_shop_group = 1;
$shop->id_category = 2;
$shop->theme_name = 'classic';
$shop->active = 1;
$shop->add();
echo json_encode((int) $shop->id);
""")
    try:
        for name, value in (("KINGAVIS_SHOP_KEY", second_key), ("KINGAVIS_WEBHOOK_SECRET", second_secret)):
            values = f"(1, {int(id_shop)}, '{name}', '{value}', NOW(), NOW())"
            shop.sql(f"INSERT INTO ps_configuration (id_shop_group, id_shop, name, value, date_add, date_upd) VALUES {values}")  # noqa: S608 (the test's own values)
        answer = shop.run_php("""
Shop::setContext(Shop::CONTEXT_ALL);
$module = Module::getInstanceByName('kingavis');
$tested = $module->sendTestEvent();
$erased = Hook::exec('actionDeleteGDPRCustomer', [['email' => 'zoe.belgique@example.com']], (int) $module->id);
echo json_encode([count($tested), $erased]);
""")
        assert answer == [2, "true"]
        tests = {e["path"].split("/")[3] for e in status_events(king_avis) if e["json"].get("test")}
        erasures = {e["path"].split("/")[3] for e in king_avis.recorder.of("/customer-erasure")}
        assert tests == erasures == {king_avis.key, second_key}
        assert all(e["signature_valid"] for e in king_avis.recorder.requests)
    finally:
        shop.run_php(f"""
(new Shop({int(id_shop)}))->delete();
Configuration::updateGlobalValue('PS_MULTISHOP_FEATURE_ACTIVE', 0);
echo json_encode(true);
""")
        shop.sql(f"DELETE FROM ps_configuration WHERE id_shop = {int(id_shop)}")  # noqa: S608 (the test's own values)
        # Adding and deleting a shop clears PrestaShop's cache; the first PHP process after that
        # (this test's own CLI code, with the new shop as its context) may rebuild the list of
        # active modules, and the translation catalogue with it, without this module: the next
        # back-office page would be in English. A merchant's "Clear cache" is what follows.
        shutil.rmtree(shop.root / "var" / "cache" / "prod", ignore_errors=True)


# ---------------------------------------------------------------------------- the zip


def test_the_module_zip_installs_from_the_command_line_and_the_back_office(shop: PrestaShop, tmp_path: Path) -> None:
    target = tmp_path / "kingavis.zip"
    subprocess.run(["python3", str(ROOT / "scripts" / "build-prestashop-zip.py"), str(target)], check=True, timeout=60)
    modules = shop.root / "modules"

    shop.console("prestashop:module", "uninstall", "kingavis")
    shutil.rmtree(modules / "kingavis")
    with zipfile.ZipFile(target) as archive:
        archive.extractall(modules)
    shop.console("prestashop:module", "install", "kingavis")
    assert shop.sql("SELECT active FROM ps_module WHERE name = 'kingavis'") == [{"active": "1"}]

    shop.console("prestashop:module", "uninstall", "kingavis")
    shutil.rmtree(modules / "kingavis")
    office = BackOffice(shop)
    url = f"{office.base}/index.php/improve/modules/import?_token={office.token}"  # the "upload a module" drop zone
    answer = office.http.post(url, files={"file_uploaded": ("kingavis.zip", target.read_bytes(), "application/zip")},
                              headers={"X-Requested-With": "XMLHttpRequest"}, timeout=300)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json().get("status") is True, answer.text[:500]
    assert shop.sql("SELECT active FROM ps_module WHERE name = 'kingavis'") == [{"active": "1"}]
    assert (modules / "kingavis" / "kingavis.php").exists()
