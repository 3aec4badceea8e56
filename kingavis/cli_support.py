"""Commands whose every error is one ``Error: …`` line: the contract's CLI convention.

Shared by every command group (``kingavis.cli``, ``kingavis.delivery.cli``).
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from kingavis.extensions import db


def one_line(message: str) -> str:
    """A message on one line (newlines and runs of spaces made single spaces)."""
    return " ".join(message.split())


class OneLineCommand(click.Command):
    """A command whose every error is one ``Error: …`` line on stderr and a non-zero exit.

    Click prints usage errors (bad option value, missing option) as several lines of usage and
    hints; the contract asks for one clear line. Database failures are turned into one line too,
    after rolling back, so nothing is half-written.
    """

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise click.ClickException(one_line(exc.format_message())) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            db.session.rollback()
            lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            detail = lines[0] if lines else type(exc).__name__
            raise click.ClickException(one_line(f"database error: {detail}")) from None


class OneLineGroup(AppGroup):
    command_class = OneLineCommand

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise click.ClickException(one_line(exc.format_message())) from None
