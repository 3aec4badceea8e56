"""Throughput of the public API, the badge and widget.js (docs/publication.md) against a no-op
route, and of a product's summary (docs/product-reviews.md), what ``data-kingavis-product`` asks
for.

Run through ``bench/widget``; ``bench/README.md`` says what it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from .server import BenchError, Server, create_database, drop_database, postgres_cpu, start_gunicorn
from .verify import Checks
from .wrk import RunResult, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Products each shop's reviews are about (each order rates one of them).
PRODUCTS_PER_SHOP = 5
FIRST_NAMES = ["Zoë", "Léa", "Chloé", "Hélène", "Jérôme", "François", "Agnès", "Noël", "Inès", "Loïc"]
LAST_NAMES = ["Łukasiewicz", "Dubois", "Lefèvre", "Müller", "Moreau", "Girard", "Nuñez", "Bérubé"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/widget",
        description="Requests/s and latency of GET /api/v1/shops/<slug>/summary, /reviews, "
                    "/badge.svg and /widget.js against a no-op route on the same gunicorn server, same run, "
                    "same load tool (wrk).",
    )
    p.add_argument("--duration", type=int, default=10, metavar="SECONDS",
                   help="length of each measured run (default 10)")
    p.add_argument("--warmup", type=int, default=5, metavar="SECONDS",
                   help="unmeasured run of the same requests before each measured run, so "
                        "every worker has seen the shops (default 5)")
    p.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    p.add_argument("--shops", type=int, default=300, help="shops with reviews (default 300)")
    p.add_argument("--reviews", type=int, default=20,
                   help="average published reviews per shop (default 20)")
    p.add_argument("--revalidate", type=float, default=0.9,
                   help="share of requests sent with If-None-Match (default 0.9)")
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--requests", type=int, default=20000,
                   help="distinct requests prepared per run, replayed in a loop (default 20000)")
    p.add_argument("--postgres-url", default=os.environ.get("KINGAVIS_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
                   help="PostgreSQL server for the throw-away database (default "
                        "$KINGAVIS_BENCH_POSTGRES_URL or " + DEFAULT_ADMIN_URL + ")")
    p.add_argument("--target", type=float, default=0.8,
                   help="minimum throughput ratio summary/no-op (default 0.8; 0 to not check)")
    p.add_argument("--seed", type=int, default=20261130, help="seed of the load (default fixed)")
    p.add_argument("--keep", action="store_true", help="keep the database and work folder")
    args = p.parse_args(argv)
    if not 1 <= args.duration <= 300 or args.warmup < 0:
        p.error("--duration must be 1 to 300 seconds, --warmup at least 0")
    if args.shops < 1 or args.concurrency < 1 or args.requests < 1:
        p.error("--shops, --concurrency and --requests must be at least 1")
    if not 0 <= args.revalidate <= 1:
        p.error("--revalidate is a share between 0 and 1")
    args.wrk_threads = max(1, min(args.wrk_threads, args.concurrency))
    return args


def service_env(database_url: str, workdir: Path) -> dict[str, str]:
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


def migrate(env: dict[str, str]) -> None:
    import subprocess

    done = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"flask db upgrade failed:\n{done.stderr[-3000:]}")


def create_reviewed_shops(env: dict[str, str], count: int, per_shop: int, seed: int) -> list[str]:
    """Shops (as `shops create` makes them) with published reviews: orders, sent requests and
    reviews written directly, a few busy shops and many small ones. Returns the slugs."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    rng = random.Random(seed)
    try:
        from kingavis import create_app
        from kingavis.extensions import db
        from kingavis.models import Order, Review, ReviewRequest
        from kingavis.shops.service import create_shop

        app = create_app()
        now = datetime.now(UTC)
        slugs = []
        with app.app_context():
            for n in range(1, count + 1):
                shop = create_shop(f"Boutique bench {n:03d}",
                                   language="en" if n % 5 == 0 else "fr").shop
                slugs.append(shop.slug)
                # Pareto: mean ``per_shop``, a long tail of busy shops; every tenth has none yet.
                reviews = 0 if n % 10 == 0 else min(2000, int(rng.paretovariate(1.5) * per_shop / 3))
                for k in range(reviews):
                    placed = now - timedelta(days=rng.uniform(12, 400))
                    order = Order(shop_id=shop.id, external_id=str(k), placed_at=placed,
                                  customer_email=f"c{k}@example.com",
                                  customer_first_name=rng.choice(FIRST_NAMES),
                                  customer_last_name=rng.choice(LAST_NAMES))
                    db.session.add(order)
                    db.session.flush()
                    request = ReviewRequest(shop_id=shop.id, order_id=order.id, state="sent",
                                            due_at=placed + timedelta(days=10),
                                            customer_email_normalized=order.customer_email,
                                            triggered_at=placed, sent_at=placed + timedelta(days=10))
                    db.session.add(request)
                    db.session.flush()
                    published = placed + timedelta(days=rng.uniform(10, 11))
                    db.session.add(Review(
                        shop_id=shop.id, order_id=order.id, review_request_id=request.id,
                        rating=rng.choices([1, 2, 3, 4, 5], [5, 3, 8, 25, 59])[0],
                        comment="Très bien, livraison rapide." if k % 3 else None,
                        status="published", created_at=published, published_at=published,
                        reply_text="Merci !" if k % 7 == 0 else None,
                        reply_published_at=published + timedelta(days=1) if k % 7 == 0 else None,
                    ))
                    product = str(k % PRODUCTS_PER_SHOP)
                    db.session.add(Review(
                        shop_id=shop.id, order_id=order.id, review_request_id=request.id,
                        rating=rng.choices([1, 2, 3, 4, 5], [5, 3, 8, 25, 59])[0],
                        comment="Belle qualité." if k % 2 else None,
                        status="published", created_at=published, published_at=published,
                        product_id=product, product_name=f"Produit {product}",
                        product_gtin="3760123450010", product_brand="Atelier",
                    ))
                db.session.commit()
            db.session.remove()
            db.engine.dispose()
        return slugs
    finally:
        os.environ.clear()
        os.environ.update(saved)


def vacuum(database_url: str) -> None:
    """Statistics and visibility map up to date now, so autovacuum does not run mid-bench."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def current_etag(base_url: str, path: str) -> str:
    with urllib.request.urlopen(base_url + path, timeout=10) as response:  # noqa: S310 - loopback
        if response.status != 200:
            raise BenchError(f"{path} answered {response.status}")
        response.read()
        return response.headers["ETag"]


def raw_request(host: str, path: str, etag: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Accept: */*",
             "Origin: https://shop.example", "User-Agent: bench-widget"]
    if etag:
        lines.append(f"If-None-Match: {etag}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def write_requests(directory: Path, threads: int, requests: list[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for t in range(threads):
        with (directory / f"requests-{t + 1}.bin").open("wb") as out:
            for raw in requests[t::threads]:
                out.write(f"{len(raw)}\n".encode() + raw)


def pick_shops(slugs: list[str], count: int, rng: random.Random) -> list[str]:
    """Page views spread like real traffic: a few shops get most of them (Zipf-like)."""
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(slugs))]
    return rng.choices(slugs, weights, k=count)


def transactions(database_url: str, name: str) -> int:
    """Transactions the database has counted so far. Approximate: a busy backend reports them
    within a second, an idle one within ten, so a run may inherit a few of the run before."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                           "WHERE datname = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


def measure(label: str, wrk: str, server: Server, workdir: Path, requests: list[bytes],
            args: argparse.Namespace, database_url: str, name: str,
            seconds: int | None = None) -> tuple[RunResult, int]:
    directory = workdir / label
    write_requests(directory, args.wrk_threads, requests)
    time.sleep(1.2)
    before_tx = transactions(database_url, name)
    cpu_before = server.cpu_seconds()
    pg_before = postgres_cpu(name)
    result = run_wrk(wrk, label, server.base_url, directory, args.wrk_threads, args.concurrency,
                     seconds or args.duration, until_done=False, cycle=True)
    result.server_cpu_seconds = server.cpu_seconds() - cpu_before
    pg_after = postgres_cpu(name)
    result.postgres_cpu_seconds = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
    time.sleep(1.2)
    # Minus the one transaction of this measurement itself.
    return result, max(0, transactions(database_url, name) - before_tx - 1)


def statuses(result: RunResult) -> str:
    return " ".join(f"{code}×{n}" for code, n in sorted(result.statuses.items())) or "none"


def report(runs: list[tuple[RunResult, int]], args: argparse.Namespace) -> Checks:
    baseline = runs[0][0]

    def row(name: str, value: Callable[[RunResult, int], object], fmt: str = "{:.1f}") -> None:
        cells = [fmt.format(value(r, tx)) for r, tx in runs]
        print(f"{name:28}" + "".join(f"{c:>20}" for c in cells))

    print()
    print(f"{'':28}" + "".join(f"{r.label:>20}" for r, _ in runs))
    row("requests answered", lambda r, tx: r.answered, "{}")
    row("time (s)", lambda r, tx: r.seconds)
    row("throughput (req/s)", lambda r, tx: r.throughput)
    row("ratio to the no-op", lambda r, tx: r.throughput / baseline.throughput
        if baseline.throughput else 0, "{:.2f}")
    row("latency p50 (ms)", lambda r, tx: r.latency_ms("p50"), "{:.2f}")
    row("latency p99 (ms)", lambda r, tx: r.latency_ms("p99"), "{:.2f}")
    row("latency max (ms)", lambda r, tx: r.latency_ms("max"), "{:.1f}")
    row("gunicorn CPU ms/req", lambda r, tx: r.cpu_ms_per_request, "{:.3f}")
    row("PostgreSQL CPU ms/req", lambda r, tx: r.postgres_ms_per_request, "{:.4f}")
    row("DB transactions /1000 req", lambda r, tx: 1000 * tx / r.answered if r.answered else 0,
        "{:.2f}")
    row("status codes", lambda r, tx: statuses(r), "{}")
    row("socket errors", lambda r, tx: r.socket_errors, "{}")
    checks = Checks()
    for result, _ in runs:
        unexpected = {s: n for s, n in result.statuses.items() if s not in (200, 304)}
        checks.check(not unexpected and result.socket_errors == 0,
                     f"{result.label}: only 200 and 304, no socket error ({statuses(result)})")
    summary = next(r for r, _ in runs if r.label == "summary")
    ratio = summary.throughput / baseline.throughput if baseline.throughput else 0.0
    if args.target > 0:
        checks.check(ratio >= args.target,
                     f"throughput ratio summary/no-op {ratio:.2f} >= target {args.target}")
    product = next((r for r, _ in runs if r.label == "product-summary"), None)
    if product is not None and args.target > 0:
        ratio = product.throughput / baseline.throughput if baseline.throughput else 0.0
        checks.check(ratio >= args.target,
                     f"throughput ratio product summary/no-op {ratio:.2f} >= target {args.target}")
    return checks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except BenchError as exc:
        print(f"bench/widget: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    name = f"kingavis_bench_widget_{datetime.now(UTC):%Y%m%d%H%M%S}_{os.getpid()}"
    print(f"King-Avis public API benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"  {args.duration} s per run after a {args.warmup} s warm-up; {args.concurrency} "
          f"connections ({args.wrk_threads} wrk threads); {args.shops} shops; "
          f"{args.revalidate:.0%} of requests revalidate with If-None-Match; gunicorn gthread "
          f"{args.workers} workers x {args.threads} threads; PostgreSQL")
    load1, _, _ = os.getloadavg()
    print(f"  load average before the run: {load1:.2f}"
          + (" — other processes are busy on this machine: absolute figures will be lower "
             "than on a quiet one" if load1 > 0.5 * (os.cpu_count() or 1) else ""))
    database_url = create_database(args.postgres_url, name)
    workdir = Path(tempfile.mkdtemp(prefix="kingavis-bench-widget-"))
    server: Server | None = None
    try:
        env = service_env(database_url, workdir)
        print(f"  database {name}: migrating, creating {args.shops} shops with reviews …",
              flush=True)
        migrate(env)
        slugs = create_reviewed_shops(env, args.shops, args.reviews, args.seed)
        vacuum(database_url)
        server = start_gunicorn(ROOT, env, args.workers, args.threads, workdir / "gunicorn.log")
        print(f"  service listening on {server.base_url} (pid {server.process.pid})", flush=True)
        host = f"127.0.0.1:{server.port}"
        rng = random.Random(args.seed)
        summary_tags = {s: current_etag(server.base_url, f"/api/v1/shops/{s}/summary") for s in slugs}
        review_path = "/api/v1/shops/{}/reviews?per_page=3"
        review_tags = {s: current_etag(server.base_url, review_path.format(s)) for s in slugs}
        widget_tag = current_etag(server.base_url, "/widget.js")
        badge_path = "/api/v1/shops/{}/badge.svg"
        badge_tags = {s: current_etag(server.base_url, badge_path.format(s)) for s in slugs}
        product_path = "/api/v1/shops/{}/products/{}/summary"
        product_tags = {(s, p): current_etag(server.base_url, product_path.format(s, p))
                        for s in slugs for p in range(PRODUCTS_PER_SHOP)}

        def revalidates() -> bool:
            return rng.random() < args.revalidate

        views = pick_shops(slugs, args.requests, rng)
        plans = {
            "no-op": [raw_request(host, "/bench/noop", '"noop"' if revalidates() else None)
                      for _ in views],
            "summary": [raw_request(host, f"/api/v1/shops/{s}/summary",
                                    summary_tags[s] if revalidates() else None) for s in views],
            "reviews": [raw_request(host, review_path.format(s),
                                    review_tags[s] if revalidates() else None) for s in views],
            "widget.js": [raw_request(host, "/widget.js", widget_tag if revalidates() else None)
                          for _ in views],
            "product-summary": [
                raw_request(host, product_path.format(s, p), product_tags[(s, p)]
                            if revalidates() else None)
                for s, p in ((s, rng.randrange(PRODUCTS_PER_SHOP)) for s in views)],
            "badge": [raw_request(host, badge_path.format(s),
                                  badge_tags[s] if revalidates() else None) for s in views],
        }
        runs = []
        for label, requests in plans.items():
            if args.warmup:
                # Each run after its own warm-up: a widget in use has its entries in every
                # worker; a run that starts cold measures the misses of filling them (on a
                # loaded machine most of a short run), not what a page view costs.
                print(f"  {label}: warm-up ({args.warmup} s) …", flush=True)
                measure("warmup", wrk, server, workdir, requests, args, database_url, name,
                        seconds=args.warmup)
            print(f"  {label}: {len(requests)} requests replayed in a loop for {args.duration} s …",
                  flush=True)
            runs.append(measure(label, wrk, server, workdir, requests, args, database_url, name))
        checks = report(runs, args)
        tracebacks = server.tracebacks()
        checks.check(not tracebacks, f"the service logged no traceback ({len(tracebacks)})")
        print()
        for ok, text in checks.lines:
            print(f"{'OK  ' if ok else 'FAIL'} {text}")
        if tracebacks:
            print("\nfirst traceback:\n" + tracebacks[0])
        print()
        print("RESULT: OK" if checks.ok else "RESULT: FAIL")
        if args.keep:
            (workdir / "etags.json").write_text(json.dumps(summary_tags))
        return 0 if checks.ok else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"  kept database {name} and {workdir}")
        else:
            drop_database(args.postgres_url, name)
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
