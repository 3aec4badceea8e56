"""Mail delivery errors, as the dispatcher needs to tell them apart."""

from __future__ import annotations


class MailError(Exception):
    """Base class for a message that could not be handed to the mail server."""


class TransientMailError(MailError):
    """Worth retrying later: a 4xx reply, connection refused, a timeout."""


class PermanentMailError(MailError):
    """Never worth retrying: a 5xx reply such as recipient refused. ``str(exc)`` is the reason."""
