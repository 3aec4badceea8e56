"""Customer email addresses: the one set of rules for what can be mailed, and how an address is
compared.

The webhook refuses (422) an address that the mailer would refuse, so a module learns at once
that an order cannot be emailed instead of the request failing days later. Both call
:func:`parse_address`, built on the ``email-validator`` package in its strict mode:

- an ordinary mailbox only: no quoted local part (``"a\\"b"@…``), no domain literal
  (``a@[127.0.0.1]``), no display name, no comments;
- the lengths of RFC 5321: at most 64 octets before the ``@``, 254 in all;
- a domain that is a host name with a real top-level domain (internationalised names are
  accepted and sent in their ASCII form), not a special-use name (``.local``, ``.test``, …);
- internationalised local parts are accepted (sent with SMTPUTF8);
- and, beyond the package: no RFC 2047 encoded word (``=?utf-8?q?…?=``) anywhere, which some
  mail programs decode into another address when they show or answer the message.

Addresses are compared (unsubscribe list, per-customer window) in the form
:func:`normalize_email` gives: trimmed and lower-cased.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """The address cannot be mailed; ``str(error)`` says why, without repeating the address."""


@dataclass(frozen=True)
class Mailbox:
    """An address fit for sending: its local part as given and its domain in ASCII."""

    local_part: str
    domain: str
    smtputf8: bool

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"


def normalize_email(email: str) -> str:
    """The form in which addresses are compared: trimmed, lower case."""
    return (email or "").strip().lower()


def parse_address(email: str) -> Mailbox:
    """The mailbox of ``email``, or :class:`InvalidAddress` saying what is wrong with it."""
    if not isinstance(email, str) or not email.strip():
        raise InvalidAddress("an email address is required")
    email = email.strip()
    if "=?" in email:
        raise InvalidAddress("an email address cannot hold an encoded word (=?…?=)")
    try:
        valid = validate_email(
            email,
            check_deliverability=False,
            strict=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    domain = valid.ascii_domain or valid.domain
    return Mailbox(local_part=valid.local_part, domain=domain, smtputf8=bool(valid.smtputf8))


def is_mailable(email: str) -> bool:
    """Whether :func:`parse_address` accepts ``email``."""
    try:
        parse_address(email)
    except InvalidAddress:
        return False
    return True


__all__ = ["InvalidAddress", "Mailbox", "is_mailable", "normalize_email", "parse_address"]
