"""Text that goes into an email header: what a merchant may save, and what a built header may
hold (docs/email-headers.md).

A mail program shows a header after decoding its RFC 2047 encoded words
(``=?utf-8?q?…?=``, ``=?utf-8?b?…?=``). A check on the text as typed ("no CR, no LF") is
therefore not enough: ``=?utf-8?q?=0D=0AReply-To:…?=`` holds no line break, yet decodes to
one, and Python's email package before CVE-2024-6923 was fixed (3.11.10, 3.12.5, 3.13.0)
writes such a decoded line break raw when it folds the header, which starts a new header.

Two rules, both pure functions here:

- ``header_text_problem``: merchant and shop text meant for a header (shop name, sender name,
  subject) is refused when it holds a control character, or an encoded word: it is judged
  after decoding, and a text that decoding changes is one the merchant did not mean literally.
- ``folded_header_problem``: a header as it will be sent must be one logical line once
  unfolded, and its decoded value must hold no control character. The message builder
  (``kingavis.delivery.headers``) checks every header it sets with it and refuses the message
  otherwise, whatever the Python version.

``stdlib_folds_safely`` probes the running Python for the fix, once, at start.
"""

from __future__ import annotations

import functools
import logging
import platform
import re
import unicodedata
from email import policy
from email.errors import HeaderParseError, MessageDefect
from email.header import decode_header, make_header
from email.message import EmailMessage

log = logging.getLogger("kingavis.mail_headers")

# "=?" charset "?" encoding "?" text "?=", loosely: whatever a lenient reader might decode.
ENCODED_WORD = re.compile(r"=\?[^?]*\?[a-zA-Z]\?.*?\?=", re.DOTALL)
_BIDI = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])

CONTROL = "control"
ENCODED = "encoded"


def has_control(text: str) -> bool:
    """A control character (C0, C1, DEL, line or paragraph separator) or a bidi override."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI for ch in text)


_STRICT_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _decode_word(match: re.Match[str]) -> str:
    try:
        return str(make_header(decode_header(match[0])))
    except (HeaderParseError, MessageDefect, LookupError, UnicodeError, ValueError) as exc:
        raise ValueError(f"undecodable encoded word: {type(exc).__name__}") from None


def decoded(text: str) -> str:
    """``text`` as the most lenient mail program would show it in a header: every encoded
    word decoded, wherever it stands (even inside quotes or a word, where RFC 2047 says it is
    not one: some readers decode it all the same).

    Raises ValueError when an encoded word does not decode (an unknown charset, bad base64).
    """
    return _STRICT_WORD.sub(_decode_word, text)


def header_text_problem(text: str) -> str | None:
    """Why ``text`` may not be saved for a header, or None.

    ``CONTROL``: a line break or other control character, as typed or once decoded.
    ``ENCODED``: an RFC 2047 encoded word (``=?…?=``), harmless or not: decoding changes
    the text, so what a customer's mail program would show is not what the merchant typed.
    """
    if has_control(text):
        return CONTROL
    if "=?" not in text:
        return None
    try:
        shown = decoded(text)
    except ValueError:
        return ENCODED
    if has_control(shown):
        return CONTROL
    if shown != text or ENCODED_WORD.search(text):
        return ENCODED
    return None


def folded_header_problem(folded: str, linesep: str = "\r\n") -> str | None:
    """Why a folded header (``"Name: value" + linesep``, as a generator writes it) may not be
    sent, or None: it must end with one line separator, every other one must be a fold (followed
    by a space or tab), no CR or LF may stand alone, and the value, unfolded and decoded, must
    hold no control character."""
    if not folded.endswith(linesep):
        return "the header does not end its line"
    body = folded[: -len(linesep)]
    lines = body.split(linesep)
    if any(not line[:1] or line[:1] not in " \t" for line in lines[1:]):
        return "a line break inside the header starts a new line"
    unfolded = "".join(lines)
    if "\r" in unfolded or "\n" in unfolded:
        return "a bare line break inside the header"
    _, _, value = unfolded.partition(":")
    try:
        shown = decoded(value)
    except ValueError:
        return "an encoded word that does not decode"
    if has_control(shown.replace("\t", " ")):
        return "a control character once decoded"
    return None


@functools.cache
def stdlib_folds_safely() -> bool:
    """Whether this Python's email package quotes a line break decoded from an encoded word
    instead of writing it raw (CVE-2024-6923, fixed in 3.11.10, 3.12.5 and 3.13.0): a
    behaviour probe, not a version comparison, so a distribution's backported fix counts."""
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = "probe =?utf-8?q?=0D=0AX-Injected:_1?="
    message.set_content("probe")
    try:
        flattened = message.as_bytes()
    except (ValueError, HeaderParseError):
        return True
    return b"\r\nX-Injected:" not in flattened and b"\nX-Injected:" not in flattened


@functools.cache
def check_python_email() -> bool:
    """At start, once per process: log an error when this Python writes decoded line breaks
    into headers raw. The service still starts, since the message builder refuses such
    headers itself (``folded_header_problem``); upgrading Python is the fix (README,
    Hardening). Returns whether the running Python is patched."""
    patched = stdlib_folds_safely()
    if not patched:
        log.error(
            "this Python writes line breaks decoded from RFC 2047 encoded words into email "
            "headers raw (CVE-2024-6923; fixed in 3.11.10, 3.12.5 and 3.13.0): King-Avis "
            "refuses such headers itself; upgrade Python",
            extra={"fields": {"python": platform.python_version()}},
        )
    return patched
