"""Command line (docs/command-line.md): ``flask --app wsgi shops …``, ``users …``, ``customers …``.

Every command validates its input first; errors exit non-zero with one line on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from flask_babel import force_locale

from kingavis.accounts import audit
from kingavis.accounts.users import UserError, create_operator, create_user
from kingavis.cli_support import OneLineGroup, one_line
from kingavis.extensions import db
from kingavis.reviews.public import public_url
from kingavis.shops import settings
from kingavis.shops.presets import PLATFORMS
from kingavis.shops.rules import RuleError
from kingavis.shops.service import ShopError, create_shop, describe, get_shop, webhook_url

shops_cli = OneLineGroup("shops", help="Create and configure shops.")
users_cli = OneLineGroup("users", help="Back-office accounts.")
customers_cli = OneLineGroup("customers", help="Customers' personal data: erase, export.")


def _hour(value: str) -> int | None:
    if value.strip().lower() == "none":
        return None
    try:
        hour = int(value)
    except ValueError:
        raise click.BadParameter(f"expected an hour 0-23 or 'none', got {value!r}",
                                 param_hint="'--send-hour'") from None
    if not 0 <= hour <= 23:
        raise click.BadParameter(f"expected an hour 0-23 or 'none', got {value!r}",
                                 param_hint="'--send-hour'")
    return hour


@shops_cli.command("create")
@click.option("--name", required=True, help="The shop's display name (used in emails).")
@click.option("--timezone", default="Europe/Paris", show_default=True, help="IANA time zone.")
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--platform", type=click.Choice(list(PLATFORMS)), default="prestashop",
              show_default=True, help="Where the shop's events come from (docs/platforms.md).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def shops_create(name: str, timezone: str, language: str, platform: str, as_json: bool) -> None:
    """Create a shop with its platform's preset and print its webhook credentials."""
    try:
        created = create_shop(name, timezone=timezone, language=language, platform=platform)
    except ShopError as exc:
        db.session.rollback()
        raise click.ClickException(one_line(str(exc))) from None
    out = {
        "key": created.shop.key,
        "webhook_url": webhook_url(created.shop),
        "webhook_secret": created.secret,
        "public_url": public_url(created.shop),
    }
    if as_json:
        click.echo(json.dumps(out))
    else:
        for k, v in out.items():
            click.echo(f"{k}: {v}")


# Which option each field of a RuleError comes from, to name it in the one-line error.
CONFIGURE_OPTIONS = {
    "trigger_status_ids": "--trigger-status",
    "cancel_status_ids": "--cancel-status",
    "delay_days": "--delay-days",
    "send_hour": "--send-hour",
    "timezone": "--timezone",
}


def rule_error_line(exc: RuleError) -> str:
    """A RuleError on one line, each message after the option it is about."""
    parts = []
    for name, messages in exc.errors.items():
        option = CONFIGURE_OPTIONS.get(name)
        text = " ".join(str(m) for m in messages)
        parts.append(f"{option}: {text}" if option else text)
    return one_line(" ".join(parts))


@shops_cli.command("configure")
@click.argument("key")
@click.option("--delay-days", type=click.IntRange(0, 365), help="Days after the trigger status.")
@click.option("--send-hour", help="Local hour 0-23 to send at, or 'none'.")
@click.option("--timezone", help="IANA time zone of the rule.")
@click.option("--trigger-status", "triggers", multiple=True, help="Trigger status id (repeat).")
@click.option("--cancel-status", "cancels", multiple=True, help="Cancel status id (repeat).")
@click.option("--platform-secret", "platform_secrets", multiple=True,
              help="Shopify's (or WooCommerce's) signing secret; repeat: every one given is valid.")
@click.option("--product-reviews", "product_reviews", type=int,
              help="How many of an order's products the questionnaire asks about (0-10, 0 = off).")
def shops_configure(
    key: str,
    delay_days: int | None,
    send_hour: str | None,
    timezone: str | None,
    triggers: tuple[str, ...],
    cancels: tuple[str, ...],
    platform_secrets: tuple[str, ...],
    product_reviews: int | None,
) -> None:
    """Change the active rule, cancel statuses, platform secrets and products to review of a shop.

    The back-office's service, checks and audit entries (actor: the command line), its messages
    in English.
    """
    try:
        hour = settings.KEEP if send_hour is None else _hour(send_hour)
        shop = get_shop(key)
        with force_locale("en"):
            try:
                settings.configure(
                    shop, audit.CLI,
                    delay_days=delay_days,
                    send_hour=hour,
                    timezone=timezone,
                    trigger_status_ids=list(triggers) if triggers else None,
                    cancel_status_ids=list(cancels) if cancels else None,
                    platform_secrets=list(platform_secrets) if platform_secrets else None,
                    product_review_count=product_reviews,
                )
            except RuleError as exc:
                raise click.ClickException(rule_error_line(exc)) from None
    except (ShopError, click.BadParameter, click.ClickException) as exc:
        db.session.rollback()
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        raise click.ClickException(one_line(message)) from None
    click.echo(json.dumps(describe(shop)))


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--shop", "shop_key", help="Key of the shop the account manages.")
@click.option("--operator", is_flag=True, help="A King-Avis operator (moderation), no shop.")
def users_create(email: str, shop_key: str | None, operator: bool) -> None:
    """Create a back-office account for a shop (--shop KEY) or a King-Avis operator
    (--operator); the password is read from stdin.

    On a terminal it is prompted for (hidden, asked twice); otherwise the first line of
    standard input is the password (``printf '%s\\n' "$PASSWORD" | flask … users create …``).
    """
    if operator == bool(shop_key):
        raise click.ClickException("give exactly one of --shop KEY or --operator")
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if operator:
        try:
            user = create_operator(email, password)
        except UserError as exc:
            db.session.rollback()
            raise click.ClickException(one_line(str(exc))) from None
        click.echo(f"created operator account {user.email}")
        return
    assert shop_key is not None
    try:
        shop = get_shop(shop_key)
        user, created = create_user(email, password, shop)
    except (ShopError, UserError) as exc:
        db.session.rollback()
        raise click.ClickException(one_line(str(exc))) from None
    if created:
        click.echo(f"created account {user.email} for shop {shop.key}")
    else:
        click.echo(f"gave {user.email} access to shop {shop.key} (password unchanged)")


@contextmanager
def _customer_shop(shop_key: str) -> Iterator:
    """Yields the shop of ``shop_key``. A shop or customer refused (here or in the ``with``
    block): the transaction rolled back, one line on stderr."""
    from kingavis.personal_data.customers import PersonalDataError

    try:
        yield get_shop(shop_key)
    except (ShopError, PersonalDataError) as exc:
        db.session.rollback()
        raise click.ClickException(one_line(str(exc))) from None


def _customer_options(command: click.decorators.FC) -> click.decorators.FC:
    """The options of every customers command: --shop, then --email."""
    command = click.option("--email", required=True,
                           help="The customer's email address (any case).")(command)
    return click.option("--shop", "shop_key", required=True, help="Key of the shop.")(command)


@customers_cli.command("erase")
@_customer_options
def customers_erase(shop_key: str, email: str) -> None:
    """Erase the customer's personal data in that shop and print the JSON summary."""
    from kingavis.personal_data.erasure import erase_customer

    with _customer_shop(shop_key) as shop:
        result = erase_customer(shop, email, source="cli")
    click.echo(json.dumps({"shop": shop.key, **result.body}))


@customers_cli.command("export")
@_customer_options
def customers_export(shop_key: str, email: str) -> None:
    """Print, as one JSON document, every piece of personal data held about the customer."""
    from kingavis.personal_data.export import export_customer, record_export

    with _customer_shop(shop_key) as shop:
        document = export_customer(shop, email)
        record_export(shop, email, user=None, source="cli")
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


def register(app: Flask) -> None:
    from kingavis.deliverability.cli import mail_cli
    from kingavis.delivery.cli import dispatch_command, shops_pause, shops_resume

    for command in (shops_pause, shops_resume):
        shops_cli.add_command(command)
    app.cli.add_command(shops_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(customers_cli)
    app.cli.add_command(dispatch_command)
    app.cli.add_command(mail_cli)
