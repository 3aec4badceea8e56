"""Funnel statistics (issue 5, point 6): numbers for a constructed dataset, per week and per
platform, the back-office page, the CSV export and its escaping, and merchant isolation."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from babel.dates import format_date
from delivery_helpers import request_row, schedule
from factories import make_shop
from flask import Flask, g

from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import Review, Shop, utcnow
from kingavis.reviews import stats


def _login(client: Any, shop: Shop, email: str = "marchand@example.com") -> None:
    from flask_login.utils import _create_identifier

    user, _ = create_user(email, "un mot de passe assez long", shop)
    with client.application.test_request_context(environ_base=dict(client.environ_base)):
        identifier = _create_identifier()  # session protection "strong" checks it
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["_id"] = identifier


def _request(shop: Shop, order: str, *, platform: str = "kingavis", created_ago: timedelta = timedelta(0),
             sent: bool = True, opened: bool = False, clicked: bool = False,
             rating: int | None = None, reminded: bool = False) -> int:
    request_id = schedule(shop, order)
    row = request_row(request_id)
    now = utcnow()
    row.created_at = now - created_ago
    row.platform = platform
    if sent:
        row.state = "sent"
        row.next_attempt_at = None
        row.sent_at = row.created_at + timedelta(minutes=1)
    if opened:
        row.opened_at = row.created_at + timedelta(minutes=5)
    if clicked:
        row.clicked_at = row.created_at + timedelta(minutes=6)
    if reminded:
        row.reminder_sent_at = row.created_at + timedelta(days=3)
    if rating is not None:
        db.session.add(Review(shop_id=shop.id, order_id=row.order_id, review_request_id=row.id,
                              rating=rating))
    db.session.commit()
    return request_id


@pytest.fixture
def dataset(app: Flask) -> Shop:
    shop, _ = make_shop(timezone="UTC")
    this_week = timedelta(0)
    last_week = timedelta(days=7)
    _request(shop, "1", opened=True, clicked=True, rating=4, created_ago=this_week)
    _request(shop, "2", opened=True, clicked=True, rating=5, created_ago=this_week, reminded=True)
    _request(shop, "3", opened=True, created_ago=this_week)
    _request(shop, "4", sent=False, created_ago=this_week)
    _request(shop, "5", platform="google", clicked=True, created_ago=this_week)
    _request(shop, "6", rating=3, created_ago=last_week)
    _request(shop, "7", rating=1, created_ago=timedelta(weeks=13))  # before the 12 weeks
    # Another merchant's requests never count.
    other, _ = make_shop("Autre boutique")
    _request(other, "1", opened=True, clicked=True, rating=1)
    return shop


def _numbers(row: stats.FunnelRow) -> tuple[Any, ...]:
    return (row.scheduled, row.sent, row.opened, row.clicked, row.reviewed, row.average_rating,
            row.reminders_sent)


def test_funnel_numbers_per_week_and_platform(dataset: Shop) -> None:
    result = stats.funnel(dataset)
    assert len(result.weeks) == 12
    this_week, last_week = result.weeks[0], result.weeks[1]
    assert this_week.week == stats.iso_week(utcnow().date())
    # A click counts as an open, a review as a click: each step is a subset of the one before.
    assert _numbers(this_week) == (5, 4, 4, 3, 2, 4.5, 1)
    assert _numbers(last_week) == (1, 1, 1, 1, 1, 3.0, 0)
    assert all(w.scheduled == 0 for w in result.weeks[2:])

    assert [(c.week, c.platform) for c in result.by_week_platform] == [
        (this_week.week, "kingavis"), (this_week.week, "google"), (last_week.week, "kingavis")]
    kingavis, google = result.platforms
    assert (kingavis.platform, google.platform) == ("kingavis", "google")
    assert _numbers(kingavis) == (5, 4, 4, 3, 3, 4.0, 1)
    assert _numbers(google) == (1, 1, 1, 1, 0, None, 0)
    assert _numbers(result.total) == (6, 5, 5, 4, 3, 4.0, 1)
    assert result.total.rate("opened") == 100.0 and result.total.rate("clicked") == 80.0
    for row in [*result.weeks, *result.by_week_platform, *result.platforms, result.total]:
        assert row.scheduled >= row.sent >= row.opened >= row.clicked >= row.reviewed, row
    assert stats.funnel_totals(dataset).scheduled == 6


def test_funnel_of_an_empty_shop(app: Flask) -> None:
    shop, _ = make_shop()
    result = stats.funnel(shop, weeks=4)
    assert len(result.weeks) == 4 and result.platforms == []
    assert _numbers(result.total) == (0, 0, 0, 0, 0, None, 0)
    with pytest.raises(ValueError, match="weeks"):
        stats.funnel(shop, weeks=0)


def test_csv_cells_that_look_like_formulas_are_quoted() -> None:
    assert stats.safe_cell("=SUM(A1:A9)") == "'=SUM(A1:A9)"
    assert stats.safe_cell("+33 1 23") == "'+33 1 23"
    assert stats.safe_cell("-1") == "'-1"
    assert stats.safe_cell("@cmd") == "'@cmd"
    assert stats.safe_cell("kingavis") == "kingavis"
    assert stats.safe_cell(12) == "12" and stats.safe_cell(None) == ""


def test_stats_page_shows_the_funnel(dataset: Shop, client: Any) -> None:
    _login(client, dataset)
    response = client.get(f"/admin/shops/{dataset.key}/stats")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="total-scheduled">6<' in page and 'id="total-reviewed">3<' in page
    assert 'data-platform="google"' in page and "Google" in page
    this_week = stats.iso_week(utcnow().date())
    assert f'data-week="{this_week}"' in page
    assert f'href="/admin/shops/{dataset.key}/stats.csv"' in page


def test_dashboard_shows_the_funnel_totals(dataset: Shop, client: Any) -> None:
    _login(client, dataset)
    page = client.get(f"/admin/shops/{dataset.key}/").get_data(as_text=True)
    assert 'id="funnel-scheduled">6<' in page and 'id="funnel-sent">5<' in page
    # French figures, the French way (Flask-Babel): decimal comma, a space before "%".
    assert 'id="funnel-opened">5 <span class="muted">(100,0\u00a0%)' in page
    assert 'id="funnel-clicked">4 <span class="muted">(80,0\u00a0%)' in page
    assert 'id="funnel-reviewed">3 <span class="muted">(60,0\u00a0%)' in page
    # The average is the public page's: every published review, the 13-week-old one too.
    assert 'id="funnel-rating">3,3 / 5<' in page
    assert f'href="/admin/shops/{dataset.key}/stats"' in page


def test_csv_export(dataset: Shop, client: Any) -> None:
    _login(client, dataset)
    response = client.get(f"/admin/shops/{dataset.key}/stats.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="kingavis-funnel-')
    # French (the merchant's language): what French Excel opens as it is.
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(stats.CSV_HEADERS["fr"])
    monday = utcnow().date() - timedelta(days=utcnow().date().weekday())
    this_week = "semaine du " + format_date(monday, "medium", locale="fr")
    body = {(r[0], r[2]): r for r in rows[1:]}
    assert len(rows) == 1 + 12 + 3
    assert body[(this_week, "Toutes")][3:] == ["5", "4", "4", "3", "2", "4,5", "1", "0"]
    assert body[(this_week, "Google")][3:] == ["1", "1", "1", "1", "0", "", "0", "0"]


def test_csv_export_escapes_formulas(dataset: Shop, client: Any) -> None:
    _request(dataset, "99", platform="=HYPERLINK(\"http://evil\")")
    _login(client, dataset)
    text = client.get(f"/admin/shops/{dataset.key}/stats.csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert any(r[2] == "'=HYPERLINK(\"http://evil\")" for r in rows)
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)


def test_another_merchant_gets_404_and_anonymous_is_sent_to_login(dataset: Shop, app: Flask) -> None:
    other, _ = make_shop("Boutique voisine")
    client = app.test_client()
    for path in ("stats", "stats.csv"):
        response = client.get(f"/admin/shops/{dataset.key}/{path}")
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    # The test keeps one app context, hence one ``g``: forget the user Flask-Login cached there.
    g.pop("_login_user", None)
    client = app.test_client()
    _login(client, other, "voisin@example.com")
    for path in ("stats", "stats.csv"):
        got = client.get(f"/admin/shops/{dataset.key}/{path}")
        assert got.status_code == 404, got.headers.get("Location")
    assert client.get(f"/admin/shops/{other.key}/stats").status_code == 200
