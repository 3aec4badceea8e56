"""``flask mail receive|serve|check-domain`` (docs/deliverability.md).

``receive`` reads one message on standard input, for an MTA's pipe transport; it exits 0 once
the message is processed (acted on, or kept for the operator) and 75 (EX_TEMPFAIL: the MTA
tries again later) when it could not be. ``serve`` is the same behind an SMTP listener.
``check-domain`` checks the DNS records of the sending domain.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

import click
from flask import current_app
from flask_babel import force_locale

from kingavis.cli_support import OneLineGroup, one_line
from kingavis.deliverability.parsing import MAX_MESSAGE_BYTES, recipients_of
from kingavis.delivery.envelope import at_bounce_domain

mail_cli = OneLineGroup("mail", help="Bounces, complaints and the sending domain.")
EX_TEMPFAIL = 75


def _bounce_domain() -> str:
    domain = current_app.config.get("KINGAVIS_BOUNCE_DOMAIN")
    if not domain:
        raise click.ClickException("KINGAVIS_BOUNCE_DOMAIN is not set: there is no bounce "
                                   "address to receive mail for")
    return str(domain)


def _header_recipient(raw: bytes, domain: str) -> str | None:
    """The first Delivered-To / X-Original-To address at the bounce domain (MTAs add these
    on top of the message; only the headers before the first blank line are read)."""
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    from email.parser import HeaderParser

    headers = HeaderParser().parsestr(head + "\n")
    for name in ("Delivered-To", "X-Original-To"):
        for value in headers.get_all(name) or []:
            for address in recipients_of(str(value)):
                if at_bounce_domain(address, domain):
                    return address
    return None


@mail_cli.command("receive")
@click.option("--recipient", default=None, help="The envelope recipient (else Delivered-To / "
              "X-Original-To names it).")
def mail_receive(recipient: str | None) -> None:
    """Process one bounce or complaint read on standard input."""
    from kingavis.deliverability.service import receive

    domain = _bounce_domain()
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    if recipient is None:
        recipient = _header_recipient(raw, domain)
    try:
        outcome = receive(raw, recipient=recipient)
    except Exception as exc:
        click.echo(f"Error: not processed, try again later: {one_line(type(exc).__name__)}",
                   err=True)
        sys.exit(EX_TEMPFAIL)
    click.echo(json.dumps({"action": outcome.action, "why": outcome.why,
                           "review_request": outcome.review_request_id}))


@mail_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), required=True)
def mail_serve(host: str, port: int) -> None:
    """Listen for bounces and complaints over SMTP until stopped."""
    from kingavis.deliverability.smtp import start

    _bounce_domain()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        controller = start(app, host, port)
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {one_line(str(exc))}") from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"listening on {host}:{port}", err=True)
    try:
        stop.wait()
    finally:
        controller.stop()


@mail_cli.command("check-domain")
@click.option("--nameserver", default=None, help="Ask this DNS server (IP[:PORT]).")
def mail_check_domain(nameserver: str | None) -> None:
    """Check SPF, DKIM and DMARC of the sending domain; exit 1 when something is wrong."""
    from kingavis.deliverability.domain import DomainCheckError, check_domain, report_lines

    try:
        with force_locale("en"):  # the command line speaks English, as every command does
            findings = check_domain(current_app.config, nameserver=nameserver)
    except DomainCheckError as exc:
        raise click.ClickException(one_line(str(exc))) from None
    for line in report_lines(findings):
        click.echo(line)
    sys.exit(0 if all(f.ok for f in findings) else 1)
