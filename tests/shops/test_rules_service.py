"""kingavis.shops.rules, kingavis.shops.settings and kingavis.review_requests.replanning without the
web layer: rules, activation, settings, preview and apply (both DBs)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from factories import configure
from requests_helpers import audit_entries, decisions, merchant, request_row, scheduled
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from kingavis.extensions import db
from kingavis.models import InvitationRule, Shop, utcnow
from kingavis.review_requests import replanning
from kingavis.review_requests.notes import NoteCode, describe_note
from kingavis.shops import rules
from kingavis.shops import settings as shop_settings
from kingavis.shops.service import get_shop


def data(**overrides) -> rules.RuleData:
    values = {"name": "Expédié", "trigger_status_ids": ["4"], "delay_days": 3, "send_hour": None,
              "timezone": "Europe/Paris"}
    values.update(overrides)
    return rules.RuleData(**values)


def active_ids(shop: Shop) -> list[int]:
    db.session.expire_all()
    return list(db.session.execute(
        select(InvitationRule.id).where(InvitationRule.shop_id == shop.id,
                                        InvitationRule.is_active.is_(True))
    ).scalars())


def test_the_database_refuses_two_active_rules(shop) -> None:
    db.session.add(InvitationRule(shop_id=shop.id, name="Deux", trigger_status_ids=["4"],
                                  is_active=True))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert len(active_ids(shop)) == 1


def test_activate_switches_in_one_transaction(shop) -> None:
    user = merchant(shop)
    first = shop.active_rule
    second = rules.create_rule(shop, user, data())

    assert rules.activate_rule(shop, user, second) is True
    assert active_ids(shop) == [second.id]
    assert rules.activate_rule(shop, user, second) is False  # already active: nothing recorded
    assert rules.activate_rule(shop, user, db.session.get(InvitationRule, first.id)) is True
    assert active_ids(shop) == [first.id]
    assert [e.action for e in audit_entries(shop)].count("rule.activate") == 2


def test_service_validation_messages(shop) -> None:
    with pytest.raises(rules.RuleError) as caught:
        rules.create_rule(shop, None, data(name=" ", trigger_status_ids=["x"], delay_days=-5,
                                           send_hour=24, timezone="Paris"))
    assert set(caught.value.errors) == {"name", "trigger_status_ids", "delay_days", "send_hour",
                                        "timezone"}
    assert len(shop.rules) == 1 and audit_entries(shop) == []


def test_the_active_rule_cannot_be_deleted(shop) -> None:
    with pytest.raises(rules.RuleError):
        rules.delete_rule(shop, None, shop.active_rule)
    assert len(active_ids(shop)) == 1


def test_settings_without_change_record_nothing(shop) -> None:
    same = shop_settings.SettingsData(list(shop.cancel_status_ids), shop.require_consent,
                              shop.customer_window_days, shop.paused)
    assert shop_settings.update_settings(shop, None, same) == {}
    assert audit_entries(shop) == []


def test_cli_configure_and_back_office_edit_the_same_active_rule(shop) -> None:
    configure(shop, delay_days=4, trigger_status_ids=["4", "5"])
    rule = db.session.get(InvitationRule, shop.active_rule.id)
    assert rules.update_rule(shop, None, rule, data(name=rule.name, trigger_status_ids=["4", "5"],
                                                    delay_days=4)) is False  # nothing changed
    assert rules.update_rule(shop, None, rule, data(name=rule.name, delay_days=6)) is True


def test_preview_and_apply_use_compute_due_at_from_triggered_at(shop) -> None:
    user = merchant(shop)
    a = scheduled(shop, "1", delivered_days_ago=1)
    past = scheduled(shop, "2", delivered_days_ago=8, email="b@example.com")
    rule = db.session.get(InvitationRule, shop.active_rule.id)
    rules.update_rule(shop, user, rule, data(name=rule.name, trigger_status_ids=["5"], delay_days=5))
    now = utcnow()

    preview = replanning.preview_apply(get_shop(shop.key), now=now)

    by_id = {m.request_id: m for m in preview.moves}
    assert by_id[a].new_due == request_row(a).triggered_at + timedelta(days=5)
    assert by_id[past].new_due == now  # triggered 8 days ago + 5 days: already past
    assert preview.move_count == 2 and preview.unchanged == 0 and preview.kept == []

    moved = replanning.apply_rule(get_shop(shop.key), user, rule.id, now=now)

    assert moved == 2
    assert request_row(past).due_at == now and request_row(past).next_attempt_at == now
    last = decisions(a)[-1]
    assert (last.note, last.note_code) == (None, NoteCode.RULE_APPLIED)
    assert describe_note(last) == "règle appliquée"
    # Applying again moves nothing: the plan is already what the rule says.
    assert replanning.apply_rule(get_shop(shop.key), user, rule.id, now=now) == 0


def test_a_request_without_trigger_time_is_kept(shop) -> None:
    a = scheduled(shop, "1")
    row = request_row(a)
    row.triggered_at = None
    db.session.commit()

    preview = replanning.preview_apply(get_shop(shop.key))

    assert [k.request_id for k in preview.kept] == [a] and preview.moves == []


# PostgreSQL only: SQLite runs one writer at a time, so there is no claim to wait behind.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_apply_waits_for_a_claim_in_progress_and_leaves_the_claimed_request(
    shop, app, database_url
) -> None:
    claimed = scheduled(shop, "1", delivered_days_ago=1)
    free = scheduled(shop, "2", delivered_days_ago=1, email="b@example.com")
    rule = db.session.get(InvitationRule, shop.active_rule.id)
    rules.update_rule(shop, None, rule, data(name=rule.name, trigger_status_ids=["5"], delay_days=20))
    claimed_due = request_row(claimed).due_at
    key, rule_id = shop.key, rule.id
    db.session.commit()

    dispatcher = create_engine(database_url)
    results: list[int] = []
    errors: list[BaseException] = []
    pid: list[int] = []

    def apply() -> None:
        try:
            with app.app_context():
                pid.append(db.session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                results.append(replanning.apply_rule(get_shop(key), None, rule_id))
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    try:
        with dispatcher.connect() as claim:
            # A dispatcher claim in progress: the row is locked and about to be 'sending'.
            claim.execute(text("UPDATE review_requests SET state = 'sending' WHERE id = :id"),
                          {"id": claimed})
            worker = threading.Thread(target=apply, daemon=True)
            worker.start()
            with dispatcher.connect() as watch:
                for _ in range(3000):
                    waiting = pid and watch.execute(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": pid[0]},
                    ).scalar_one_or_none() == "Lock"
                    watch.rollback()
                    if waiting or not worker.is_alive():
                        break
                    threading.Event().wait(0.01)
            claim.commit()
        worker.join(timeout=60)
    finally:
        dispatcher.dispose()

    assert not errors, errors
    assert results == [1]
    row = request_row(claimed)
    assert (row.state, row.due_at) == ("sending", claimed_due)
    assert request_row(free).due_at == request_row(free).triggered_at + timedelta(days=20)
