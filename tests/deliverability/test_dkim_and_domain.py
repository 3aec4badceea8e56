"""DKIM signing and ``flask mail check-domain`` (docs/deliverability.md).

The signature of a real review request verifies with dkimpy against the public key (taken from
the key file by openssl, not by King-Avis), before sending and after the message went through
an SMTP server; ``check-domain`` asks a real DNS server on loopback and reports each problem
with the record to publish."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from conftest import make_app
from delivery_helpers import schedule
from dns_server import DNSServer
from factories import make_shop
from flask import Flask
from smtp_server import SMTPServer

from kingavis.delivery.dispatcher import tick
from kingavis.delivery.messages import build_message
from kingavis.extensions import db
from kingavis.models import ReviewRequest

MAIL_FROM = "avis@kingavis.test"
BOUNCE_DOMAIN = "bounce.kingavis.test"
SELECTOR = "ka2026"


def openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


def make_key(directory: Path, kind: str) -> tuple[Path, str]:
    """A key file of ``kind`` (rsa-pkcs8, rsa-pkcs1, ed25519) and the DKIM record of its
    public key, as the operator would publish it."""
    path = directory / f"{kind}.pem"
    if kind == "ed25519":
        openssl("genpkey", "-algorithm", "ed25519", "-out", str(path))
    else:
        pkcs8 = directory / f"{kind}.pkcs8.pem"
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(pkcs8))
        if kind == "rsa-pkcs1":
            openssl("rsa", "-in", str(pkcs8), "-traditional", "-out", str(path))
            assert path.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
        else:
            pkcs8.rename(path)
    der = openssl("pkey", "-in", str(path), "-pubout", "-outform", "DER")
    if kind == "ed25519":
        return path, f"v=DKIM1; k=ed25519; p={base64.b64encode(der[-32:]).decode()}"
    return path, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def verifies(message: bytes, record: str) -> bool:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.kingavis.test.".encode()
        return record.encode()

    return bool(dkim.verify(message, dnsfunc=dnsfunc))


@pytest.fixture
def sink() -> Iterator[SMTPServer]:
    server = SMTPServer().start()
    yield server
    server.stop()


def signing_app(database_url: str, tmp_path: Path, key_file: Path, mail_url: str) -> Flask:
    return make_app(database_url, tmp_path, MAIL_URL=mail_url, MAIL_FROM=MAIL_FROM,
                    KINGAVIS_BOUNCE_DOMAIN=BOUNCE_DOMAIN, KINGAVIS_DKIM_SELECTOR=SELECTOR,
                    KINGAVIS_DKIM_KEY_FILE=str(key_file))


@pytest.mark.parametrize("kind", ["rsa-pkcs8", "rsa-pkcs1", "ed25519"])
def test_every_review_request_is_signed_and_verifies_after_the_smtp_server(
        database_url: str, tmp_path: Path, sink: SMTPServer, kind: str) -> None:
    key_file, record = make_key(tmp_path, kind)
    app = signing_app(database_url, tmp_path, key_file, sink.url)
    with app.app_context():
        shop, _ = make_shop()
        request_id = schedule(shop, "1", email="zoe@example.com")
        request = db.session.get(ReviewRequest, request_id)
        built = build_message(request, base_url=app.config["KINGAVIS_BASE_URL"], mail_from=MAIL_FROM)
        db.session.rollback()
        assert verifies(built.as_bytes(), record)

        tick()
        assert len(sink.messages) == 1
        received = sink.messages[0]
        assert verifies(received.content, record)
        signature = received.message["DKIM-Signature"]
        tags = {k.strip(): "".join(v.split()) for k, _, v in
                (part.partition("=") for part in str(signature).split(";"))}
        assert tags["d"] == "kingavis.test" and tags["s"] == SELECTOR
        assert tags["a"] == ("ed25519-sha256" if kind == "ed25519" else "rsa-sha256")
        signed = set(tags["h"].lower().split(":"))
        assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe",
                "list-unsubscribe-post"} <= signed
        # A changed header breaks it: the check above is not vacuous.
        tampered = received.content.replace(b"\r\nSubject: ", b"\r\nSubject: Re: ", 1)
        assert not verifies(tampered, record)
        db.session.remove()
        db.engine.dispose()


def test_no_signature_without_a_selector(database_url: str, tmp_path: Path, sink: SMTPServer) -> None:
    app = make_app(database_url, tmp_path, MAIL_URL=sink.url, MAIL_FROM=MAIL_FROM)
    with app.app_context():
        shop, _ = make_shop()
        schedule(shop, "1", email="zoe@example.com")
        tick()
        assert sink.messages[0].message["DKIM-Signature"] is None
        assert sink.messages[0].mail_from == MAIL_FROM  # no bounce domain: MAIL_FROM
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------- check-domain

GOOD_SPF = "v=spf1 ip4:203.0.113.0/24 -all"
GOOD_DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@kingavis.test"


def zone(record: str, **changes: list[str] | None) -> dict[str, list[str]]:
    records: dict[str, list[str] | None] = {
        BOUNCE_DOMAIN: [GOOD_SPF],
        f"{SELECTOR}._domainkey.kingavis.test": [record],
        "_dmarc.kingavis.test": [GOOD_DMARC],
        "kingavis.test": ["google-site-verification=abc"],
    }
    for name, value in changes.items():
        records[{"spf": BOUNCE_DOMAIN, "dkim": f"{SELECTOR}._domainkey.kingavis.test",
                 "dmarc": "_dmarc.kingavis.test"}[name]] = value
    return {name: values for name, values in records.items() if values is not None}


def check(app: Flask, dns: DNSServer) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["mail", "check-domain", "--nameserver", dns.address])
    return result.exit_code, result.output


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    return make_key(tmp_path, "rsa-pkcs8")


@pytest.fixture
def domain_app(database_url: str, tmp_path: Path, key: tuple[Path, str]) -> Iterator[Flask]:
    app = signing_app(database_url, tmp_path, key[0], f"file://{tmp_path / 'outbox'}")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_check_domain_all_good(domain_app: Flask, key: tuple[Path, str]) -> None:
    with DNSServer(zone(key[1])) as dns:
        code, output = check(domain_app, dns)
    assert code == 0, output
    assert "PROBLEM" not in output and "publish:" not in output
    assert output.count("OK ") == 4


def test_check_domain_spf_missing(domain_app: Flask, key: tuple[Path, str]) -> None:
    with DNSServer(zone(key[1], spf=None)) as dns:
        code, output = check(domain_app, dns)
    assert code == 1
    assert f"PROBLEM  SPF: no v=spf1 record at {BOUNCE_DOMAIN}" in output
    assert f'publish: {BOUNCE_DOMAIN}. TXT "v=spf1' in output
    assert "OK       DKIM" in output and "OK       DMARC" in output


def test_check_domain_dkim_key_mismatch(domain_app: Flask, key: tuple[Path, str],
                                        tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_key(tmp_path / "other", "rsa-pkcs8")
    with DNSServer(zone(other[1])) as dns:
        code, output = check(domain_app, dns)
    assert code == 1
    assert "does not match the key file" in output
    assert f'publish: {SELECTOR}._domainkey.kingavis.test. TXT "{key[1]}"' in output


def test_check_domain_dmarc_absent(domain_app: Flask, key: tuple[Path, str]) -> None:
    with DNSServer(zone(key[1], dmarc=None)) as dns:
        code, output = check(domain_app, dns)
    assert code == 1
    assert "PROBLEM  DMARC: no record at _dmarc.kingavis.test" in output
    assert 'publish: _dmarc.kingavis.test. TXT "v=DMARC1; p=none' in output


def test_check_domain_refuses_a_bad_nameserver(domain_app: Flask) -> None:
    result = domain_app.test_cli_runner().invoke(
        args=["mail", "check-domain", "--nameserver", "dns.example.com"])
    assert result.exit_code == 1
    assert "--nameserver must be an IP address" in result.output
