"""Bulk data for the cost-at-scale bench and the query-plan test (PostgreSQL only).

Everything is written by ``INSERT … SELECT generate_series`` (no ORM), so a million orders
load in about a minute. One shop, the *largest*, holds a share of the orders, its published
reviews and one customer with many orders; the other orders are spread over the other shops.
Every order has one event (its delivery) and one review request with one timeline row;
requests are in every state the back-office shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text


@dataclass(frozen=True)
class Size:
    shops: int = 10_000
    orders: int = 1_000_000
    largest_orders: int = 200_000  # the largest shop's share of ``orders``
    largest_reviews: int = 100_000  # its published reviews
    customer_orders: int = 1_000  # the orders of one customer of the largest shop
    due: int = 100_000  # requests of the largest shop made due now by ``make_due``

    @classmethod
    def scaled(cls, factor: float) -> Size:
        def n(value: int) -> int:
            return max(1, int(value * factor))

        return cls(n(cls.shops), n(cls.orders), n(cls.largest_orders), n(cls.largest_reviews),
                   n(cls.customer_orders), n(cls.due))


CUSTOMER = "fidele@example.com"


def copy_shops(conn: Any, template_id: int, count: int) -> None:
    """``count`` shops like ``template_id`` (every column copied but id, key, slug, name)."""
    columns = [r[0] for r in conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'shops' "
        "AND column_name NOT IN ('id', 'key', 'slug', 'name')"))]
    listed = ", ".join(columns)
    # The column names come from the catalog, not from input.
    conn.execute(text(
        f"INSERT INTO shops (key, slug, name, {listed}) "  # noqa: S608
        f"SELECT 'bulk' || g || md5(random()::text), 'bulk-' || g, 'Boutique ' || g, {listed} "
        "FROM shops, generate_series(1, CAST(:n AS integer)) AS g WHERE shops.id = :template"
    ), {"n": count, "template": template_id})


ORDERS = """
INSERT INTO orders (shop_id, external_id, reference, customer_email, customer_first_name,
                    customer_last_name, customer_locale, review_consent, latest_status_id,
                    latest_status_name, latest_status_paid, latest_changed_at, placed_at,
                    created_at, updated_at)
SELECT s.id, 'o' || g, 'REF' || lpad(g::text, 9, '0'),
       CASE WHEN g <= :customer_orders AND s.id = :largest THEN :customer
            ELSE 'customer' || g || '@example.com' END,
       'Zoë', 'Łukasiewicz', CASE WHEN g % 3 = 0 THEN 'en' ELSE 'fr' END, true, '5', 'Livré',
       true, (now() AT TIME ZONE 'utc') - (g % 90) * interval '1 day', (now() AT TIME ZONE 'utc') - (g % 90 + 3) * interval '1 day',
       (now() AT TIME ZONE 'utc') - (g % 90) * interval '1 day', (now() AT TIME ZONE 'utc')
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
JOIN LATERAL (SELECT CASE WHEN g <= :largest_orders THEN :largest
                          ELSE :other_first + (g % :others) END AS id) s ON true
"""

# customer_email_hash: a plain digest stands in for the keyed hash (kingavis.customer_keys);
# only the erasure of CUSTOMER compares it, and that finds the orders by address as well.
REQUESTS = """
INSERT INTO review_requests (shop_id, order_id, state, reason, due_at, next_attempt_at, token,
                             customer_email_normalized, customer_email_hash, trigger_status_id,
                             trigger_status_name, triggered_at, attempts, sent_at, created_at,
                             updated_at)
SELECT o.shop_id, o.id, st.state, st.reason, st.due_at,
       CASE WHEN st.state = 'scheduled' THEN st.due_at END,
       't' || o.id || md5(random()::text), o.customer_email,
       encode(sha256(convert_to(o.shop_id || ':' || o.customer_email, 'UTF8')), 'hex'),
       '5', 'Livré', o.latest_changed_at, CASE WHEN st.state = 'sent' THEN 1 ELSE 0 END,
       CASE WHEN st.state = 'sent' THEN o.latest_changed_at + interval '10 days' END,
       o.latest_changed_at, (now() AT TIME ZONE 'utc')
FROM orders o
JOIN LATERAL (SELECT CASE o.id % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'suppressed'
                          WHEN 2 THEN 'failed' WHEN 3 THEN 'sent' WHEN 4 THEN 'sent'
                          WHEN 5 THEN 'sent' ELSE 'scheduled' END AS state,
                     CASE o.id % 10 WHEN 0 THEN 'order_cancelled' WHEN 1 THEN 'recent_request'
                          WHEN 2 THEN 'delivery_failed' END AS reason,
                     -- Scheduled requests fall due over the next 60 days (none due yet).
                     CASE WHEN o.id % 10 >= 6
                          THEN (now() AT TIME ZONE 'utc') + interval '1 hour' + (o.id % 60) * interval '1 day'
                          ELSE o.latest_changed_at + interval '10 days' END AS due_at) st ON true
"""

DECISIONS = """
INSERT INTO request_decisions (review_request_id, state, reason, due_at, actor, created_at)
SELECT id, state, reason, due_at, 'system', (now() AT TIME ZONE 'utc') FROM review_requests
"""

EVENTS = """
INSERT INTO order_events (shop_id, order_id, webhook_id, status_id, status_name, status_paid,
                          changed_at, received_at, stale, outcome, response, payload)
SELECT o.shop_id, o.id, 'wh' || o.id, '5', 'Livré', true, o.latest_changed_at,
       o.latest_changed_at, false, 'scheduled', '{"outcome": "scheduled"}'::json,
       json_build_object('order', json_build_object('id', o.external_id,
                         'customer', json_build_object('email', o.customer_email)))
FROM orders o
"""

# The largest shop's published reviews: its sent requests first (one review per request).
REVIEWS = """
INSERT INTO reviews (shop_id, order_id, review_request_id, rating, comment, locale, created_at,
                     status, published_at, reply_text, reply_published_at, author_display)
SELECT r.shop_id, r.order_id, r.id, 1 + (r.id % 5), 'Très bien, merci ' || r.id, 'fr',
       r.sent_at, 'published', r.sent_at + interval '1 day',
       CASE WHEN r.id % 7 = 0 THEN 'Merci !' END,
       CASE WHEN r.id % 7 = 0 THEN r.sent_at + interval '2 days' END, 'Zoë Ł.'
FROM review_requests r
WHERE r.shop_id = :largest AND r.state = 'sent'
ORDER BY r.id LIMIT :n
"""


def load(conn: Any, largest_id: int, size: Size, *, chunk: int = 250_000) -> None:
    """The orders, requests, timeline rows, events and reviews of ``size`` (the shops must
    exist: the largest ``largest_id``, then ``size.shops - 1`` more with consecutive ids)."""
    others = conn.execute(text("SELECT min(id), count(*) FROM shops WHERE id <> :id"),
                          {"id": largest_id}).one()
    # The largest shop's share needs enough sent requests for its reviews (3 in 10 are sent).
    largest_orders = min(size.orders, max(size.largest_orders, size.largest_reviews * 10 // 3 + 10))
    for first in range(1, size.orders + 1, chunk):
        conn.execute(text(ORDERS), {
            "first": first, "last": min(size.orders, first + chunk - 1),
            "largest": largest_id, "largest_orders": largest_orders,
            "customer_orders": size.customer_orders, "customer": CUSTOMER,
            "other_first": others[0] or largest_id, "others": max(1, others[1]),
        })
    for statement in (REQUESTS, DECISIONS, EVENTS):
        conn.execute(text(statement))
    conn.execute(text(REVIEWS), {"largest": largest_id, "n": size.largest_reviews})


def make_due(conn: Any, shop_id: int, count: int) -> int:
    """``count`` scheduled requests of the shop due now (a second ago); returns how many."""
    return conn.execute(text(
        "UPDATE review_requests SET next_attempt_at = (now() AT TIME ZONE 'utc') - interval '1 second' "
        "WHERE id IN (SELECT id FROM review_requests WHERE shop_id = :shop "
        "AND state = 'scheduled' ORDER BY id LIMIT :n)"
    ), {"shop": shop_id, "n": count}).rowcount
