"""``flask mail serve``: an SMTP listener for bounces and complaints (docs/deliverability.md).

Accepts any recipient at the bounce domain (others are refused at RCPT), messages up to
10 MiB, and processes each message (``service.receive``) before it answers the DATA command:
``250`` once processed, ``451`` when the database failed (the sending MTA keeps the message and
tries again later).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask

from kingavis.deliverability.parsing import MAX_MESSAGE_BYTES
from kingavis.delivery.envelope import at_bounce_domain

log = logging.getLogger("kingavis.deliverability")


class BounceHandler:
    """aiosmtpd handler: RCPT at the bounce domain only; DATA processed, then answered."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.domain = app.config.get("KINGAVIS_BOUNCE_DOMAIN")

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if not at_bounce_domain(address, self.domain):
            return "550 5.1.1 Not a bounce address of this server"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        recipients = list(dict.fromkeys(a.lower() for a in envelope.rcpt_tos))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._process, data, recipients)
        except Exception:
            log.exception("inbound message not processed; the sender will try again")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 Message processed"

    def _process(self, data: bytes, recipients: list[str]) -> None:
        from kingavis.deliverability.service import receive

        with self.app.app_context():
            for recipient in recipients:
                receive(data, recipient=recipient)


def start(app: Flask, host: str, port: int) -> Controller:
    """Start the listener in a thread; ``stop()`` the returned controller to end it."""
    controller = Controller(BounceHandler(app), hostname=host, port=port,
                            data_size_limit=MAX_MESSAGE_BYTES, decode_data=False,
                            server_hostname=app.config.get("KINGAVIS_BOUNCE_DOMAIN") or None)
    controller.start()
    return controller
