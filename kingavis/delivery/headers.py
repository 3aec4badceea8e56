"""The headers of the emails King-Avis builds: the addresses, the Message-IDs, and the header
objects, parsed and checked once (docs/email-headers.md).

Headers are set through ``email.headerregistry`` objects, never by string concatenation, and
no customer-supplied text goes into any header: the subject names the shop only, the recipient
is the bare address (no display name). The From address and the List-Unsubscribe headers are
the same for every shop.

Building a message sits on the dispatcher's hot path, and the stdlib's generic route cost more
than handing the message to the mail server: a new header class made for every header looked up,
a parse for every ``msg[...] =``, and a fold of every header at each flattening. Header objects
are therefore made from the same stdlib pieces with less repeated work (``_HeaderRegistry``,
``cached_header``); what is sent is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from email import policy
from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from kingavis.delivery.errors import InvalidMessageError, UnsafeHeaderError
from kingavis.delivery.rendering import clean_text
from kingavis.emails import InvalidAddress, parse_address
from kingavis.mail_headers import folded_header_problem
from kingavis.models import ReviewRequest

# The logger's name is the one the refusals have always been logged under.
log = logging.getLogger("kingavis.delivery.mail")

_DOT_ATOM = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


class _FoldOnceHeader(BaseHeader):
    """A header that keeps its folded form: folding walks the whole parse tree again on every
    flattening, and the sender, subject and MIME headers are shared by many messages.

    Header objects never change once made, and folding reads only these three policy settings,
    so the folded text is reused only for a policy that agrees on all three.
    """

    def fold(self, *, policy: Any) -> str:
        key = (policy.max_line_length, policy.linesep, policy.utf8)
        kept = self.__dict__.get("_kingavis_folded")
        if kept is not None and kept[0] == key:
            return kept[1]
        folded = super().fold(policy=policy)
        self.__dict__["_kingavis_folded"] = (key, folded)
        return folded


class _HeaderRegistry(HeaderRegistry):
    """The stdlib's header registry, which makes a new class on every lookup (about 10 µs, and a
    message looks one up for every header it sets, parses or counts): this one makes each once.
    The classes are the same as the stdlib's, on ``_FoldOnceHeader``."""

    def __init__(self) -> None:
        super().__init__(base_class=_FoldOnceHeader)
        self._classes: dict[str, type] = {}

    def map_to_type(self, name: str, cls: type) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


_HEADERS = _HeaderRegistry()
# policy.SMTP and policy.SMTPUTF8 in every setting but the header factory.
SMTP: EmailPolicy = policy.SMTP.clone(header_factory=_HEADERS)
SMTPUTF8: EmailPolicy = policy.SMTPUTF8.clone(header_factory=_HEADERS)


def checked(header: BaseHeader) -> BaseHeader:
    """``header`` if it folds into one logical line whose decoded value holds no control
    character, with either policy; else UnsafeHeaderError (docs/email-headers.md).

    Python's email package before CVE-2024-6923 was fixed writes a line break decoded from an
    encoded word raw; this check does not depend on the version. The folded text is kept by
    ``_FoldOnceHeader``, so sending folds nothing twice."""
    for pol in (SMTP, SMTPUTF8):
        try:
            problem = folded_header_problem(header.fold(policy=pol), pol.linesep)
        except (ValueError, HeaderParseError, MessageDefect, IndexError) as exc:
            problem = f"it cannot be folded ({type(exc).__name__})"
        if problem is not None:
            raise UnsafeHeaderError(header.name, problem)
    return header


@functools.lru_cache(maxsize=4096)
def cached_header(name: str, value: str) -> BaseHeader:
    """The header object for a value that repeats across messages, parsed and checked once.

    Keyed by the exact value, so a shop renamed (or a new date) is a new key, never a stale
    header. ``header_store_parse`` is what ``msg[name] = value`` calls: it refuses CR and LF;
    ``checked`` refuses what decoding would turn into them.
    """
    return checked(SMTP.header_store_parse(name, value)[1])


@functools.lru_cache(maxsize=4)
def date_header(value: str) -> BaseHeader:
    """The Date header, parsed once a second; a cache of its own, so that dates, never seen
    again once past, do not push the subjects out of ``cached_header``'s."""
    return SMTP.header_store_parse("Date", value)[1]


@functools.lru_cache(maxsize=1024)
def sender_header(shop_name: str | None, mail_from: str) -> BaseHeader:
    """The From header for a shop's name and MAIL_FROM, parsed, encoded and checked once per
    pair."""
    return checked(SMTP.header_store_parse("From", sender_address(shop_name or "", mail_from))[1])


def message_id_for(request: ReviewRequest, base_url: str, *, reminder: bool = False) -> str:
    """Stable across retries: the request id and a hash of its token (never the token itself).

    The reminder has its own, distinct from the first email's, and so has the invitation sent
    again after the customer said the order had not arrived (a new email, not a retry).
    """
    kind = "review-reminder" if reminder else "review-request"
    seed = f"{request.id}:{request.token}" + (":reminder" if reminder else "")
    if request.postponed_at is not None and not reminder:
        seed += f":postponed:{request.postponed_at.isoformat()}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
    host = (urlsplit(base_url).hostname or "").lower()
    if not _DOT_ATOM.match(host):
        host = "kingavis.invalid"
    return f"<{kind}.{request.id}.{digest}@{host}>"


def author_message_id(kind: str, outgoing_id: int, token: str, base_url: str) -> str:
    """Stable across retries of one message (never shows the token)."""
    digest = hashlib.sha256(f"{outgoing_id}:{token}:{kind}".encode()).hexdigest()[:24]
    host = (urlsplit(base_url).hostname or "").lower()
    if not _DOT_ATOM.match(host):
        host = "kingavis.invalid"
    return f"<review-{kind}.{outgoing_id}.{digest}@{host}>"


def recipient_address(email: str) -> Address:
    """The customer's bare address; InvalidMessageError (never echoing it) when it is not one.

    The rules are those of ``kingavis.emails.parse_address``, which the webhook applies too.
    """
    try:
        mailbox = parse_address(email)
        if mailbox.local_part.isascii():
            address = Address(addr_spec=mailbox.address)
        else:  # an internationalised mailbox: sent with SMTPUTF8
            address = Address(username=mailbox.local_part, domain=mailbox.domain)
    except (InvalidAddress, ValueError, UnicodeError, HeaderParseError, MessageDefect, IndexError):
        raise InvalidMessageError("the customer's email address is not a valid address") from None
    if not address.username or not _DOT_ATOM.match(address.domain):
        raise InvalidMessageError("the customer's email address is not a valid address")
    return address


def sender_address(shop_name: str, mail_from: str) -> Address:
    _, addr = parseaddr(mail_from)
    try:
        return Address(display_name=clean_text(shop_name, 200), addr_spec=addr or mail_from)
    except (ValueError, HeaderParseError, MessageDefect, IndexError):
        raise ValueError(f"MAIL_FROM is not a valid address: {mail_from!r}") from None


def refuse_unsafe(msg: EmailMessage, request: ReviewRequest) -> EmailMessage:
    """``msg`` once every header of it is checked (``checked``); else the message is refused:
    logged (shop, request and header name; never a value) and UnsafeHeaderError raised, which
    the sender records as a failure, never as sent. The subject and sender were checked when
    their cached header objects were made, and raise from there with the same log line."""
    for _name, header in msg.items():
        checked(header)
    return msg


def refusals_logged(build: Any) -> Any:
    """Log a message refused for an unsafe header: the shop, the request and the header's
    name, never its value (it may be anything); the error goes on to the caller."""

    @functools.wraps(build)
    def logged(*args: Any, **kwargs: Any) -> EmailMessage:
        try:
            message: EmailMessage = build(*args, **kwargs)
        except UnsafeHeaderError as exc:
            request = next((a for a in args if isinstance(a, ReviewRequest)), None)
            log.error("message refused: unsafe header", extra={"fields": {
                "shop": getattr(getattr(request, "shop", None), "key", None),
                "review_request": getattr(request, "id", None),
                "header": exc.header, "problem": exc.problem}})
            raise
        return message

    return logged
