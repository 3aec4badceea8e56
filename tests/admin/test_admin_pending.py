"""Back-office pending requests and this week's check, through the Flask test client (both DBs)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import make_app
from factories import days_ago, make_shop
from html_text import page_source
from requests_helpers import (
    audit_entries,
    decisions,
    event,
    login,
    merchant,
    request_row,
    row_ids,
    scheduled,
    set_due,
)

from kingavis import formatting
from kingavis.delivery.dispatcher import claim
from kingavis.extensions import db
from kingavis.models import utcnow
from kingavis.review_requests.actions import cancel
from kingavis.review_requests.queries import week_end


def flashes(response) -> list[str]:
    return [html.unescape(m).strip() for m in
            re.findall(r'class="flash flash-\w+"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)]


def url(shop, path: str = "pending") -> str:
    return f"/admin/shops/{shop.key}/{path}"


def act(client, shop, **data):
    return client.post(url(shop, "pending/actions"), data=data, follow_redirects=True)


def test_list_shows_each_scheduled_request_with_its_order(merchant_client, shop) -> None:
    a = scheduled(shop, "1", reference="ABC-1", email="zoe@example.com", first_name="Zoë",
                  last_name="Martin")
    b = scheduled(shop, "2", reference="ABC-2")
    done = scheduled(shop, "3")
    cancel(shop, [done])

    response = merchant_client.get(url(shop))

    assert response.status_code == 200
    page = page_source(response)
    assert row_ids(response.get_data(as_text=True)) == [a, b]
    assert "ABC-1" in page and "zoe@example.com" in page and "Zoë Martin" in page
    assert "Livré" in page  # the status that triggered it, and the current one
    due = formatting.moment(request_row(a).due_at, "fr", "Europe/Paris")  # 7 déc. 2026, 09:00
    assert due in page  # due time in the shop's time zone
    assert "Europe/Paris" in page
    assert "2 demandes programmées correspondent." in page


# A Wednesday, 11:00 in Paris: the shop's week ends (Monday 00:00) in 4 days and 13 hours, so
# a request due just after it is "due within 7 days" but not "due this week".
WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def test_each_filter_from_the_query_string(merchant_client, shop, monkeypatch) -> None:
    now = WEDNESDAY
    monkeypatch.setattr("admin.pending.utcnow", lambda: now)

    def delivered(order_id: str, days: float, ref: str, **kwargs) -> int:
        kwargs.setdefault("email", f"client{order_id}@example.com")
        body = event(shop, order_id, "5", now - timedelta(days=days), reference=ref, **kwargs)
        assert body["outcome"] == "scheduled", body
        return int(body["review_request"]["id"])

    soon = delivered("1", 1, ref="ABC-1")
    later = delivered("2", 1, ref="ABC-2", email="Bob@Example.com")
    unpaid = delivered("3", 1, ref="XYZ-3")
    stuck = delivered("4", 9, ref="XYZ-4")
    quiet = delivered("5", 9, ref="QUIET-5")  # stale too, but in a final status (delivered)
    set_due(soon, week_end(shop, now) - timedelta(hours=1))
    for other in (later, unpaid, quiet):
        set_due(other, now + timedelta(days=20))
    set_due(stuck, week_end(shop, now) + timedelta(minutes=1))  # next week, within 7 days
    event(shop, "3", "10", now - timedelta(days=0.5), paid=False, reference="XYZ-3",
          email="client3@example.com")
    event(shop, "4", "3", now - timedelta(days=8), reference="XYZ-4", email="client4@example.com")

    def listed(query: str) -> list[int]:
        response = merchant_client.get(url(shop) + "?" + query)
        assert response.status_code == 200
        return sorted(row_ids(response.get_data(as_text=True)))

    assert listed("") == sorted([soon, later, unpaid, stuck, quiet])
    assert listed("due=week") == [soon]
    assert listed("due=7") == sorted([soon, stuck])
    assert listed("unpaid=1") == [unpaid]
    assert listed("status=3") == [stuck]
    assert listed("stale_days=7") == sorted([stuck, quiet])
    assert listed("stale_days=7&open_status=1") == [stuck]
    assert listed("open_status=1") == sorted([unpaid, stuck])
    assert listed("undelivered=1") == sorted([unpaid, stuck])
    assert listed("q=bob%40EXAMPLE") == [later]
    assert listed("q=xyz") == sorted([unpaid, stuck])
    assert listed("q=xyz&unpaid=1") == [unpaid]
    assert listed("q=abc&due=week") == [soon]
    assert listed("q=%25") == []  # a literal "%", not "anything"


@pytest.mark.parametrize("query,message", [
    ("stale_days=0", "Indiquez un nombre de jours entre 1 et 3650."),
    ("stale_days=abc", "entier"),
    ("status=999", "choix"),
])
def test_invalid_filter_is_explained_and_lists_nothing(merchant_client, shop, query, message) -> None:
    scheduled(shop, "1")
    response = merchant_client.get(url(shop) + "?" + query)
    assert response.status_code == 200
    page = page_source(response)
    assert "Corrigez les filtres signalés" in page
    assert message.lower() in page.lower()
    assert row_ids(response.get_data(as_text=True)) == []


def test_paginated(merchant_client, shop) -> None:
    ids = [scheduled(shop, str(i)) for i in range(1, 53)]
    first = row_ids(merchant_client.get(url(shop)).get_data(as_text=True))
    second_page = merchant_client.get(url(shop) + "?page=2")
    second = row_ids(second_page.get_data(as_text=True))
    assert len(first) == 50 and len(second) == 2
    assert sorted(first + second) == sorted(ids)
    assert "Page 2 sur 2" in page_source(second_page)


def test_row_actions_apply_at_once(merchant_client, shop) -> None:
    a = scheduled(shop, "1")
    b = scheduled(shop, "2")
    c = scheduled(shop, "3")
    before = request_row(c).due_at

    response = act(merchant_client, shop, action="cancel", scope="one", ids=str(a))
    assert "1 demande annulée." in flashes(response)
    assert row_ids(response.get_data(as_text=True)) == [b, c]
    assert (request_row(a).state, request_row(a).reason) == ("cancelled", "merchant_cancelled")
    assert decisions(a)[-1].actor == "marchand@example.com"

    response = act(merchant_client, shop, action="send_now", scope="one", ids=str(b))
    assert "1 demande sera envoyée dans la minute (l'envoi passe chaque minute)." in flashes(response)
    row = request_row(b)
    assert row.state == "scheduled" and row.next_attempt_at == row.due_at <= utcnow()

    response = act(merchant_client, shop, action="postpone", scope="one", ids=str(c), days="5")
    assert "1 demande reportée de 5 jours." in flashes(response)
    assert request_row(c).due_at == before + timedelta(days=5)
    assert request_row(c).next_attempt_at == before + timedelta(days=5)

    assert [(e.action, e.details["count"]) for e in audit_entries(shop)] == [
        ("review_requests.cancel", 1), ("review_requests.send_now", 1),
        ("review_requests.postpone", 1)]


@pytest.mark.parametrize("days", ["0", "366", "-3", "abc", "", "1.5"])
def test_postpone_validation_errors_change_nothing(merchant_client, shop, days) -> None:
    a = scheduled(shop, "1")
    before = request_row(a).due_at
    count = len(decisions(a))

    for scope in ("one", "selected"):
        response = act(merchant_client, shop, action="postpone", scope=scope, ids=str(a), days=days)
        assert "Indiquez un nombre de jours entier entre 1 et 365." in flashes(response)
    response = act(merchant_client, shop, action="postpone", scope="filter", days=days, confirm="yes")
    assert "Indiquez un nombre de jours entier entre 1 et 365." in flashes(response)

    assert request_row(a).due_at == before
    assert len(decisions(a)) == count
    assert audit_entries(shop) == []


def test_bulk_selected_asks_with_the_count_then_applies(merchant_client, shop) -> None:
    ids = [scheduled(shop, str(i)) for i in range(1, 5)]
    chosen = ids[:3]

    confirm = merchant_client.post(url(shop, "pending/actions"),
                          data={"action": "cancel", "scope": "selected", "ids": chosen})
    assert confirm.status_code == 200
    assert "Annuler 3 demandes ?" in page_source(confirm)
    assert all(request_row(i).state == "scheduled" for i in ids)  # nothing changed yet
    hidden = re.findall(r'name="ids" value="(\d+)"', confirm.get_data(as_text=True))
    assert sorted(int(i) for i in hidden) == chosen

    done = act(merchant_client, shop, action="cancel", scope="selected", ids=chosen, confirm="yes")
    assert "3 demandes annulées." in flashes(done)
    assert [request_row(i).state for i in ids] == ["cancelled"] * 3 + ["scheduled"]
    entry = audit_entries(shop)[-1]
    assert entry.action == "review_requests.cancel" and entry.details["count"] == 3


def test_bulk_postpone_question_names_the_days(merchant_client, shop) -> None:
    a = scheduled(shop, "1")
    confirm = merchant_client.post(url(shop, "pending/actions"),
                          data={"action": "postpone", "scope": "selected", "ids": [a], "days": "12"})
    assert "Reporter 1 demande de 12 jours ?" in page_source(confirm)
    assert 'name="days" value="12"' in confirm.get_data(as_text=True)


def test_bulk_on_filter_reruns_the_filter_when_confirmed(merchant_client, shop) -> None:
    unpaid = [scheduled(shop, str(i), reference=f"U-{i}") for i in range(1, 4)]
    paid = scheduled(shop, "9", reference="P-9")
    for i in range(1, 4):
        event(shop, str(i), "10", days_ago(0.5), paid=False, reference=f"U-{i}",
              email=f"client{i}@example.com")

    confirm = merchant_client.post(url(shop, "pending/actions"),
                          data={"action": "cancel", "scope": "filter", "unpaid": "1"})
    assert "Annuler 3 demandes ?" in page_source(confirm)
    form = confirm.get_data(as_text=True)
    assert 'name="unpaid" value="1"' in form and 'name="ids"' not in form

    # Meanwhile: order 1 gets paid (no longer matches), a new unpaid order appears.
    event(shop, "1", "2", days_ago(0.2), paid=True, reference="U-1", email="client1@example.com")
    newcomer = scheduled(shop, "5", reference="U-5")
    event(shop, "5", "10", days_ago(0.1), paid=False, reference="U-5", email="client5@example.com")

    done = act(merchant_client, shop, action="cancel", scope="filter", unpaid="1", confirm="yes")

    assert "3 demandes annulées." in flashes(done)
    assert request_row(unpaid[0]).state == "scheduled"
    assert [request_row(i).state for i in (unpaid[1], unpaid[2], newcomer)] == ["cancelled"] * 3
    assert request_row(paid).state == "scheduled"
    # Back on the list with the same filter.
    assert row_ids(done.get_data(as_text=True)) == []
    assert re.search(r'<input[^>]*checked[^>]*name="unpaid"', done.get_data(as_text=True))


def test_bulk_skips_requests_claimed_by_the_dispatcher_meanwhile(merchant_client, shop) -> None:
    a = scheduled(shop, "1")
    b = scheduled(shop, "2")
    confirm = merchant_client.post(url(shop, "pending/actions"),
                          data={"action": "postpone", "scope": "selected", "ids": [a, b], "days": "3"})
    assert "Reporter 2 demandes de 3 jours ?" in page_source(confirm)

    set_due(a, utcnow() - timedelta(minutes=1))
    assert [c[0] for c in claim(utcnow(), 10)] == [a]

    done = act(merchant_client, shop, action="postpone", scope="selected", ids=[a, b], days="3",
               confirm="yes")
    messages = flashes(done)
    assert "1 demande reportée de 3 jours." in messages
    assert ("1 demande n'était plus en attente (déjà prise en charge) et n'a pas été modifiée."
            in messages)
    assert request_row(a).state == "sending"
    assert audit_entries(shop)[-1].details["count"] == 1


def test_nothing_selected_or_nothing_matching(merchant_client, shop) -> None:
    a = scheduled(shop, "1")
    response = act(merchant_client, shop, action="cancel", scope="selected")
    assert "Sélectionnez au moins une demande." in flashes(response)
    response = act(merchant_client, shop, action="cancel", scope="filter", q="no-such-order")
    assert "Aucune demande en attente ne correspond\u00a0: rien n'a été modifié." in flashes(response)
    response = act(merchant_client, shop, action="cancel", scope="one", ids="not-a-number")
    assert flashes(response)
    assert request_row(a).state == "scheduled"
    assert audit_entries(shop) == []


def test_another_shops_request_is_never_touched(app, merchant_client, shop) -> None:
    other, _ = make_shop("Autre boutique")
    theirs = scheduled(other, "1")
    response = act(merchant_client, shop, action="cancel", scope="one", ids=str(theirs))
    assert "Aucune demande n'était encore en attente\u00a0: rien n'a été modifié." in flashes(response)
    response = act(merchant_client, shop, action="cancel", scope="selected", ids=str(theirs), confirm="yes")
    assert request_row(theirs).state == "scheduled"
    # Nor can the other shop's pages be reached.
    assert merchant_client.get(url(other)).status_code == 404
    assert merchant_client.post(url(other, "pending/actions"),
                       data={"action": "cancel", "scope": "one", "ids": str(theirs)}).status_code == 404
    assert merchant_client.get(url(other, "weekly")).status_code == 404


def test_csrf_token_is_required(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        shop, _ = make_shop()
        a = scheduled(shop, "1")
        b = scheduled(shop, "2")
        merchant_client = app.test_client()
        login(merchant_client, merchant(shop))

        refused = merchant_client.post(url(shop, "pending/actions"),
                              data={"action": "cancel", "scope": "one", "ids": str(a)})
        assert refused.status_code == 400
        refused = merchant_client.post(url(shop, "pending/actions"),
                              data={"action": "cancel", "scope": "selected", "ids": [a, b],
                                    "confirm": "yes"})
        assert refused.status_code == 400
        assert request_row(a).state == request_row(b).state == "scheduled"

        def token(page: str) -> str:
            return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

        listing = merchant_client.get(url(shop)).get_data(as_text=True)
        accepted = merchant_client.post(url(shop, "pending/actions"),
                               data={"action": "cancel", "scope": "one", "ids": str(a),
                                     "csrf_token": token(listing)})
        assert accepted.status_code == 302
        assert request_row(a).state == "cancelled"

        # The confirmation page carries its own token through to the bulk action.
        confirm = merchant_client.post(url(shop, "pending/actions"),
                              data={"action": "cancel", "scope": "selected", "ids": [b],
                                    "csrf_token": token(listing)}).get_data(as_text=True)
        assert "Annuler 1 demande\u00a0?" in html.unescape(confirm)
        done = merchant_client.post(url(shop, "pending/actions"),
                           data={"action": "cancel", "scope": "selected", "ids": [b],
                                 "confirm": "yes", "csrf_token": token(confirm)})
        assert done.status_code == 302
        assert request_row(b).state == "cancelled"
        db.session.remove()
        db.engine.dispose()


def test_weekly_check_sections_link_to_the_matching_filter(merchant_client, shop) -> None:
    now = utcnow()
    fine = scheduled(shop, "1", reference="FINE-1")
    unpaid = scheduled(shop, "2", reference="UNPAID-2")
    event(shop, "2", "10", days_ago(0.5), paid=False, reference="UNPAID-2", email="client2@example.com")
    set_due(unpaid, now + timedelta(days=20))
    stuck = scheduled(shop, "3", reference="STUCK-3", delivered_days_ago=9)
    event(shop, "3", "3", days_ago(8), reference="STUCK-3", email="client3@example.com")
    set_due(stuck, now + timedelta(days=20))
    soon = scheduled(shop, "4", reference="SOON-4")
    event(shop, "4", "9", days_ago(0.5), reference="SOON-4", email="client4@example.com")
    set_due(soon, now + timedelta(days=2))
    set_due(fine, now + timedelta(days=2))  # due soon but delivered: nothing to report

    response = merchant_client.get(url(shop, "weekly"))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    sections = dict(re.findall(r'<section[^>]*id="(\w+)"(.*?)</section>', body, re.S))
    assert set(sections) == {"unpaid", "stuck", "undelivered"}
    assert "UNPAID-2" in sections["unpaid"] and "FINE-1" not in sections["unpaid"]
    assert "STUCK-3" in sections["stuck"] and "UNPAID-2" not in sections["stuck"]
    assert "SOON-4" in sections["undelivered"] and "FINE-1" not in sections["undelivered"]
    assert "STUCK-3" not in sections["undelivered"]  # due in 20 days

    for key, expected in (("unpaid", [unpaid]), ("stuck", [stuck]), ("undelivered", [soon])):
        link = html.unescape(re.search(r'href="([^"]*pending\?[^"]*)"', sections[key]).group(1))
        assert sorted(row_ids(merchant_client.get(link).get_data(as_text=True))) == expected, key


def test_weekly_check_with_nothing_to_report(merchant_client, shop) -> None:
    scheduled(shop, "1")
    page = page_source(merchant_client.get(url(shop, "weekly")))
    assert page.count("Rien à signaler.") == 3


def test_pages_render_for_an_english_speaking_merchant(app, shop) -> None:
    user = merchant(shop, "english@example.com")
    user.language = "en"
    db.session.commit()
    merchant_client = app.test_client()
    login(merchant_client, user)
    a = scheduled(shop, "1", reference="EN-1")
    cancel(shop, [scheduled(shop, "2", reference="EN-1-B")])  # for the history
    for path in ("pending", "weekly", "history", "orders", f"orders/{request_row(a).order_id}"):
        response = merchant_client.get(url(shop, path))
        assert response.status_code == 200, path
        assert '<html lang="en">' in response.get_data(as_text=True), path
        if path != "weekly":  # nothing to report there
            assert "EN-1" in response.get_data(as_text=True), path
