"""What the mail settings may hold, checked once by the configuration at start
(kingavis.config) and used by the transports (kingavis.delivery.transports): ``MAIL_URL``
parsed into its parts (docs/configuration.md), and the shape of a domain name (the bounce
domain and the DKIM selector, docs/deliverability.md).

One parser for both: a ``MAIL_URL`` the transports could not use stops the start with the
same reason the transport would give. Pure; no network, no app.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT = 30.0
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
SCHEMES = (*DEFAULT_PORTS, "file")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def valid_domain(domain: str) -> bool:
    """Whether ``domain`` is a fully qualified host name (letters, digits, hyphens, dots)."""
    return bool(_DOMAIN.match(domain.strip().lower().rstrip(".")))


class MailSettings:
    """A parsed MAIL_URL. Its repr never shows the password."""

    def __init__(self, mail_url: str) -> None:
        parts = urlsplit(mail_url)
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"MAIL_URL scheme must be one of {', '.join(SCHEMES)}, got {parts.scheme!r}"
            )
        self.scheme = parts.scheme
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"cafile", "timeout"})
        if unknown:
            raise ValueError(f"MAIL_URL has unknown parameter(s): {', '.join(unknown)}")
        self.cafile: str | None = query["cafile"][-1] if "cafile" in query else None
        if self.cafile is not None and not os.path.isfile(self.cafile):
            raise ValueError(f"MAIL_URL cafile does not exist: {self.cafile}")
        try:
            self.timeout = float(query["timeout"][-1]) if "timeout" in query else DEFAULT_TIMEOUT
        except ValueError:
            raise ValueError("MAIL_URL timeout must be a number of seconds") from None
        if self.timeout <= 0:
            raise ValueError("MAIL_URL timeout must be a number of seconds above 0")

        if self.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ValueError("MAIL_URL file:// needs an absolute directory, e.g. file:///var/mail/out")
            self.directory = Path(unquote(parts.path))
            self.host, self.port, self.username, self.password = "", 0, None, None
            return
        if not parts.hostname:
            raise ValueError("MAIL_URL needs a host, e.g. smtp://localhost:25")
        self.host = parts.hostname
        try:
            self.port = parts.port or DEFAULT_PORTS[self.scheme]
        except ValueError:
            raise ValueError("MAIL_URL port must be a number from 1 to 65535") from None
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password is not None else None
        if self.password is not None and self.username is None:
            raise ValueError("MAIL_URL has a password but no user name")

    def ssl_context(self) -> ssl.SSLContext:
        # Verifies the certificate and the host name; cafile adds a private CA.
        return ssl.create_default_context(cafile=self.cafile)

    def __repr__(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"<MailSettings {self.scheme}://{user}{self.host}:{self.port}>"
