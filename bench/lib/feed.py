"""Peak memory of the Google product review feed for a shop with many product reviews.

Run through ``bench/feed``; ``bench/README.md`` says what it measures. A throw-away PostgreSQL
database gets one shop with ``--reviews`` published product reviews (two per order, written
directly in batches), then the feed is fetched through the app (Flask's test client, the body
streamed and discarded chunk by chunk) while ``tracemalloc`` records the peak of Python
allocations; the process's peak RSS before and after is printed too.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .server import BenchError, create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 5000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/feed", description=__doc__.splitlines()[0])
    p.add_argument("--reviews", type=int, default=100_000,
                   help="published product reviews in the shop (default 100000)")
    p.add_argument("--postgres-url", default=os.environ.get("KINGAVIS_BENCH_POSTGRES_URL",
                                                            DEFAULT_ADMIN_URL))
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return p.parse_args(argv)


def _env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KINGAVIS_", "FLASK_")) and k != "REDIS_URL"}
    env.update({
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "MAIL_URL": f"file://{workdir / 'outbox'}",
        "KINGAVIS_INSTANCE_PATH": str(workdir / "instance"),
        "KINGAVIS_BASE_URL": "https://avis.example.com",
        "KINGAVIS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    return env


def _fill(app: object, reviews: int) -> str:
    """One shop, ``reviews`` published product reviews (2 per order). Returns its slug."""
    from sqlalchemy import insert, select

    from kingavis.extensions import db
    from kingavis.models import Order, Review, ReviewRequest
    from kingavis.shops.service import create_shop

    now = datetime.now(UTC)
    with app.app_context():  # type: ignore[attr-defined]
        shop = create_shop("Atelier bench <&>").shop
        shop_id, slug = shop.id, shop.slug
        orders = (reviews + 1) // 2
        for start in range(0, orders, BATCH):
            numbers = range(start, min(orders, start + BATCH))
            db.session.execute(insert(Order), [
                {"shop_id": shop_id, "external_id": str(n), "reference": f"REF{n:07d}",
                 "placed_at": now - timedelta(days=30), "customer_email": f"c{n}@example.com",
                 "customer_first_name": "Zoë", "customer_last_name": "Łukasiewicz",
                 "created_at": now, "updated_at": now} for n in numbers])
            ids = dict(db.session.execute(
                select(Order.external_id, Order.id).where(
                    Order.shop_id == shop_id, Order.external_id.in_([str(n) for n in numbers]))
            ).all())
            db.session.execute(insert(ReviewRequest), [
                {"shop_id": shop_id, "order_id": ids[str(n)], "state": "sent", "due_at": now,
                 "token": secrets.token_urlsafe(24), "customer_email_hash": f"{n:064d}",
                 "customer_email_normalized": f"c{n}@example.com", "sent_at": now,
                 "created_at": now, "updated_at": now} for n in numbers])
            requests = dict(db.session.execute(
                select(ReviewRequest.order_id, ReviewRequest.id).where(
                    ReviewRequest.order_id.in_(list(ids.values())))
            ).all())
            rows = []
            for n in numbers:
                for k, (product, gtin) in enumerate((("42", "3760123450010"), (f"p{n % 500}", None))):
                    if 2 * n + k >= reviews:
                        break
                    rows.append({
                        "shop_id": shop_id, "order_id": ids[str(n)],
                        "review_request_id": requests[ids[str(n)]], "rating": 1 + (n + k) % 5,
                        "comment": "Très belle robe, <tissu> & \"coupe\" parfaits. " * (1 + n % 4),
                        "status": "published", "created_at": now, "published_at": now,
                        "product_id": product, "product_name": f"Produit {product}",
                        "product_sku": f"SKU-{product}", "product_gtin": gtin,
                        "product_brand": "Atelier Zoë",
                        "product_url": f"https://boutique.example/p/{product}"})
            db.session.execute(insert(Review), rows)
            db.session.commit()
        db.session.remove()
    return slug


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"kingavis_bench_feed_{secrets.token_hex(4)}"
    try:
        url = create_database(args.postgres_url, name)
    except BenchError as exc:
        print(f"bench/feed: {exc}", file=sys.stderr)
        return 2
    database_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        with tempfile.TemporaryDirectory(prefix="kingavis-bench-feed-") as tmp:
            env = _env(database_url, Path(tmp))
            done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                                  cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"flask db upgrade failed:\n{done.stderr[-3000:]}")
            os.environ.clear()
            os.environ.update(env)
            from kingavis import create_app

            app = create_app()
            started = time.monotonic()
            slug = _fill(app, args.reviews)
            print(f"filled {args.reviews} product reviews in {time.monotonic() - started:.1f} s")
            client = app.test_client()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tracemalloc.start()
            started = time.monotonic()
            response = client.get(f"/feeds/v1/{slug}/google-product-reviews.xml", buffered=False)
            size = chunks = reviews = 0
            for chunk in response.iter_encoded():
                size += len(chunk)
                chunks += 1
                reviews += chunk.count(b"<review>")
            response.close()
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(f"feed: status {response.status_code}, {reviews} reviews, {size / 1e6:.1f} MB "
                  f"in {chunks} chunks, {elapsed:.1f} s")
            print(f"peak Python allocations while streaming (tracemalloc): {peak / 1e6:.2f} MB")
            print(f"process peak RSS: {rss_before / 1024:.0f} MB before, "
                  f"{rss_after / 1024:.0f} MB after the feed")
            ok = response.status_code == 200 and reviews == args.reviews
            return 0 if ok else 1
    except BenchError as exc:
        print(f"bench/feed: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            drop_database(args.postgres_url, name)


if __name__ == "__main__":
    raise SystemExit(main())
