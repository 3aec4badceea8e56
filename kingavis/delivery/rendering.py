"""The text of the emails King-Avis builds: the language chosen, the customer's text cleaned,
the links, the shop's design applied and the templates rendered (docs/sending.md).

Customer text (first name, order reference) appears in the body only, cleaned of control
characters and escaped in the HTML part.

A shop may have its own sender name, subject, introduction, logo and colour per language
(``design.py``, saved by ``kingavis.delivery.email_design``): they replace the defaults and nothing
else. The links are the same for every shop.
"""

from __future__ import annotations

import functools
import re
import unicodedata
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
from kingavis.models import ReviewRequest

DEFAULT_LANGUAGE = "fr"
TEMPLATE = "email/review_request.{lang}.{part}"
AUTHOR_TEMPLATE = "email/author_notice.{lang}.{part}"
# Longest first name / order reference shown in a message; longer text is cut with an ellipsis.
MAX_NAME_CHARS = 100
MAX_REFERENCE_CHARS = 64
MAX_REPLY_CHARS_SHOWN = 2000
KINGAVIS = "kingavis"
# Display names of the Review Balancing platforms; any other shows the page's host name.
PLATFORM_NAMES = {"google": "Google", "trustpilot": "Trustpilot"}

# Bidirectional overrides and isolates can make text read differently from what it is.
_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A)], " "
)


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


def platform_name(request: ReviewRequest) -> str | None:
    """The third-party platform an invitation sends the customer to; None for our own page."""
    platform = getattr(request, "platform", None) or KINGAVIS
    if platform == KINGAVIS:
        return None
    if platform in PLATFORM_NAMES:
        return PLATFORM_NAMES[platform]
    host = (urlsplit(request.shop.balancing_url or "").hostname or "").lower()
    return clean_text(host.removeprefix("www."), 100) or None


@functools.cache
def _templates(lang: str) -> tuple[Template, Template, Template]:
    """The subject, text and HTML templates of ``lang``, compiled and looked up once (a lookup
    checks the template file's modification time)."""
    env = _environment()
    subject, text, html = (
        env.get_template(TEMPLATE.format(lang=lang, part=part)) for part in ("subject", "txt", "html")
    )
    return subject, text, html


@functools.cache
def _author_templates(lang: str) -> tuple[Template, Template, Template]:
    env = _environment()
    subject, text, html = (
        env.get_template(AUTHOR_TEMPLATE.format(lang=lang, part=part))
        for part in ("subject", "txt", "html")
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


def apply_design(context: dict[str, object], design: Design | Any | None, lang: str) -> str | None:
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


def render_author_notice(lang: str, context: dict[str, object]) -> tuple[str, str, str]:
    """(subject, text, html) of a notice to a review's author in ``lang``."""
    subject, text, html = (template.render(context) for template in _author_templates(lang))
    return " ".join(subject.split()), text, html
