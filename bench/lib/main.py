"""Throughput of POST /webhooks/v1/<key>/order-status against a no-op baseline.

Run through ``bench/webhooks``; ``bench/README.md`` says what it measures.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .load import Plan, ShopCredentials, make_plan, write_requests
from .server import (
    BenchError,
    Server,
    create_database,
    drop_database,
    postgres_cpu,
    start_gunicorn,
)
from .verify import Checks, outcome_counts, verify
from .wrk import RunResult, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE_SECONDS = 300  # docs/webhooks.md: webhook-timestamp within ±5 minutes
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/webhooks",
        description="Throughput of the order-status webhook endpoint vs a no-op route on the "
                    "same gunicorn server, then a durability and correctness check.",
    )
    p.add_argument("--requests", type=int, default=None,
                   help="requests per run, replays included (default 6000; with --duration: "
                        "the pool of pre-signed requests, default 400 per second of duration)")
    p.add_argument("--duration", type=int, default=None, metavar="SECONDS",
                   help="equal duration instead of equal number of requests (at most 240)")
    p.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    p.add_argument("--shops", type=int, default=50, help="shops sending webhooks (default 50)")
    p.add_argument("--replays", type=float, default=0.02,
                   help="share of deliveries repeating an earlier webhook id (default 0.02)")
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--max-seconds", type=int, default=150,
                   help="give up on a run after this long (default 150)")
    p.add_argument("--rate-limit", type=int, default=1_000_000,
                   help="KINGAVIS_WEBHOOK_RATE_LIMIT for the service, req/s per shop; high "
                        "enough that no request is refused (default 1000000; 0 turns it off)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                   help=f"REDIS_URL for the service, flushed first ('' for none; default {DEFAULT_REDIS_URL})")
    p.add_argument("--postgres-url", default=os.environ.get("KINGAVIS_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
                   help="PostgreSQL server to create the throw-away database on (default "
                        "$KINGAVIS_BENCH_POSTGRES_URL or " + DEFAULT_ADMIN_URL + ")")
    p.add_argument("--log-level", default="INFO", help="KINGAVIS_LOG_LEVEL for the service (default INFO)")
    p.add_argument("--target", type=float, default=0.5,
                   help="minimum throughput ratio service/baseline (default 0.5; 0 to not check)")
    p.add_argument("--seed", type=int, default=20261124, help="seed of the load (default fixed)")
    p.add_argument("--profile", metavar="DIR", default=None,
                   help="record the service run with py-spy (pip install py-spy) into DIR")
    p.add_argument("--statements", type=int, default=200, metavar="N",
                   help="afterwards, send N more webhooks one at a time in-process and time "
                        "each SQL statement (default 200; 0 to skip)")
    p.add_argument("--no-floor", dest="floor", action="store_false",
                   help="skip the floor run (signature check + one durable INSERT only)")
    p.add_argument("--keep", action="store_true", help="keep the database and work folder")
    args = p.parse_args(argv)
    if args.duration is not None and not 1 <= args.duration <= 240:
        p.error("--duration must be between 1 and 240 seconds (signatures expire after 5 minutes)")
    if args.requests is None:
        args.requests = 6000 if args.duration is None else 400 * args.duration
    if args.requests < 1 or args.shops < 1 or args.concurrency < 1:
        p.error("--requests, --shops and --concurrency must be at least 1")
    if not 0 <= args.replays < 0.5:
        p.error("--replays must be a share between 0 and 0.5")
    if args.max_seconds > 240:
        p.error("--max-seconds must be at most 240 (signatures expire after 5 minutes)")
    args.wrk_threads = max(1, min(args.wrk_threads, args.concurrency))
    return args


def service_env(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINGAVIS_", "FLASK_"))}
    env.update({
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "MAIL_URL": f"file://{workdir / 'outbox'}",
        "KINGAVIS_INSTANCE_PATH": str(workdir / "instance"),
        "KINGAVIS_WEBHOOK_RATE_LIMIT": str(args.rate_limit),
        "KINGAVIS_LOG_LEVEL": args.log_level,
        "PYTHONPATH": str(ROOT),
    })
    env.pop("REDIS_URL", None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    return env


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"flask db upgrade failed:\n{done.stderr[-3000:]}")


def create_floor_table(database_url: str) -> None:
    """The floor route's table: the raw body, unique per shop and webhook id (replays)."""
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_floor_events (id bigserial PRIMARY KEY, shop_key text "
                     "NOT NULL, webhook_id text NOT NULL, body json NOT NULL, "
                     "UNIQUE (shop_key, webhook_id))")


def create_shops(env: dict[str, str], count: int) -> list[ShopCredentials]:
    """In-process, with the app, as `shops create` does."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({**env, "KINGAVIS_LOG_LEVEL": "WARNING"})
    try:
        from kingavis import create_app
        from kingavis.extensions import db
        from kingavis.shops.service import create_shop

        app = create_app()
        with app.app_context():
            shops = [create_shop(f"Boutique bench {n:03d}") for n in range(1, count + 1)]
            credentials = [ShopCredentials(key=c.shop.key, secret=c.secret) for c in shops]
            db.session.remove()
            db.engine.dispose()
        return credentials
    finally:
        os.environ.clear()
        os.environ.update(saved)


def flush_redis(url: str) -> None:
    from redis import Redis

    try:
        Redis.from_url(url, socket_connect_timeout=3).flushdb()
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        raise BenchError(f"cannot reach Redis at {url}: {exc} (or pass --redis-url '')") from None


def run_one(label: str, path_for: Any, plan: Plan, shops: list[ShopCredentials],
            server: Server, args: argparse.Namespace, wrk: str, workdir: Path,
            database: str) -> RunResult:
    directory = workdir / label
    directory.mkdir()
    secret_by_key = {s.key: s.secret for s in shops}
    # Signed right before the run: the timestamps must be fresh when the requests arrive.
    write_requests(plan, secret_by_key, directory, args.wrk_threads,
                   f"127.0.0.1:{server.port}", path_for)
    seconds = args.duration if args.duration is not None else args.max_seconds
    print(f"  {label}: {len(plan.events)} requests signed, running "
          f"({'for ' + str(seconds) + ' s' if args.duration else 'until all are answered'}) …",
          flush=True)
    started = time.monotonic()
    cpu_before = server.cpu_seconds()
    pg_before = postgres_cpu(database)
    result = run_wrk(wrk, label, server.base_url, directory, args.wrk_threads, args.concurrency,
                     seconds, until_done=args.duration is None,
                     cycle=args.duration is not None and label == "baseline")
    result.server_cpu_seconds = server.cpu_seconds() - cpu_before
    pg_after = postgres_cpu(database)
    result.postgres_cpu_seconds = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
    if args.duration is not None and result.seconds < 0.9 * args.duration:
        print(f"  note: the {label} run used up its {len(plan.events)} requests after "
              f"{result.seconds:.1f} s; raise --requests for a full {args.duration} s run",
              flush=True)
    if time.monotonic() - started > TOLERANCE_SECONDS - 20:
        print(f"  warning: the {label} run took over {TOLERANCE_SECONDS - 20} s; the last "
              "requests' signatures were close to expiry", flush=True)
    return result


def start_profiler(server: Server, directory: Path, seconds: int) -> list[subprocess.Popen[bytes]]:
    py_spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in server.worker_pids():
        procs.append(subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
             "--format", "raw", "--output", str(directory / f"worker-{pid}.txt"), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1)  # let py-spy attach
    return procs


def stop_profiler(procs: list[subprocess.Popen[bytes]], directory: Path | None) -> None:
    """py-spy writes its samples when interrupted; then the hottest functions are printed."""
    if not procs or directory is None:
        return
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    from .profile import summarize

    print(summarize(sorted(directory.glob("worker-*.txt"))))


def fmt_statuses(result: RunResult) -> str:
    return " ".join(f"{code}×{n}" for code, n in sorted(result.statuses.items())) or "none"


def report(baseline: RunResult, floor: RunResult | None, service: RunResult,
           args: argparse.Namespace) -> Checks:
    runs = [baseline] + ([floor] if floor is not None else []) + [service]

    def row(name: str, value: Any, ratio: bool = False, fmt: str = "{:.1f}") -> None:
        cells = [fmt.format(value(run)) if callable(value) else str(value) for run in runs]
        ratios = ""
        if ratio:
            first = value(baseline)
            ratios = " ".join(f"{value(run) / first:.2f}" if first else "-" for run in runs[1:])
        print(f"{name:22}" + "".join(f"{cell:>22}" for cell in cells) + f"  {ratios}")

    headers = ["baseline /bench/noop"] + (["floor /bench/floor"] if floor is not None else [])
    headers.append("service order-status")
    print()
    print(f"{'':22}" + "".join(f"{h:>22}" for h in headers) + "  ratio to baseline"
          + (" (floor, service)" if floor is not None else ""))
    row("requests answered", lambda r: r.answered, fmt="{}")
    row("time (s)", lambda r: r.seconds)
    row("throughput (req/s)", lambda r: r.throughput, ratio=True)
    row("latency p50 (ms)", lambda r: r.latency_ms("p50"), ratio=True)
    row("latency p99 (ms)", lambda r: r.latency_ms("p99"), ratio=True)
    row("latency max (ms)", lambda r: r.latency_ms("max"))
    row("gunicorn CPU ms/req", lambda r: r.cpu_ms_per_request, ratio=True, fmt="{:.2f}")
    row("PostgreSQL CPU ms/req", lambda r: r.postgres_ms_per_request, fmt="{:.2f}")
    row("status codes", fmt_statuses, fmt="{}")
    row("socket errors", lambda r: r.socket_errors, fmt="{}")
    outcomes = outcome_counts(service)
    print("service outcomes (202): " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    checks = Checks()
    if floor is not None and baseline.throughput:
        ceiling = floor.throughput / baseline.throughput
        print(f"ceiling: verifying the signature and storing the raw body durably, and nothing "
              f"else, reaches {ceiling:.2f} of the baseline on this machine; no implementation "
              f"of the endpoint can do more than that (the service reaches "
              f"{service.throughput / floor.throughput:.2f} of the floor)")
    if args.target > 0:
        ratio = service.throughput / baseline.throughput if baseline.throughput else 0.0
        checks.check(ratio >= args.target,
                     f"throughput ratio service/baseline {ratio:.2f} >= target {args.target}")
    return checks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except BenchError as exc:
        print(f"bench/webhooks: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    name = f"kingavis_bench_{datetime.now(UTC):%Y%m%d%H%M%S}_{os.getpid()}"
    mode = (f"equal duration, {args.duration} s each" if args.duration
            else f"equal number of requests, {args.requests} each")
    print(f"King-Avis webhook benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"  {mode}; {args.concurrency} connections ({args.wrk_threads} wrk threads); "
          f"{args.shops} shops; gunicorn gthread {args.workers} workers x {args.threads} threads")
    print(f"  rate limit: KINGAVIS_WEBHOOK_RATE_LIMIT={args.rate_limit} req/s per shop "
          f"({'off' if args.rate_limit == 0 else 'on, high enough that no request is refused'}); "
          f"REDIS_URL={args.redis_url or 'unset'}; durable commits (PostgreSQL defaults)")
    load1, _, _ = os.getloadavg()
    print(f"  load average before the run: {load1:.2f}"
          + (" — other processes are busy on this machine: the figures will be lower than on a "
             "quiet one" if load1 > 0.5 * (os.cpu_count() or 1) else ""))
    database_url = create_database(args.postgres_url, name)
    workdir = Path(tempfile.mkdtemp(prefix="kingavis-bench-"))
    server: Server | None = None
    try:
        env = service_env(args, database_url, workdir)
        if args.redis_url:
            flush_redis(args.redis_url)
        print(f"  database {name}: migrating, creating {args.shops} shops …", flush=True)
        migrate(env)
        shops = create_shops(env, args.shops)
        plan = make_plan(shops, args.requests, args.replays, args.seed)
        print(f"  load: {len(plan.events)} deliveries = {plan.distinct_ids} webhooks + "
              f"{plan.replays} replays, {plan.orders} orders over {plan.shops} shops", flush=True)
        server = start_gunicorn(ROOT, env, args.workers, args.threads, workdir / "gunicorn.log")
        print(f"  service listening on {server.base_url} (pid {server.process.pid})", flush=True)

        baseline = run_one("baseline", lambda key: "/bench/noop", plan, shops, server, args, wrk,
                           workdir, name)
        floor = None
        if args.floor:
            create_floor_table(database_url)
            floor = run_one("floor", lambda key: f"/bench/floor/{key}", plan, shops, server,
                            args, wrk, workdir, name)
        profilers = []
        if args.profile:
            profilers = start_profiler(server, Path(args.profile),
                                       args.duration or args.max_seconds)
        service = run_one("service", lambda key: f"/webhooks/v1/{key}/order-status", plan, shops,
                          server, args, wrk, workdir, name)
        stop_profiler(profilers, Path(args.profile) if args.profile else None)
        checks = report(baseline, floor, service, args)
        complete = args.duration is None
        for run in (baseline, floor, service):
            if run is None:
                continue
            if complete and run.stopped_by_deadline:
                checks.check(False, f"{run.label} run finished within --max-seconds "
                                    f"{args.max_seconds} (lower --requests)")
        baseline_ok = [s for s in baseline.statuses if s != 202]
        checks.check(not baseline_ok, f"baseline: every answer is 202 ({fmt_statuses(baseline)})")
        if floor is not None:
            floor_ok = [s for s in floor.statuses if s != 202]
            checks.check(not floor_ok, f"floor: every answer is 202 ({fmt_statuses(floor)})")
        checks.lines.extend(verify(database_url, plan, service, complete).lines)
        print()
        tracebacks = server.tracebacks()
        if args.statements > 0:
            from .statements import statement_profile

            extra = make_plan(shops, args.statements, 0, args.seed + 1, first_order=900000)
            print(statement_profile(env, extra, shops))
            print()
        checks.check(not tracebacks, f"the service logged no traceback ({len(tracebacks)})")
        for ok, text in checks.lines:
            print(f"{'OK  ' if ok else 'FAIL'} {text}")
        if tracebacks:
            print("\nfirst traceback:\n" + tracebacks[0])
        print()
        passed = checks.ok
        print("RESULT: OK" if passed else "RESULT: FAIL")
        return 0 if passed else 1
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
