"""Mail delivery errors, as the dispatcher needs to tell them apart.

- ``TransientMailError``: worth retrying later (4xx replies, connection refused, timeouts,
  disconnects, and problems of the mail server or of our own configuration such as a failed
  login or an untrusted certificate: they concern every message, not this one).
- ``UncertainDeliveryError`` (a ``TransientMailError``): the connection broke after the message
  data had been sent, so the server may have accepted it. Retrying may deliver it twice.
- ``PermanentMailError``: never worth retrying (a 5xx reply to this message, such as recipient
  refused, or a message that cannot be built, such as an invalid recipient address).

``str(exc)`` is the reason, with the server's reply code and text when there is one; ``code`` is
that reply code (or None).
"""

from __future__ import annotations


class MailError(Exception):
    """Base class for a message that could not be handed to the mail server."""

    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientMailError(MailError):
    """Worth retrying later: a 4xx reply, connection refused, a timeout."""


class UncertainDeliveryError(TransientMailError):
    """The connection broke after the message data was sent: it may have been delivered."""


class PermanentMailError(MailError):
    """Never worth retrying: a 5xx reply such as recipient refused. ``str(exc)`` is the reason."""


class InvalidMessageError(PermanentMailError):
    """The message cannot be built, e.g. the customer's address is not a valid address."""


class UnsafeHeaderError(InvalidMessageError):
    """A header would span lines or hold a control character once decoded (an RFC 2047
    encoded word in a shop's name, sender name or subject): the message is refused, never
    sent (docs/email-headers.md). ``header`` names the header, never its value."""

    def __init__(self, header: str, problem: str) -> None:
        super().__init__(f"the {header} header was refused: {problem}")
        self.header = header
        self.problem = problem
