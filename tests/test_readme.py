"""The README's "Send your first webhook" examples work, copied as they are, against a server
started the way `make run` starts it (scripts/run.sh: web + inline dispatcher, SQLite)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from processes import ROOT, flask_env, run_flask

README = ROOT / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`make run`'s server (migrate, then scripts/run.sh) on a free port and a fresh instance."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = flask_env(f"sqlite:///{tmp_path / 'instance' / 'kingavis.db'}", tmp_path / "instance",
                    KINGAVIS_BASE_URL=base_url, HOST="127.0.0.1", PORT=str(port))
    upgrade = run_flask(["db", "upgrade"], env)
    assert upgrade.returncode == 0, upgrade.stderr
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(300):  # wait until it answers (or died)
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the server never answered /healthz:\n" + (tmp_path / "server.log").read_text())
        yield base_url, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_quick_start_has_exactly_the_two_commands() -> None:
    blocks = code_blocks(section("Quick start"), r"\w*")
    commands = [line.split("#", 1)[0].strip() for b in blocks for line in b.splitlines()]
    assert [c for c in commands if c] == ["make run", "make test"]


def test_send_your_first_webhook_examples_work(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base_url, env = served
    text = section("Send your first webhook")
    bash = code_blocks(text, "bash")
    python = code_blocks(text, "python")
    assert len(bash) == 2 and len(python) == 1, "the test expects: create shop, python, curl"
    create_shop, curl = bash
    script = tmp_path / "send_webhook.py"
    script.write_text(python[0])

    # Everything a reader types, in one shell, from the project root.
    shell = "\n".join([
        "set -euo pipefail",
        create_shop,
        'echo "URL=$WEBHOOK_URL"',
        f".venv/bin/python {script}",
        "echo",
        curl,
    ])  # fmt: skip
    done = subprocess.run(["bash", "-c", shell], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()

    shop = json.loads(out[0])
    assert shop["webhook_url"].startswith(f"{base_url}/webhooks/v1/shp_")
    assert f"URL={shop['webhook_url']}" in out
    python_line = next(line for line in out if line.startswith(("2", "4", "5")) and " {" in line)
    assert python_line.startswith("202 "), done.stdout
    assert "'outcome': 'scheduled'" in python_line, done.stdout
    curl_reply = json.loads(out[-1])
    assert curl_reply["outcome"] == "scheduled", done.stdout
    assert curl_reply["order_id"] == "1235"
    assert curl_reply["review_request"]["state"] == "scheduled"
