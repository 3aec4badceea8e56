"""The README is the front door: its "Send your first webhook" examples work, copied as they are,
against a server started the way `make run` starts it (scripts/run.sh: web + inline dispatcher,
SQLite), and send test events that store nothing; it stays short, and every reference page in
docs/ is reachable from it through links that lead somewhere."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from processes import ROOT, flask_env, run_flask

README = ROOT / "README.md"
DOCS = ROOT / "docs"


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
    assert python_line.startswith("200 "), done.stdout
    assert "'outcome': 'test'" in python_line and "'review_request': None" in python_line, done.stdout
    curl_reply = json.loads(out[-1])
    assert curl_reply["outcome"] == "test", done.stdout
    assert curl_reply["order_id"] == "1235"
    assert curl_reply["review_request"] is None

    # Test events store nothing: no order, no event on a timeline, no review request.
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    connection = sqlite3.connect(database)
    try:
        counts = [connection.execute(query).fetchone()[0] for query in (
            "SELECT count(*) FROM orders", "SELECT count(*) FROM order_events",
            "SELECT count(*) FROM review_requests")]
    finally:
        connection.close()
    assert counts == [0, 0, 0]


def test_readme_is_a_front_door_of_at_most_300_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines: move reference text to docs/"


LINK = re.compile(r'\]\(([^)\s]+)\)|\bsrc="([^"]+)"')
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {github_anchor(m) for m in re.findall(r"^#+ (.*)$", text, flags=re.M)}


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found = [a or b for a, b in LINK.findall(text)]
    return [link for link in found if not re.match(r"[a-z]+:", link)]  # http(s):, mailto:


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def test_every_relative_link_leads_to_an_existing_file_and_heading() -> None:
    broken = []
    for page in markdown_files():
        for link in relative_links(page):
            target, _, anchor = link.partition("#")
            file = (page.parent / target).resolve() if target else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such file)")
            elif anchor and anchor not in anchors(file):
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such heading)")
    assert broken == []
    # The check itself finds links: the README's reference list and the back-office screenshots.
    assert "docs/webhooks.md" in relative_links(README)
    assert "screenshots/dashboard.png" in relative_links(DOCS / "back-office.md")


def test_every_reference_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in relative_links(README)}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert unlinked == [], "add these to the README's Reference list"
