"""Responses to a URL that holds a customer's secret token: the questionnaire (``/r/``), the
unsubscribe page (``/u/``), the click redirect (``/c/``) and where they lead.

Whoever holds the token acts as the customer, so such a response is never stored by a shared
cache, never indexed, and never hands its URL on in a Referer header.
"""

from __future__ import annotations

from typing import TypeVar

from werkzeug.wrappers import Response

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}

R = TypeVar("R", bound=Response)


def keep_private(response: R) -> R:
    """``response`` with the headers of a URL that holds a secret token."""
    response.headers.update(PRIVATE_HEADERS)
    return response
