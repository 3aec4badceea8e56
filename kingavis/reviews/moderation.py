"""Moderation at submission: which comments wait for an operator before they go public.

A pure rule, kept apart so it can be read, tested and quoted in the charter on its own.
"""

from __future__ import annotations

import re

# Top-level domains a bare address is recognised by ("example.com", "boutique.fr"), in lower
# case. A closed list, so that "3.5", "ok.merci" or "photo.jpg" are not read as addresses, and
# without those that are everyday words after a missing space ("arrivé.De", "fast.It", "super.Top").
_TLDS = (
    "com|fr|net|org|eu|ch|lu|nl|pt|uk|io|info|biz|shop|store|online|xyz|app|dev|ly|gl|tv|bzh"
    "|paris|blog|cc|ws"
)
_EMAIL = re.compile(r"[\w.+-]+\s?(?:@|\[at\]|\(at\))\s?[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_LINK = re.compile(
    r"https?://|\bwww\.|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?-i:" + _TLDS + r")\b(?![.-]?\w)",
    re.IGNORECASE,
)
_SEP = r"[\s.\-]?"
# French national numbers: 0, a digit 1-9, then four pairs ("06 12 34 56 78", "0612345678",
# "01.23.45.67.89"); never preceded or followed by another digit.
_PHONE_FR = re.compile(r"(?<![\d+])0[1-9](?:" + _SEP + r"\d{2}){4}(?!\d)")
# International numbers: "+" or "00", a country code, an optional "(0)", then 6 to 12 more
# digits with the usual separators ("+33 6 12 34 56 78", "+33 (0)6…", "0044 20 7946 0958").
_PHONE_INTL = re.compile(
    r"(?<![\w+])(?:\+|00)\s?[1-9]\d{0,2}(?:" + _SEP + r"\(0\))?(?:" + _SEP + r"\d){6,12}(?!\d)"
)


def moderation_reason(comment: str | None) -> str | None:
    """Why a comment must wait for an operator ("email", "phone" or "link"), or None.

    docs/publication.md: a review is published at once unless its comment holds an email address, a
    phone number or a link. Those are what the charter refuses (personal data, advertising),
    and the only things a machine can tell reliably; everything else is published at once and
    can be reported. The rating is not an argument: nothing here can depend on it.

    - Email: ``name@domain.tld``, also written ``name [at] domain.tld``.
    - Link: ``http://`` or ``https://``, ``www.``, or a bare domain ending in a known
      top-level domain (``example.com``, ``ma-boutique.fr``). The closed list of top-level
      domains keeps decimals ("3.5/5"), abbreviations and file names out.
    - Phone: the French national form (0 then nine digits, in pairs or not, with spaces, dots or
      hyphens) and the international form (+ or 00, a country code, 6 to 12 more digits, an
      optional "(0)"). A bare number is not a phone: "2 colis", "taille 42", a price or an
      order date ("12/05/2024", "12.05.2024": eight digits) never match.
    """
    if not comment:
        return None
    if _EMAIL.search(comment):
        return "email"
    if _LINK.search(comment):
        return "link"
    if _PHONE_FR.search(comment) or _PHONE_INTL.search(comment):
        return "phone"
    return None


__all__ = ["moderation_reason"]
