"""Real-browser fixtures: the app served on loopback, and headless Chromium driven by Playwright.

Registered once for the whole run by ``pytest_plugins`` in conftest.py: test modules just ask
for the ``live_server``, ``chromium`` or ``page`` fixtures (never import them: an imported copy
would start a second Chromium), import ``screenshot`` if they need it, and mark their tests
``@pytest.mark.browser``. Chromium is Debian's (/usr/bin/chromium); `make test`
installs it. Screenshots for the README go to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("KINGAVIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The README's screenshots are refreshed only on request (`make screenshots`); an ordinary
# run writes them to a scratch folder so the work tree stays clean.
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("KINGAVIS_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "kingavis-screenshots"
)


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test's app (same database as the test) served on a free loopback port."""
    app.config["KINGAVIS_BASE_URL"] = "http://127.0.0.1"  # replaced below with the real port
    server = LiveServer(app)
    app.config["KINGAVIS_BASE_URL"] = server.url
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.exit(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(make test does), or set KINGAVIS_CHROMIUM",
            returncode=3,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object, live_server: LiveServer) -> Iterator[object]:
    """A fresh browser context (own cookies) and page; ``page.base_url`` is the live server."""
    # 1366 px: the most common laptop width (the README's desktop screenshots).
    context = chromium.new_context(base_url=live_server.url, locale="fr-FR",  # type: ignore[attr-defined]
                                   viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot (docs/screenshots/ with KINGAVIS_UPDATE_SCREENSHOTS=1)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
