"""The SVG badge (docs/publication.md): five stars filled to the average, the average and the count.

A pure function of the shop's name, its rating summary and a language, so it can be rendered
once per cached summary and language. The layout is 48 user units high and as wide as the count line needs (scalable):
the average in large bold figures on the left, the stars and the count on the right, dark text
on white with a contrast ratio above 7:1, so it stays readable when shown at half size. The
stars are filled to the one-decimal average (4.6 → four stars and 60 % of the fifth) by drawing
the gold row inside a nested ``<svg>`` whose width is the filled part: it clips without ids or
styles, so the same drawing works inline in a page (the widget) and as an image.

``role="img"`` with a ``<title>`` gives screen readers one sentence ("Boutique Zoë: average
rating 4.6 out of 5, 132 verified reviews"). The shop's name is escaped: it is the merchant's
text.
"""

from __future__ import annotations

import math

from babel.numbers import format_decimal
from flask_babel import force_locale, gettext, ngettext
from markupsafe import escape

from kingavis.reviews.public import RatingSummary

LANGUAGES = ("fr", "en")
MIN_WIDTH, HEIGHT = 160, 48
# A generous width per character of the 12-unit count line (system sans-serif fonts average
# ~6.2), so the line never runs past the frame whatever the font the viewer has.
CHAR_WIDTH = 6.5
STAR_SIZE, STAR_GAP = 16, 3
STARS_X, STARS_Y = 58, 9
GOLD, GREY = "#d98a00", "#c6ccd5"
FONT = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"


def star_path(x: float, y: float, size: float = STAR_SIZE) -> str:
    """A five-pointed star in the ``size`` square at (x, y), as path data."""
    cx, cy = x + size / 2, y + size / 2 + size * 0.04
    outer, inner = size / 2, size / 2 * 0.42
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = math.pi / 2 + i * math.pi / 5
        points.append(f"{cx - radius * math.cos(angle):.2f},{cy - radius * math.sin(angle):.2f}")
    return "M" + "L".join(points) + "Z"


_STARS = "".join(star_path(i * (STAR_SIZE + STAR_GAP), 0) for i in range(5))


def filled_width(average: float | None) -> float:
    """How much of the five-star row is gold: whole stars up to the average's integer part, then
    the fraction of the next star (gaps between stars are never partly filled)."""
    if not average or average <= 0:
        return 0.0
    average = min(float(average), 5.0)
    whole = int(average)
    width = whole * (STAR_SIZE + STAR_GAP) + (average - whole) * STAR_SIZE
    return round(min(width, 5 * STAR_SIZE + 4 * STAR_GAP), 2)


def format_average(average: float | None, lang: str) -> str:
    """One decimal in the reader's convention ("4,6" in French, "4.6" in English)."""
    if average is None:
        return "–"
    return format_decimal(average, format="0.0", locale=lang)


def badge_texts(name: str, summary: RatingSummary, lang: str) -> tuple[str, str]:
    """(accessible title, visible count line) in ``lang``."""
    count = format_decimal(summary.count, locale=lang)
    with force_locale(lang):
        if not summary.count:
            title = gettext("%(name)s : pas encore d'avis vérifié (King-Avis)", name=name)
            return title, gettext("Pas encore d'avis")
        title = ngettext(
            "%(name)s : note moyenne %(average)s sur 5, %(count)s avis vérifié (King-Avis)",
            "%(name)s : note moyenne %(average)s sur 5, %(count)s avis vérifiés (King-Avis)",
            summary.count, name=name, average=format_average(summary.average, lang), count=count,
        )
        line = ngettext("%(count)s avis", "%(count)s avis", summary.count, count=count)
        return title, line


def badge_width(line: str) -> int:
    """Wide enough for the stars and the count line (" · King-Avis" included)."""
    return max(MIN_WIDTH, STARS_X + math.ceil(len(line) * CHAR_WIDTH) + 12)


def badge_svg(name: str, summary: RatingSummary, lang: str) -> str:
    """The badge for a shop named ``name`` with ``summary``, in ``lang`` ("fr" or "en")."""
    title, line = badge_texts(name, summary, lang)
    line = f"{line} · King-Avis"
    average = format_average(summary.average, lang)
    fill = filled_width(summary.average)
    width = badge_width(line)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'viewBox="0 0 {width} {HEIGHT}" role="img" aria-labelledby="kingavis-badge-title" '
        f'lang="{lang}">'
        f'<title id="kingavis-badge-title">{escape(title)}</title>'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{HEIGHT - 1}" rx="8" fill="#ffffff" '
        f'stroke="#98a2b3"/>'
        f'<text x="12" y="33" font-family="{FONT}" font-size="24" font-weight="700" '
        f'fill="#101828">{escape(average)}</text>'
        f'<g transform="translate({STARS_X} {STARS_Y})">'
        f'<path fill="{GREY}" d="{_STARS}"/>'
        f'<svg width="{fill}" height="{STAR_SIZE + 2}" overflow="hidden">'
        f'<path fill="{GOLD}" d="{_STARS}"/></svg></g>'
        f'<text x="{STARS_X}" y="40" font-family="{FONT}" font-size="12" fill="#344054">'
        f'{escape(line)}</text>'
        f"</svg>"
    )
