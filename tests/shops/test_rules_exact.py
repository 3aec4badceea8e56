"""kingavis.shops.rules, kingavis.shops.settings and kingavis.review_requests.replanning, word for
word: every refusal's field and message, every boundary, every audit entry's details and every
return value (both DBs).

The back-office and the command line show these messages and the audit page reads these
details, so a changed word, a moved boundary or a lost detail is something a merchant sees.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from delivery_helpers import log_lines
from factories import make_shop
from requests_helpers import audit_entries, decisions, merchant, request_row, scheduled, set_due
from sqlalchemy import select

from kingavis.extensions import db
from kingavis.models import InvitationRule, Shop, ShopStatus, utcnow
from kingavis.review_requests import replanning
from kingavis.shops import rules
from kingavis.shops import settings as shop_settings
from kingavis.shops.service import get_shop

NBSP = "\u00a0"
NAME = "Donnez un nom à la règle."
NAME_LONG = "Le nom ne doit pas dépasser 120 caractères."
NAME_LINES = "Le nom doit tenir sur une ligne."
NO_TRIGGER = "Choisissez au moins un statut déclencheur."
DELAY = "Le délai doit être un nombre de jours entre 0 et 365."
HOUR = "L'heure d'envoi doit être entre 0 et 23, ou aucune."
ZONE = f"Fuseau horaire inconnu{NBSP}: indiquez un nom IANA comme Europe/Paris."
WINDOW = "La fenêtre par client doit être un nombre de jours entre 0 et 365."
NOT_FOUND = {"rule": ["Règle introuvable."]}


PRESET = ("1 (En attente de paiement par chèque), 2 (Paiement accepté), 3 (En cours de préparation), "
          "4 (Expédié), 5 (Livré), 6 (Annulé), 7 (Remboursé), 8 (Erreur de paiement), "
          "9 (En attente de réapprovisionnement (payé)), 10 (En attente de virement bancaire), "
          "11 (Paiement à distance accepté), 12 (En attente de réapprovisionnement (non payé)), "
          "13 (En attente de paiement à la livraison)")


def unknown(ids: str, known: str = PRESET) -> list[str]:
    """The refusal of unknown ids, then the statuses the shop has (the preset's by default)."""
    return [f"Statut inconnu pour cette boutique{NBSP}: {ids}.", f"Statuts connus{NBSP}: {known}."]


def both(ids: str) -> str:
    return f"Un statut ne peut pas être à la fois déclencheur et d'annulation{NBSP}: {ids}."


def both_active(ids: str) -> str:
    return ("Un statut ne peut pas être à la fois déclencheur (règle active) et "
            f"d'annulation{NBSP}: {ids}.")


def data(**overrides: Any) -> rules.RuleData:
    values: dict[str, Any] = {"name": "Expédié", "trigger_status_ids": ["4"], "delay_days": 3,
                              "send_hour": None, "timezone": "Europe/Paris"}
    values.update(overrides)
    return rules.RuleData(**values)


def settings(shop: Shop, **overrides: Any) -> shop_settings.SettingsData:
    values: dict[str, Any] = {"cancel_status_ids": list(shop.cancel_status_ids),
                              "require_consent": shop.require_consent,
                              "customer_window_days": shop.customer_window_days,
                              "paused": shop.paused}
    values.update(overrides)
    return shop_settings.SettingsData(**values)


def refusal(call, *args: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(rules.RuleError) as caught:
        call(*args, **kwargs)
    return caught.value.errors


def entries(shop: Shop) -> list[tuple[Any, ...]]:
    return [(e.action, e.actor_email, e.target_type, e.target_id, e.details)
            for e in audit_entries(shop)]


def fresh(shop: Shop) -> Shop:
    db.session.expire_all()
    found = db.session.get(Shop, shop.id)
    assert found is not None
    return found


def rule_of(rule_id: int) -> InvitationRule:
    db.session.expire_all()
    found = db.session.get(InvitationRule, rule_id)
    assert found is not None
    return found


def add_status(shop: Shop, status_id: str, name: str, shipped: bool | None = None) -> None:
    db.session.add(ShopStatus(shop_id=shop.id, status_id=status_id, name=name, shipped=shipped))
    db.session.commit()


# --------------------------------------------------------------------------- validate_rule


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"name": ""}, {"name": [NAME]}),
        ({"name": "   "}, {"name": [NAME]}),
        ({"name": None}, {"name": [NAME]}),
        ({"name": "x" * 121}, {"name": [NAME_LONG]}),
        ({"name": "Livré\nrelais"}, {"name": [NAME_LINES]}),
        ({"name": "Livré\rrelais"}, {"name": [NAME_LINES]}),
        ({"trigger_status_ids": []}, {"trigger_status_ids": [NO_TRIGGER]}),
        ({"trigger_status_ids": ["", "  "]}, {"trigger_status_ids": [NO_TRIGGER]}),
        ({"trigger_status_ids": ["99", "5", "98"]}, {"trigger_status_ids": [*unknown("98, 99")]}),
        ({"delay_days": -1}, {"delay_days": [DELAY]}),
        ({"delay_days": 366}, {"delay_days": [DELAY]}),
        ({"delay_days": "3"}, {"delay_days": [DELAY]}),
        ({"delay_days": None}, {"delay_days": [DELAY]}),
        ({"send_hour": -1}, {"send_hour": [HOUR]}),
        ({"send_hour": 24}, {"send_hour": [HOUR]}),
        ({"send_hour": "9"}, {"send_hour": [HOUR]}),
        ({"timezone": "Paris"}, {"timezone": [ZONE]}),
        ({"timezone": ""}, {"timezone": [ZONE]}),
        ({"timezone": None}, {"timezone": [ZONE]}),
    ],
    ids=["empty-name", "blank-name", "no-name", "long-name", "newline", "carriage-return",
         "no-trigger", "blank-triggers", "unknown-triggers", "delay-negative", "delay-366",
         "delay-text", "no-delay", "hour-negative", "hour-24", "hour-text", "zone", "no-zone",
         "zone-none"],
)
def test_each_refused_rule_field_has_its_own_message(shop, overrides, errors) -> None:
    assert refusal(rules.validate_rule, shop, data(**overrides), active=False) == errors


def test_every_refused_field_is_reported_at_once_and_said_in_one_line(shop) -> None:
    with pytest.raises(rules.RuleError) as caught:
        rules.validate_rule(shop, data(name="", trigger_status_ids=[], delay_days=400,
                                       send_hour=25, timezone="Nowhere"), active=False)
    assert caught.value.errors == {"name": [NAME], "trigger_status_ids": [NO_TRIGGER],
                                   "delay_days": [DELAY], "send_hour": [HOUR], "timezone": [ZONE]}
    assert str(caught.value) == (f"name: {NAME}; trigger_status_ids: {NO_TRIGGER}; "
                                 f"delay_days: {DELAY}; send_hour: {HOUR}; timezone: {ZONE}")


def test_the_limits_themselves_are_accepted_and_the_rule_comes_back_cleaned(shop) -> None:
    add_status(shop, "100", "Livré en relais")
    add_status(shop, "relais", "Retiré au relais")
    clean = rules.validate_rule(shop, data(
        name="  " + "x" * 120 + " ", trigger_status_ids=[" relais ", "100", 5, "5", "", "4"],
        delay_days=365, send_hour=23, timezone=" America/Montreal "), active=False)

    assert clean == rules.RuleData("x" * 120, ["4", "5", "100", "relais"], 365, 23,
                                   "America/Montreal")
    assert rules.validate_rule(shop, data(delay_days=0, send_hour=0), active=False) == data(
        delay_days=0, send_hour=0)
    assert rules.validate_rule(shop, data(name="Expédié XL"), active=False).name == "Expédié XL"


def test_an_active_rule_may_not_trigger_on_a_cancel_status(shop) -> None:
    wanted = data(trigger_status_ids=["7", "5", "6"])

    assert refusal(rules.validate_rule, shop, wanted, active=True) == {
        "trigger_status_ids": [both("6, 7")]}
    # An inactive rule may (it is checked again when activated).
    assert rules.validate_rule(shop, wanted, active=False).trigger_status_ids == ["5", "6", "7"]
    # The cancel statuses of the same change replace the shop's: none, or others.
    assert rules.validate_rule(shop, wanted, active=True, cancels=[]).trigger_status_ids == [
        "5", "6", "7"]
    assert refusal(rules.validate_rule, shop, data(trigger_status_ids=["4"]), active=True,
                   cancels=["4"]) == {"trigger_status_ids": [both("4")]}
    # Listed in the shop's order (by number), not as text.
    assert refusal(rules.validate_rule, shop, data(trigger_status_ids=["10", "6"]), active=True,
                   cancels=["6", "10"]) == {"trigger_status_ids": [both("6, 10")]}


def test_a_known_status_list_is_the_shops_own(shop) -> None:
    other, _ = make_shop("Autre boutique")
    add_status(other, "42", "Retiré en boutique")

    assert refusal(rules.validate_rule, shop, data(trigger_status_ids=["42"]), active=False) == {
        "trigger_status_ids": [*unknown("42")]}
    assert rules.validate_rule(other, data(trigger_status_ids=["42"]),
                               active=False).trigger_status_ids == ["42"]


def test_statuses_are_listed_numbers_first_in_numeric_order_then_the_others(shop) -> None:
    add_status(shop, "relais", "Retiré au relais", shipped=True)
    add_status(shop, "100", "Livré en relais", shipped=True)
    add_status(shop, "9000000000", "Statut d'un autre module")
    add_status(shop, "Abandon", "Panier abandonné")

    ids = [status_id for status_id, _ in rules.status_options(shop)]
    assert ids == [str(n) for n in range(1, 14)] + ["100", "9000000000", "Abandon", "relais"]
    assert [(s.status_id, s.name, s.shipped) for s in rules.known_statuses(shop)][-4:] == [
        ("100", "Livré en relais", True), ("9000000000", "Statut d'un autre module", None),
        ("Abandon", "Panier abandonné", None), ("relais", "Retiré au relais", True)]


# --------------------------------------------------------------------------- trigger coverage


def statuses(*specs: tuple[str, bool | None]) -> list[rules.KnownStatus]:
    return [rules.KnownStatus(status_id, f"S{status_id}", shipped) for status_id, shipped in specs]


def ids(found: list[rules.KnownStatus]) -> list[str]:
    return [s.status_id for s in found]


def test_shipped_statuses_after_the_first_trigger_are_suggested() -> None:
    known = statuses(("2", False), ("3", None), ("4", True), ("5", True), ("6", True),
                     ("20", True))
    coverage = rules.trigger_coverage(known, ["4"], ["6"])

    assert ids(coverage.triggering) == ["4"]
    assert ids(coverage.missed_shipped) == ["5", "20"]  # 6 cancels; 2, 3 not shipped
    assert ids(coverage.not_triggering) == ["2", "3", "6"]


def test_shipped_statuses_before_the_first_trigger_are_not_suggested() -> None:
    known = statuses(("4", True), ("5", True), ("20", True))

    coverage = rules.trigger_coverage(known, ["5"], [])
    assert (ids(coverage.triggering), ids(coverage.missed_shipped),
            ids(coverage.not_triggering)) == (["5"], ["20"], ["4"])
    # No trigger chosen: nothing comes after it, so nothing is suggested.
    nothing = rules.trigger_coverage(known, [], [])
    assert (nothing.triggering, nothing.missed_shipped) == ([], [])
    assert ids(nothing.not_triggering) == ["4", "5", "20"]


# --------------------------------------------------------------------------- rule CRUD


def test_create_rule_saves_an_inactive_rule_with_its_audit_entry(shop) -> None:
    user = merchant(shop)
    rule = rules.create_rule(shop, user, data(name=" Expédié + 3 ", trigger_status_ids=["4", "5"],
                                              send_hour=9, timezone="America/Montreal"))

    saved = rule_of(rule.id)
    assert (saved.shop_id, saved.name, saved.trigger_status_ids, saved.delay_days,
            saved.send_hour, saved.timezone, saved.is_active) == (
        shop.id, "Expédié + 3", ["4", "5"], 3, 9, "America/Montreal", False)
    assert entries(shop) == [("rule.create", "marchand@example.com", "rule", str(rule.id), {
        "name": "Expédié + 3", "trigger_status_ids": ["4", "5"], "delay_days": 3, "send_hour": 9,
        "timezone": "America/Montreal"})]
    assert len(fresh(shop).rules) == 2


def test_a_refused_rule_is_not_saved(shop) -> None:
    assert refusal(rules.create_rule, shop, None, data(delay_days=-1)) == {"delay_days": [DELAY]}
    assert len(fresh(shop).rules) == 1 and entries(shop) == []


def test_update_rule_records_each_change_and_says_when_scheduling_changed(shop) -> None:
    inactive = rules.create_rule(shop, None, data())
    active = rule_of(shop.active_rule.id)

    assert rules.update_rule(shop, None, inactive, data(delay_days=5, send_hour=8)) is False
    assert rules.update_rule(shop, None, active, data(
        name="Livré", trigger_status_ids=["5"], delay_days=10, timezone="Europe/Paris")) is False
    assert rules.update_rule(shop, None, active, data(
        name="Livré", trigger_status_ids=["5"], delay_days=12, timezone="Europe/Paris")) is True
    assert rules.update_rule(shop, None, active, data(
        name="Livré", trigger_status_ids=["4", "5"], delay_days=12,
        timezone="Europe/Paris")) is True
    assert rules.update_rule(shop, None, active, data(
        name="Livré", trigger_status_ids=["4", "5"], delay_days=12, send_hour=7,
        timezone="Europe/Paris")) is True
    assert rules.update_rule(shop, None, active, data(
        name="Livré", trigger_status_ids=["4", "5"], delay_days=12, send_hour=7,
        timezone="Europe/Brussels")) is True

    details = [e[4] for e in entries(shop)][1:]
    assert details == [
        {"changes": {"delay_days": [3, 5], "send_hour": [None, 8]}, "active": False},
        {"changes": {"name": ["PrestaShop — Livré", "Livré"]}, "active": True},
        {"changes": {"delay_days": [10, 12]}, "active": True},
        {"changes": {"trigger_status_ids": [["5"], ["4", "5"]]}, "active": True},
        {"changes": {"send_hour": [None, 7]}, "active": True},
        {"changes": {"timezone": ["Europe/Paris", "Europe/Brussels"]}, "active": True},
    ]
    assert [e[:4] for e in entries(shop)][1:3] == [
        ("rule.update", "system", "rule", str(inactive.id)),
        ("rule.update", "system", "rule", str(active.id))]
    assert (rule_of(active.id).delay_days, rule_of(inactive.id).send_hour) == (12, 8)


def test_the_active_rule_is_not_updated_to_trigger_on_a_cancel_status(shop) -> None:
    user = merchant(shop)
    active = rule_of(shop.active_rule.id)

    assert refusal(rules.update_rule, shop, user, active, data(
        name="Livré", trigger_status_ids=["5", "6"])) == {"trigger_status_ids": [both("6")]}
    assert rule_of(active.id).trigger_status_ids == ["5"] and entries(shop) == []

    assert rules.update_rule(shop, user, rule_of(active.id), data(
        name="Livré", trigger_status_ids=["5"], delay_days=10)) is False
    assert entries(shop) == [("rule.update", "marchand@example.com", "rule", str(active.id), {
        "changes": {"name": ["PrestaShop — Livré", "Livré"]}, "active": True})]


def test_an_update_that_changes_nothing_records_nothing(shop) -> None:
    active = rule_of(shop.active_rule.id)
    same = data(name=" PrestaShop — Livré ", trigger_status_ids=["5", "5"], delay_days=10)

    assert rules.update_rule(shop, None, active, same) is False
    assert entries(shop) == []


def test_another_shops_rule_is_not_found_by_any_change(shop) -> None:
    other, _ = make_shop("Autre boutique")
    foreign = rules.create_rule(other, None, data())
    foreign_active = rule_of(other.active_rule.id)

    assert rules.get_rule(shop, foreign.id) is None
    assert rules.get_rule(other, foreign.id).id == foreign.id
    assert refusal(rules.update_rule, shop, None, foreign, data(delay_days=4)) == NOT_FOUND
    assert refusal(rules.delete_rule, shop, None, foreign) == NOT_FOUND
    assert refusal(rules.activate_rule, shop, None, foreign) == NOT_FOUND
    assert rule_of(foreign.id).delay_days == 3 and rule_of(foreign_active.id).is_active
    assert entries(shop) == []


def test_delete_rule_removes_an_inactive_rule_and_records_what_it_was(shop) -> None:
    user = merchant(shop)
    rule = rules.create_rule(shop, user, data(send_hour=9))
    rule_id = rule.id

    rules.delete_rule(shop, user, rule)

    assert db.session.get(InvitationRule, rule_id) is None
    assert [r.id for r in fresh(shop).rules] == [shop.active_rule.id]
    assert entries(shop)[-1] == ("rule.delete", "marchand@example.com", "rule", str(rule_id), {
        "name": "Expédié", "trigger_status_ids": ["4"], "delay_days": 3, "send_hour": 9,
        "timezone": "Europe/Paris"})


def test_the_active_rule_is_never_deleted(shop) -> None:
    active_id = shop.active_rule.id

    assert refusal(rules.delete_rule, shop, None, shop.active_rule) == {"rule": [
        f"La règle active ne peut pas être supprimée{NBSP}: activez d'abord une autre règle."]}
    assert rule_of(active_id).is_active and entries(shop) == []


def test_activate_rule_records_the_rule_and_the_one_it_replaced(shop) -> None:
    user = merchant(shop)
    first = shop.active_rule.id
    second = rules.create_rule(shop, user, data(name="Expédié"))

    assert rules.activate_rule(shop, user, second) is True
    assert rules.activate_rule(shop, user, second) is False

    assert entries(shop)[1:] == [("rule.activate", "marchand@example.com", "rule", str(second.id),
                                  {"name": "Expédié", "previous": [first]})]
    assert (rule_of(first).is_active, rule_of(second.id).is_active) == (False, True)
    assert fresh(shop).active_rule.id == second.id


def test_activating_a_rule_leaves_other_shops_alone(shop) -> None:
    other, _ = make_shop("Autre boutique")
    theirs, first = other.active_rule.id, shop.active_rule.id
    mine = rules.create_rule(shop, None, data())

    assert rules.activate_rule(shop, None, mine) is True

    assert rule_of(theirs).is_active is True
    assert entries(shop)[-1][4] == {"name": "Expédié", "previous": [first]}


def test_a_rule_on_a_cancel_status_is_not_activated(shop) -> None:
    shop_settings.configure(shop, "cli", cancel_status_ids=["6", "7", "10"])
    rule = rules.create_rule(shop, None, data(trigger_status_ids=["4", "10", "6"]))

    assert refusal(rules.activate_rule, shop, None, rule) == {"rule": [
        "Cette règle déclenche sur un statut d'annulation de la boutique (6, 10)"
        f"{NBSP}: modifiez la règle ou les statuts d'annulation avant de l'activer."]}
    assert rule_of(rule.id).is_active is False
    assert [e[0] for e in entries(shop)] == ["settings.update", "rule.create"]


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"cancel_status_ids": ["6", "778", "777"]}, {"cancel_status_ids": [*unknown("777, 778")]}),
        ({"cancel_status_ids": ["6", "5"]}, {"cancel_status_ids": [both_active("5")]}),
        ({"customer_window_days": -1}, {"customer_window_days": [WINDOW]}),
        ({"customer_window_days": 366}, {"customer_window_days": [WINDOW]}),
        ({"customer_window_days": "30"}, {"customer_window_days": [WINDOW]}),
        ({"cancel_status_ids": ["5", "999"], "customer_window_days": 400},
         {"cancel_status_ids": [*unknown("999"), both_active("5")],
          "customer_window_days": [WINDOW]}),
    ],
    ids=["unknown", "overlap", "window-negative", "window-366", "window-text", "all-at-once"],
)
def test_each_refused_setting_has_its_own_message(shop, overrides, errors) -> None:
    assert refusal(shop_settings.validate_settings, shop, settings(shop, **overrides)) == errors
    assert refusal(shop_settings.update_settings, shop, None, settings(shop, **overrides)) == errors
    assert (fresh(shop).cancel_status_ids, fresh(shop).customer_window_days) == (
        ["6", "7", "8"], 30)
    assert entries(shop) == []


def test_two_messages_for_one_field_are_said_in_one_line_in_the_shops_order(shop) -> None:
    shop_settings.configure(shop, "cli", trigger_status_ids=["5", "10"])

    with pytest.raises(rules.RuleError) as caught:
        shop_settings.validate_settings(fresh(shop), settings(shop, cancel_status_ids=["10", "999", "5"]))

    assert caught.value.errors == {"cancel_status_ids": [*unknown("999"), both_active("5, 10")]}
    assert str(caught.value) == f"cancel_status_ids: {' '.join(unknown('999'))} {both_active('5, 10')}"


def test_settings_limits_and_cleaning(shop) -> None:
    clean = shop_settings.validate_settings(shop, settings(
        shop, cancel_status_ids=[" 8", "6", 6, ""], require_consent=1, customer_window_days=365,
        paused=0))
    assert clean == shop_settings.SettingsData(["6", "8"], True, 365, False)
    assert clean.require_consent is True and clean.paused is False
    assert shop_settings.validate_settings(shop, settings(shop, customer_window_days=0)).customer_window_days == 0


def test_the_trigger_overlap_is_checked_against_the_triggers_given(shop) -> None:
    wanted = settings(shop, cancel_status_ids=["5", "4"])

    assert shop_settings.validate_settings(shop, wanted, triggers=()).cancel_status_ids == ["4", "5"]
    assert refusal(shop_settings.validate_settings, shop, wanted, triggers=["4"]) == {
        "cancel_status_ids": [both_active("4")]}
    # With no active rule, nothing overlaps.
    rule = rule_of(shop.active_rule.id)
    rule.is_active = False
    db.session.commit()
    assert shop_settings.validate_settings(fresh(shop), wanted).cancel_status_ids == ["4", "5"]


def test_update_settings_records_the_changes_and_the_pause_apart(shop) -> None:
    user = merchant(shop)
    changes = shop_settings.update_settings(shop, user, settings(
        shop, cancel_status_ids=["7", "6"], require_consent=True, customer_window_days=45,
        paused=True))

    assert changes == {"cancel_status_ids": [["6", "7", "8"], ["6", "7"]],
                       "require_consent": [False, True], "customer_window_days": [30, 45],
                       "paused": [False, True]}
    saved = fresh(shop)
    assert (saved.cancel_status_ids, saved.require_consent, saved.customer_window_days,
            saved.paused) == (["6", "7"], True, 45, True)
    assert entries(shop) == [
        ("settings.update", "marchand@example.com", "shop", str(shop.id), {"changes": {
            "cancel_status_ids": [["6", "7", "8"], ["6", "7"]],
            "require_consent": [False, True], "customer_window_days": [30, 45]}}),
        ("shop.pause", "marchand@example.com", "shop", str(shop.id), {}),
    ]

    assert shop_settings.update_settings(saved, user, settings(saved, paused=False)) == {
        "paused": [True, False]}
    assert [e[0] for e in entries(shop)] == ["settings.update", "shop.pause", "shop.resume"]


def test_pausing_records_and_logs_who_did_it(shop) -> None:
    user = merchant(shop)
    with log_lines("kingavis.settings") as logged:
        assert shop_settings.set_paused(shop, user, True) is True
        assert shop_settings.set_paused(fresh(shop), "cli", False) is True

    assert logged.lines("shop paused") == [{"shop": shop.key, "actor": f"user:{user.id}"}]
    assert logged.lines("shop resumed") == [{"shop": shop.key, "actor": "cli"}]
    assert [e[:4] for e in entries(shop)] == [
        ("shop.pause", "marchand@example.com", "shop", str(shop.id)),
        ("shop.resume", "cli", "shop", str(shop.id))]


def test_set_paused_takes_only_yes_or_no(shop) -> None:
    assert refusal(shop_settings.set_paused, shop, None, "yes") == {"paused": ["La pause vaut oui ou non."]}
    assert refusal(shop_settings.set_paused, shop, None, 1) == {"paused": ["La pause vaut oui ou non."]}
    assert fresh(shop).paused is False and entries(shop) == []
    assert shop_settings.set_paused(shop, None, True) is True
    assert shop_settings.set_paused(fresh(shop), None, True) is False
    assert fresh(shop).paused is True
    assert [e[:4] for e in entries(shop)] == [("shop.pause", "system", "shop", str(shop.id))]


# --------------------------------------------------------------------------- configure


def rule_state(shop: Shop) -> tuple[Any, ...]:
    rule = fresh(shop).active_rule
    return (rule.trigger_status_ids, rule.delay_days, rule.send_hour, rule.timezone,
            fresh(shop).cancel_status_ids)


def test_configure_changes_what_is_given_and_records_it(shop) -> None:
    rule_id = shop.active_rule.id

    changes = shop_settings.configure(shop, "cli", delay_days=4, send_hour=9, timezone=" Europe/Brussels",
                              trigger_status_ids=["5", "4"], cancel_status_ids=["7", "6"])

    assert changes == {"trigger_status_ids": [["5"], ["4", "5"]], "delay_days": [10, 4],
                       "send_hour": [None, 9], "timezone": ["Europe/Paris", "Europe/Brussels"],
                       "cancel_status_ids": [["6", "7", "8"], ["6", "7"]]}
    assert rule_state(shop) == (["4", "5"], 4, 9, "Europe/Brussels", ["6", "7"])
    assert entries(shop) == [
        ("rule.update", "cli", "rule", str(rule_id), {"changes": {
            "trigger_status_ids": [["5"], ["4", "5"]], "delay_days": [10, 4],
            "send_hour": [None, 9], "timezone": ["Europe/Paris", "Europe/Brussels"]},
            "active": True}),
        ("settings.update", "cli", "shop", str(shop.id), {"changes": {
            "cancel_status_ids": [["6", "7", "8"], ["6", "7"]]}}),
    ]


def test_configure_keeps_what_is_not_given(shop) -> None:
    shop_settings.configure(shop, "cli", send_hour=9, timezone="Europe/Brussels", delay_days=4)

    assert shop_settings.configure(fresh(shop), "cli", trigger_status_ids=["4"]) == {
        "trigger_status_ids": [["5"], ["4"]]}
    assert rule_state(shop) == (["4"], 4, 9, "Europe/Brussels", ["6", "7", "8"])
    assert shop_settings.configure(fresh(shop), "cli", cancel_status_ids=["6"]) == {
        "cancel_status_ids": [["6", "7", "8"], ["6"]]}
    assert [e[0] for e in entries(shop)] == ["rule.update", "rule.update", "settings.update"]
    # send_hour=None clears the hour; KEEP (the default) kept it above.
    assert shop_settings.configure(fresh(shop), "cli", send_hour=None) == {"send_hour": [9, None]}
    assert rule_state(shop) == (["4"], 4, None, "Europe/Brussels", ["6"])


def test_configure_without_a_change_records_nothing(shop) -> None:
    assert shop_settings.configure(shop, "cli", delay_days=10, trigger_status_ids=["5"],
                           cancel_status_ids=["8", "7", "6"]) == {}
    assert entries(shop) == []


def test_configure_moves_a_status_from_cancel_to_trigger_in_one_call(shop) -> None:
    assert shop_settings.configure(shop, "cli", trigger_status_ids=["5", "6"],
                           cancel_status_ids=["7", "8"]) == {
        "trigger_status_ids": [["5"], ["5", "6"]],
        "cancel_status_ids": [["6", "7", "8"], ["7", "8"]]}
    # And back: a trigger may become a cancel status if it leaves the triggers in that call.
    assert shop_settings.configure(fresh(shop), "cli", trigger_status_ids=["5"],
                           cancel_status_ids=["6", "7", "8"])["cancel_status_ids"] == [
        ["7", "8"], ["6", "7", "8"]]


@pytest.mark.parametrize(
    ("kwargs", "errors"),
    [
        ({"trigger_status_ids": ["5", "6"]}, {"trigger_status_ids": [both("6")]}),
        ({"cancel_status_ids": ["5"]}, {"trigger_status_ids": [both("5")]}),
        ({"delay_days": -1, "cancel_status_ids": ["6", "999"]},
         {"delay_days": [DELAY], "cancel_status_ids": [*unknown("999")]}),
        ({"send_hour": 24, "timezone": "Nowhere"}, {"send_hour": [HOUR], "timezone": [ZONE]}),
        ({"trigger_status_ids": ["998"]}, {"trigger_status_ids": [*unknown("998")]}),
    ],
    ids=["trigger-is-cancel", "cancel-is-trigger", "rule-and-settings", "hour-and-zone",
         "unknown-trigger"],
)
def test_configure_refuses_all_or_nothing(shop, kwargs, errors) -> None:
    before = rule_state(shop)

    assert refusal(shop_settings.configure, shop, "cli", **kwargs) == errors
    assert rule_state(shop) == before and entries(shop) == []


def test_configure_needs_an_active_rule(shop) -> None:
    rule = rule_of(shop.active_rule.id)
    rule.is_active = False
    db.session.commit()

    assert refusal(shop_settings.configure, fresh(shop), "cli", delay_days=3) == {
        "rule": ["La boutique n'a pas de règle active."]}
    assert refusal(replanning.preview_apply, fresh(shop)) == {
        "rule": ["Cette boutique n'a pas de règle active."]}


def test_configure_given_only_secrets_or_a_product_count_leaves_the_rule_alone(shop) -> None:
    """``shops configure`` with only platform secrets, or only a product count, needs no active
    rule and changes none; it returns no rule change, and each entry names who acted."""
    user = merchant(shop)
    shop.platform = "shopify"
    rule_of(shop.active_rule.id).is_active = False
    db.session.commit()

    assert shop_settings.configure(fresh(shop), user, platform_secrets=[" shpss_un "]) == {}
    assert shop_settings.configure(fresh(shop), user, product_review_count=3) == {}
    assert [(action, actor, details) for action, actor, _type, _id, details in entries(shop)
            if action != "user.create"] == [
        ("platform.secrets_set", user.email, {"before": 0, "after": 1}),
        ("collection.update", user.email, {"before": {"product_review_count": 5},
                                          "after": {"product_review_count": 3}}),
    ]
    assert (fresh(shop).platform_secrets, fresh(shop).product_review_count) == (["shpss_un"], 3)
    assert fresh(shop).active_rule is None


def test_a_shop_that_knows_no_status_is_told_so(shop) -> None:
    db.session.execute(ShopStatus.__table__.delete().where(ShopStatus.shop_id == shop.id))
    db.session.commit()
    assert refusal(shop_settings.configure, fresh(shop), "cli", trigger_status_ids=["5"]) == {
        "trigger_status_ids": unknown("5", "—"), "cancel_status_ids": unknown("6, 7, 8", "—")}


# --------------------------------------------------------------------------- preview and apply


def test_preview_counts_moves_unchanged_and_kept_and_names_the_kept_status(shop) -> None:
    now = utcnow()
    moved = scheduled(shop, "1", delivered_days_ago=1)
    overdue = scheduled(shop, "2", delivered_days_ago=20, email="b@example.com")
    set_due(overdue, now - timedelta(days=1))  # due before and after: unchanged
    named = scheduled(shop, "3", delivered_days_ago=1, email="c@example.com")
    by_id = scheduled(shop, "4", delivered_days_ago=1, email="d@example.com")
    no_status = scheduled(shop, "5", delivered_days_ago=1, email="e@example.com")
    for request_id, trigger_id, trigger_name in ((by_id, "12", None), (no_status, None, None),
                                                  (named, "5", "Livré")):
        row = request_row(request_id)
        row.trigger_status_id, row.trigger_status_name = trigger_id, trigger_name
        db.session.commit()
    shop_settings.configure(shop, "cli", trigger_status_ids=["5"], delay_days=3)
    # "named" stays under the new rule; make it one the rule ignores by its trigger time.
    row = request_row(named)
    row.triggered_at = None
    db.session.commit()

    preview = replanning.preview_apply(fresh(shop), now=now)

    assert [m.request_id for m in preview.moves] == [moved]
    assert preview.moves[0].order_reference == "REF1"
    assert preview.moves[0].new_due == request_row(moved).triggered_at + timedelta(days=3)
    assert preview.moves[0].current_due == request_row(moved).due_at
    assert preview.unchanged == 1
    assert sorted((k.request_id, k.order_reference, k.trigger_status) for k in preview.kept) == [
        (named, "REF3", "Livré (5)"), (by_id, "REF4", "12"), (no_status, "REF5", "—")]
    assert (preview.move_count, preview.total) == (1, 5)
    assert preview.rule.id == shop.active_rule.id


def test_preview_lists_the_moves_soonest_first_and_only_this_shops(shop) -> None:
    other, _ = make_shop("Autre boutique")
    theirs = scheduled(other, "9", delivered_days_ago=1, email="z@example.com")
    late = scheduled(shop, "1", delivered_days_ago=1)
    early = scheduled(shop, "2", delivered_days_ago=3, email="b@example.com", reference=None)
    shop_settings.configure(shop, "cli", delay_days=20)

    preview = replanning.preview_apply(fresh(shop))

    assert [(m.request_id, m.order_reference) for m in preview.moves] == [(early, "2"),
                                                                          (late, "REF1")]
    assert preview.total == 2
    rule_id = fresh(shop).active_rule.id
    theirs_due = request_row(theirs).due_at
    assert replanning.apply_rule(fresh(shop), None, rule_id) == 2
    assert request_row(theirs).due_at == theirs_due


def test_apply_rule_moves_records_and_audits(shop) -> None:
    user = merchant(shop)
    a = scheduled(shop, "1", delivered_days_ago=1)
    b = scheduled(shop, "2", delivered_days_ago=2, email="b@example.com")
    kept = scheduled(shop, "3", delivered_days_ago=1, email="c@example.com")
    row = request_row(kept)
    row.triggered_at = None
    db.session.commit()
    first_rule = shop.active_rule.id
    other, _ = make_shop("Autre boutique")  # with its own active rule
    new_rule = rules.create_rule(shop, None, data(name="Livré + 20", trigger_status_ids=["5"],
                                                  delay_days=20))
    rules.activate_rule(shop, None, new_rule)
    rule_id = new_rule.id
    now = utcnow() - timedelta(minutes=7)  # a time of its own, told apart from the clock's
    assert request_row(a).rule_id == first_rule != rule_id

    assert replanning.apply_rule(fresh(shop), user, rule_id, now=now) == 2

    for request_id in (a, b):
        moved = request_row(request_id)
        assert moved.due_at == moved.triggered_at + timedelta(days=20)
        assert (moved.next_attempt_at, moved.rule_id, moved.updated_at) == (moved.due_at,
                                                                             rule_id, now)
        last = decisions(request_id)[-1]
        assert (last.state, last.actor, last.due_at, last.created_at) == (
            "scheduled", "marchand@example.com", moved.due_at, now)
    assert entries(shop)[-1] == ("rule.apply", "marchand@example.com", "rule", str(rule_id),
                                 {"moved": 2, "unchanged": 0, "kept": 1})
    # Again: nothing left to move, and the audit says what was seen.
    assert replanning.apply_rule(fresh(shop), None, rule_id, now=now) == 0
    assert entries(shop)[-1] == ("rule.apply", "system", "rule", str(rule_id),
                                 {"moved": 0, "unchanged": 2, "kept": 1})


def test_apply_by_a_job_is_written_as_the_system(shop) -> None:
    a = scheduled(shop, "1", delivered_days_ago=1)
    shop_settings.configure(shop, "cli", delay_days=20)

    assert replanning.apply_rule(fresh(shop), None, fresh(shop).active_rule.id) == 1
    assert decisions(a)[-1].actor == "system"


def test_apply_refuses_a_rule_that_is_no_longer_active(shop) -> None:
    a = scheduled(shop, "1", delivered_days_ago=1)
    old = shop.active_rule.id
    shop_settings.configure(shop, "cli", delay_days=20)
    other = rules.create_rule(shop, None, data(trigger_status_ids=["5"]))
    rules.activate_rule(shop, None, other)
    due = request_row(a).due_at

    message = {"rule": [f"La règle active a changé depuis l'aperçu{NBSP}: vérifiez le nouvel "
                        "aperçu avant d'appliquer."]}
    assert refusal(replanning.apply_rule, fresh(shop), None, old) == message
    assert request_row(a).due_at == due
    assert "rule.apply" not in [e[0] for e in entries(shop)]
    # With no active rule at all, the same refusal.
    for rule in db.session.execute(select(InvitationRule).where(
            InvitationRule.shop_id == shop.id)).scalars():
        rule.is_active = False
    db.session.commit()
    assert refusal(replanning.apply_rule, get_shop(shop.key), None, other.id) == message
