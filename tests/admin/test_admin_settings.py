"""Back-office rules and settings pages, and applying a rule to pending requests (both DBs)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import make_app
from factories import days_ago, make_shop, post_event, status_event
from html_text import page_source
from requests_helpers import (
    audit_entries,
    decisions,
    login,
    merchant,
    request_row,
    scheduled,
)
from sqlalchemy import select

from kingavis.delivery.dispatcher import claim
from kingavis.extensions import db
from kingavis.models import InvitationRule, Shop, utcnow
from kingavis.review_requests.notes import describe_note
from kingavis.scheduling import Rule, compute_due_at

PARIS = "Europe/Paris"


def field_errors(response, field: str) -> list[str]:
    """The error messages shown next to one field (``<p id="<field>-error">``)."""
    raw = response.get_data(as_text=True)
    return [html.unescape(m).strip() for m in
            re.findall(rf'<p class="field-error" id="{field}-error"[^>]*>(.*?)</p>', raw, re.S)]


def flashes(response) -> list[str]:
    return [html.unescape(m).strip() for m in re.findall(
        r'class="flash flash-\w+"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)]


def url(shop, path: str = "") -> str:
    return f"/admin/shops/{shop.key}/settings{path}"


def rules_of(shop) -> list[InvitationRule]:
    db.session.expire_all()
    return list(db.session.execute(
        select(InvitationRule).where(InvitationRule.shop_id == shop.id).order_by(InvitationRule.id)
    ).scalars())


def active_rule(shop) -> InvitationRule:
    active = [r for r in rules_of(shop) if r.is_active]
    assert len(active) == 1, active
    return active[0]


def fresh_shop(shop) -> Shop:
    db.session.expire_all()
    return db.session.get(Shop, shop.id)


def rule_form(**overrides):
    data = {"name": "Expédié + 3 jours", "trigger_status_ids": ["4"], "delay_days": "3",
            "send_hour": "", "timezone": PARIS}
    data.update(overrides)
    return data


def settings_form(shop, **overrides):
    data = {"cancel_status_ids": list(shop.cancel_status_ids), "customer_window_days":
            str(shop.customer_window_days)}
    if shop.require_consent:
        data["require_consent"] = "y"
    if shop.paused:
        data["paused"] = "y"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def actions(shop) -> list[str]:
    return [e.action for e in audit_entries(shop)]


# --------------------------------------------------------------------------- page and CRUD


def test_settings_page_lists_rules_and_statuses_by_name(merchant_client, shop) -> None:
    response = merchant_client.get(url(shop))

    assert response.status_code == 200
    page = page_source(response)
    assert "PrestaShop — Livré" in page and "Active" in page
    assert "Livré (5)" in page  # trigger shown by name with its id
    # Cancel statuses offered as checkboxes, the preset's checked.
    raw = response.get_data(as_text=True)
    for sid in ("6", "7", "8"):
        assert re.search(rf'<input checked id="cancel_status_ids-\d+" name="cancel_status_ids" '
                         rf'type="checkbox" value="{sid}">', raw), sid
    assert 'value="5">' in raw and "Annulé (6)" in page
    assert 'name="customer_window_days"' in raw and 'value="30"' in raw


def test_statuses_the_shop_sent_are_offered_as_triggers(merchant_client, shop, shop_and_secret, app) -> None:
    body = status_event("1", "42", days_ago(1), status_name="Retiré en boutique")
    assert post_event(app.test_client(), shop, shop_and_secret[1], body).status_code == 202

    page = page_source(merchant_client.get(url(shop, "/rules/new")))

    assert "Retiré en boutique (42)" in page
    assert "Livré (5)" in page and "En attente de paiement par chèque (1)" in page


def test_create_rule_saves_an_inactive_rule_and_audits_it(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop, "/rules/new"), data=rule_form(send_hour="9",
                                                                   timezone="America/Montreal"))

    assert response.status_code == 302
    created = rules_of(shop)[-1]
    assert (created.name, created.trigger_status_ids, created.delay_days, created.send_hour,
            created.timezone, created.is_active) == (
        "Expédié + 3 jours", ["4"], 3, 9, "America/Montreal", False)
    assert active_rule(shop).name == "PrestaShop — Livré"
    entry = audit_entries(shop)[-1]
    assert entry.action == "rule.create" and entry.actor_email == "marchand@example.com"
    assert entry.target_id == str(created.id)
    page = page_source(merchant_client.get(url(shop)))
    assert "Expédié + 3 jours" in page and "09:00" in page and "America/Montreal" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Donnez un nom à la règle."),
        ("name", "x" * 121, "Le nom ne doit pas dépasser 120 caractères."),
        ("trigger_status_ids", [], "Choisissez au moins un statut déclencheur."),
        ("trigger_status_ids", ["999"], "Statut inconnu pour cette boutique\u00a0: 999."),
        ("delay_days", "", "Le délai doit être un nombre de jours entre 0 et 365."),
        ("delay_days", "dix", "Le délai doit être un nombre de jours entre 0 et 365."),
        ("delay_days", "-1", "Le délai doit être un nombre de jours entre 0 et 365."),
        ("delay_days", "366", "Le délai doit être un nombre de jours entre 0 et 365."),
        ("send_hour", "24", "L'heure d'envoi doit être entre 0 et 23, ou aucune."),
        ("send_hour", "midi", "L'heure d'envoi doit être entre 0 et 23, ou aucune."),
        ("timezone", "Mars/Olympus_Mons", "Fuseau horaire inconnu\u00a0: indiquez un nom IANA comme "
                                          "Europe/Paris."),
        ("timezone", "", "Fuseau horaire inconnu\u00a0: indiquez un nom IANA comme Europe/Paris."),
    ],
)
def test_each_invalid_rule_field_gets_its_message_and_nothing_is_saved(
    merchant_client, shop, field, value, message
) -> None:
    before = [(r.id, r.name, r.delay_days) for r in rules_of(shop)]

    response = merchant_client.post(url(shop, "/rules/new"), data=rule_form(**{field: value}))

    assert response.status_code == 422
    assert field_errors(response, field) == [message]
    assert "Rien n'a été enregistré" in page_source(response)
    assert [(r.id, r.name, r.delay_days) for r in rules_of(shop)] == before
    assert "rule.create" not in actions(shop)


def test_every_invalid_field_is_reported_at_once(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop, "/rules/new"), data=rule_form(
        name="", trigger_status_ids=[], delay_days="400", send_hour="25", timezone="Nowhere"))

    assert response.status_code == 422
    for field in ("name", "trigger_status_ids", "delay_days", "send_hour", "timezone"):
        assert len(field_errors(response, field)) == 1, field
    # The values typed are kept in the form.
    assert 'value="400"' in response.get_data(as_text=True)


def test_edit_an_inactive_rule(merchant_client, shop) -> None:
    merchant_client.post(url(shop, "/rules/new"), data=rule_form())
    rule = rules_of(shop)[-1]

    page = merchant_client.get(url(shop, f"/rules/{rule.id}"))
    assert page.status_code == 200 and 'value="Expédié + 3 jours"' in html.unescape(
        page.get_data(as_text=True))
    response = merchant_client.post(url(shop, f"/rules/{rule.id}"),
                           data=rule_form(name="Expédié + 5", delay_days="5"))

    assert response.status_code == 302
    assert response.headers["Location"].endswith(url(shop))  # inactive: no preview
    edited = rules_of(shop)[-1]
    assert (edited.name, edited.delay_days) == ("Expédié + 5", 5)
    entry = audit_entries(shop)[-1]
    assert entry.action == "rule.update"
    assert entry.details["changes"]["delay_days"] == [3, 5]


def test_delete_an_inactive_rule_but_never_the_active_one(merchant_client, shop) -> None:
    merchant_client.post(url(shop, "/rules/new"), data=rule_form())
    spare = rules_of(shop)[-1]
    active = active_rule(shop)

    refused = merchant_client.post(url(shop, f"/rules/{active.id}/delete"), follow_redirects=True)
    assert "La règle active ne peut pas être supprimée" in " ".join(flashes(refused))
    assert active_rule(shop).id == active.id

    done = merchant_client.post(url(shop, f"/rules/{spare.id}/delete"), follow_redirects=True)
    assert "Règle « Expédié + 3 jours » supprimée." in flashes(done)
    assert [r.id for r in rules_of(shop)] == [active.id]
    assert actions(shop)[-1] == "rule.delete"


def test_activating_a_rule_deactivates_the_other_in_one_click(merchant_client, shop) -> None:
    merchant_client.post(url(shop, "/rules/new"), data=rule_form())
    merchant_client.post(url(shop, "/rules/new"), data=rule_form(name="Troisième", trigger_status_ids=["2"]))
    old = active_rule(shop)
    second, third = rules_of(shop)[1:]

    response = merchant_client.post(url(shop, f"/rules/{second.id}/activate"))

    assert response.status_code == 302
    assert response.headers["Location"].endswith(url(shop, "/apply"))  # asks about pending ones
    assert active_rule(shop).id == second.id
    response = merchant_client.post(url(shop, f"/rules/{third.id}/activate"))
    assert active_rule(shop).id == third.id
    assert sum(r.is_active for r in rules_of(shop)) == 1
    entries = [e for e in audit_entries(shop) if e.action == "rule.activate"]
    assert [e.details["previous"] for e in entries] == [[old.id], [second.id]]
    # The page shows the new active rule with its badge.
    page = merchant_client.get(url(shop)).get_data(as_text=True)
    assert re.search(rf'<tr data-rule-id="{third.id}" class="is-active">', page)


def test_a_rule_triggering_on_a_cancel_status_cannot_be_activated(merchant_client, shop) -> None:
    merchant_client.post(url(shop, "/rules/new"), data=rule_form(name="Sur annulation",
                                                        trigger_status_ids=["6"]))
    rule = rules_of(shop)[-1]

    response = merchant_client.post(url(shop, f"/rules/{rule.id}/activate"), follow_redirects=True)

    assert any("statut d'annulation de la boutique (6)" in f for f in flashes(response))
    assert active_rule(shop).name == "PrestaShop — Livré"


def test_the_active_rule_cannot_trigger_on_a_cancel_status(merchant_client, shop) -> None:
    active = active_rule(shop)

    response = merchant_client.post(url(shop, f"/rules/{active.id}"),
                           data=rule_form(trigger_status_ids=["5", "6"]))

    assert response.status_code == 422
    assert field_errors(response, "trigger_status_ids") == [
        "Un statut ne peut pas être à la fois déclencheur et d'annulation\u00a0: 6."]
    assert active_rule(shop).trigger_status_ids == ["5"]


def test_another_shops_rule_is_not_found(merchant_client, shop, app) -> None:
    other, _ = make_shop("Autre boutique")
    foreign = other.rules[0]

    assert merchant_client.get(url(shop, f"/rules/{foreign.id}")).status_code == 404
    assert merchant_client.post(url(shop, f"/rules/{foreign.id}"), data=rule_form()).status_code == 404
    assert merchant_client.post(url(shop, f"/rules/{foreign.id}/activate")).status_code == 404
    assert merchant_client.post(url(shop, f"/rules/{foreign.id}/delete")).status_code == 404
    assert merchant_client.get(f"/admin/shops/{other.key}/settings").status_code == 404
    db.session.expire_all()
    assert db.session.get(InvitationRule, foreign.id).name == "PrestaShop — Livré"


def test_anonymous_visitors_are_sent_away(app, shop) -> None:
    anonymous = app.test_client()
    response = anonymous.get(url(shop))
    assert response.status_code in (302, 401)
    assert anonymous.post(url(shop), data=settings_form(shop, paused="y")).status_code in (302, 401)
    assert fresh_shop(shop).paused is False


# --------------------------------------------------------------------------- shop settings


def test_settings_update_is_saved_and_audited(merchant_client, shop) -> None:
    response = merchant_client.post(url(shop), data=settings_form(
        shop, cancel_status_ids=["6", "7"], customer_window_days="45", require_consent="y"))

    assert response.status_code == 302
    saved = fresh_shop(shop)
    assert (saved.cancel_status_ids, saved.customer_window_days, saved.require_consent) == (
        ["6", "7"], 45, True)
    entry = audit_entries(shop)[-1]
    assert entry.action == "settings.update"
    assert entry.details["changes"]["cancel_status_ids"] == [["6", "7", "8"], ["6", "7"]]
    assert entry.details["changes"]["customer_window_days"] == [30, 45]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"customer_window_days": "366"}, "customer_window_days",
         "La fenêtre par client doit être un nombre de jours entre 0 et 365."),
        ({"customer_window_days": "trente"}, "customer_window_days",
         "La fenêtre par client doit être un nombre de jours entre 0 et 365."),
        ({"cancel_status_ids": ["6", "5"]}, "cancel_status_ids",
         "Un statut ne peut pas être à la fois déclencheur (règle active) et d'annulation\u00a0: 5."),
        ({"cancel_status_ids": ["6", "777"]}, "cancel_status_ids",
         "Statut inconnu pour cette boutique\u00a0: 777."),
    ],
)
def test_invalid_settings_get_their_message_and_nothing_is_saved(
    merchant_client, shop, overrides, field, message
) -> None:
    response = merchant_client.post(url(shop), data=settings_form(shop, paused="y", **overrides))

    assert response.status_code == 422
    assert field_errors(response, field) == [message]
    saved = fresh_shop(shop)
    assert (saved.cancel_status_ids, saved.customer_window_days, saved.paused) == (
        ["6", "7", "8"], 30, False)  # the valid pause switch was not saved either
    assert actions(shop) == []


def test_pause_and_resume(merchant_client, shop) -> None:
    paused = merchant_client.post(url(shop), data=settings_form(shop, paused="y"), follow_redirects=True)

    assert fresh_shop(shop).paused is True
    assert "Les envois sont en pause" in page_source(paused)
    resumed = merchant_client.post(url(shop), data=settings_form(fresh_shop(shop), paused=None),
                          follow_redirects=True)
    assert fresh_shop(shop).paused is False
    assert "Envois repris." in flashes(resumed)
    assert actions(shop) == ["shop.pause", "shop.resume"]


# --------------------------------------------------------------------------- new webhooks follow the rule


def test_a_webhook_after_changing_delay_and_trigger_follows_the_new_rule(
    merchant_client, shop, shop_and_secret, app, monkeypatch
) -> None:
    active = active_rule(shop)
    response = merchant_client.post(url(shop, f"/rules/{active.id}"),
                           data=rule_form(name=active.name, trigger_status_ids=["4"],
                                          delay_days="3", send_hour="10"))
    assert response.status_code == 302
    changed_at = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # a Friday, 16:30 in Paris
    # The webhooks arrive a minute later: the clock is pinned, so the due time is exact.
    import kingavis.orders.events

    monkeypatch.setattr(kingavis.orders.events, "utcnow", lambda: changed_at + timedelta(minutes=1))
    webhooks = app.test_client()

    delivered = post_event(webhooks, shop, shop_and_secret[1],
                           status_event("1", "5", changed_at.isoformat(), email="a@example.com"))
    shipped = post_event(webhooks, shop, shop_and_secret[1],
                         status_event("2", "4", changed_at.isoformat(), email="b@example.com"))

    assert delivered.json["outcome"] == "recorded"  # 5 is no longer a trigger
    assert shipped.json["outcome"] == "scheduled"
    # 3 days later (Monday) at 10:00 Paris time, UTC+1 in November.
    assert shipped.json["review_request"]["due_at"] == "2026-11-23T09:00:00Z"


def test_a_webhook_after_activating_another_rule_follows_it(merchant_client, shop, shop_and_secret, app) -> None:
    merchant_client.post(url(shop, "/rules/new"), data=rule_form(delay_days="30"))
    rule = rules_of(shop)[-1]
    merchant_client.post(url(shop, f"/rules/{rule.id}/activate"))
    changed_at = days_ago(1).replace(microsecond=0)

    response = post_event(app.test_client(), shop, shop_and_secret[1],
                          status_event("1", "4", changed_at.isoformat()))

    assert response.json["outcome"] == "scheduled"
    assert response.json["review_request"]["due_at"] == (
        changed_at + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- preview and apply


def edit_active(client, shop, **overrides):
    active = active_rule(shop)
    data = rule_form(name=active.name, trigger_status_ids=list(active.trigger_status_ids),
                     delay_days=str(active.delay_days),
                     send_hour="" if active.send_hour is None else str(active.send_hour),
                     timezone=active.timezone)
    data.update(overrides)
    return client.post(url(shop, f"/rules/{active.id}"), data=data)


def preview_rows(response, table: str) -> list[tuple[int, list[str]]]:
    raw = response.get_data(as_text=True)
    body = re.search(rf'<table id="{table}">(.*?)</table>', raw, re.S)
    if body is None:
        return []
    rows = re.findall(r'<tr data-request-id="(\d+)">(.*?)</tr>', body.group(1), re.S)
    return [(int(i), [html.unescape(re.sub(r"<[^>]+>|\s+", " ", c)).strip()
                      for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)])
            for i, cells in rows]


def paris(value: datetime) -> str:
    from kingavis import formatting

    return formatting.moment(value, "fr", PARIS)


def test_editing_the_active_rule_asks_to_apply_with_a_preview(merchant_client, shop) -> None:
    a = scheduled(shop, "1", delivered_days_ago=1, reference="REF-A")
    b = scheduled(shop, "2", delivered_days_ago=3, reference="REF-B")
    triggered = {i: request_row(i).triggered_at for i in (a, b)}
    due_before = {i: request_row(i).due_at for i in (a, b)}

    response = edit_active(merchant_client, shop, delay_days="20")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(url(shop, "/apply"))
    preview = merchant_client.get(url(shop, "/apply"))
    assert preview.status_code == 200
    assert "2 demandes programmées seraient déplacées." in page_source(preview)
    rows = dict(preview_rows(preview, "moves"))
    for request_id, ref in ((a, "REF-A"), (b, "REF-B")):
        new_due = triggered[request_id] + timedelta(days=20)
        assert rows[request_id] == [ref, paris(due_before[request_id]), "→ " + paris(new_due)]
    # Saved rule, but nothing moved yet.
    assert active_rule(shop).delay_days == 20
    assert {i: request_row(i).due_at for i in (a, b)} == due_before


def test_a_due_time_already_past_becomes_now_and_unchanged_ones_are_counted(merchant_client, shop) -> None:
    old = scheduled(shop, "1", delivered_days_ago=12, reference="OLD")  # due already (10 days)
    recent = scheduled(shop, "2", delivered_days_ago=1, reference="RECENT")
    edit_active(merchant_client, shop, delay_days="5")

    preview = merchant_client.get(url(shop, "/apply"))

    page = page_source(preview)
    assert "1 demande programmée serait déplacée." in page
    assert "1 autre garde la même date." in page  # OLD: due at once before and after
    assert [i for i, _ in preview_rows(preview, "moves")] == [recent]
    assert old not in [i for i, _ in preview_rows(preview, "moves")]


def test_send_hour_and_time_zone_are_used_for_the_new_due_time(merchant_client, shop) -> None:
    a = scheduled(shop, "1", delivered_days_ago=2)
    triggered = request_row(a).triggered_at
    edit_active(merchant_client, shop, send_hour="8", timezone="America/New_York")

    preview = merchant_client.get(url(shop, "/apply"))

    rule = Rule(frozenset({"5"}), 10, 8, "America/New_York")
    expected = compute_due_at(triggered, rule)
    from zoneinfo import ZoneInfo
    assert expected.astimezone(ZoneInfo("America/New_York")).hour == 8
    assert dict(preview_rows(preview, "moves"))[a][2] == "→ " + paris(expected)


def test_apply_only_on_confirm(merchant_client, shop) -> None:
    a = scheduled(shop, "1", delivered_days_ago=1)
    before = request_row(a).due_at
    edit_active(merchant_client, shop, delay_days="20")
    rule_id = active_rule(shop).id

    not_confirmed = merchant_client.post(url(shop, "/apply"), data={"rule_id": str(rule_id)},
                                follow_redirects=True)
    assert "Rien n'a été appliqué\u00a0: confirmez depuis l'aperçu." in flashes(not_confirmed)
    assert request_row(a).due_at == before
    assert "rule.apply" not in actions(shop)

    confirmed = merchant_client.post(url(shop, "/apply"), data={"rule_id": str(rule_id), "confirm": "yes"},
                            follow_redirects=True)

    assert "Règle appliquée\u00a0: 1 demande programmée a été déplacée." in flashes(confirmed)
    row = request_row(a)
    assert row.due_at == row.triggered_at + timedelta(days=20)
    assert row.next_attempt_at == row.due_at
    assert row.state == "scheduled"
    last = decisions(a)[-1]
    assert (last.state, last.actor, describe_note(last), last.due_at) == (
        "scheduled", "marchand@example.com", "règle appliquée", row.due_at)
    entry = audit_entries(shop)[-1]
    assert entry.action == "rule.apply" and entry.details["moved"] == 1


def test_apply_never_touches_sending_or_sent_requests(merchant_client, shop) -> None:
    sending = scheduled(shop, "1", delivered_days_ago=12)  # due now: the dispatcher claims it
    assert [c[0] for c in claim(utcnow(), 10)] == [sending]
    sent = scheduled(shop, "2", delivered_days_ago=2)
    row = request_row(sent)
    row.state, row.sent_at, row.next_attempt_at = "sent", utcnow(), None
    db.session.commit()
    waiting = scheduled(shop, "3", delivered_days_ago=2, email="other@example.com")
    before = {i: (request_row(i).state, request_row(i).due_at, request_row(i).next_attempt_at)
              for i in (sending, sent)}
    edit_active(merchant_client, shop, delay_days="30")

    preview = merchant_client.get(url(shop, "/apply"))
    assert [i for i, _ in preview_rows(preview, "moves")] == [waiting]
    merchant_client.post(url(shop, "/apply"), data={"rule_id": str(active_rule(shop).id), "confirm": "yes"})

    assert {i: (request_row(i).state, request_row(i).due_at, request_row(i).next_attempt_at)
            for i in (sending, sent)} == before
    assert request_row(waiting).due_at == request_row(waiting).triggered_at + timedelta(days=30)
    assert all(describe_note(d) != "règle appliquée" for i in (sending, sent) for d in decisions(i))


def test_requests_triggered_by_a_status_the_new_rule_ignores_are_kept(merchant_client, shop) -> None:
    delivered = scheduled(shop, "1", delivered_days_ago=1, reference="LIVRE-1")
    before = request_row(delivered).due_at
    merchant_client.post(url(shop, "/rules/new"), data=rule_form(trigger_status_ids=["4"], delay_days="2"))
    merchant_client.post(url(shop, f"/rules/{rules_of(shop)[-1].id}/activate"))

    preview = merchant_client.get(url(shop, "/apply"))

    page = page_source(preview)
    assert "Aucune demande programmée ne serait déplacée." in page
    assert "1 n'est pas concernée" in page
    assert preview_rows(preview, "kept") == [(delivered, ["LIVRE-1", "Livré (5)", paris(before)])]
    assert 'id="confirm-apply"' not in preview.get_data(as_text=True)
    merchant_client.post(url(shop, "/apply"), data={"rule_id": str(active_rule(shop).id), "confirm": "yes"})
    assert request_row(delivered).due_at == before


def test_apply_refuses_when_the_previewed_rule_is_no_longer_active(merchant_client, shop) -> None:
    a = scheduled(shop, "1", delivered_days_ago=1)
    before = request_row(a).due_at
    previewed = active_rule(shop).id
    merchant_client.post(url(shop, "/rules/new"), data=rule_form(trigger_status_ids=["5"], delay_days="40"))
    merchant_client.post(url(shop, f"/rules/{rules_of(shop)[-1].id}/activate"))

    response = merchant_client.post(url(shop, "/apply"), data={"rule_id": str(previewed), "confirm": "yes"},
                           follow_redirects=True)

    assert any("La règle active a changé depuis l'aperçu" in f for f in flashes(response))
    assert request_row(a).due_at == before


def test_the_preview_shows_the_first_50_and_the_count(merchant_client, shop) -> None:
    ids = [scheduled(shop, str(n), delivered_days_ago=1, email=f"c{n}@example.com")
           for n in range(55)]
    edit_active(merchant_client, shop, delay_days="15")

    preview = merchant_client.get(url(shop, "/apply"))

    assert "55 demandes programmées seraient déplacées." in page_source(preview)
    assert len(preview_rows(preview, "moves")) == 50
    assert "Les 50 premières sur 55 sont affichées." in page_source(preview)
    merchant_client.post(url(shop, "/apply"), data={"rule_id": str(active_rule(shop).id), "confirm": "yes"})
    assert all(request_row(i).due_at == request_row(i).triggered_at + timedelta(days=15)
               for i in ids)


# --------------------------------------------------------------------------- CSRF


def test_forms_without_a_csrf_token_are_refused(database_url, tmp_path) -> None:
    app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        shop, _ = make_shop()
        merchant_client = app.test_client()
        login(merchant_client, merchant(shop))

        refused = merchant_client.post(url(shop), data=settings_form(shop, paused="y"))
        assert refused.status_code == 400
        rule_id = shop.rules[0].id
        assert merchant_client.post(url(shop, f"/rules/{rule_id}"),
                           data=rule_form(delay_days="2")).status_code == 400
        assert merchant_client.post(url(shop, "/apply"),
                           data={"rule_id": str(rule_id), "confirm": "yes"}).status_code == 400
        db.session.expire_all()
        assert db.session.get(Shop, shop.id).paused is False
        assert db.session.get(InvitationRule, rule_id).delay_days == 10

        page = merchant_client.get(url(shop)).get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        accepted = merchant_client.post(url(shop), data={**settings_form(shop, paused="y"),
                                                "csrf_token": token})
        assert accepted.status_code == 302
        db.session.expire_all()
        assert db.session.get(Shop, shop.id).paused is True
        db.session.remove()
        db.engine.dispose()


def test_audit_details_are_json(merchant_client, shop) -> None:
    """Each entry's details survive a JSON round trip as the values the merchant changed."""
    merchant_client.post(url(shop, "/rules/new"), data=rule_form())
    merchant_client.post(url(shop), data=settings_form(shop, customer_window_days="10"))
    entries = audit_entries(shop)
    by_action = {entry.action: entry.details for entry in entries}
    assert set(by_action) >= {"rule.create", "settings.update"}
    for entry in entries:
        assert isinstance(entry.details, dict)
        assert json.loads(json.dumps(entry.details)) == entry.details
    created = by_action["rule.create"]
    assert created == {"name": "Expédié + 3 jours", "trigger_status_ids": ["4"], "delay_days": 3,
                       "send_hour": None, "timezone": PARIS}
    assert by_action["settings.update"] == {"changes": {"customer_window_days": [30, 10]}}


def test_paused_due_requests_wait_and_go_after_resume(merchant_client, shop) -> None:
    due = scheduled(shop, "1", delivered_days_ago=12)  # due now
    merchant_client.post(url(shop), data=settings_form(shop, paused="y"))

    assert claim(utcnow(), 10) == []
    assert request_row(due).state == "scheduled"

    merchant_client.post(url(shop), data=settings_form(fresh_shop(shop), paused=None))
    assert [c[0] for c in claim(utcnow(), 10)] == [due]
