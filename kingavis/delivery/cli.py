"""``flask --app wsgi dispatch [--once]`` (comes with the delivery pipeline)."""

from __future__ import annotations

import click


@click.command("dispatch")
@click.option("--once", is_flag=True, help="Run one tick and exit.")
def dispatch_command(once: bool) -> None:
    """Send (or enqueue) every review request that is due."""
    raise click.ClickException("dispatch is not available yet")
