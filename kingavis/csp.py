"""The Content-Security-Policy of HTML pages: one nonce per response, one default policy."""

from __future__ import annotations

import secrets


def csp_nonce() -> str:
    """This response's Content-Security-Policy nonce (templates: ``nonce="{{ csp_nonce() }}"``)."""
    from flask import request

    # Kept with the request itself (an app context may outlive one request).
    return str(request.environ.setdefault("kingavis.csp_nonce", secrets.token_urlsafe(16)))


def default_csp(nonce: str) -> str:
    """The policy of every HTML page that sets none of its own: this site's scripts and
    stylesheets, inline <style> and <script> only with the response's nonce, no framing."""
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
