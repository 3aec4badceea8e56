"""Mail transports against a real SMTP server on loopback (aiosmtpd), and file:// outboxes."""

from __future__ import annotations

import os
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from smtp_server import (  # noqa: F401
    Certificates,
    SMTPServer,
    free_port,
    make_certificates,
    smtp_certificates,
    smtp_server,
)
from test_email import BASE, make_request

from kingavis.delivery.errors import (
    MailError,
    PermanentMailError,
    TransientMailError,
    UncertainDeliveryError,
)
from kingavis.delivery.messages import build_message
from kingavis.delivery.transports import (
    SMTPTransport,
    close_shared_transports,
    get_shared_transport,
    open_transport,
)
from kingavis.mail_settings import MailSettings

MAIL_FROM = "avis@kingavis.example"


def message(n: int = 1, to: str = "zoe@example.com") -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = f"Boutique <{MAIL_FROM}>"
    msg["To"] = to
    msg["Subject"] = f"Message {n}"
    msg["Message-ID"] = f"<test.{n}@kingavis.test>"
    msg.set_content(f"Body {n}")
    return msg


def review_message(request_id: int = 42, email: str = "zoe@example.com") -> EmailMessage:
    return build_message(make_request(request_id=request_id, token=f"tok_{request_id:0>24}",
                                      email=email), base_url=BASE, mail_from=MAIL_FROM)


# ----------------------------------------------------------------------------- plain SMTP


def test_a_batch_goes_over_one_connection(smtp_server: SMTPServer) -> None:  # noqa: F811
    with open_transport(smtp_server.url) as transport:
        for n in range(1, 6):
            transport.send(message(n))

    assert smtp_server.connections == 1
    assert [m.message["Subject"] for m in smtp_server.messages] == [f"Message {n}" for n in range(1, 6)]
    assert {m.connection for m in smtp_server.messages} == {1}
    assert all(m.mail_from == MAIL_FROM and m.rcpt_tos == ["zoe@example.com"]
               for m in smtp_server.messages)


def test_the_review_email_arrives_intact(smtp_server: SMTPServer) -> None:  # noqa: F811
    msg = review_message()
    with open_transport(smtp_server.url) as transport:
        transport.send(msg)

    [received] = smtp_server.messages
    assert received.rcpt_tos == ["zoe@example.com"]
    got = received.message
    assert got["Message-ID"] == msg["Message-ID"]
    assert got["From"].addresses[0].display_name == "Boutique Zoë"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Bonjour Zoë," in got.get_body(("plain",)).get_content()


def test_recipient_refused_5xx_is_permanent_with_the_servers_reason(
    smtp_server: SMTPServer,  # noqa: F811
) -> None:
    smtp_server.recipient_replies["gone@example.com"] = (
        "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown")
    with open_transport(smtp_server.url) as transport:
        with pytest.raises(PermanentMailError) as caught:
            transport.send(message(1, to="gone@example.com"))
        # The connection is still good for the rest of the batch.
        transport.send(message(2))

    error = caught.value
    assert error.code == 550
    assert "550" in str(error) and "User unknown" in str(error)
    assert "gone@example.com" not in str(error)  # never a full customer address
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Message 2"]
    assert smtp_server.connections == 1


def test_recipient_4xx_is_transient(smtp_server: SMTPServer) -> None:  # noqa: F811
    smtp_server.recipient_replies["busy@example.com"] = "451 4.7.1 Greylisted, try again later"
    with open_transport(smtp_server.url) as transport, pytest.raises(TransientMailError) as caught:
        transport.send(message(1, to="busy@example.com"))
    assert caught.value.code == 451
    assert "Greylisted" in str(caught.value)
    assert not isinstance(caught.value, UncertainDeliveryError)
    assert smtp_server.messages == []


@pytest.mark.parametrize(("reply", "kind"), [
    ("554 5.6.0 Message rejected as spam", PermanentMailError),
    ("452 4.3.1 Insufficient system storage", TransientMailError),
])
def test_data_refused(smtp_server: SMTPServer, reply: str, kind: type[MailError]) -> None:  # noqa: F811
    smtp_server.data_reply = reply
    with open_transport(smtp_server.url) as transport, pytest.raises(kind) as caught:
        transport.send(message())
    assert str(caught.value).startswith(reply[:3])
    assert reply[10:] in str(caught.value)


def test_server_down_is_transient() -> None:
    with pytest.raises(TransientMailError) as caught, open_transport(f"smtp://127.0.0.1:{free_port()}") as t:
        t.send(message())
    assert "cannot connect" in str(caught.value)


def test_a_server_that_never_answers_times_out_as_transient() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never says a word
        url = f"smtp://127.0.0.1:{silent.getsockname()[1]}?timeout=0.5"
        with pytest.raises(TransientMailError, match="timed out"), open_transport(url) as t:
            t.send(message())


def test_a_connection_dropped_between_messages_is_replaced(smtp_server: SMTPServer) -> None:  # noqa: F811
    with open_transport(smtp_server.url) as transport:
        transport.send(message(1))
        smtp_server.drop_connections()  # e.g. the server's idle timeout
        transport.send(message(2))

    assert [m.message["Subject"] for m in smtp_server.messages] == ["Message 1", "Message 2"]
    assert smtp_server.connections == 2


def test_a_connection_lost_after_the_data_is_never_sent_again(smtp_server: SMTPServer) -> None:  # noqa: F811
    with open_transport(smtp_server.url) as transport:
        transport.send(message(1))
        smtp_server.drop_after_data = True  # the next message is received, then the line drops
        with pytest.raises(UncertainDeliveryError):
            transport.send(message(2))

    # The server has message 2 once: a reused connection is retried only before DATA.
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Message 1", "Message 2"]
    assert smtp_server.connections == 1


def test_international_mailbox_is_sent_with_smtputf8(smtp_server: SMTPServer) -> None:  # noqa: F811
    with open_transport(smtp_server.url) as transport:
        transport.send(review_message(email="山田@example.jp"))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["山田@example.jp"]


# ----------------------------------------------------------------------------- AUTH and TLS


def test_auth_with_url_encoded_credentials() -> None:
    user, password = "shop@kingavis.example", "p@ss:w/rd %?#"
    with SMTPServer(users={user: password}) as server:
        url = server.url_for(user, password)
        assert "p%40ss" in url
        with open_transport(url) as transport:
            transport.send(message())
        assert server.logins == [user]
        assert len(server.messages) == 1


def test_wrong_password_is_transient_and_sends_nothing() -> None:
    with SMTPServer(users={"shop": "right"}) as server:
        with pytest.raises(TransientMailError) as caught, open_transport(
            server.url_for("shop", "wrong")
        ) as transport:
            transport.send(message())
        assert "login" in str(caught.value) and "535" in str(caught.value)
        assert "wrong" not in str(caught.value)
        assert server.messages == [] and server.logins == []


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_with_a_private_ca_and_auth(mode: str, smtp_certificates: Certificates) -> None:  # noqa: F811
    with SMTPServer(mode, certs=smtp_certificates, users={"shop": "secret"}) as server:
        assert "cafile=" in server.url
        with open_transport(server.url) as transport:
            for n in range(3):
                transport.send(message(n))
        assert server.logins == ["shop"]
        assert len(server.messages) == 3
        assert server.connections == 1


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_certificates_are_verified(mode: str, smtp_certificates: Certificates) -> None:  # noqa: F811
    with SMTPServer(mode, certs=smtp_certificates) as server:
        untrusted = server.url.split("?")[0]  # without the private CA
        with pytest.raises(TransientMailError) as caught, open_transport(untrusted) as transport:
            transport.send(message())
        assert "certificate" in str(caught.value)
        assert server.messages == []


def test_tls_host_name_is_checked(tmp_path: Path) -> None:
    # A certificate from a trusted CA, but for another host name.
    certs = make_certificates(tmp_path, names="DNS:mail.example.org")
    with SMTPServer("smtps", certs=certs) as server:
        url = server.url
        with pytest.raises(TransientMailError, match="certificate"), open_transport(url) as t:
            t.send(message())
        assert server.messages == []


def test_starttls_never_falls_back_to_plain(smtp_server: SMTPServer, tmp_path: Path) -> None:  # noqa: F811
    url = smtp_server.url.replace("smtp://", "smtp+starttls://")
    with pytest.raises(TransientMailError, match="STARTTLS"), open_transport(url) as transport:
        transport.send(message())
    assert smtp_server.messages == []


# ----------------------------------------------------------------------------- shared transport


def test_shared_transport_keeps_one_connection_across_jobs(smtp_server: SMTPServer) -> None:  # noqa: F811
    try:
        for n in range(1, 4):  # three jobs
            with get_shared_transport(smtp_server.url) as transport:
                transport.send(message(n))
        assert get_shared_transport(smtp_server.url) is get_shared_transport(smtp_server.url)
        assert smtp_server.connections == 1

        smtp_server.drop_connections()
        with get_shared_transport(smtp_server.url) as transport:
            transport.send(message(4))
        assert [m.message["Subject"] for m in smtp_server.messages] == [
            f"Message {n}" for n in range(1, 5)]
        assert smtp_server.connections == 2
    finally:
        close_shared_transports()


def test_shared_transport_reconnects_after_the_server_restarts() -> None:
    server = SMTPServer().start()
    try:
        with get_shared_transport(server.url) as transport:
            transport.send(message(1))
        server.stop()
        with pytest.raises(TransientMailError), get_shared_transport(server.url) as transport:
            transport.send(message(2))
        restarted = SMTPServer()
        restarted.port = server.port
        with restarted, get_shared_transport(server.url) as transport:
            transport.send(message(3))
            assert [m.message["Subject"] for m in restarted.messages] == ["Message 3"]
    finally:
        server.stop()
        close_shared_transports()


# ----------------------------------------------------------------------------- file://


def test_file_transport_writes_one_parseable_eml_per_message(tmp_path: Path) -> None:
    outbox = tmp_path / "out box"
    with open_transport(f"file://{str(outbox).replace(' ', '%20')}") as transport:
        for n in (1, 2):
            transport.send(review_message(request_id=n))

    files = sorted(outbox.iterdir())
    assert [f.name for f in files] == [
        review_message(request_id=n)["Message-ID"].strip("<>") + ".eml" for n in (1, 2)]
    assert all(f.suffix == ".eml" and not f.name.startswith(".") for f in files)
    for n, path in zip((1, 2), files, strict=True):
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert parsed["Message-ID"] == review_message(request_id=n)["Message-ID"]
        assert parsed.get_body(("html",)) is not None


def test_file_transport_names_files_safely_and_replaces_on_retry(tmp_path: Path) -> None:
    msg = message()
    del msg["Message-ID"]
    msg["Message-ID"] = "<../../etc/passwd@evil>"
    with open_transport(f"file://{tmp_path}") as transport:
        transport.send(msg)
        transport.send(msg)  # a retry of the same message
    files = os.listdir(tmp_path)
    assert len(files) == 1
    assert "/" not in files[0] and not files[0].startswith(".")
    assert not (tmp_path.parent / "etc").exists()


def test_file_transport_unwritable_directory_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(TransientMailError), open_transport(f"file://{blocker}/out") as transport:
        transport.send(message())


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(("url", "why"), [
    ("http://mail.example.com", "scheme"),
    ("smtp://", "host"),
    ("smtp://mail.example.com:99999", "port"),
    ("smtp://mail.example.com?verify=no", "unknown parameter"),
    ("smtps://mail.example.com?cafile=/nonexistent/ca.pem", "cafile"),
    ("smtp://mail.example.com?timeout=soon", "timeout"),
    ("file://relative/dir", "absolute"),
])
def test_bad_mail_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        open_transport(url)


def test_url_defaults_and_password_never_shown() -> None:
    settings = MailSettings("smtps://user:s%3Acret@mail.example.com")
    assert (settings.host, settings.port, settings.username, settings.password) == (
        "mail.example.com", 465, "user", "s:cret")
    assert "cret" not in repr(settings)
    assert MailSettings("smtp+starttls://mail.example.com").port == 587
    assert MailSettings("smtp://mail.example.com").port == 25
    assert MailSettings("smtp://mail.example.com?timeout=5").timeout == 5
    assert isinstance(open_transport("smtp://mail.example.com"), SMTPTransport)
