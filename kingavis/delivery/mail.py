"""The review-request email (docs/sending.md).

Headers are set through ``email.headerregistry`` objects, never by string concatenation, and
no customer-supplied text goes into any header: the subject names the shop only, the recipient
is the bare address (no display name). Customer text (first name, order reference) appears in
the body only, cleaned of control characters and escaped in the HTML part.

A shop may have its own sender name, subject, introduction, logo and colour per language
(``design.py``, saved by ``kingavis.delivery.email_design``): they replace the defaults and nothing
else. The From address, the links and the List-Unsubscribe headers are the same for every shop.

Building a message sits on the dispatcher's hot path, and the stdlib's generic route cost more
than handing the message to the mail server: a new header class made for every header looked up,
a parse for every ``msg[...] =`` (several per ``set_content``), a fold of every header at each
flattening, and a boundary search at each flattening. The message is therefore put together from
the same stdlib pieces, in the same shape, with less repeated work (see ``_HeaderRegistry``,
``_header``, ``_text_part`` and ``_boundary``); what is sent is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import sys
import unicodedata
from datetime import UTC, datetime
from email import policy, quoprimime
from email.errors import HeaderParseError, MessageDefect
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from kingavis.delivery.design import (
    BODY_PLACEHOLDERS,
    DEFAULT_COLOUR,
    HEADER_PLACEHOLDERS,
    REMINDER_PREFIXES,
    Design,
    PlaceholderError,
    button_text_colour,
    fill,
    fill_html,
    link_colour,
    one_line,
    parse,
)
from kingavis.delivery.errors import InvalidMessageError, UnsafeHeaderError
from kingavis.delivery.outbound import finish
from kingavis.emails import InvalidAddress, parse_address
from kingavis.mail_headers import folded_header_problem
from kingavis.models import ReviewRequest

log = logging.getLogger("kingavis.delivery.mail")

DEFAULT_LANGUAGE = "fr"
TEMPLATE = "email/review_request.{lang}.{part}"
# Longest first name / order reference shown in a message; longer text is cut with an ellipsis.
MAX_NAME_CHARS = 100
MAX_REFERENCE_CHARS = 64
KINGAVIS = "kingavis"
# Display names of the Review Balancing platforms; any other shows the page's host name.
PLATFORM_NAMES = {"google": "Google", "trustpilot": "Trustpilot"}

# Bidirectional overrides and isolates can make text read differently from what it is.
_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A)], " "
)
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
_SMTP: EmailPolicy = policy.SMTP.clone(header_factory=_HEADERS)
_SMTPUTF8: EmailPolicy = policy.SMTPUTF8.clone(header_factory=_HEADERS)
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def _checked(header: BaseHeader) -> BaseHeader:
    """``header`` if it folds into one logical line whose decoded value holds no control
    character, with either policy; else UnsafeHeaderError (docs/email-headers.md).

    Python's email package before CVE-2024-6923 was fixed writes a line break decoded from an
    encoded word raw; this check does not depend on the version. The folded text is kept by
    ``_FoldOnceHeader``, so sending folds nothing twice."""
    for pol in (_SMTP, _SMTPUTF8):
        try:
            problem = folded_header_problem(header.fold(policy=pol), pol.linesep)
        except (ValueError, HeaderParseError, MessageDefect, IndexError) as exc:
            problem = f"it cannot be folded ({type(exc).__name__})"
        if problem is not None:
            raise UnsafeHeaderError(header.name, problem)
    return header


@functools.lru_cache(maxsize=4096)
def _header(name: str, value: str) -> BaseHeader:
    """The header object for a value that repeats across messages, parsed and checked once.

    Keyed by the exact value, so a shop renamed (or a new date) is a new key, never a stale
    header. ``header_store_parse`` is what ``msg[name] = value`` calls: it refuses CR and LF;
    ``_checked`` refuses what decoding would turn into them.
    """
    return _checked(_SMTP.header_store_parse(name, value)[1])


@functools.lru_cache(maxsize=4)
def _date_header(value: str) -> BaseHeader:
    """The Date header, parsed once a second; a cache of its own, so that dates, never seen
    again once past, do not push the subjects out of ``_header``'s."""
    return _SMTP.header_store_parse("Date", value)[1]


@functools.lru_cache(maxsize=1024)
def _sender_header(shop_name: str | None, mail_from: str) -> BaseHeader:
    """The From header for a shop's name and MAIL_FROM, parsed, encoded and checked once per
    pair."""
    return _checked(_SMTP.header_store_parse("From", sender_address(shop_name or "", mail_from))[1])


def _quoted_printable(text: str, max_line_length: int | None) -> str:
    """The payload ``set_content(text, cte="quoted-printable")`` stores for ``text`` (UTF-8)."""
    lines = text.encode("utf-8").splitlines()
    return quoprimime.body_encode(
        (b"\n".join(lines) + b"\n").decode("latin-1"), max_line_length
    )


def _text_part(pol: EmailPolicy, subtype: str, text: str, *, mime_version: bool) -> EmailMessage:
    """A UTF-8 quoted-printable text part, with the headers ``set_content`` gives it (the part
    ``add_alternative`` adds also gets its own MIME-Version)."""
    part = EmailMessage(policy=pol)
    part["Content-Type"] = _header("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = _header("Content-Transfer-Encoding", "quoted-printable")
    if mime_version:
        part["MIME-Version"] = _header("MIME-Version", "1.0")
    part.set_payload(_quoted_printable(text, pol.max_line_length))
    return part


def _boundary(*payloads: str) -> str:
    """A multipart boundary in the stdlib generator's format, absent from every payload.

    The generator would search the flattened parts for its random boundary with a new regular
    expression each time; quoted-printable text never holds "==" (every "=" is followed by two
    hex digits or ends the line), so the check here only guards against the impossible.
    """
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}" + "=="
        if not any(boundary in payload for payload in payloads):
            return boundary


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("kingavis", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def available_languages() -> frozenset[str]:
    """Languages that have a complete review-request template set."""
    names = set(_environment().list_templates())
    found = set()
    for name in names:
        match = re.fullmatch(r"email/review_request\.([a-z]{2,3})\.txt", name)
        if match and all(
            TEMPLATE.format(lang=match[1], part=part) in names for part in ("subject", "html")
        ):
            found.add(match[1])
    return frozenset(found)


def language_of(locale: str | None) -> str | None:
    """The language part of a locale: "fr-FR", "fr_FR", "FR" -> "fr"; None when unusable."""
    if not locale:
        return None
    lang = re.split(r"[-_.@]", locale.strip().lower(), maxsplit=1)[0]
    return lang if re.fullmatch(r"[a-z]{2,3}", lang) else None


def choose_language(
    customer_locale: str | None, shop_language: str | None, available: frozenset[str] | None = None
) -> str:
    """The customer's language when we have it, else the shop's, else French."""
    available = available_languages() if available is None else available
    for candidate in (language_of(customer_locale), language_of(shop_language)):
        if candidate in available:
            return candidate
    return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in available else min(available)


def clean_text(value: str | None, limit: int) -> str:
    """Customer text fit for a message body: one line, no control characters, at most ``limit``."""
    if not value:
        return ""
    value = value.translate(_BIDI_CONTROLS)
    value = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in value
    )
    value = " ".join(value.split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def review_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/r/{token}"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/u/{token}"


def click_url(base_url: str, token: str) -> str:
    """The review link through the click counter (it redirects to the review page)."""
    return f"{base_url.rstrip('/')}/c/{token}?to=review"


def open_url(base_url: str, token: str) -> str:
    """The open-tracking image of the HTML part."""
    return f"{base_url.rstrip('/')}/o/{token}.gif"


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


def platform_name(request: ReviewRequest) -> str | None:
    """The third-party platform an invitation sends the customer to; None for our own page."""
    platform = getattr(request, "platform", None) or KINGAVIS
    if platform == KINGAVIS:
        return None
    if platform in PLATFORM_NAMES:
        return PLATFORM_NAMES[platform]
    host = (urlsplit(request.shop.balancing_url or "").hostname or "").lower()
    return clean_text(host.removeprefix("www."), 100) or None


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


@functools.cache
def _templates(lang: str) -> tuple[Template, Template, Template]:
    """The subject, text and HTML templates of ``lang``, compiled and looked up once (a lookup
    checks the template file's modification time)."""
    env = _environment()
    subject, text, html = (
        env.get_template(TEMPLATE.format(lang=lang, part=part)) for part in ("subject", "txt", "html")
    )
    return subject, text, html


@functools.lru_cache(maxsize=256)
def _colours(brand: str) -> tuple[str, str]:
    """(button text colour, link colour) for a brand colour."""
    return button_text_colour(brand), link_colour(brand)


def design_of(request: ReviewRequest, lang: str) -> Any:
    """The shop's customisation in ``lang`` (an EmailDesign row), or None: read from the
    shop's ``email_designs``, loaded with the request (no query of its own)."""
    for row in request.shop.email_designs:
        if row.language == lang:
            return row
    return None


def _custom(text: str | None, allowed: tuple[str, ...]) -> Any:
    """The parsed pieces of a saved text, or None to use the default. A saved text was
    checked when saved; one that no longer parses falls back to the default, not a failure."""
    if not text:
        return None
    try:
        return parse(text, allowed)
    except PlaceholderError:
        return None


def sender_name(shop_name: str, design: Design | Any | None) -> str:
    """The From display name: the shop's name unless the merchant set another (docs/sending.md)."""
    pieces = _custom(design.sender_name if design is not None else None, HEADER_PLACEHOLDERS)
    if pieces is None:
        return shop_name or ""
    return one_line(fill(pieces, {"shop_name": clean_text(shop_name, 200)})) or shop_name or ""


def _apply_design(context: dict[str, object], design: Design | Any | None, lang: str) -> str | None:
    """Add the design's values to the template context; the custom subject, if any."""
    colour = (design.brand_colour if design is not None else None) or DEFAULT_COLOUR
    button_text, link = _colours(colour)
    context["brand_colour"] = colour
    context["button_text_colour"] = button_text
    context["link_colour"] = link
    context["logo_url"] = design.logo_url if design is not None else None
    context["intro_text"] = context["intro_html"] = context["custom_subject"] = None
    if design is None:
        return None
    values = {name: str(context[name]) for name in BODY_PLACEHOLDERS}
    intro = _custom(design.intro, BODY_PLACEHOLDERS)
    if intro is not None:
        context["intro_text"] = fill(intro, values).strip()
        context["intro_html"] = fill_html(intro, values)
    subject = _custom(design.subject, HEADER_PLACEHOLDERS)
    if subject is None:
        return None
    text = one_line(fill(subject, {"shop_name": values["shop_name"]}))
    if context["reminder"]:
        text = REMINDER_PREFIXES.get(lang, REMINDER_PREFIXES["en"]) + text
    context["custom_subject"] = text
    return text


def render(lang: str, context: dict[str, object]) -> tuple[str, str, str]:
    """(subject, text, html) in ``lang``."""
    parts = [template.render(context) for template in _templates(lang)]
    subject = " ".join(parts[0].split())
    return subject, parts[1], parts[2]


_SAVED: Any = object()


def _refuse_unsafe(msg: EmailMessage, request: ReviewRequest) -> EmailMessage:
    """``msg`` once every header of it is checked (``_checked``); else the message is refused:
    logged (shop, request and header name; never a value) and UnsafeHeaderError raised, which
    the sender records as a failure, never as sent. The subject and sender were checked when
    their cached header objects were made, and raise from there with the same log line."""
    for _name, header in msg.items():
        _checked(header)
    return msg


def _refusals_logged(build: Any) -> Any:
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


@_refusals_logged
def build_message(
    request: ReviewRequest, *, base_url: str, mail_from: str, reminder: bool = False,
    design: Design | None = _SAVED,
) -> EmailMessage:
    """The review-request email for ``request`` (its order and shop are loaded from it);
    ``reminder``: the one reminder, with its own wording and Message-ID, the same links.

    ``design``: the shop's saved customisation of the chosen language unless given (the
    back-office preview passes the one being edited; None for the defaults)."""
    order = request.order
    shop = request.shop
    to = recipient_address(order.customer_email)
    lang = choose_language(order.customer_locale, shop.language)
    unsubscribe = unsubscribe_url(base_url, request.token)
    context: dict[str, object] = {
        "first_name": clean_text(order.customer_first_name, MAX_NAME_CHARS),
        "shop_name": clean_text(shop.name, 200),
        "order_reference": clean_text(order.reference, MAX_REFERENCE_CHARS),
        "review_url": review_url(base_url, request.token),
        "unsubscribe_url": unsubscribe,
        "click_url": click_url(base_url, request.token),
        "open_url": open_url(base_url, request.token),
        "platform_name": platform_name(request),
        "reminder": reminder,
    }
    if design is _SAVED:
        design = design_of(request, lang)
    custom_subject = _apply_design(context, design, lang)
    subject, text, html = render(lang, context)
    if custom_subject is not None:
        subject = custom_subject

    international = not to.username.isascii()
    pol = _SMTPUTF8 if international else _SMTP
    text_part = _text_part(pol, "plain", text, mime_version=False)
    html_part = _text_part(pol, "html", html, mime_version=True)

    # The headers, in the order set_content() and add_alternative() gave them.
    msg = EmailMessage(policy=pol)
    msg["From"] = _sender_header(sender_name(shop.name, design), mail_from)
    msg["To"] = to
    msg["Subject"] = _header("Subject", subject)
    msg["Date"] = _date_header(format_datetime(datetime.now(UTC)))
    msg["Message-ID"] = message_id_for(request, base_url, reminder=reminder)
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    msg["MIME-Version"] = _header("MIME-Version", "1.0")
    boundary = _boundary(text_part.get_payload(), html_part.get_payload())
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    msg["Content-Language"] = _header("Content-Language", lang)
    # Quoted-printable: 7-bit safe for any server, short lines whatever the customer's text.
    msg.attach(text_part)
    msg.attach(html_part)
    return finish(_refuse_unsafe(msg, request), bounce_token=request.bounce_token,
                  mail_from=mail_from)


# --- Emails to a review's author: moderation decision, the merchant's reply -----------------

AUTHOR_TEMPLATE = "email/author_notice.{lang}.{part}"
MAX_REPLY_CHARS_SHOWN = 2000


@functools.cache
def _author_templates(lang: str) -> tuple[Template, Template, Template]:
    env = _environment()
    subject, text, html = (
        env.get_template(AUTHOR_TEMPLATE.format(lang=lang, part=part))
        for part in ("subject", "txt", "html")
    )
    return subject, text, html


def clean_paragraphs(value: str | None, limit: int) -> str:
    """Someone's text for a message body, line breaks kept: no control or bidi characters,
    at most two line breaks in a row, at most ``limit`` characters."""
    if not value:
        return ""
    value = value.translate(_BIDI_CONTROLS).replace("\r\n", "\n")
    value = "".join(
        ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Zl", "Zp") else " "
        for ch in value
    )
    value = re.sub(r"\n{3,}", "\n\n", "\n".join(" ".join(line.split()) for line in value.split("\n")))
    value = value.strip()
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def author_message_id(kind: str, outgoing_id: int, token: str, base_url: str) -> str:
    """Stable across retries of one message (never shows the token)."""
    digest = hashlib.sha256(f"{outgoing_id}:{token}:{kind}".encode()).hexdigest()[:24]
    host = (urlsplit(base_url).hostname or "").lower()
    if not _DOT_ATOM.match(host):
        host = "kingavis.invalid"
    return f"<review-{kind}.{outgoing_id}.{digest}@{host}>"


@_refusals_logged
def build_author_message(
    kind: str,
    outgoing_id: int,
    request: ReviewRequest,
    *,
    reply_text: str | None,
    reason_label: str | None,
    public_url: str,
    base_url: str,
    mail_from: str,
    product_name: str | None = None,
    page_url: str | None = None,
) -> EmailMessage:
    """The email telling a review's author that it is published (``kind`` "published"),
    refused with ``reason_label`` ("rejected"), or that the shop replied ("reply"). Built from
    the same pieces as the review request, from the shop's name, to the bare address, in the
    customer's language; no customer or merchant text in a header. For a product review,
    ``product_name`` names the product in the text and ``page_url`` is its public page."""
    order = request.order
    shop = request.shop
    to = recipient_address(order.customer_email)
    lang = choose_language(order.customer_locale, shop.language, frozenset({"fr", "en"}))
    context: dict[str, object] = {
        "kind": kind,
        "first_name": clean_text(order.customer_first_name, MAX_NAME_CHARS),
        "shop_name": clean_text(shop.name, 200),
        "reason": clean_text(reason_label, 300),
        "reply": clean_paragraphs(reply_text, MAX_REPLY_CHARS_SHOWN),
        "public_url": page_url or public_url,
        "charter_url": public_url + "/charte",
        "product_name": clean_text(product_name, 200),
        "review_url": review_url(base_url, request.token),
    }
    subject, text, html = (template.render(context) for template in _author_templates(lang))
    subject = " ".join(subject.split())
    international = not to.username.isascii()
    pol = _SMTPUTF8 if international else _SMTP
    text_part = _text_part(pol, "plain", text, mime_version=False)
    html_part = _text_part(pol, "html", html, mime_version=True)
    msg = EmailMessage(policy=pol)
    msg["From"] = _sender_header(shop.name, mail_from)
    msg["To"] = to
    msg["Subject"] = _header("Subject", subject)
    msg["Date"] = _date_header(format_datetime(datetime.now(UTC)))
    msg["Message-ID"] = author_message_id(kind, outgoing_id, request.token, base_url)
    msg["MIME-Version"] = _header("MIME-Version", "1.0")
    boundary = _boundary(text_part.get_payload(), html_part.get_payload())
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    msg["Content-Language"] = _header("Content-Language", lang)
    msg.attach(text_part)
    msg.attach(html_part)
    return finish(_refuse_unsafe(msg, request), bounce_token=request.bounce_token,
                  mail_from=mail_from)
