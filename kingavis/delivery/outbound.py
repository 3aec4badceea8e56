"""The last step of every email King-Avis sends (docs/deliverability.md): its envelope sender
and its DKIM signature.

``finish`` is called once by each message builder (``kingavis.delivery.messages``), after the last
header is set; the transports read the envelope sender back with ``envelope_of``.
"""

from __future__ import annotations

from email.message import EmailMessage

from flask import current_app, has_app_context

from kingavis.delivery.dkim import domain_of, load_key, sign_message
from kingavis.delivery.envelope import envelope_sender

# Where the envelope sender travels with the message object, from the builder to the transport.
_ENVELOPE = "kingavis_envelope_sender"


def finish(msg: EmailMessage, *, bounce_token: str | None, mail_from: str) -> EmailMessage:
    """Give ``msg`` its envelope sender (``bounces+<token>@<KINGAVIS_BOUNCE_DOMAIN>`` when the
    domain is set) and, when ``KINGAVIS_DKIM_SELECTOR`` and ``KINGAVIS_DKIM_KEY_FILE`` are both
    set, its DKIM signature for the ``mail_from`` domain. Returns ``msg``."""
    if not has_app_context():
        return msg
    config = current_app.config
    msg.__dict__[_ENVELOPE] = envelope_sender(bounce_token, config.get("KINGAVIS_BOUNCE_DOMAIN"))
    selector, key_file = config.get("KINGAVIS_DKIM_SELECTOR"), config.get("KINGAVIS_DKIM_KEY_FILE")
    if selector and key_file:
        sign_message(msg, selector=selector, domain=domain_of(mail_from), key=load_key(key_file))
    return msg


def envelope_of(msg: object) -> str | None:
    """The envelope sender ``finish`` gave ``msg``; None: the transport uses the From address."""
    value = getattr(msg, "__dict__", {}).get(_ENVELOPE)
    return value if isinstance(value, str) and value else None
