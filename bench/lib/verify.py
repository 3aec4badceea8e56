"""After the run: every answer as the contract says, and the database holds exactly that."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from .load import CANCEL, TRIGGER, Plan
from .wrk import RunResult


@dataclass
class Checks:
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> bool:
        self.lines.append((ok, text))
        return ok

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.lines)


def _settled_count(conn: psycopg.Connection, seconds: float = 10) -> int:
    """order_events count once it stops moving (requests wrk gave up on may still finish)."""
    previous = -1
    deadline = time.monotonic() + seconds
    while True:
        count = conn.execute("SELECT count(*) FROM order_events").fetchone()[0]
        if count == previous or time.monotonic() > deadline:
            return count
        previous = count
        time.sleep(0.5)


def verify(database_url: str, plan: Plan, result: RunResult, complete: bool) -> Checks:
    """``complete``: every planned request was sent and answered (equal-requests mode)."""
    checks = Checks()
    planned = {e.webhook_id: e for e in plan.events}
    deliveries = Counter(e.webhook_id for e in plan.events)

    # 1. the answers
    other = {s: n for s, n in result.statuses.items() if s not in (200, 202)}
    checks.check(not other, "every answer is 202 or 200" + (f" (got {other})" if other else ""))
    if complete:
        checks.check(
            result.answered == len(plan.events) and result.sent == len(plan.events),
            f"every request sent once and answered: {result.sent} sent, {result.answered} "
            f"answered of {len(plan.events)}",
        )
    checks.check(result.socket_errors == 0, f"no socket errors ({result.socket_errors})")
    unknown = [w for w in result.answers if w not in planned]
    checks.check(not unknown, f"every answer names a webhook id that was sent ({len(unknown)} unknown)")

    accepted: dict[str, str] = {}  # webhook id -> outcome of its 202
    bad_replays = 0
    wrong_first = 0
    for webhook_id, answers in result.answers.items():
        codes = sorted(status for status, _ in answers)
        firsts = [outcome for status, outcome in answers if status == 202]
        if len(firsts) != 1:
            wrong_first += 1
            continue
        accepted[webhook_id] = firsts[0]
        if len(answers) > 1 and (
            codes != [200] * (len(answers) - 1) + [202]
            or any(outcome != firsts[0] for _, outcome in answers)
        ):
            bad_replays += 1
    checks.check(wrong_first == 0, f"exactly one 202 per answered webhook id ({wrong_first} ids with none or several)")
    replayed = [w for w, n in deliveries.items() if n > 1 and len(result.answers.get(w, [])) > 1]
    checks.check(
        bad_replays == 0,
        f"replays: {len(replayed)} webhook ids delivered twice, each answered 202 once and 200 "
        f"with the same outcome otherwise ({bad_replays} wrong)",
    )

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows_count = _settled_count(conn)
        rows = conn.execute(
            "SELECT s.key, e.webhook_id, e.outcome FROM order_events e JOIN shops s ON s.id = e.shop_id"
        ).fetchall()
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM order_events GROUP BY shop_id, webhook_id "
            "HAVING count(*) > 1) d"
        ).fetchone()[0]
        orders = {
            (key, external): (status, rr_state)
            for key, external, status, rr_state in conn.execute(
                "SELECT s.key, o.external_id, o.latest_status_id, r.state FROM orders o "
                "JOIN shops s ON s.id = o.shop_id LEFT JOIN review_requests r ON r.order_id = o.id"
            ).fetchall()
        }

    # 2. durability: what was acknowledged is stored, once, as it was answered
    stored = {webhook_id: outcome for _, webhook_id, outcome in rows}
    checks.check(duplicates == 0 and len(stored) == rows_count,
                 f"no duplicate events in order_events ({duplicates} duplicated)")
    lost = [w for w in accepted if w not in stored]
    checks.check(not lost, f"no acknowledged event lost: {len(accepted)} accepted (202), "
                           f"{len(lost)} missing from order_events")
    if complete:
        checks.check(
            rows_count == len(accepted) == plan.distinct_ids,
            f"order_events rows == distinct webhook ids accepted: {rows_count} rows, "
            f"{len(accepted)} accepted, {plan.distinct_ids} distinct ids sent",
        )
    else:
        in_flight = result.sent - result.answered
        extra = rows_count - len(accepted)
        checks.check(
            0 <= extra <= max(in_flight, 0) and all(w in planned for w in stored),
            f"order_events rows = accepted + unanswered in-flight: {rows_count} rows, "
            f"{len(accepted)} accepted, {in_flight} in flight when wrk stopped",
        )
    mismatched = sum(1 for w, outcome in accepted.items() if w in stored and stored[w] != outcome)
    checks.check(mismatched == 0, f"stored outcome == answered outcome ({mismatched} differ)")

    # 3. the rules held, whatever the arrival order: per order, from the stored events
    latest: dict[tuple[str, str], tuple] = {}
    reached_trigger: set[tuple[str, str]] = set()
    for webhook_id in stored:
        event = planned.get(webhook_id)
        if event is None:
            continue
        order_key = (event.shop_key, event.order_id)
        if order_key not in latest or event.changed_at > latest[order_key][0]:
            latest[order_key] = (event.changed_at, event.status_id)
        if event.status_id == TRIGGER:
            reached_trigger.add(order_key)
    wrong_latest = sum(1 for k, (_, status) in latest.items() if orders.get(k, (None,))[0] != status)
    checks.check(wrong_latest == 0 and len(orders) == len(latest),
                 f"each order's latest status is its latest event by changed_at: {len(latest)} "
                 f"orders, {wrong_latest} wrong, {len(orders) - len(latest)} unexpected")
    spurious = sum(1 for k, (_, rr) in orders.items() if rr is not None and k not in reached_trigger)
    checks.check(spurious == 0, f"no review request for an order that never reached the trigger ({spurious})")
    delivered = [k for k, (_, status) in latest.items() if status == TRIGGER]
    missing = sum(1 for k in delivered if orders.get(k, (None, None))[1] not in ("scheduled", "suppressed"))
    checks.check(missing == 0, f"every order last seen delivered has a scheduled or suppressed "
                               f"request: {len(delivered)} orders, {missing} without")
    cancelled = [k for k, (_, status) in latest.items() if status in CANCEL]
    live = sum(1 for k in cancelled if orders.get(k, (None, None))[1] == "scheduled")
    checks.check(live == 0, f"no scheduled request for an order last seen cancelled/refunded/in "
                            f"payment error: {len(cancelled)} orders, {live} scheduled")
    return checks


def outcome_counts(result: RunResult) -> Counter[str]:
    counts: Counter[str] = Counter()
    for answers in result.answers.values():
        for status, outcome in answers:
            if status == 202:
                counts[outcome] += 1
    return counts
