"""Funnel tracking (issue 5, point 6): the open pixel and the click redirect, with mail-scanner
fetches left out of the click count."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import request_row, schedule
from factories import make_shop
from flask import Flask

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import utcnow
from kingavis.review_requests.tracking import is_scanner

BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0 Safari/537.36")


def _sent_request(sent_ago: timedelta = timedelta(0)) -> Any:
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    assert tick(utcnow()).sent == 1
    row = request_row(request_id)
    if sent_ago:
        row.sent_at = utcnow() - sent_ago
        db.session.commit()
    return request_row(request_id)


def test_email_has_the_pixel_a_tracked_review_link_and_a_direct_unsubscribe(
    app: Flask, tmp_path: Path
) -> None:
    row = _sent_request()
    [eml] = (tmp_path / "outbox").glob("*.eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    html = message.get_body(("html",)).get_content()
    base = "http://kingavis.test"
    assert f'<img src="{base}/o/{row.token}.gif"' in html
    assert f'href="{base}/c/{row.token}?to=review"' in html
    assert f'href="{base}/u/{row.token}"' in html  # never through the click counter
    assert "/c/" not in message["List-Unsubscribe"]


def test_pixel_sets_opened_once(app: Flask, client: Any) -> None:
    row = _sent_request()
    assert row.opened_at is None
    response = client.get(f"/o/{row.token}.gif")
    assert response.status_code == 200
    assert response.mimetype == "image/gif" and response.data.startswith(b"GIF89a")
    assert "no-store" in response.headers["Cache-Control"]
    first = request_row(row.id).opened_at
    assert first is not None

    assert client.get(f"/o/{row.token}.gif").status_code == 200
    assert request_row(row.id).opened_at == first


def test_pixel_head_is_not_an_open(app: Flask, client: Any) -> None:
    row = _sent_request()
    assert client.head(f"/o/{row.token}.gif").status_code == 200
    assert request_row(row.id).opened_at is None


def test_unknown_tokens_answer_404_and_change_nothing(app: Flask, client: Any) -> None:
    row = _sent_request()
    assert client.get("/o/not-a-token.gif").status_code == 404
    assert client.get("/c/not-a-token?to=review", headers={"User-Agent": BROWSER}).status_code == 404
    assert client.get(f"/c/{row.token}?to=elsewhere", headers={"User-Agent": BROWSER}).status_code == 404
    row = request_row(row.id)
    assert row.opened_at is None and row.clicked_at is None


def test_browser_click_is_counted_once_and_redirected(app: Flask, client: Any) -> None:
    row = _sent_request(sent_ago=timedelta(minutes=5))
    response = client.get(f"/c/{row.token}?to=review", headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://kingavis.test/r/{row.token}"
    first = request_row(row.id).clicked_at
    assert first is not None
    client.get(f"/c/{row.token}?to=review", headers={"User-Agent": BROWSER})
    assert request_row(row.id).clicked_at == first


@pytest.mark.parametrize("agent", [
    "curl/8.5.0", "python-requests/2.32", "Go-http-client/1.1", "", "Microsoft Office/16.0 (MSOffice)",
])
def test_scanner_fetch_right_after_sending_is_not_a_click(app: Flask, client: Any, agent: str) -> None:
    row = _sent_request()
    response = client.get(f"/c/{row.token}?to=review", headers={"User-Agent": agent})
    assert response.status_code == 302  # redirected all the same
    assert request_row(row.id).clicked_at is None
    # The customer's own click afterwards counts.
    client.get(f"/c/{row.token}?to=review", headers={"User-Agent": BROWSER})
    assert request_row(row.id).clicked_at is not None


def test_known_scanner_is_never_a_click_and_head_neither(app: Flask, client: Any) -> None:
    row = _sent_request(sent_ago=timedelta(hours=2))
    scanner = "Mozilla/5.0 (compatible; Barracuda Sentinel URL Scanner)"
    assert client.get(f"/c/{row.token}?to=review", headers={"User-Agent": scanner}).status_code == 302
    assert client.head(f"/c/{row.token}?to=review", headers={"User-Agent": BROWSER}).status_code == 302
    assert request_row(row.id).clicked_at is None


def test_after_the_window_a_plain_mail_app_click_counts(app: Flask, client: Any) -> None:
    row = _sent_request(sent_ago=timedelta(minutes=2))
    client.get(f"/c/{row.token}?to=review", headers={"User-Agent": "Thunderbird/115.0"})
    assert request_row(row.id).clicked_at is not None


def test_unsubscribe_through_the_redirect_is_not_a_click(app: Flask, client: Any) -> None:
    row = _sent_request(sent_ago=timedelta(hours=1))
    response = client.get(f"/c/{row.token}?to=unsubscribe", headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://kingavis.test/u/{row.token}"
    assert request_row(row.id).clicked_at is None


def test_is_scanner_rules() -> None:
    now = utcnow()
    just_sent, long_ago = now - timedelta(seconds=5), now - timedelta(hours=1)
    assert is_scanner(BROWSER, "HEAD", long_ago, now)
    assert is_scanner("curl/8", "GET", just_sent, now)
    assert is_scanner("Proofpoint URL Defense", "GET", long_ago, now)
    assert is_scanner("Mimecast", "GET", long_ago, now)
    assert not is_scanner(BROWSER, "GET", just_sent, now)
    assert not is_scanner("Thunderbird/115", "GET", long_ago, now)
    assert is_scanner("Thunderbird/115", "GET", just_sent, now)
