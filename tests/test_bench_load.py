"""The webhook benchmark's load: realistic lifecycles, replays, and requests that verify."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from standardwebhooks import Webhook

from bench.lib.load import CANCEL, TRIGGER, ShopCredentials, make_plan, write_requests
from kingavis.shops.service import new_webhook_secret

SHOPS = [ShopCredentials(key=f"shop{n}", secret=new_webhook_secret()) for n in range(5)]


def test_plan_has_the_requested_size_lifecycles_in_order_and_replays() -> None:
    plan = make_plan(SHOPS, 1000, 0.02, seed=1)
    assert len(plan.events) == 1000
    assert plan.replays == 20
    assert plan.distinct_ids == 980
    by_order = defaultdict(list)
    for event in plan.events:
        if not event.replay:
            by_order[(event.shop_key, event.order_id)].append(event)
    assert len(by_order) == plan.orders
    for events in by_order.values():
        times = [e.changed_at for e in events]
        assert times == sorted(times) and len(set(times)) == len(times)
        statuses = [e.status_id for e in events]
        # Nothing follows a cancel status; delivery is only ever followed by a refund.
        assert all(s not in CANCEL for s in statuses[:-1])
        if TRIGGER in statuses[:-1]:
            assert statuses[-1] == "7"
    trigger_share = sum(e.status_id == TRIGGER for e in plan.events) / len(plan.events)
    assert 0.1 < trigger_share < 0.35  # most events are not the trigger


def test_same_seed_same_load() -> None:
    first = make_plan(SHOPS, 300, 0.02, seed=7)
    again = make_plan(SHOPS, 300, 0.02, seed=7)
    assert [e.webhook_id for e in first.events] == [e.webhook_id for e in again.events]


def _read(path: Path) -> list[bytes]:
    data, out, pos = path.read_bytes(), [], 0
    while pos < len(data):
        newline = data.index(b"\n", pos)
        length = int(data[pos:newline])
        out.append(data[newline + 1 : newline + 1 + length])
        pos = newline + 1 + length
    return out


def test_written_requests_verify_with_the_shop_secret_and_keep_orders_on_one_thread(
    tmp_path: Path,
) -> None:
    plan = make_plan(SHOPS, 400, 0.05, seed=3)
    secrets = {s.key: s.secret for s in SHOPS}
    write_requests(plan, secrets, tmp_path, 2, "127.0.0.1:1",
                   lambda key: f"/webhooks/v1/{key}/order-status")
    seen: dict[str, list[bytes]] = defaultdict(list)
    thread_of_order: dict[tuple[str, str], int] = {}
    total = 0
    for thread in (1, 2):
        for raw in _read(tmp_path / f"requests-{thread}.bin"):
            total += 1
            head, body = raw.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            assert method == "POST" and int(headers["Content-Length"]) == len(body)
            key = path.split("/")[3]
            Webhook(secrets[key]).verify(body, headers)  # raises if the signature is wrong
            payload = json.loads(body)
            order = (key, payload["data"]["order"]["id"])
            assert thread_of_order.setdefault(order, thread) == thread
            seen[headers["webhook-id"]].append(raw)
    assert total == len(plan.events)
    replayed = [raws for raws in seen.values() if len(raws) > 1]
    assert len(replayed) == plan.replays
    assert all(raws[0] == raws[1] for raws in replayed)  # a replay is the same bytes
