"""Reading a bounce or a complaint (docs/deliverability.md): pure functions, no database.

``read_report`` turns the bytes of one received message into a ``Report``: what kind of
failure it tells of, its status, the addresses it names, and the references to the email it
is about (envelope tokens and Message-IDs found in the copy of its headers). It never raises:
a message that cannot be read is a ``Report`` with ``why`` set and no kind, kept for the
operator and never acted on.

- Delivery status notifications (RFC 3464, ``multipart/report; report-type=delivery-status``)
  are read with the stdlib parser: per recipient, ``Action`` and ``Status``. ``failed`` with
  a 5.x.x status is permanent; ``delayed``, or a 4.x.x status, is temporary; ``delivered``,
  ``relayed`` and ``expanded`` are successes (nothing to do).
- Feedback reports (RFC 5965, ARF): ``Feedback-Type: abuse`` is a complaint; any other type
  (``not-spam``, ``fraud``, ``auth-failure``…) is not acted on.
- Anything else goes to flufl.bounce's detectors for the common non-standard formats (Exim's,
  qmail's, older Exchange…): its permanent and temporary failures, with no status code. The
  service acts on those only when the failed address is the one the named email went to.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parseaddr
from typing import Any

from kingavis.delivery.envelope import token_of

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_PARTS = 200
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
_QUOTED_MESSAGE_ID = re.compile(rb"^[ \t>]*Message-ID:[ \t]*(<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>)",
                                re.IGNORECASE | re.MULTILINE)
_QUOTED_RETURN_PATH = re.compile(rb"^[ \t>]*Return-Path:[ \t]*<([^<>\s]{1,320})>",
                                 re.IGNORECASE | re.MULTILINE)
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})


class Kind(enum.StrEnum):
    PERMANENT = "permanent"
    TEMPORARY = "temporary"
    COMPLAINT = "complaint"


class Why(enum.StrEnum):
    """Why a message leads to no action."""

    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    NOT_A_REPORT = "not_a_report"
    DELIVERED = "delivered"  # a success notification: nothing to do, nothing to keep
    NO_STATUS = "no_status"
    NOT_A_COMPLAINT = "not_a_complaint"
    NO_REFERENCE = "no_reference"  # recognised, but names no email of ours
    UNKNOWN_MESSAGE = "unknown_message"
    AMBIGUOUS = "ambiguous"
    ADDRESS_MISMATCH = "address_mismatch"
    ERASED = "erased"


@dataclass(frozen=True)
class Report:
    kind: Kind | None
    status: str | None = None
    recipients: frozenset[str] = frozenset()
    tokens: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()
    # Whether the failure comes from a standard report (DSN, ARF) or flufl.bounce's detectors.
    standard: bool = True
    why: Why | None = None
    # The received message's own identity, so that a report delivered twice counts once.
    fingerprint: str = ""
    subject: str | None = None
    sender: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _text(value: Any, limit: int = 300) -> str | None:
    """A header value as short plain text, or None."""
    if value is None:
        return None
    try:
        text = " ".join(str(value).split())
    except Exception:  # a header the parser could not make sense of
        return None
    return text[:limit] or None


def _address(value: Any) -> str | None:
    """The bare address of a DSN recipient field (``rfc822; a@b``), lower case, or None."""
    text = _text(value, 400)
    if not text:
        return None
    kind, _, address = text.partition(";")
    if not address:
        address = kind
    elif kind.strip().lower() != "rfc822":
        return None
    address = parseaddr(address.strip())[1].strip().lower()
    return address if "@" in address and len(address) <= 320 else None


def _status(value: Any) -> str | None:
    match = _STATUS.match(_text(value, 40) or "")
    return ".".join(match.groups()) if match else None


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [block for block in payload if isinstance(block, Message)]
        if blocks:
            return blocks
    raw = part.get_payload(decode=True) or b""
    if isinstance(payload, str) and not raw:
        raw = payload.encode("utf-8", "replace")
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    return [HeaderParser(policy=policy.compat32).parsestr(chunk.strip() + "\n")
            for chunk in re.split(r"\n[ \t]*\n", text) if chunk.strip()]


def _header_block(part: Message) -> Message | None:
    """The original message's headers in a text/rfc822-headers or message/rfc822 part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = next((p for p in payload if isinstance(p, Message)), None)
        return inner
    raw = part.get_payload(decode=True)
    if not raw:
        return None
    return HeaderParser(policy=policy.compat32).parsestr(raw.decode("utf-8", "replace"))


def _references(headers: list[Message], raw: bytes, bounce_domain: str | None,
                quoted: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(envelope tokens, Message-IDs) of the original email, from its headers' copy; with
    ``quoted``, from header lines quoted in the text too (non-standard bounces)."""
    tokens: list[str] = []
    ids: list[str] = []
    for block in headers:
        for value in block.get_all("Return-Path") or []:
            token = token_of(parseaddr(_text(value, 400) or "")[1], bounce_domain)
            if token:
                tokens.append(token)
        for value in block.get_all("Message-ID") or []:
            ids.extend(_MESSAGE_ID.findall(_text(value, 600) or ""))
    if quoted:
        for match in _QUOTED_RETURN_PATH.finditer(raw):
            token = token_of(match[1].decode("ascii", "replace"), bounce_domain)
            if token:
                tokens.append(token)
        ids.extend(m.decode("ascii", "replace") for m in _QUOTED_MESSAGE_ID.findall(raw))
    return tuple(dict.fromkeys(tokens)), tuple(dict.fromkeys(ids))


def _delivery_status(blocks: list[Message]) -> tuple[Kind | None, str | None, frozenset[str],
                                                      Why | None]:
    """Kind, status and failed recipients of a DSN's per-recipient blocks."""
    permanent: list[tuple[str, str | None]] = []
    temporary: list[tuple[str | None, str | None]] = []
    successes = 0
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        action = (_text(block.get("Action"), 40) or "").lower()
        status = _status(block.get("Status"))
        recipient = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if not action and status is None:
            continue
        if action in SUCCESS_ACTIONS:
            successes += 1
        elif action == "failed" and status is not None and status.startswith("5"):
            permanent.append((status, recipient))
        elif action == "delayed" or (status is not None and status.startswith("4")):
            temporary.append((status, recipient))
    if permanent:
        return (Kind.PERMANENT, permanent[0][0],
                frozenset(r for _, r in permanent if r), None)
    if temporary:
        return (Kind.TEMPORARY, temporary[0][0] or "4.0.0",
                frozenset(r for _, r in temporary if r), None)
    if successes:
        return None, None, frozenset(), Why.DELIVERED
    return None, None, frozenset(), Why.NO_STATUS


# flufl.bounce logs each detector it runs, and a detector's failure with its traceback: the
# outcome is logged here instead (kingavis.deliverability.service), never a message's content.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)


def _flufl(raw: bytes) -> tuple[Kind | None, frozenset[str]]:
    from flufl.bounce import all_failures

    # The detectors read headers as text: the default policy gives str values where compat32
    # gives Header objects for 8-bit headers.
    temporary, permanent = all_failures(BytesParser(policy=policy.default).parsebytes(raw))

    def clean(found: Any) -> frozenset[str]:
        out = set()
        for item in found:
            text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
            address = parseaddr(text)[1].strip().lower()
            if "@" in address and len(address) <= 320:
                out.add(address)
        return frozenset(out)

    if permanent:
        return Kind.PERMANENT, clean(permanent)
    if temporary:
        return Kind.TEMPORARY, clean(temporary)
    return None, frozenset()


def read_report(raw: bytes, bounce_domain: str | None = None) -> Report:
    """What one received message reports. Never raises."""
    fingerprint = hashlib.sha256(raw).hexdigest()
    if len(raw) > MAX_MESSAGE_BYTES:
        return Report(None, why=Why.TOO_LARGE, fingerprint=fingerprint)
    try:
        return _read(raw, bounce_domain, fingerprint)
    except Exception:  # a message no parser could read: kept for the operator
        return Report(None, why=Why.UNREADABLE, fingerprint=fingerprint)


def _read(raw: bytes, bounce_domain: str | None, fingerprint: str) -> Report:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    subject = _text(msg.get("Subject"))
    sender = _text(parseaddr(_text(msg.get("From"), 400) or "")[1], 320)
    own_id = next(iter(_MESSAGE_ID.findall(_text(msg.get("Message-ID"), 600) or "")), None)
    if own_id:
        # A report's own Message-ID identifies it across deliveries (a relay may add headers).
        fingerprint = hashlib.sha256(own_id.encode()).hexdigest()
    common = {"fingerprint": fingerprint, "subject": subject, "sender": sender}

    parts = []
    for count, part in enumerate(msg.walk()):
        if count >= MAX_PARTS:
            break
        parts.append(part)
    statuses = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    feedback = [p for p in parts if p.get_content_type() == "message/feedback-report"]
    header_parts = [p for p in parts if p.get_content_type() in (
        "text/rfc822-headers", "message/rfc822", "message/rfc822-headers",
        "message/global", "message/global-headers")]
    headers = [h for h in (_header_block(p) for p in header_parts) if h is not None]

    if feedback:
        tokens, ids = _references(headers, raw, bounce_domain, quoted=False)
        blocks = _blocks(feedback[0])
        first = blocks[0] if blocks else Message()
        feedback_type = (_text(first.get("Feedback-Type"), 40) or "").lower()
        recipients = frozenset(a for a in (_address(v) for v in first.get_all("Original-Rcpt-To") or [])
                               if a)
        # ARF's Original-Mail-From is the envelope sender of the reported email: its token.
        reported = token_of(parseaddr(_text(first.get("Original-Mail-From"), 400) or "")[1],
                            bounce_domain)
        if reported and reported not in tokens:
            tokens = (reported, *tokens)
        if feedback_type != "abuse":
            return Report(None, why=Why.NOT_A_COMPLAINT, tokens=tokens, message_ids=ids,
                          details={"feedback_type": feedback_type[:40]}, **common)
        return Report(Kind.COMPLAINT, status="abuse", recipients=recipients, tokens=tokens,
                      message_ids=ids, **common)
    if statuses:
        tokens, ids = _references(headers, raw, bounce_domain, quoted=False)
        kind, status, recipients, why = _delivery_status(_blocks(statuses[0]))
        return Report(kind, status=status, recipients=recipients, tokens=tokens,
                      message_ids=ids, why=why, **common)
    kind, recipients = _flufl(raw)
    if kind is None:
        return Report(None, why=Why.NOT_A_REPORT, **common)
    tokens, ids = _references(headers, raw, bounce_domain, quoted=True)
    return Report(kind, status=None, recipients=recipients, tokens=tokens, message_ids=ids,
                  standard=False, **common)


def recipients_of(value: str | None) -> list[str]:
    """The addresses of a Delivered-To / X-Original-To style header value, lower case."""
    return [a.lower() for _, a in getaddresses([value or ""]) if "@" in a]
