"""Every date and number a person reads, in French or English, from one place (Babel).

The public page, the customer's pages, the back-office, the badge and the CSV all word their
figures and dates through these functions, so "5 000 caractères", "3,6" and "7 déc. 2026" read
the same everywhere in French ("5,000 characters", "3.6", "Dec 7, 2026" in English). The widget
(kingavis/api/widget.js) uses the same formats through the browser's Intl API: a medium date
(day, abbreviated month, year) and one decimal for an average.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import format_decimal

LANGS = ("fr", "en")
_VOWEL = re.compile(r"[aeiouyàâäéèêëîïôöùûüœæ]", re.IGNORECASE)


def _lang(lang: str | None) -> str:
    return lang if lang in LANGS else "fr"


def number(value: int | float, lang: str) -> str:
    """A count or amount with the language's grouping: 5 000 (fr, narrow no-break space), 5,000."""
    return format_decimal(value, locale=_lang(lang))


def one_decimal(value: float, lang: str) -> str:
    """An average: one decimal, 3,6 (fr) or 3.6 (en)."""
    return format_decimal(value, format="0.0", locale=_lang(lang))


def _local(value: date | datetime, zone: str | None) -> date | datetime:
    if isinstance(value, datetime) and zone:
        return value.astimezone(ZoneInfo(zone))
    return value


def day(value: date | datetime | None, lang: str, zone: str | None = None) -> str:
    """A calendar day: 7 déc. 2026 (fr), Dec 7, 2026 (en); "" when unknown. A datetime is
    first put in ``zone`` (the shop's time zone)."""
    if value is None:
        return ""
    return format_date(_local(value, zone), format="medium", locale=_lang(lang))


def long_day(value: date | datetime | None, lang: str, zone: str | None = None) -> str:
    """A day inside a sentence ("votre commande du 7 décembre 2026")."""
    if value is None:
        return ""
    return format_date(_local(value, zone), format="long", locale=_lang(lang))


def moment(value: datetime | None, lang: str, zone: str | None = None) -> str:
    """A day and a time: 7 déc. 2026 03:21 (fr), Dec 7, 2026, 3:21 AM (en)."""
    if value is None:
        return ""
    local = _local(value, zone)
    assert isinstance(local, datetime)
    pattern = get_datetime_format("medium", locale=_lang(lang))
    return str(pattern).replace("{1}", day(local, lang)).replace(
        "{0}", format_time(local, format="short", locale=_lang(lang)))


def elide(text: str, name: str, lang: str) -> str:
    """French elision before a name that starts with a vowel: "Avis clients de Épicerie Zoë"
    becomes "Avis clients d'Épicerie Zoë" (and "De Épicerie" "D'Épicerie"). Names starting with
    an h are left as they are (an aspirated h takes no elision). English text is unchanged."""
    if lang != "fr" or not name or not _VOWEL.match(name):
        return text
    return text.replace(f"de {name}", f"d'{name}").replace(f"De {name}", f"D'{name}")
