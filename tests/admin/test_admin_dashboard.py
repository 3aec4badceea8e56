"""Back-office dashboard: this week's figures and the 12-week chart, counted per shop."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from factories import make_shop

from admin.dashboard import dashboard_figures, nice_ceiling, week_starts
from kingavis.accounts.users import create_user
from kingavis.extensions import db
from kingavis.models import Order, Review, ReviewRequest, utcnow

PASSWORD = "correct horse battery"
_n = iter(range(1, 10_000))


def add_request(shop, state: str, *, sent_at=None, updated_at=None, review_at=None) -> ReviewRequest:
    n = next(_n)
    order = Order(shop_id=shop.id, external_id=str(n), customer_email=f"c{n}@example.com")
    db.session.add(order)
    db.session.flush()
    now = utcnow()
    request = ReviewRequest(shop_id=shop.id, order_id=order.id, state=state, due_at=now,
                            customer_email_normalized=order.customer_email, sent_at=sent_at,
                            updated_at=updated_at or now)
    db.session.add(request)
    db.session.flush()
    if review_at is not None:
        db.session.add(Review(shop_id=shop.id, order_id=order.id, review_request_id=request.id,
                              rating=5, created_at=review_at))
    db.session.commit()
    return request


def stat(html: str, name: str) -> int:
    return int(re.search(rf'id="stat-{name}">(\d+)<', html).group(1))


def table(html: str) -> list[tuple[int, int]]:
    body = re.search(r'<table id="weeks-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [(int(a), int(b)) for a, b in re.findall(r"<td>(\d+)</td><td>(\d+)</td>", body)]


@pytest.fixture
def merchant(app, client):
    shop, _ = make_shop("Boutique Zoë")
    user, _ = create_user("zoe@example.com", PASSWORD, shop)
    assert client.post("/admin/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return shop


def test_dashboard_counts_this_week_and_the_last_twelve(client, merchant):
    shop = merchant
    now = utcnow()
    week_start = week_starts(shop, now)[-1]
    for _ in range(3):
        add_request(shop, "sent", sent_at=now)
    add_request(shop, "sent", sent_at=now, review_at=now)
    for _ in range(2):
        add_request(shop, "sent", sent_at=week_start - timedelta(days=20), review_at=week_start - timedelta(days=19))
    add_request(shop, "sent", sent_at=week_start - timedelta(weeks=12, days=1))  # before the chart
    for _ in range(2):
        add_request(shop, "scheduled")
    add_request(shop, "cancelled", updated_at=now)
    add_request(shop, "cancelled", updated_at=week_start - timedelta(days=8))  # last week
    other, _ = make_shop("Une autre boutique")
    for _ in range(5):
        add_request(other, "sent", sent_at=now, review_at=now)
    add_request(other, "scheduled")

    response = client.get(f"/admin/shops/{shop.key}/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert (stat(html, "scheduled"), stat(html, "sent"), stat(html, "cancelled"), stat(html, "reviews")) == (2, 4, 1, 1)
    rows = table(html)
    assert len(rows) == 12
    assert rows[-1] == (4, 1)
    assert rows[-4] == (2, 2)  # three weeks back
    assert sum(s for s, _ in rows) == 6 and sum(r for _, r in rows) == 3
    # The chart is drawn by the server: an inline SVG with a bar per week and series, no script.
    assert html.count('class="bar-sent"') == 12 and html.count('class="bar-reviews"') == 12
    assert '<svg viewBox="0 0' in html and 'role="img"' in html
    assert "<script" not in html


def test_empty_shop_shows_zeros(client, merchant):
    html = client.get(f"/admin/shops/{merchant.key}/").get_data(as_text=True)
    assert (stat(html, "scheduled"), stat(html, "sent"), stat(html, "cancelled"), stat(html, "reviews")) == (0, 0, 0, 0)
    assert table(html) == [(0, 0)] * 12


def test_weeks_start_on_monday_in_the_shop_time_zone(app):
    shop, _ = make_shop("Boutique", timezone="Pacific/Auckland")
    # Sunday 2026-11-22 12:00 UTC is already Monday 01:00 in Auckland.
    starts = week_starts(shop, datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    assert len(starts) == 12
    assert starts[-1].isoformat() == "2026-11-23T00:00:00+13:00"
    assert all(s.weekday() == 0 for s in starts)
    assert starts[0] == starts[-1] - timedelta(weeks=11)
    # A request sent just before that Monday (local) belongs to the previous week.
    add_request(shop, "sent", sent_at=datetime(2026, 11, 22, 10, 59, tzinfo=UTC))
    add_request(shop, "sent", sent_at=datetime(2026, 11, 22, 11, 0, tzinfo=UTC))
    figures = dashboard_figures(shop, now=datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    assert [w.sent for w in figures["weeks"]][-2:] == [1, 1]


def test_chart_scale_is_round():
    assert [nice_ceiling(v) for v in (0, 1, 2, 3, 6, 10, 11, 240)] == [1, 1, 2, 5, 10, 10, 20, 500]


# The audit log page -------------------------------------------------------------------------

def audit_rows(html: str) -> list[str]:
    return re.findall(r'<span class="badge" data-action="([^"]+)">', html)


def test_audit_log_shows_who_did_what_and_filters_by_action(client, merchant):
    from kingavis.accounts import audit

    shop = merchant
    client.post(f"/admin/shops/{shop.key}/credentials/reveal")
    client.post(f"/admin/shops/{shop.key}/credentials/rotate", data={"confirm": "yes"})
    other, _ = make_shop("Une autre boutique")
    stranger, _ = create_user("autre@example.com", PASSWORD, other)
    audit.record(stranger, "secret.reveal", shop=other)
    audit.record(stranger, "login")  # an account entry of someone outside this shop
    db.session.commit()

    html = client.get(f"/admin/shops/{shop.key}/audit").get_data(as_text=True)
    assert audit_rows(html) == ["secret.rotate", "secret.reveal", "login"]
    assert "zoe@example.com" in html and "autre@example.com" not in html
    assert "Secret renouvelé" in html

    filtered = client.get(f"/admin/shops/{shop.key}/audit?action=secret.reveal").get_data(as_text=True)
    assert audit_rows(filtered) == ["secret.reveal"]
    assert '<option value="secret.reveal" selected>' in filtered


def test_audit_log_is_paginated(client, merchant):
    from kingavis.accounts import audit
    from kingavis.models import User

    shop = merchant
    user = db.session.scalars(db.select(User)).first()
    for n in range(119):
        audit.record(user, "test.action", shop=shop, target_type="order", target_id=n)
    db.session.commit()  # plus the login: 120 entries

    first = client.get(f"/admin/shops/{shop.key}/audit").get_data(as_text=True)
    assert len(audit_rows(first)) == 50
    assert "120 entrées." in first and "Page 1 sur 3" in first
    assert f'href="/admin/shops/{shop.key}/audit?page=2"' in first
    last = client.get(f"/admin/shops/{shop.key}/audit?page=3").get_data(as_text=True)
    assert audit_rows(last)[-1] == "login" and len(audit_rows(last)) == 20
    only = client.get(f"/admin/shops/{shop.key}/audit?action=test.action&page=3").get_data(as_text=True)
    assert len(audit_rows(only)) == 19 and "login" not in audit_rows(only)
