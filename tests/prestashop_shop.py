"""A real PrestaShop for the module's tests: the release tree in ``../shared/prestashop/``
installed into a temporary folder with a private MariaDB and Debian's PHP, served by
``php -S``, with the module installed by ``bin/console`` (docs/prestashop.md, "Tests").

Nothing here is a stand-in: the shop, its back-office, its hooks and its database are
PrestaShop 8.1.2's own. A missing prerequisite fails the run with the command that installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "prestashop" / "kingavis"
TARBALLS = Path(os.environ.get("KINGAVIS_PRESTASHOP_DIR", ROOT.parent / "shared" / "prestashop"))
PRESTASHOP_TARBALL = TARBALLS / "prestashop-8.1.2.tar.xz"
PSGDPR_TARBALL = TARBALLS / "psgdpr-2.0.3.tar.xz"
ADMIN_EMAIL = "admin@kingavis.test"
ADMIN_PASSWORD = "Kingavis-test-2026"
HOW_TO_INSTALL = "scripts/ensure-prestashop-deps.sh (make test runs it)"


class PrerequisiteMissing(RuntimeError):
    """What the real-shop tests need is not on this machine."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds} s")


def check_prerequisites() -> None:
    missing = [str(p) for p in (PRESTASHOP_TARBALL, PSGDPR_TARBALL) if not p.is_file()]
    if missing:
        raise PrerequisiteMissing(
            f"PrestaShop's release tree is missing: {', '.join(missing)} (set KINGAVIS_PRESTASHOP_DIR "
            "to the folder holding prestashop-8.1.2.tar.xz and psgdpr-2.0.3.tar.xz)"
        )
    for binary in ("php", "composer"):
        if shutil.which(binary) is None:
            raise PrerequisiteMissing(f"{binary} is not installed: run {HOW_TO_INSTALL}")
    for binary in ("mariadbd", "mariadb-install-db"):
        if shutil.which(binary) is None and not Path("/usr/sbin", binary).exists():
            raise PrerequisiteMissing(f"{binary} (mariadb-server) is not installed: run {HOW_TO_INSTALL}")
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True, check=True).stdout.split()
    absent = [m for m in ("pdo_mysql", "curl", "gd", "intl", "zip", "dom", "mbstring") if m not in modules]
    if absent:
        raise PrerequisiteMissing(f"PHP extensions missing: {', '.join(absent)}: run {HOW_TO_INSTALL}")


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class MariaDB:
    """A private server: its own data folder, socket and port; gone with the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, initialise: bool = True) -> None:
        data = self.folder / "data"
        if initialise:
            data.mkdir(parents=True)
            subprocess.run(
                [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=" + _user(),
                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                check=True, capture_output=True, timeout=120,
            )
        self.process = subprocess.Popen(
            [_binary("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={self.folder / 'mysqld.sock'}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-grant-tables", "--user=" + _user(),
             f"--pid-file={self.folder / 'mysqld.pid'}", "--innodb-buffer-pool-size=64M",
             "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", f"--log-error={self.folder / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for_port(self.port, 60, "MariaDB", self.process)

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process, kill=True)  # a throwaway database: no clean shutdown needed


def _stop_group(process: subprocess.Popen, kill: bool = False) -> None:
    """Stop a process started in its own session and every process of its group (php -S's
    workers outlive their parent otherwise)."""
    import signal

    signals = ((signal.SIGKILL, 5),) if kill else ((signal.SIGTERM, 30), (signal.SIGKILL, 5))
    for sig, wait in signals:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its workers may still be stopping.
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _empty_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w"):
        pass


class PrestaShop:
    """One installed shop, served on a loopback port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = folder / "shop"
        self.db = MariaDB(folder / "mariadb")
        self.port = free_port()
        self.server: subprocess.Popen | None = None
        self.db_name = "prestashop"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -------------------------------------------------------------- install

    def install(self) -> None:
        check_prerequisites()
        self.db.start()
        subprocess.run(["tar", "-xJf", str(PRESTASHOP_TARBALL), "-C", str(self.folder)], check=True, timeout=300)
        (self.folder / "prestashop-8.1.2").rename(self.root)
        version = self.root / "install" / "install_version.php"
        version.write_text(version.read_text().replace("81099", "80299"))
        translations = self.root / "translations"
        for iso in ("en", "fr"):
            (translations / f"{iso}.gzip").write_bytes(b"")
        for locale in ("en-US", "fr-FR"):
            _empty_zip(translations / f"sf-{locale}.zip")
        (self.root / "var" / "logs").mkdir(parents=True, exist_ok=True)
        self.php(
            "install/index_cli.php", f"--domain=127.0.0.1:{self.port}", f"--db_server=127.0.0.1:{self.db.port}",
            f"--db_name={self.db_name}", "--db_user=root", "--db_password=", "--db_create=1", "--prefix=ps_",
            "--language=fr", "--country=fr", "--fixtures=1", "--name=Boutique Zoé", f"--email={ADMIN_EMAIL}",
            f"--password={ADMIN_PASSWORD}", "--newsletter=0", "--send_email=0", "--ssl=0", timeout=600,
        )
        shutil.move(str(self.root / "install"), str(self.folder / "install-done"))
        self.replace_psgdpr()
        self.sql("UPDATE ps_configuration SET value = '3' WHERE name = 'PS_MAIL_METHOD'")
        # php -S has no URL rewriting: the shop's own links are index.php?controller=… ones.
        self.sql("UPDATE ps_configuration SET value = '0' WHERE name IN ('PS_REWRITING_SETTINGS', 'PS_CANONICAL_REDIRECT')")
        self.start_server()

    def replace_psgdpr(self) -> None:
        """psgdpr 2.0.3 (PrestaShop 8's) instead of the bundled 1.4.3, autoload made offline."""
        subprocess.run(["tar", "-xJf", str(PSGDPR_TARBALL), "-C", str(self.folder)], check=True, timeout=120)
        source = self.folder / "psgdpr-2.0.3"
        subprocess.run(["composer", "dump-autoload", "--no-dev", "-o", "--no-interaction", "-q"], cwd=source,
                       check=True, capture_output=True, timeout=120, env={**os.environ, "COMPOSER_ALLOW_SUPERUSER": "1"})
        self.console("prestashop:module", "uninstall", "psgdpr")
        shutil.rmtree(self.root / "modules" / "psgdpr")
        shutil.move(str(source), str(self.root / "modules" / "psgdpr"))
        self.console("prestashop:module", "install", "psgdpr")

    def start_server(self) -> None:
        env = {**os.environ, "PHP_CLI_SERVER_WORKERS": "4"}
        self.server = subprocess.Popen(
            ["php", "-d", "display_errors=0", "-d", "log_errors=1", "-d", f"error_log={self.php_error_log}",
             "-S", f"127.0.0.1:{self.port}", "-t", str(self.root)],
            cwd=self.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for_port(self.port, 30, "php -S", self.server)

    @property
    def php_error_log(self) -> Path:
        return self.folder / "php-errors.log"

    def stop(self) -> None:
        if self.server is not None:
            _stop_group(self.server)
        self.db.stop()

    # -------------------------------------------------------------- commands

    def php(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["php", "-d", "memory_limit=512M", *args], cwd=self.root, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"php {' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def console(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # The prod environment: the same commands, without the dev environment's cache rebuilds.
        return self.php("bin/console", *args, "--no-interaction", "--env=prod", timeout=300, check=check)

    def sql(self, query: str) -> list[dict[str, str]]:
        """One query on the shop's database (mariadb's client): its rows, values as text."""
        done = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.db.folder / 'mysqld.sock'}", "-uroot", "--batch", "--raw",
             self.db_name, "-e", query],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"SQL failed: {query}\n{done.stderr}")
        lines = done.stdout.splitlines()
        if not lines:
            return []
        names = lines[0].split("\t")
        return [dict(zip(names, line.split("\t"), strict=True)) for line in lines[1:]]

    def run_php(self, code: str, timeout: float = 120) -> Any:
        """PHP code in a booted shop (config, kernel, context); what it echoes is JSON."""
        script = self.folder / f"run-{os.getpid()}-{time.monotonic_ns()}.php"
        script.write_text("<?php\n" + BOOT + "\nob_start();\n" + code + "\n$out = ob_get_clean();\nfwrite(STDOUT, \"\\n@@@\" . $out);\n")
        try:
            done = self.php(str(script), timeout=timeout)
        finally:
            script.unlink()
        return json.loads(done.stdout.rsplit("\n@@@", 1)[1] or "null")

    def install_module(self, source: Path = MODULE, reinstall: bool = False) -> None:
        target = self.root / "modules" / "kingavis"
        if reinstall:
            self.console("prestashop:module", "uninstall", "kingavis", check=False)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
        self.console("prestashop:module", "install", "kingavis")

    @classmethod
    def reused(cls, folder: Path) -> PrestaShop:
        """The shop installed in `folder` by an earlier run, started again if it stopped."""
        state = folder / "ports.json"
        shop = cls(folder)
        if state.exists():
            ports = json.loads(state.read_text())
            shop.port, shop.db.port = ports["shop"], ports["db"]
            try:
                wait_for_port(shop.db.port, 1, "MariaDB")
            except RuntimeError:
                shop.db.start(initialise=False)
            try:
                wait_for_port(shop.port, 1, "php -S")
            except RuntimeError:
                shop.start_server()
            return shop
        folder.mkdir(parents=True, exist_ok=True)
        shop.install()
        state.write_text(json.dumps({"shop": shop.port, "db": shop.db.port}))
        return shop


# The status change "the way the back-office does it" (see ../shared/prestashop/README.md).
BOOT = r"""
chdir(getenv('PS_ROOT') ?: getcwd());
require_once 'config/config.inc.php';
global $kernel;
$kernel = new AppKernel('prod', false);
$kernel->boot();
$context = Context::getContext();
$context->employee = new Employee(1);
$context->language = new Language((int) Configuration::get('PS_LANG_DEFAULT'));
$context->currency = new Currency((int) Configuration::get('PS_CURRENCY_DEFAULT'));
"""


@contextmanager
def installed_shop(folder: Path) -> Iterator[PrestaShop]:
    shop = PrestaShop(folder)
    try:
        shop.install()
        yield shop
    finally:
        shop.stop()


# ---------------------------------------------------------------------------- King-Avis side


class Recorder:
    """WSGI middleware in front of the real King-Avis: keeps every webhook request the shop
    sends (method, path, headers, body, whether its Standard Webhooks signature is valid, the
    answer), and can answer slowly. What the service answers is the app's own answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.secret = ""
        self.secrets: dict[str, str] = {}  # by shop key, for a second King-Avis shop
        self.delay = 0.0
        self.fail_ids: set[str] = set()  # webhook ids answered 500 (an event King-Avis cannot take)
        # Answers for what this King-Avis does not serve yet (a product's JSON-LD): path -> body.
        self.canned: dict[str, bytes] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = __import__("threading").Lock()

    def clear(self) -> None:
        with self._lock:
            self.requests = []
        self.delay = 0.0
        self.fail_ids = set()
        self.canned = {}

    def of(self, suffix: str, method: str = "POST") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith(suffix) and r["method"] == method]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        import io

        path = environ.get("PATH_INFO", "")
        if not path.startswith("/webhooks/") and "/products/" not in path:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
        record: dict[str, Any] = {
            "method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "headers": headers,
            "raw": body, "json": _json_or_none(body), "signature_valid": self._valid(body, headers, environ["PATH_INFO"]),
            "received_at": time.monotonic(),
        }
        if self.delay:
            time.sleep(self.delay)
        answer: dict[str, Any] = {}

        def capture(status: str, response_headers: list, exc_info: Any = None) -> Any:
            answer["status"] = int(status.split()[0])
            return start_response(status, response_headers, exc_info)

        if path in self.canned:
            chunks = self.canned[path]
            capture("200 OK", [("Content-Type", "application/ld+json")])
        elif headers.get("webhook-id") in self.fail_ids:
            chunks = b'{"title": "Internal Server Error", "status": 500}'
            capture("500 INTERNAL SERVER ERROR", [("Content-Type", "application/problem+json")])
        else:
            chunks = b"".join(self.app(environ, capture))
        record["status"] = answer.get("status")
        record["answer"] = _json_or_none(chunks)
        with self._lock:
            self.requests.append(record)
        return [chunks]

    def _valid(self, body: bytes, headers: dict[str, str], path: str = "") -> bool:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        key = path.split("/")[3] if path.count("/") >= 3 else ""
        try:
            Webhook(self.secrets.get(key, self.secret)).verify(body, {
                "webhook-id": headers.get("webhook-id", ""),
                "webhook-timestamp": headers.get("webhook-timestamp", ""),
                "webhook-signature": headers.get("webhook-signature", ""),
            })
        except WebhookVerificationError:
            return False
        return True


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


class KingAvisServer:
    """An app on a loopback port that can be stopped and started again on the same port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self._server: Any = None
        self._thread: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import threading

        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None


# ---------------------------------------------------------------------------- the back-office


class FormParser:
    """The forms of an HTML page as a browser sees them: inputs, selects, buttons."""

    def __init__(self, html: str) -> None:
        from html.parser import HTMLParser

        forms: list[dict[str, Any]] = []
        outer = self

        class Parser(HTMLParser):
            select: str | None = None

            def handle_starttag(self, tag: str, attrs: list) -> None:
                a = {k: (v if v is not None else "") for k, v in attrs}
                if tag == "form":
                    forms.append({"action": a.get("action", ""), "fields": [], "buttons": [], "id": a.get("id", "")})
                elif not forms:
                    return
                elif tag == "input" and a.get("name"):
                    kind = a.get("type", "text").lower()
                    if kind in ("radio", "checkbox") and "checked" not in a:
                        return
                    if kind == "submit":
                        forms[-1]["buttons"].append(a)
                    elif kind not in ("file", "button", "image"):
                        forms[-1]["fields"].append([a["name"], a.get("value", "")])
                elif tag == "button" and a.get("name"):
                    forms[-1]["buttons"].append(a)
                elif tag == "select" and a.get("name"):
                    self.select = a["name"]
                    forms[-1]["fields"].append([a["name"], None])
                elif tag == "option" and self.select is not None:
                    field = forms[-1]["fields"][-1]
                    if field[1] is None or "selected" in a:
                        field[1] = a.get("value", "")

            def handle_endtag(self, tag: str) -> None:
                if tag == "select":
                    self.select = None

            def handle_startendtag(self, tag: str, attrs: list) -> None:
                self.handle_starttag(tag, attrs)

        Parser().feed(html)
        outer.forms = forms

    def with_button(self, name: str) -> dict[str, Any]:
        matching = [f for f in self.forms if any(b.get("name") == name for b in f["buttons"])]
        assert len(matching) == 1, f"{len(matching)} forms have a {name} button"
        return matching[0]


class BackOffice:
    """PrestaShop's back-office driven over HTTP as a browser posts its forms."""

    def __init__(self, shop: PrestaShop, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
        import requests

        self.shop = shop
        self.http = requests.Session()
        self.base = shop.url + "/admin"
        answer = self.http.post(f"{self.base}/index.php?controller=AdminLogin", data={
            "ajax": "1", "controller": "AdminLogin", "submitLogin": "1", "email": email, "passwd": password,
            "stay_logged_in": "0", "redirect": "",
        }, timeout=60)
        assert answer.status_code == 200 and '"hasErrors":false' in answer.text.replace(" ", ""), answer.text[:500]
        page = self.http.get(f"{self.base}/index.php/sell/orders/", timeout=60).text
        import re

        found = re.search(r"_token=([A-Za-z0-9_.\-]+)", page)
        assert found, "no Symfony token in the back-office page"
        self.token = found.group(1)
        self.page = ""

    def get(self, path: str) -> str:
        answer = self.http.get(f"{self.base}/{path}", timeout=60)
        assert answer.status_code == 200, (answer.status_code, answer.text[:500])
        self.page = answer.text
        return answer.text

    def modules_url(self) -> str:
        token = self.shop.run_php("echo json_encode(Tools::getAdminToken('AdminModules' . (int) Tab::getIdFromClassName('AdminModules') . 1));")
        return f"index.php?controller=AdminModules&configure=kingavis&token={token}"

    def configuration_page(self) -> str:
        return self.get(self.modules_url())

    def shown(self) -> str:
        """The last page's text as its reader sees it (no tags, scripts or menus), for a
        failing assertion to say what the page said instead."""
        import html
        import re

        text = re.sub(r"<(script|style)\b.*?</\1>", " ", self.page, flags=re.S | re.I)
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"\s+", " ", html.unescape(text)).strip()
        start = text.find("Module Manager Menu")
        return text[start:] if start >= 0 else text[-4000:]

    def click(self, button: str, **values: str) -> str:
        """Submit the configuration page's form that holds `button`, by that button, with
        `values` typed in; returns the page that answers."""
        page = self.page or self.configuration_page()
        form = FormParser(page).with_button(button)
        fields = [[k, v] for k, v in form["fields"] if k not in values]
        fields += [[k, v] for k, v in values.items()]
        clicked = next(b for b in form["buttons"] if b.get("name") == button)
        fields.append([button, clicked.get("value", "")])
        import html

        action = html.unescape(form["action"])
        url = action if action.startswith("http") else f"{self.base}/{action.lstrip('/')}" if not action.startswith("/") else self.shop.url + action
        answer = self.http.post(url, files=[(k, (None, v or "")) for k, v in fields], timeout=120)
        assert answer.status_code == 200, (answer.status_code, answer.text[:1000])
        self.page = answer.text
        return answer.text

    def change_status(self, order_id: int, state: int) -> float:
        """The order page's "Update status" button; returns the seconds the request took."""
        import re

        page = self.get(f"index.php/sell/orders/{order_id}/view?_token={self.token}")
        token = re.search(r'name="update_order_status_action_bar\[_token\]"[^>]*value="([^"]+)"', page)
        assert token, "no status form on the order page"
        started = time.monotonic()
        answer = self.http.post(f"{self.base}/index.php/sell/orders/{order_id}/status?_token={self.token}", data={
            "update_order_status_action_bar[new_order_status_id]": str(state),
            "update_order_status_action_bar[_token]": token.group(1),
        }, timeout=120)
        took = time.monotonic() - started
        assert answer.status_code == 200, answer.status_code
        return took

    def bulk_change_status(self, order_ids: list[int], state: int) -> float:
        """The orders list's bulk action "Change Order Status"; returns the request's seconds."""
        import re

        page = self.get(f"index.php/sell/orders/?_token={self.token}")
        token = re.search(r'name="change_orders_status\[_token\]"[^>]*value="([^"]+)"', page)
        assert token, "no bulk status form on the orders page"
        data = [("change_orders_status[new_order_status_id]", str(state)), ("change_orders_status[_token]", token.group(1))]
        data += [("change_orders_status[order_ids][]", str(i)) for i in order_ids]
        started = time.monotonic()
        answer = self.http.post(f"{self.base}/index.php/sell/orders/change-orders-status?_token={self.token}",
                                data=data, timeout=300, allow_redirects=False)
        took = time.monotonic() - started
        assert answer.status_code == 302, answer.status_code
        return took
