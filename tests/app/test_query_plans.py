"""Every query the back-office and the public pages make walks an index (PostgreSQL).

The pages are requested on a database with a few thousand orders in several shops; every
statement they send is captured (SQLAlchemy's ``before_cursor_execute``) and explained again
with sequential scans and whole-table joins priced out (``enable_seqscan``, ``enable_hashjoin``,
``enable_mergejoin`` off): a plan that still reads a big table from end to end (a sequential
scan, or an index walked without a condition) has no index to use, and would read all of it
at a million orders (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from factories import make_shop
from requests_helpers import login, merchant
from sqlalchemy import event, select

from bench.lib.scale import CUSTOMER, Size, copy_shops, load
from kingavis.extensions import db
from kingavis.models import Order, Review, Shop

# Tables that grow with the orders (the others grow with the shops, or not at all).
BIG_TABLES = ("orders", "order_events", "review_requests", "request_decisions", "reviews",
              "unsubscriptions", "review_reports", "outgoing_messages", "audit_log", "erasures")

SIZE = Size(shops=20, orders=30_000, largest_orders=15_000, largest_reviews=300,
            customer_orders=30, due=0)


@pytest.fixture
def populated(app: Any) -> Iterator[Shop]:
    shop, _ = make_shop()
    copy_shops(db.session.connection(), shop.id, SIZE.shops - 1)
    load(db.session.connection(), shop.id, SIZE)
    db.session.commit()
    # VACUUM too: a GIN index filled after its creation keeps new entries in a pending list
    # that the planner prices as read in full, until a vacuum (autovacuum, in production).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    yield shop


def captured(app: Any, requests: list[str], client: Any) -> list[tuple[str, str, Any]]:
    """(path, statement, parameters) of every SELECT the requests sent."""
    seen: list[tuple[str, str, Any]] = []
    current: list[str] = [""]

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith(("SELECT", "WITH")):
            seen.append((current[0], statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        for path in requests:
            current[0] = path
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    return seen


def explained(statements: list[tuple[str, str, Any]],
              off: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(path, statement, plan) of each statement, explained with the planner settings ``off``."""
    found = []
    with db.engine.connect() as conn:
        for setting in off:
            conn.exec_driver_sql(f"SET {setting} = off")
        for path, statement, parameters in statements:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            found.append((path, statement, plan))
        conn.rollback()
    return found


def full_scans(plan: str) -> list[str]:
    """The plan's nodes that read a big table whole: a sequential scan, or an index walked
    from end to end (an index scan without an ``Index Cond``)."""
    lines = plan.splitlines()
    found = []
    for i, line in enumerate(lines):
        node = line.strip().removeprefix("->  ")
        for kind in ("Seq Scan on ", "Index Scan using ", "Index Only Scan using ",
                     "Index Scan Backward using ", "Index Only Scan Backward using "):
            if node.startswith(kind):
                table = node.split(" on ", 1)[1].split()[0]
                if table not in BIG_TABLES:
                    break
                if kind.startswith("Seq"):
                    found.append(node)
                    break
                depth = len(line) - len(line.lstrip())
                details = []
                for below in lines[i + 1:]:
                    if "->" in below or len(below) - len(below.lstrip()) <= depth:
                        break
                    details.append(below.strip())
                if not any(d.startswith("Index Cond:") for d in details):
                    found.append(node)
                break
    return found


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_back_office_and_public_query_uses_an_index(app: Any, populated: Shop) -> None:
    shop = populated
    client = app.test_client()
    login(client, merchant(shop))
    order_id = db.session.execute(
        select(Order.id).where(Order.shop_id == shop.id, Order.customer_email == CUSTOMER)
        .limit(1)).scalar_one()
    reference = db.session.execute(select(Order.reference).where(Order.id == order_id)).scalar_one()
    assert db.session.execute(select(Review.id).where(Review.shop_id == shop.id).limit(1)).scalar()
    db.session.commit()
    admin = f"/admin/shops/{shop.key}"
    api = f"/api/v1/shops/{shop.slug}"
    paths = [
        f"{admin}/pending", f"{admin}/pending?page=3", f"{admin}/pending?due=7", f"{admin}/pending?q={reference}",
        f"{admin}/orders", f"{admin}/orders?q={reference}", f"{admin}/orders?q={CUSTOMER}",
        f"{admin}/orders/{order_id}", f"{admin}/reviews", f"{admin}/reviews?page=2",
        f"/avis/{shop.slug}", f"/avis/{shop.slug}?page=2", f"{api}/summary", f"{api}/reviews",
        f"{api}/reviews?page=3&per_page=20", f"{api}/badge.svg",
    ]
    statements = captured(app, paths, client)
    assert {path for path, _, _ in statements} >= {f"{admin}/pending", f"{admin}/orders/{order_id}",
                                                   f"/avis/{shop.slug}", f"{api}/reviews"}
    # Price out what hides a missing index on a small table: a sequential scan, and the hash
    # and merge joins that read a whole table (or index) to join a page of rows.
    problems = [f"{path}\n{statement}\n{plan}" for path, statement, plan in explained(
        statements, ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")) if full_scans(plan)]
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_page_of_published_reviews_is_read_in_its_order_from_an_index(
        app: Any, populated: Shop) -> None:
    """Newest first, ties by id: an index in that order gives the page without sorting the
    shop's reviews, however many share a publication time (the loaded reviews share a few
    dozen). Sorting is priced out, so a plan that still sorts has no index in that order."""
    shop = populated
    api = f"/api/v1/shops/{shop.slug}"
    paths = [f"/avis/{shop.slug}", f"/avis/{shop.slug}?page=2", f"{api}/reviews",
             f"/avis/{shop.slug}/produits/42", f"{api}/products/42/reviews"]
    pages = [(path, statement, parameters)
             for path, statement, parameters in captured(app, paths, app.test_client())
             if "ORDER BY reviews.published_at DESC, reviews.id DESC" in statement]
    assert {path for path, _, _ in pages} == set(paths)
    problems = [f"{path}\n{statement}\n{plan}" for path, statement, plan in explained(
        pages, ("enable_sort", "enable_incremental_sort", "enable_seqscan"))
        if "Sort" in plan or full_scans(plan)]
    assert not problems, "\n\n".join(problems)
