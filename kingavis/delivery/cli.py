"""``flask --app wsgi dispatch [--once]`` and ``shops pause|resume KEY``.

The ``dispatch`` loop also runs the personal data retention job once a day (at start, then
every 24 hours), so an install without ``rq cron`` applies retention too; the job is
idempotent, so running it from both is harmless.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from types import FrameType

import click
from sqlalchemy.exc import SQLAlchemyError

from kingavis.cli_support import OneLineCommand
from kingavis.extensions import db
from kingavis.mail_headers import check_python_email

log = logging.getLogger("kingavis.delivery")


RETENTION_EVERY_SECONDS = 24 * 3600


def _tick_once() -> str:
    from kingavis.delivery.dispatcher import tick

    return tick().summary()


def retention_due(last_run: float | None, now: float) -> bool:
    """Whether the loop runs the retention job now: never run yet, or a day since the last."""
    return last_run is None or now - last_run >= RETENTION_EVERY_SECONDS


def _retention_once() -> None:
    from kingavis.personal_data.retention import run_retention

    done = run_retention()
    if any(done.values()):
        click.echo(f"retention: {sum(done.values())} order(s) anonymised")


@click.command("dispatch", cls=OneLineCommand)
@click.option("--once", is_flag=True, help="Run one tick and exit.")
@click.option(
    "--interval",
    type=click.IntRange(1, 3600),
    default=60,
    show_default=True,
    help="Seconds between ticks (without --once).",
)
def dispatch_command(once: bool, interval: int) -> None:
    """Send (or enqueue) every review request that is due."""
    if once:
        try:
            click.echo(_tick_once())
        except Exception as exc:
            db.session.rollback()
            raise click.ClickException(_one_line(exc)) from None
        return

    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    check_python_email()  # docs/email-headers.md
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    click.echo(f"dispatcher started: a tick every {interval} s (Ctrl-C or SIGTERM stops it)")
    retention_ran: float | None = None
    try:
        while not stop.is_set():
            try:
                if retention_due(retention_ran, time.monotonic()):
                    retention_ran = time.monotonic()
                    _retention_once()
                summary = _tick_once()
                if "claimed 0" not in summary:
                    click.echo(summary)
            except Exception as exc:
                # A database or Redis outage: say so and try again at the next tick.
                db.session.rollback()
                log.error("dispatcher tick failed", extra={"fields": {"error": _one_line(exc)}})
            finally:
                db.session.remove()
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("dispatcher stopped")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        text = str(getattr(exc, "orig", None) or exc)
        return "database error: " + text.strip().splitlines()[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


@click.command("pause", cls=OneLineCommand)
@click.argument("key")
def shops_pause(key: str) -> None:
    """Pause a shop's automation: due review requests wait, nothing is lost."""
    _set_paused(key, True)


@click.command("resume", cls=OneLineCommand)
@click.argument("key")
def shops_resume(key: str) -> None:
    """Resume a shop's automation: requests that came due meanwhile go out at the next tick."""
    _set_paused(key, False)


def _set_paused(key: str, paused: bool) -> None:
    """The back-office's pause service (same audit entry, actor: the command line)."""
    from kingavis.accounts import audit
    from kingavis.delivery.service import waiting_count
    from kingavis.shops import settings
    from kingavis.shops.service import ShopError, describe, get_shop

    try:
        shop = get_shop(key)
        settings.set_paused(shop, audit.CLI, paused)
    except ShopError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    out = describe(shop)
    out["due_now"] = waiting_count(shop)
    click.echo(json.dumps(out))
