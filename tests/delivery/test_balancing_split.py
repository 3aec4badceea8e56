"""Review Balancing — email split (issue 5, point 5): a share of invitations goes to the shop's
third-party review page, chosen per order, fixed once the request is scheduled."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from delivery_helpers import event, request_row, schedule
from factories import days_ago, make_shop, new_webhook_id
from flask import Flask

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import Shop, utcnow
from kingavis.orders.events import apply_status_event
from kingavis.shops.balancing import choose_platform, split_bucket
from kingavis.shops.collection_settings import set_split
from kingavis.shops.service import ShopError

GOOGLE = "https://g.page/r/boutique-zoe/review"

# A URL that holds the customer's token: never cached, indexed or handed on as a Referer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex, nofollow"}


def private_headers(response: Any) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in PRIVATE}


def _balanced_shop(percent: int) -> Shop:
    shop, _ = make_shop()
    shop.balancing_platform = "google"
    shop.balancing_url = GOOGLE
    db.session.commit()
    set_split(shop, percent)
    return shop


@pytest.mark.parametrize("bad", [-1, 101, "30", 2.5, True, None])
def test_set_split_refuses_bad_values_and_changes_nothing(app: Flask, bad: Any) -> None:
    shop = _balanced_shop(20)
    with pytest.raises(ShopError, match="split"):
        set_split(shop, bad)
    db.session.rollback()
    assert db.session.get(Shop, shop.id, populate_existing=True).balancing_split_percent == 20


def test_set_split_needs_a_third_party_page(app: Flask) -> None:
    shop, _ = make_shop()
    with pytest.raises(ShopError, match="third-party review page"):
        set_split(shop, 30)
    db.session.rollback()
    assert db.session.get(Shop, shop.id, populate_existing=True).balancing_split_percent == 0
    set_split(shop, 0)  # turning it off needs nothing


def test_distribution_is_about_the_percentage_and_the_same_on_every_run(app: Flask) -> None:
    shop = _balanced_shop(30)
    orders = [str(100000 + n) for n in range(1000)]
    first = Counter(choose_platform(shop, o) for o in orders)
    again = Counter(choose_platform(shop, o) for o in orders)
    assert first == again
    assert set(first) == {"kingavis", "google"}
    assert 250 <= first["google"] <= 350, first
    # The bucket depends on the shop too: another shop splits the same order ids differently.
    other = _balanced_shop(30)
    assert [split_bucket(shop.key, o) for o in orders] != [split_bucket(other.key, o) for o in orders]


@pytest.mark.parametrize(("percent", "expected"), [(0, {"kingavis"}), (100, {"google"})])
def test_zero_and_hundred_percent(app: Flask, percent: int, expected: set[str]) -> None:
    shop = _balanced_shop(percent)
    ids = [schedule(shop, str(n)) for n in range(30)]
    assert {request_row(i).platform for i in ids} == expected


def test_platform_is_stored_when_scheduled_and_never_changes(app: Flask) -> None:
    shop = _balanced_shop(50)
    orders = [str(n) for n in range(40)]
    ids = {o: schedule(shop, o) for o in orders}
    stored = {o: request_row(i).platform for o, i in ids.items()}
    assert stored == {o: choose_platform(shop, o) for o in orders}
    assert set(stored.values()) == {"kingavis", "google"}

    # The merchant changes the split: requests already scheduled keep their platform, through
    # a replayed webhook, a repeated status, a cancellation and a new trigger (rescheduled).
    set_split(db.session.get(Shop, shop.id), 0)
    shop = db.session.get(Shop, shop.id)
    for o in orders[:10]:
        email = f"customer-{o}@example.com"
        apply_status_event(shop, event(o, "5", days_ago(10), email=email), new_webhook_id())
        apply_status_event(shop, event(o, "6", days_ago(9), email=email, paid=False),
                           new_webhook_id())
        result = apply_status_event(shop, event(o, "5", days_ago(8), email=email),
                                    new_webhook_id())
        assert result.body["outcome"] == "scheduled", result.body
    assert {o: request_row(i).platform for o, i in ids.items()} == stored
    # New orders follow the new setting.
    assert request_row(schedule(shop, "new")).platform == "kingavis"


def test_a_retried_send_keeps_the_platform(app: Flask) -> None:
    from smtp_server import SMTPServer

    shop = _balanced_shop(100)
    request_id = schedule(shop, "1")
    with SMTPServer() as smtp:
        app.config.update(MAIL_URL=smtp.url)
        smtp.data_reply = "451 4.3.0 Try again later"
        now = utcnow()
        assert tick(now).outcomes["retry"] == 1
        set_split(db.session.get(Shop, shop.id), 0)
        smtp.data_reply = None
        assert tick(now + timedelta(minutes=2)).sent == 1
        message = smtp.messages[0].message
    assert request_row(request_id).platform == "google"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    token = request_row(request_id).token
    assert "Donner mon avis sur Google" in html and "Donner mon avis sur Google" in text
    # The review link stays ours (docs/sending.md); it redirects to the platform.
    assert f"http://kingavis.test/r/{token}" in text
    assert f'href="http://kingavis.test/c/{token}?to=review"' in html


def test_third_party_invitation_link_redirects_to_the_platform(app: Flask, client: Any) -> None:
    from kingavis.review_requests.tracking import third_party_redirect

    shop = _balanced_shop(100)
    request_id = schedule(shop, "1")
    row = request_row(request_id)
    assert third_party_redirect(row) == GOOGLE
    response = client.get(f"/c/{row.token}?to=review", headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 302 and response.headers["Location"] == GOOGLE
    assert private_headers(response) == PRIVATE
    # The review link itself (docs/sending.md) redirects there too.
    response = client.get(f"/r/{row.token}")
    assert response.status_code == 302 and response.headers["Location"] == GOOGLE
    assert private_headers(response) == PRIVATE

    set_split(db.session.get(Shop, shop.id), 0)
    ours = request_row(schedule(db.session.get(Shop, shop.id), "2"))
    assert third_party_redirect(ours) is None
    response = client.get(f"/c/{ours.token}?to=review")
    assert response.headers["Location"] == f"http://kingavis.test/r/{ours.token}"
    assert private_headers(response) == PRIVATE
    response = client.get(f"/c/{ours.token}?to=unsubscribe")
    assert response.headers["Location"] == f"http://kingavis.test/u/{ours.token}"
    assert private_headers(response) == PRIVATE
