"""The scheduling rules as pure functions (docs/rules.md): no database, no app.

compute_due_at (rule 2), send_time_reason (rule 5), suppression_reason (rule 7) and decide
(rules 1, 3, 4, 6), including time zones, DST change days and a property over instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kingavis.models import RequestState
from kingavis.scheduling import (
    Action,
    Guards,
    Rule,
    compute_due_at,
    decide,
    prestashop_preset,
    send_time_decision,
    send_time_reason,
    suppression_reason,
    validate_timezone,
    within_window,
)

PARIS = ZoneInfo("Europe/Paris")
PRESET_CANCEL = frozenset({"6", "7", "8"})
EARLY = datetime(2000, 1, 1, tzinfo=UTC)  # a "now" before every changed_at below


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rule(delay: int = 10, hour: int | None = None, tz: str = "Europe/Paris") -> Rule:
    return Rule(trigger_status_ids=frozenset({"5"}), delay_days=delay, send_hour=hour, timezone=tz)


def due(changed_at: str, delay: int = 10, hour: int | None = None, tz: str = "Europe/Paris",
        now: datetime | None = EARLY) -> datetime:
    return compute_due_at(at(changed_at), rule(delay, hour, tz), now)


# --- the preset ----------------------------------------------------------------------------


def test_prestashop_preset_roles_match_the_contract() -> None:
    preset = prestashop_preset()
    assert preset["trigger"] == ["5"]
    assert preset["cancel"] == ["6", "7", "8"]
    assert [s["id"] for s in preset["states"]] == [str(i) for i in range(1, 14)]


# --- rule 2: due_at ------------------------------------------------------------------------


def test_without_send_hour_due_is_changed_at_plus_exact_days() -> None:
    assert due("2026-11-22T10:00:00+01:00") == at("2026-12-02T09:00:00+00:00")
    assert due("2026-11-22T10:00:00+01:00").tzinfo == UTC


def test_without_send_hour_the_delay_is_exact_across_a_dst_change() -> None:
    # 240 hours later: the wall clock moves by the DST hour, the instant does not.
    assert due("2026-03-20T12:00:00+01:00") == at("2026-03-30T11:00:00+00:00")


def test_delay_zero_without_send_hour_is_the_change_itself() -> None:
    assert due("2026-11-22T10:00:00+01:00", delay=0) == at("2026-11-22T09:00:00+00:00")


def test_send_hour_takes_the_local_date_in_the_shops_zone() -> None:
    # 23:30 in Paris is still 22 November there; in a UTC shop it is too (22:30Z).
    assert due("2026-11-22T23:30:00+01:00", hour=9) == at("2026-12-02T08:00:00+00:00")
    assert due("2026-11-22T23:30:00+01:00", hour=9, tz="UTC") == at("2026-12-02T09:00:00+00:00")
    # 00:30 in Paris is already 23 November there but still 22 November in UTC.
    assert due("2026-11-23T00:30:00+01:00", hour=9) == at("2026-12-03T08:00:00+00:00")
    assert due("2026-11-23T00:30:00+01:00", hour=9, tz="UTC") == at("2026-12-02T09:00:00+00:00")


def test_send_hour_depends_on_the_instant_not_on_the_offset_it_was_written_with() -> None:
    paris = "2026-03-28T23:30:00+01:00"
    same_instant_in_utc = "2026-03-28T22:30:00+00:00"
    same_instant_in_tokyo = "2026-03-29T07:30:00+09:00"
    results = {due(x, delay=1, hour=10) for x in (paris, same_instant_in_utc, same_instant_in_tokyo)}
    assert results == {at("2026-03-29T08:00:00+00:00")}


def test_send_hour_on_the_spring_forward_day_in_paris() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST. The day after the 28th is the 29th,
    # even for an event in the last hour of the 28th, and 10:00 there is CEST.
    assert due("2026-03-28T23:30:00+01:00", delay=1, hour=10) == at("2026-03-29T08:00:00+00:00")
    assert due("2026-03-28T00:30:00+01:00", delay=1, hour=10) == at("2026-03-29T08:00:00+00:00")
    # A delay that spans the change keeps the local hour.
    assert due("2026-03-20T12:00:00+01:00", delay=10, hour=9) == at("2026-03-30T07:00:00+00:00")


def test_send_hour_inside_the_dst_gap_moves_forward() -> None:
    # 02:00 does not exist in Paris on 2026-03-29: the request goes at 03:00 CEST.
    result = due("2026-03-29T00:10:00+01:00", delay=0, hour=2)
    assert result == at("2026-03-29T01:00:00+00:00")
    assert result.astimezone(PARIS).hour == 3


def test_send_hour_on_the_fall_back_day_in_paris() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET.
    assert due("2026-10-24T23:30:00+02:00", delay=1, hour=10) == at("2026-10-25T09:00:00+00:00")
    assert due("2026-10-25T00:30:00+02:00", delay=1, hour=10) == at("2026-10-26T09:00:00+00:00")
    # 02:00 happens twice that night: the first one (CEST) is taken.
    assert due("2026-10-25T00:10:00+02:00", delay=0, hour=2) == at("2026-10-25T00:00:00+00:00")


def test_send_hour_in_new_york_and_tokyo() -> None:
    # 03:00Z on 22 November is still the 21st in New York (EST, UTC-5).
    assert due("2026-11-22T03:00:00+00:00", hour=9, tz="America/New_York") == at(
        "2026-12-01T14:00:00+00:00"
    )
    # 16:00Z on 22 November is already the 23rd in Tokyo (UTC+9, no DST).
    assert due("2026-11-22T16:00:00+00:00", hour=9, tz="Asia/Tokyo") == at(
        "2026-12-03T00:00:00+00:00"
    )
    # New York's own DST change (2026-03-08) keeps 09:00 local: EDT is UTC-4.
    assert due("2026-03-07T20:00:00-05:00", delay=1, hour=9, tz="America/New_York") == at(
        "2026-03-08T13:00:00+00:00"
    )


def test_delay_zero_with_send_hour_is_that_day_at_the_hour() -> None:
    now = at("2026-11-22T06:00:00+00:00")
    assert due("2026-11-22T06:00:00+00:00", delay=0, hour=9, now=now) == at(
        "2026-11-22T08:00:00+00:00"
    )


def test_a_due_time_already_past_is_due_now() -> None:
    now = at("2026-11-22T09:00:00+00:00")
    assert due("2020-02-03T10:00:00+01:00", now=now) == now
    assert due("2020-02-03T10:00:00+01:00", hour=9, now=now) == now
    # Due exactly now, or later, is kept as is.
    assert due("2026-11-12T09:00:00+00:00", now=now) == now
    assert due("2026-11-12T09:00:01+00:00", now=now) == now + timedelta(seconds=1)


@pytest.mark.parametrize("hour", [None, 10])
def test_due_is_in_utc_whatever_the_machines_local_zone(
    hour: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        result = compute_due_at(at("2026-06-01T09:00:00+02:00"), rule(3, hour), EARLY)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert result.utcoffset() == timedelta(0)
    expected = "2026-06-04T07:00:00+00:00" if hour is None else "2026-06-04T08:00:00+00:00"
    assert result.isoformat() == expected


def test_the_customer_window_is_symmetric_and_strict() -> None:
    """Rule 7's window: two due times closer than N days, in either order."""
    t0 = at("2026-06-01T09:00:00+00:00")
    for days_apart, inside in ((0, True), (29, True), (29.99, True), (30, False), (50, False)):
        later = t0 + timedelta(days=days_apart)
        assert within_window(t0, later, 30) is inside, days_apart
        assert within_window(later, t0, 30) is inside, days_apart
    assert within_window(t0, t0 + timedelta(days=40), 60) is True
    assert within_window(t0, t0, 0) is False  # a window of 0 days holds nothing


def test_a_naive_changed_at_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        compute_due_at(datetime(2026, 11, 22, 10, 0), rule())
    assert str(refused.value) == "changed_at must carry a UTC offset"


ZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Lord_Howe",
         "America/Santiago", "Pacific/Chatham"]


@settings(max_examples=400, deadline=None)
@given(
    instant=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                         timezones=st.just(UTC)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    delay=st.integers(min_value=0, max_value=365),
    hour=st.integers(min_value=0, max_value=23),
    zone_name=st.sampled_from(ZONES),
)
def test_send_hour_property(instant: datetime, offset_minutes: int, delay: int, hour: int,
                            zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    written = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    r = rule(delay, hour, zone_name)
    result = compute_due_at(written, r)
    # Only the instant matters.
    assert result == compute_due_at(instant, r)
    assert result.tzinfo == UTC
    local = result.astimezone(zone)
    expected_date: date = instant.astimezone(zone).date() + timedelta(days=delay)
    assert local.date() == expected_date
    # The local hour is H, or just after it when H falls in that day's DST gap.
    assert local.minute in (0, 30) and 0 <= (local.hour - hour) <= 1
    if local.hour != hour or local.minute != 0:
        wall = datetime(expected_date.year, expected_date.month, expected_date.day, hour, tzinfo=zone)
        assert wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None)


# --- rule 5: at send time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_id", "paid", "expected"),
    [
        ("6", False, "order_cancelled"),
        ("7", None, "order_cancelled"),
        ("8", True, "order_cancelled"),  # a cancel status wins whatever its flag says
        ("10", False, "order_unpaid"),
        ("5", False, "order_unpaid"),
        ("5", True, None),
        ("5", None, None),  # paid unknown: nothing says it is unpaid
        ("4", None, None),
        (None, None, None),
        (None, False, "order_unpaid"),
    ],
)
def test_send_time_reason(status_id: str | None, paid: bool | None, expected: str | None) -> None:
    assert send_time_reason(latest_status_id=status_id, latest_status_paid=paid,
                            cancel_status_ids=PRESET_CANCEL) == expected


def _at_send_time(**given: object) -> tuple[RequestState, str] | None:
    facts: dict[str, object] = {
        "latest_status_id": "5", "latest_status_paid": True, "cancel_status_ids": PRESET_CANCEL,
        "review_consent": None, "require_consent": False, "unsubscribed": False}
    facts.update(given)
    return send_time_decision(**facts)  # type: ignore[arg-type]


def test_send_time_decision_order_first_then_consent_and_unsubscribe() -> None:
    """Rules 5 then 7 at send time; the per-customer window is not asked again."""
    assert _at_send_time() is None
    assert _at_send_time(review_consent=True, require_consent=True) is None
    assert _at_send_time(latest_status_id="6", review_consent=False, unsubscribed=True) == (
        RequestState.CANCELLED, "order_cancelled")
    assert _at_send_time(latest_status_paid=False, unsubscribed=True) == (
        RequestState.CANCELLED, "order_unpaid")
    # A shop that came to require consent after scheduling: no consent given, no email.
    assert _at_send_time(require_consent=True) == (RequestState.SUPPRESSED, "no_consent")
    assert _at_send_time(review_consent=False, unsubscribed=True) == (
        RequestState.SUPPRESSED, "no_consent")
    assert _at_send_time(unsubscribed=True) == (RequestState.SUPPRESSED, "unsubscribed")


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../../etc/passwd", "europe/paris"])
def test_an_unknown_time_zone_is_named_in_its_error(name: str) -> None:
    with pytest.raises(ValueError) as refused:
        validate_timezone(name)
    assert str(refused.value) == (
        f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)")


def test_send_time_reason_uses_the_shops_own_cancel_statuses() -> None:
    assert send_time_reason(latest_status_id="42", latest_status_paid=True,
                            cancel_status_ids=frozenset({"42"})) == "order_cancelled"
    assert send_time_reason(latest_status_id="6", latest_status_paid=None,
                            cancel_status_ids=frozenset({"42"})) is None


# --- rule 7: suppression and its precedence -------------------------------------------------


@pytest.mark.parametrize(
    ("consent", "require", "unsubscribed", "recent", "expected"),
    [
        (True, False, False, False, None),
        (None, False, False, False, None),
        (True, True, False, False, None),
        (False, False, False, False, "no_consent"),
        (False, True, False, False, "no_consent"),
        (None, True, False, False, "no_consent"),
        (True, False, True, False, "unsubscribed"),
        (True, False, False, True, "recent_request"),
        (False, False, True, True, "no_consent"),
        (None, True, True, True, "no_consent"),
        (True, False, True, True, "unsubscribed"),
        (None, False, True, True, "unsubscribed"),
    ],
)
def test_suppression_reason_and_precedence(consent: bool | None, require: bool, unsubscribed: bool,
                                           recent: bool, expected: str | None) -> None:
    assert suppression_reason(review_consent=consent, require_consent=require,
                              unsubscribed=unsubscribed, recent_request=recent) == expected


# --- decide: rules 1, 3, 4, 6 ---------------------------------------------------------------

T = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
GUARDS = Guards(cancel_status_ids=PRESET_CANCEL)


def act(status_id: str, *, changed_at: datetime = T, latest: datetime | None = None,
        state: str | None = None, reason: str | None = None, r: Rule | None = None) -> Action:
    return decide(status_id=status_id, changed_at=changed_at, latest_changed_at=latest,
                  request_state=state, request_reason=reason, rule=r or rule(), guards=GUARDS)


@pytest.mark.parametrize("status_id", [str(i) for i in range(1, 14) if i != 5] + ["99"])
def test_decide_other_statuses_never_create(status_id: str) -> None:
    assert act(status_id) is Action.NOTHING


def test_decide_trigger_creates_once() -> None:
    assert act("5") is Action.CREATE
    for state in ("scheduled", "sending", "sent", "suppressed", "failed"):
        assert act("5", state=state) is Action.NOTHING


def test_decide_without_a_rule_never_creates() -> None:
    assert decide(status_id="5", changed_at=T, latest_changed_at=None, request_state=None,
                  request_reason=None, rule=None, guards=GUARDS) is Action.NOTHING


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("order_cancelled", Action.RESCHEDULE),
        ("order_unpaid", Action.RESCHEDULE),
        ("merchant_cancelled", Action.NOTHING),
        ("delivery_failed", Action.NOTHING),
    ],
)
def test_decide_trigger_after_a_cancellation(reason: str, expected: Action) -> None:
    assert act("5", state="cancelled", reason=reason) is expected


@pytest.mark.parametrize("status_id", ["6", "7", "8"])
def test_decide_cancel_status(status_id: str) -> None:
    assert act(status_id, state="scheduled") is Action.CANCEL
    assert act(status_id) is Action.NOTHING
    for state in ("sent", "suppressed", "cancelled", "failed"):
        assert act(status_id, state=state, reason="no_consent") is Action.NOTHING


def test_decide_stale_and_equal_timestamps() -> None:
    older = T - timedelta(seconds=1)
    assert act("5", changed_at=older, latest=T) is Action.IGNORE_STALE
    assert act("6", changed_at=older, latest=T, state="scheduled") is Action.IGNORE_STALE
    assert act("4", changed_at=older, latest=T) is Action.IGNORE_STALE
    # Not older than the latest applied: applied.
    assert act("5", changed_at=T, latest=T) is Action.CREATE
    assert act("6", changed_at=T, latest=T, state="scheduled") is Action.CANCEL
    assert act("5", changed_at=T + timedelta(seconds=1), latest=T) is Action.CREATE


def test_decide_custom_trigger_and_cancel_statuses() -> None:
    custom_rule = Rule(trigger_status_ids=frozenset({"4", "20"}))
    custom_guards = Guards(cancel_status_ids=frozenset({"42"}))

    def custom(status_id: str, state: str | None = None) -> Action:
        return decide(status_id=status_id, changed_at=T, latest_changed_at=None,
                      request_state=state, request_reason=None, rule=custom_rule,
                      guards=custom_guards)

    assert custom("20") is Action.CREATE
    assert custom("4") is Action.CREATE
    assert custom("5") is Action.NOTHING
    assert custom("42", "scheduled") is Action.CANCEL
    assert custom("6", "scheduled") is Action.NOTHING
