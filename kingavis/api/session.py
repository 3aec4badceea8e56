"""No cookies on the public paths (docs/publication.md).

The public API and widget.js are fetched from shops' pages by every visitor: they must not read
a session (a merchant browsing their own shop while logged in to the back-office would otherwise
get answers made for them) nor ever set a cookie, not even a refreshed session cookie or the
``Vary: Cookie`` Flask adds when a session is touched (it would defeat shared caches).

The app's session interface is Flask's signed cookie, except that on public paths it hands out
an empty session that is never saved: nothing in the request can read the cookie sent, and
whatever a library puts in the session is dropped instead of answered as ``Set-Cookie``.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin

from kingavis.api.views import is_public_path


class PublicSession(SecureCookieSession):
    """An empty session for a public request; never saved."""


class PublicAwareSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if is_public_path(request.path):
            return PublicSession()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, PublicSession):
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = PublicAwareSessionInterface()
