"""Numbers, percentages, ratings and dates as the reader's locale writes them (Flask-Babel).

"4,5 / 5" and "40,0 %" in French, "4.5 / 5" and "40.0%" in English: every figure of the
back-office goes through these, never through ``str()`` or ``%``-formatting.
"""

from __future__ import annotations

from datetime import date, datetime

from babel import Locale
from flask_babel import format_decimal, format_percent, get_locale, get_translations, gettext

from kingavis import formatting


def number(value: int | float | None) -> str:
    """A count ("1 234" in French); "–" when unknown."""
    return "–" if value is None else format_decimal(value)


def percent(value: float | None) -> str:
    """A percentage given out of 100, one decimal, with the locale's sign and spacing."""
    if value is None:
        return "–"
    locale = get_locale() or Locale("fr")
    pattern = locale.percent_formats[None].pattern.replace("#,##0", "#,##0.0", 1)
    return format_percent(value / 100, format=pattern)


def rating(value: float | None) -> str:
    """An average rating out of 5, one decimal ("4,5 / 5")."""
    if value is None:
        return "–"
    return gettext("%(rating)s / 5", rating=format_decimal(value, format="0.0"))


def plural(singular: str, plural_: str, n: int) -> str:
    """ngettext with the reader's plural rule: French counts 0 as singular ("0 avis retiré",
    "0 demande annulée"), English as plural. (French is the source language, so without this
    gettext would apply the English rule to it.)"""
    french = str(get_locale() or "fr").startswith("fr")
    chosen = get_translations().ngettext(singular, plural_, 1 if french and n == 0 else n)
    return chosen % {"num": n}


def day(value: date | datetime | None) -> str:
    """A calendar day as every page writes it (7 déc. 2026, Dec 7, 2026: kingavis.formatting)."""
    return "–" if value is None else formatting.day(value, str(get_locale() or "fr"))


JINJA_GLOBALS = {"fmt_number": number, "fmt_percent": percent, "fmt_rating": rating,
                 "fmt_day": day}
