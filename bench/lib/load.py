"""The load: order lifecycles spread over many shops, as pre-signed HTTP requests.

Every order goes through a PrestaShop lifecycle (awaiting payment, payment accepted,
preparation, shipped, delivered, and for some cancelled, refunded or payment error). All events
of all orders are sent in ``changed_at`` order, so the events of one order are far apart in the
stream and usually arrive in order. A small share of webhooks is delivered twice with the same
``webhook-id`` (a shop module retrying): those are counted as replays.
"""

from __future__ import annotations

import json
import random
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from standardwebhooks import Webhook

PARIS = ZoneInfo("Europe/Paris")

# (weight, statuses in order). Most events are not the trigger status (5).
LIFECYCLES: list[tuple[int, tuple[str, ...]]] = [
    (52, ("2", "3", "4", "5")),  # card payment, delivered
    (8, ("1", "2", "3", "4", "5")),  # cheque
    (8, ("10", "2", "3", "4", "5")),  # bank wire
    (3, ("2", "9", "3", "4", "5")),  # backorder (paid)
    (7, ("2", "3", "4")),  # still on its way
    (6, ("2", "3", "4", "5", "7")),  # refunded after delivery
    (5, ("2", "3", "6")),  # cancelled before shipping
    (4, ("10", "6")),  # never paid
    (4, ("1",)),  # still awaiting payment
    (3, ("8",)),  # payment error
]
CANCEL = frozenset({"6", "7", "8"})
TRIGGER = "5"

# PrestaShop's default states (kingavis/data/prestashop-order-states.json): name, paid, shipped.
STATES: dict[str, tuple[str, bool, bool]] = {
    "1": ("En attente de paiement par chèque", False, False),
    "2": ("Paiement accepté", True, False),
    "3": ("En cours de préparation", True, False),
    "4": ("Expédié", True, True),
    "5": ("Livré", True, True),
    "6": ("Annulé", False, False),
    "7": ("Remboursé", False, False),
    "8": ("Erreur de paiement", False, False),
    "9": ("En attente de réapprovisionnement (payé)", True, False),
    "10": ("En attente de virement bancaire", False, False),
}
FIRST_NAMES = ["Zoë", "Léa", "Chloé", "Hélène", "Jérôme", "François", "Agnès", "Noël", "Inès", "Loïc"]
LAST_NAMES = ["Łukasiewicz", "Dubois", "Lefèvre", "Müller", "Moreau", "Girard", "Nuñez", "Bérubé"]


@dataclass(frozen=True)
class ShopCredentials:
    key: str
    secret: str


@dataclass
class Event:
    webhook_id: str
    shop_key: str
    order_id: str
    status_id: str
    changed_at: datetime
    payload: dict[str, Any] = field(repr=False)
    replay: bool = False  # a second delivery of an earlier webhook


@dataclass
class Plan:
    events: list[Event]  # in sending order, replays included
    orders: int
    shops: int

    @property
    def distinct_ids(self) -> int:
        return len({e.webhook_id for e in self.events})

    @property
    def replays(self) -> int:
        return sum(1 for e in self.events if e.replay)


def make_plan(
    shops: list[ShopCredentials],
    requests: int,
    replay_share: float,
    seed: int,
    now: datetime | None = None,
    first_order: int = 10000,
) -> Plan:
    """``requests`` deliveries in all, of which about ``replay_share`` are replays."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    replays = round(requests * replay_share)
    originals = requests - replays
    # Some shops are much busier than others.
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(shops))]
    lifecycle_weights = [w for w, _ in LIFECYCLES]
    next_order = dict.fromkeys((s.key for s in shops), first_order)
    customers_per_shop = max(20, originals // (4 * len(shops)))

    events: list[Event] = []
    order_count = 0
    while len(events) < originals:
        shop_index = rng.choices(range(len(shops)), weights)[0]
        shop = shops[shop_index]
        statuses = rng.choices([lc for _, lc in LIFECYCLES], lifecycle_weights)[0]
        statuses = statuses[: originals - len(events)]
        next_order[shop.key] += 1
        order_count += 1
        order_id = str(next_order[shop.key])
        customer = rng.randrange(customers_per_shop)  # repeat customers happen
        first = FIRST_NAMES[customer % len(FIRST_NAMES)]
        last = LAST_NAMES[customer % len(LAST_NAMES)]
        consent = rng.choices([True, False, None], [88, 6, 6])[0]
        customer_data: dict[str, Any] = {
            "email": f"client{customer}.shop{shop_index}@example.org",
            "first_name": first,
            "last_name": last,
            "locale": rng.choice(["fr", "fr", "fr", "en"]),
        }
        if consent is not None:
            customer_data["review_consent"] = consent
        gaps = [timedelta(minutes=rng.randint(20, 60 * 72)) for _ in statuses]
        placed = now - sum(gaps, timedelta()) - timedelta(days=rng.uniform(0, 30), hours=1)
        order = {
            "id": order_id,
            "reference": "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=9)),
            "placed_at": placed.astimezone(PARIS).isoformat(timespec="seconds"),
            "customer": customer_data,
        }
        changed = placed
        previous: str | None = None
        for status_id, gap in zip(statuses, gaps, strict=True):
            changed = changed + gap
            name, paid, shipped = STATES[status_id]
            data: dict[str, Any] = {
                "order": order,
                "status": {"id": status_id, "name": name, "paid": paid, "shipped": shipped},
                "changed_at": changed.astimezone(PARIS).isoformat(timespec="seconds"),
            }
            if previous is not None:
                data["previous_status"] = {"id": previous, "name": STATES[previous][0]}
            events.append(
                Event(
                    webhook_id=f"msg_{uuid.UUID(int=rng.getrandbits(128)).hex}",
                    shop_key=shop.key,
                    order_id=order_id,
                    status_id=status_id,
                    changed_at=changed,
                    payload={"type": "order.status_changed", "timestamp": "", "data": data},
                )
            )
            previous = status_id

    events.sort(key=lambda e: e.changed_at)
    # Replays: the same delivery again a little later in the stream (a module retrying).
    # From the last one back, so inserting never moves an index still to be used.
    chosen = sorted(rng.sample(range(len(events)), min(replays, len(events))), reverse=True)
    for index in chosen:
        original = events[index]
        position = min(index + rng.randint(16, 400), len(events))
        events.insert(position, Event(**{**original.__dict__, "replay": True}))
    return Plan(events=events, orders=order_count, shops=len(shops))


def signed_request(
    event: Event, signer: Webhook, now: datetime
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one delivery, signed as a shop module does at ``now``."""
    stamp = int(now.timestamp())
    payload = {**event.payload, "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    signature = signer.sign(event.webhook_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": event.webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }
    return headers, body


def webhook_path(shop_key: str) -> str:
    return f"/webhooks/v1/{shop_key}/order-status"


def write_requests(
    plan: Plan,
    secrets: dict[str, str],
    directory: Path,
    threads: int,
    host: str,
    path_for: Any,
    now: datetime | None = None,
) -> None:
    """Sign every request now and write ``requests-<n>.bin`` for wrk thread n (from 1).

    All deliveries of one order go to the same thread, in the stream's order: wrk's threads
    do not advance in step, so spreading one order over threads would deliver its events out
    of order far more often than shops do. A replay carries exactly the bytes and headers of
    its first delivery.
    """
    now = now or datetime.now(UTC)
    signers = {key: Webhook(secret) for key, secret in secrets.items()}
    signed: dict[str, bytes] = {}
    files = [(directory / f"requests-{n + 1}.bin").open("wb") for n in range(threads)]
    try:
        for event in plan.events:
            raw = signed.get(event.webhook_id)
            if raw is None:
                headers, body = signed_request(event, signers[event.shop_key], now)
                head = [f"POST {path_for(event.shop_key)} HTTP/1.1", f"Host: {host}",
                        "User-Agent: kingavis-bench", f"Content-Length: {len(body)}"]
                head += [f"{name}: {value}" for name, value in headers.items()]
                raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
                signed[event.webhook_id] = raw
            out = files[zlib.crc32(f"{event.shop_key}/{event.order_id}".encode()) % threads]
            out.write(f"{len(raw)}\n".encode())
            out.write(raw)
    finally:
        for f in files:
            f.close()
