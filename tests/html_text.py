"""What a page says, for assertions on rendered HTML (back office, public pages)."""

from __future__ import annotations

import html
import re
from typing import Any

_STYLE_AND_SCRIPT = re.compile(r"<(style|script)[^>]*>.*?</\1>", re.S)
_TAG = re.compile(r"<[^>]+>")


def visible_text(response: Any) -> str:
    """The page's words: ``<style>`` and ``<script>`` blocks dropped, tags turned into spaces,
    entities decoded, runs of whitespace (no-break spaces too) collapsed into one space."""
    body = _STYLE_AND_SCRIPT.sub("", response.get_data(as_text=True))
    return html.unescape(re.sub(r"\s+", " ", _TAG.sub(" ", body)))


def visible_text_with_nbsp(response: Any) -> str:
    """``visible_text`` collapsing only ASCII whitespace: the no-break spaces of French
    typography (``Délai\u00a0: 3``) stay, for assertions on them."""
    body = _STYLE_AND_SCRIPT.sub("", response.get_data(as_text=True))
    return html.unescape(re.sub(r"[ \t\r\n]+", " ", _TAG.sub(" ", body)))


def page_source(response: Any) -> str:
    """The page's HTML with its tags kept, entities decoded and whitespace collapsed: for
    assertions on attributes and markup as well as on words."""
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))
