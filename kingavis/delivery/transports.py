"""Mail transports for ``MAIL_URL`` (docs/configuration.md).

``open_transport(mail_url)`` gives a context manager whose ``send(msg)`` hands one message to
the mail server; many messages may be sent over one connection (a batch)::

    with open_transport("smtp+starttls://user:pass@mail.example.com:587") as transport:
        for msg in messages:
            transport.send(msg)

URL forms:

- ``smtp://[user:pass@]host[:port]`` plain SMTP (port 25), AUTH when a user is given;
- ``smtp+starttls://[user:pass@]host[:port]`` STARTTLS required (port 587);
- ``smtps://[user:pass@]host[:port]`` TLS from the first byte (port 465);
- ``file:///abs/dir`` one ``.eml`` file per message, named after its Message-ID.

User and password are URL-decoded (``p%40ss`` is ``p@ss``). Query parameters:
``cafile=/path/ca.pem`` trusts a private CA (certificates are always verified),
``timeout=30`` seconds for connecting and for each reply.

Errors are ``TransientMailError`` (4xx, connection refused, timeouts, disconnects, login or TLS
failures), ``UncertainDeliveryError`` (the connection broke after the message data was sent)
or ``PermanentMailError`` (a 5xx reply to this message).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import smtplib
import ssl
import tempfile
import threading
import uuid
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from kingavis.delivery.errors import (
    MailError,
    PermanentMailError,
    TransientMailError,
    UncertainDeliveryError,
)
from kingavis.delivery.outbound import envelope_of
from kingavis.mail_settings import MailSettings

_EMAIL_LIKE = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


class Transport(Protocol):
    """Hands messages to a mail server. Use as a context manager; ``send`` may be called often."""

    def send(self, msg: EmailMessage) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Base:
    # Leaving the ``with`` block closes the transport, except for a shared one that stays open
    # for the next job (SharedTransport).
    close_on_exit = True

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.close_on_exit:
            self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


def open_transport(mail_url: str) -> Transport:
    """A transport for ``mail_url``; ValueError (with the reason) when the URL is not usable."""
    settings = MailSettings(mail_url)
    if settings.scheme == "file":
        return FileTransport(settings.directory)
    return SMTPTransport(settings)


# --------------------------------------------------------------------------- file://


def _safe_file_name(message_id: str | None) -> str:
    name = (message_id or "").strip().strip("<>")
    name = re.sub(r"[^A-Za-z0-9._@+=-]", "_", name)[:200].lstrip(".")
    return (name or f"message-{uuid.uuid4().hex}") + ".eml"


class FileTransport(_Base):
    """One ``.eml`` file per message, written atomically (a temporary file, then a rename).

    The file is named after the Message-ID, so sending the same message again replaces it.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __enter__(self) -> FileTransport:
        return self

    def send(self, msg: EmailMessage) -> None:
        target = self.directory / _safe_file_name(msg["Message-ID"])
        data = msg.as_bytes()
        tmp_name = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.directory)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp_name, 0o640)
            os.replace(tmp_name, target)
            tmp_name = None
        except OSError as exc:
            raise TransientMailError(f"cannot write to {self.directory}: {exc.strerror or exc}") from exc
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- SMTP


class _TrackingMixin:
    """Remembers whether the DATA command was started for the current message."""

    data_started = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_started = True
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_TrackingMixin, smtplib.SMTP):
    pass


class _SMTP_SSL(_TrackingMixin, smtplib.SMTP_SSL):
    pass


def _reply_text(message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    text = " ".join(text.split())
    # The server's text often repeats the recipient's address: never pass a full address on.
    from kingavis.logging import mask_email

    return _EMAIL_LIKE.sub(lambda m: mask_email(m.group(0)) or "***", text)


def _by_code(code: int, text: str) -> MailError:
    if 500 <= code <= 599:
        return PermanentMailError(f"{code} {text}", code=code)
    return TransientMailError(f"{code} {text}", code=code)


class SMTPTransport(_Base):
    """SMTP, SMTP with STARTTLS, or SMTPS. One connection serves many messages.

    The connection is opened on ``__enter__`` (or on the first ``send``). When a connection that
    served earlier messages turns out to be closed before the message data was sent (the server
    dropped an idle connection), the message is sent once more on a fresh connection; a message
    whose data was sent is never sent again.
    """

    def __init__(self, settings: MailSettings | str) -> None:
        self.settings = settings if isinstance(settings, MailSettings) else MailSettings(settings)
        self._conn: _SMTP | _SMTP_SSL | None = None
        self.connections_opened = 0

    def __enter__(self) -> SMTPTransport:
        self.connect()
        return self

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def connect(self) -> None:
        """Open (and authenticate) a connection; TransientMailError when that fails."""
        self.close()
        s = self.settings
        where = f"{s.host}:{s.port}"
        conn: _SMTP | _SMTP_SSL | None = None
        try:
            if s.scheme == "smtps":
                conn = _SMTP_SSL(s.host, s.port, timeout=s.timeout, context=s.ssl_context())
            else:
                conn = _SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.scheme == "smtp+starttls":
                if not conn.has_extn("starttls"):
                    raise TransientMailError(f"{where} does not offer STARTTLS")
                conn.starttls(context=s.ssl_context())
                conn.ehlo()
            if s.username is not None:
                conn.login(s.username, s.password or "")
        except MailError:
            _quietly_close(conn)
            raise
        except smtplib.SMTPResponseException as exc:  # SMTPAuthenticationError included
            _quietly_close(conn)
            what = (f"login to {where} failed" if isinstance(exc, smtplib.SMTPAuthenticationError)
                    else f"{where} refused the session")
            raise TransientMailError(
                f"{what}: {exc.smtp_code} {_reply_text(exc.smtp_error)}", code=exc.smtp_code
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _quietly_close(conn)
            raise TransientMailError(f"{where}: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            _quietly_close(conn)
            raise TransientMailError(
                f"TLS certificate of {where} not trusted: {exc.verify_message}"
                " (use ?cafile=/path/ca.pem for a private CA)"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            _quietly_close(conn)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TransientMailError(
                f"cannot connect to {where}: {reason or type(exc).__name__}"
            ) from exc
        self._conn = conn
        self.connections_opened += 1

    def send(self, msg: EmailMessage) -> None:
        fresh = self._conn is None
        if fresh:
            self.connect()
        try:
            self._send_once(msg)
        except _RetryOnFreshConnection as retry:
            if fresh:
                raise retry.error from None
            self.connect()
            try:
                self._send_once(msg)
            except _RetryOnFreshConnection as again:
                raise again.error from None

    def _send_once(self, msg: EmailMessage) -> None:
        conn = self._conn
        assert conn is not None
        conn.data_started = False
        try:
            # The envelope sender names the message for its bounces (docs/deliverability.md).
            refused = conn.send_message(msg, from_addr=envelope_of(msg))
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise self._reply_error(conn, code, f"recipient refused: {_reply_text(text)}") from exc
        except smtplib.SMTPSenderRefused as exc:
            error = self._reply_error(
                conn, exc.smtp_code, f"sender refused: {_reply_text(exc.smtp_error)}"
            )
            if isinstance(error, PermanentMailError):
                # About MAIL_FROM, i.e. our configuration: every message would fail the same way.
                error = TransientMailError(str(error), code=exc.smtp_code)
            raise error from exc
        except smtplib.SMTPDataError as exc:
            raise self._reply_error(
                conn, exc.smtp_code, f"message refused: {_reply_text(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error(conn, exc.smtp_code, _reply_text(exc.smtp_error)) from exc
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. a non-ASCII address and a server without SMTPUTF8
            raise PermanentMailError(f"the mail server cannot take this message: {exc}") from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            reason = str(exc) or type(exc).__name__
            if conn.data_started:
                raise UncertainDeliveryError(
                    f"connection lost after the message was sent, it may have been delivered: {reason}"
                ) from exc
            raise _RetryOnFreshConnection(TransientMailError(f"connection lost: {reason}")) from exc
        if refused:  # only possible with several recipients
            code, text = next(iter(refused.values()))
            raise _by_code(code, f"recipient refused: {_reply_text(text)}")

    def _reply_error(self, conn: smtplib.SMTP, code: int, text: str) -> Exception:
        """The error for a reply ``code``; 421 (the server closes the channel) before DATA may
        be retried once on a fresh connection."""
        if code == 421 or conn.sock is None:
            self._drop()
            if not getattr(conn, "data_started", False):
                return _RetryOnFreshConnection(TransientMailError(f"{code} {text}", code=code))
        return _by_code(code, text)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        _quietly_close(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(smtplib.SMTPException, OSError):
            conn.quit()
        _quietly_close(conn)


class _RetryOnFreshConnection(Exception):
    """Internal: the connection failed before DATA; ``error`` is raised if no retry is allowed."""

    def __init__(self, error: MailError) -> None:
        super().__init__(str(error))
        self.error = error


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError):
        conn.close()


# --------------------------------------------------------------------------- shared connection


class SharedTransport(_Base):
    """A process-wide transport for workers that send one message per job.

    Leaving its ``with`` block keeps the connection open for the next job. Dropped connections
    are replaced (see SMTPTransport). Safe to use from several threads (one send at a time).
    """

    close_on_exit = False  # stays open for the next job

    def __init__(self, mail_url: str) -> None:
        self.mail_url = mail_url
        self._transport = open_transport(mail_url)
        self._lock = threading.Lock()

    def send(self, msg: EmailMessage) -> None:
        with self._lock:
            self._transport.send(msg)

    def close(self) -> None:
        with self._lock:
            self._transport.close()


_shared: dict[tuple[int, str], SharedTransport] = {}
_shared_lock = threading.Lock()


def get_shared_transport(mail_url: str) -> SharedTransport:
    """The cached transport of this process for ``mail_url`` (a forked child gets its own)."""
    key = (os.getpid(), mail_url)
    with _shared_lock:
        transport = _shared.get(key)
        if transport is None:
            transport = _shared[key] = SharedTransport(mail_url)
        return transport


def close_shared_transports() -> None:
    """Close this process's shared connections (at exit, or in tests)."""
    with _shared_lock:
        mine = [k for k in _shared if k[0] == os.getpid()]
        transports = [_shared.pop(k) for k in mine]
    for transport in transports:
        transport.close()


atexit.register(close_shared_transports)

__all__ = [
    "FileTransport",
    "SMTPTransport",
    "SharedTransport",
    "Transport",
    "close_shared_transports",
    "get_shared_transport",
    "open_transport",
]
