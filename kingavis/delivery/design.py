"""The merchant's own review-request email: what it may change and how its texts are filled in.

Pure functions and values, shared by the message builder (``rendering.py``) and the service that
checks and saves a shop's settings (``kingavis.delivery.email_design``).

A merchant writes plain text with placeholders in braces: ``{first_name}``,
``{order_reference}``, ``{shop_name}``. The text is parsed once into literal pieces and
placeholder names; it is never given to ``str.format`` (no attribute or index access, no
format specification), and when it is rendered, the literal pieces and the values are escaped
separately for the HTML part. Which placeholders a text may use depends on where it goes:
the sender name and the subject are headers, and customer-supplied text never goes into a
header (docs/sending.md), so there only ``{shop_name}`` is allowed.

What no customisation can change: the From address (MAIL_FROM), the recipient, the review
link, the unsubscribe link and the ``List-Unsubscribe`` headers. They are not among the fields
at all: the templates put them in every message.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from string import Formatter

from markupsafe import Markup, escape

SHOP_NAME = "shop_name"
FIRST_NAME = "first_name"
ORDER_REFERENCE = "order_reference"
HEADER_PLACEHOLDERS = (SHOP_NAME,)
BODY_PLACEHOLDERS = (FIRST_NAME, ORDER_REFERENCE, SHOP_NAME)

MAX_SENDER_NAME = 100
MAX_SUBJECT = 150
MAX_INTRO = 1000
MAX_INTRO_LINES = 20
MAX_LOGO_URL = 500
DEFAULT_COLOUR = "#1d4ed8"
COLOUR = re.compile(r"#[0-9a-f]{6}", re.ASCII)
PARAGRAPH_STYLE = "font-size:16px;line-height:1.5;margin:0 0 16px;"

# The default texts, as the merchant's editor starts from them (the same words as the
# templates in kingavis/templates/email/, which are what a shop without customisation gets).
DEFAULT_SUBJECTS = {
    "fr": "Votre avis sur votre commande chez {shop_name}",
    "en": "How was your order from {shop_name}?",
}
DEFAULT_INTROS = {
    "fr": "Merci pour votre commande {order_reference} chez {shop_name}.\n"
          "Votre avis compte : il aide d'autres clients et nous aide à nous améliorer.\n"
          "Cela prend moins d'une minute.",
    "en": "Thank you for your order {order_reference} from {shop_name}.\n"
          "Your opinion matters: it helps other customers and helps us do better.\n"
          "It takes less than a minute.",
}
# The reminder reuses the merchant's subject and introduction, announced as a reminder.
REMINDER_PREFIXES = {"fr": "Rappel : ", "en": "Reminder: "}


@dataclass(frozen=True)
class Design:
    """A shop's email in one language; None everywhere means King-Avis's default."""

    sender_name: str | None = None
    subject: str | None = None
    intro: str | None = None
    logo_url: str | None = None
    brand_colour: str | None = None
    # The shop's own site: the public review page's logo links to it, with a "back to the
    # shop" link (docs/report-a-review.md). Not used in the email itself.
    shop_url: str | None = None

    def is_default(self) -> bool:
        return all(getattr(self, name) is None for name in FIELDS)


FIELDS = ("sender_name", "subject", "intro", "logo_url", "brand_colour", "shop_url")


class PlaceholderError(ValueError):
    """A text whose braces do not parse, or that names placeholders it may not use.

    ``unknown``: names that are no placeholder at all; ``not_here``: real placeholders that
    this text may not use (customer data in a header); ``malformed``: a brace without its pair,
    or a placeholder with a format specification.
    """

    def __init__(self, *, unknown: tuple[str, ...] = (), not_here: tuple[str, ...] = (),
                 malformed: bool = False) -> None:
        super().__init__(f"unknown={unknown} not_here={not_here} malformed={malformed}")
        self.unknown = unknown
        self.not_here = not_here
        self.malformed = malformed


Piece = tuple[str, str | None]  # (literal text, placeholder name or None)


@functools.lru_cache(maxsize=1024)
def parse(text: str, allowed: tuple[str, ...]) -> tuple[Piece, ...]:
    """``text`` as (literal, placeholder) pieces; PlaceholderError when it may not be used.

    ``{{`` and ``}}`` stand for literal braces, as in Python's format strings. Every other
    brace must open or close a placeholder named exactly (``{first_name}``, nothing after the
    name). Cached: the dispatcher renders the same few texts for every email of a shop.
    """
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        raise PlaceholderError(malformed=True) from None
    pieces: list[Piece] = []
    unknown: list[str] = []
    not_here: list[str] = []
    malformed = False
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        if spec or conversion:
            malformed = True
        if name in allowed:
            pieces.append((literal, name))
        elif name in BODY_PLACEHOLDERS:
            not_here.append(name)
        else:
            unknown.append(name)
    if unknown or not_here or malformed:
        raise PlaceholderError(unknown=tuple(dict.fromkeys(unknown)),
                               not_here=tuple(dict.fromkeys(not_here)), malformed=malformed)
    return tuple(pieces)


def fill(pieces: tuple[Piece, ...], values: dict[str, str]) -> str:
    """The text with its placeholders replaced by ``values`` (already cleaned, one line each).

    An empty value takes the space before it along when a space or a comma/full stop follows,
    so "votre commande {order_reference} chez" reads "votre commande chez" without a reference.
    """
    result = ""
    after_empty = False
    for literal, name in pieces:
        if after_empty and literal[:1] in (" ", ",", ".") and result.endswith(" "):
            result = result[:-1]
        result += literal
        after_empty = False
        if name is not None:
            value = values.get(name, "")
            result += value
            after_empty = not value
    if after_empty and result.endswith(" "):
        result = result[:-1]
    return result


def fill_html(pieces: tuple[Piece, ...], values: dict[str, str]) -> Markup:
    """``fill`` for the HTML part: merchant text and values escaped; a blank line starts a new
    paragraph and a line break stays a line break."""
    text = fill(pieces, values)
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    rendered = []
    for paragraph in paragraphs:
        lines = [escape(line.strip()) for line in paragraph.split("\n")]
        rendered.append(Markup('<p style="{}">{}</p>').format(
            PARAGRAPH_STYLE, Markup("<br>\n").join(lines)))
    return Markup("\n").join(rendered)


def one_line(text: str) -> str:
    return " ".join(text.split())


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i:i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio between two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


WHITE = "#ffffff"
DARK = "#111827"
DEFAULT_LINK = DEFAULT_COLOUR


def button_text_colour(brand: str) -> str:
    """White or near-black, whichever reads better on the button's brand colour.

    A merchant picks their colour for their brand, not for legibility: with white text a light
    yellow button would be unreadable, so the text colour follows the contrast instead of
    being fixed (the default blue keeps its white text).
    """
    return WHITE if contrast(WHITE, brand) >= contrast(DARK, brand) else DARK


def link_colour(brand: str) -> str:
    """The brand colour for links on the white card, unless it is too pale to read there
    (contrast under 3:1, WCAG's floor for large or bold text): then the default blue."""
    return brand if contrast(brand, WHITE) >= 3 else DEFAULT_LINK
