"""Every process of one checkout agrees on the base URL (issue 12, point 1).

`PORT=5101 make run` serves on that port and records the address in the checkout's `.env`;
`flask --app wsgi shops create --json` typed in a second shell (which exported nothing) prints
a webhook URL on that port, and `dispatch --once` run by hand sends emails whose links point
there too. Run on a copy of the project, so the checkout's own `.env` is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
import requests
from processes import BIN, ROOT
from standardwebhooks import Webhook

COPIED = ("kingavis", "admin", "webhooks", "migrations", "scripts", "wsgi.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the project (sharing the virtualenv), with its instance folder and key."""
    root = tmp_path / "kingavis"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(BIN.parent)
    (root / "instance").mkdir()
    (root / "instance" / "secret_key").write_text("local-env-test-secret-key\n")
    return root


def shell_env(**extra: str) -> dict[str, str]:
    """A new shell: nothing of King-Avis's configuration exported."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KINGAVIS_", "FLASK_")) and k not in (
               "DATABASE_URL", "REDIS_URL", "MAIL_URL", "MAIL_FROM", "SECRET_KEY", "PORT", "HOST")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def flask(root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(root / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
                            cwd=root, env=shell_env(**extra), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def served(checkout: Path) -> Iterator[tuple[Path, int]]:
    """`PORT=<port> scripts/run.sh` (what `make run` runs after migrating), until the test ends."""
    flask(checkout, "db", "upgrade")
    port = free_port()
    log = open(checkout / "run.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(checkout / "scripts" / "run.sh")], cwd=checkout,
                               env=shell_env(PORT=str(port)), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, (checkout / "run.log").read_text()
            assert time.monotonic() < deadline, (checkout / "run.log").read_text()
            time.sleep(0.3)
        yield checkout, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the group of the run.sh started above
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def signed_post(url: str, secret: str, body: dict[str, object]) -> requests.Response:
    payload = json.dumps(body)
    msg_id = f"msg_{uuid.uuid4().hex}"
    sent_at = datetime.fromtimestamp(int(time.time()), UTC)
    return requests.post(url, data=payload.encode(), timeout=10, headers={
        "content-type": "application/json", "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, sent_at, payload)})


def html_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no HTML part")


def test_a_second_shell_and_the_dispatcher_use_the_port_make_run_serves(served) -> None:
    root, port = served
    base = f"http://127.0.0.1:{port}"
    assert f"KINGAVIS_BASE_URL={base}" in (root / ".env").read_text().splitlines()

    # A second shell, nothing exported: the webhook URL is on the port being served.
    shop = json.loads(flask(root, "shops", "create", "--name", "Boutique Zoë", "--json").stdout)
    assert shop["webhook_url"] == f"{base}/webhooks/v1/{shop['key']}/order-status"
    flask(root, "shops", "configure", shop["key"], "--delay-days", "0")

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = signed_post(shop["webhook_url"], shop["webhook_secret"], {
        "type": "order.status_changed", "timestamp": now,
        "data": {"order": {"id": "1234", "reference": "XKBKNABJK", "placed_at": now,
                           "customer": {"email": "zoe@example.com", "locale": "fr",
                                        "review_consent": True}},
                 "status": {"id": "5", "name": "Livré", "paid": True}, "changed_at": now}})
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "scheduled"

    # `dispatch --once` by hand (the one beside the server may have sent it already).
    flask(root, "dispatch", "--once")
    emails = list((root / "instance" / "outbox").glob("*.eml"))
    assert len(emails) == 1
    html = html_part(message_from_bytes(emails[0].read_bytes()))
    assert f'href="{base}/c/' in html or f'href="{base}/r/' in html
    assert "127.0.0.1:5000" not in html


def test_an_exported_variable_wins_over_the_env_file(checkout: Path) -> None:
    (checkout / ".env").write_text("KINGAVIS_BASE_URL=http://127.0.0.1:5101\n")
    flask(checkout, "db", "upgrade")
    from_file = json.loads(flask(checkout, "shops", "create", "--name", "A", "--json").stdout)
    assert from_file["webhook_url"].startswith("http://127.0.0.1:5101/webhooks/v1/")
    exported = json.loads(flask(checkout, "shops", "create", "--name", "B", "--json",
                                KINGAVIS_BASE_URL="https://avis.example.com").stdout)
    assert exported["webhook_url"].startswith("https://avis.example.com/webhooks/v1/")
