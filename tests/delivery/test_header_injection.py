"""No header from any text, once decoded (issue 21, docs/email-headers.md).

A merchant's sender name or subject, or a shop's name given to `shops create`, holding an
RFC 2047 encoded word that decodes to CR/LF (``=?utf-8?q?=0D=0A…?=``, ``=?utf-8?b?DQo…?=``)
used to pass the "no CR/LF" check; Python's email package (3.11.7 here) then wrote the
decoded line break raw: an injected ``Reply-To``, a replaced body. Now:

- such text is refused where it is typed (back-office form, preview, CLI), q and b;
- a value stored before (written here with SQL) never gets into a message: the build is
  refused, logged, and the request is failed through the dispatcher, never marked sent, and
  no email reaches the SMTP server;
- the email page still answers 200, naming the field to correct.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import captured_log
from delivery_helpers import log_lines, request_row, schedule
from factories import make_shop
from flask import Flask
from requests_helpers import login, merchant
from smtp_server import SMTPServer
from sqlalchemy import select, update

from kingavis.delivery import email_design
from kingavis.delivery.dispatcher import tick
from kingavis.delivery.email_design import DesignError, DesignInput
from kingavis.delivery.errors import UnsafeHeaderError
from kingavis.delivery.messages import build_message
from kingavis.extensions import db
from kingavis.mail_headers import (
    CONTROL,
    ENCODED,
    folded_header_problem,
    header_text_problem,
    stdlib_folds_safely,
)
from kingavis.models import EmailDesign, Shop, utcnow

# The same injection in both encodings, and a harmless encoded word (still refused as typed).
INJECTIONS = {
    "q": "Votre avis =?utf-8?q?=0D=0AReply-To:_x@evil.test=0D=0A=0D=0AFake?=",
    "b": "Votre avis =?utf-8?b?DQpSZXBseS1UbzogeEBldmlsLnRlc3QNCg0KRmFrZQ==?=",
    "q-upper": "Votre avis =?UTF-8?Q?=0A?=Bcc: x@evil.test",
    "b-latin1": "Boutique =?iso-8859-1?b?DQpYLUV2aWw6IDE=?=",
}
HARMLESS = "Boutique =?utf-8?q?Zo=C3=AB?="
MAIL_FROM = "avis@kingavis.test"


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM=MAIL_FROM)
    return app


# --------------------------------------------------------------------------- the pure rules


@pytest.mark.parametrize("text", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_text_that_decodes_to_a_line_break_is_refused(text: str) -> None:
    assert header_text_problem(text) == CONTROL


def test_any_encoded_word_is_refused_and_plain_text_is_not() -> None:
    assert header_text_problem(HARMLESS) == ENCODED
    assert header_text_problem("=?x?q?a?=") == ENCODED
    assert header_text_problem("Boutique Zoë — 100 % =? oui") is None
    assert header_text_problem("Boutique\tZoë") == CONTROL


def test_a_folded_header_must_be_one_logical_line() -> None:
    assert folded_header_problem("Subject: a\r\n b\r\n") is None
    assert folded_header_problem("Subject: a\r\nReply-To: x@evil.test\r\n") is not None
    assert folded_header_problem("Subject: a\nb\r\n") is not None
    assert folded_header_problem("Subject: =?utf-8?q?a=0D=0A_b?=\r\n") is not None


def test_the_probe_tells_this_python_apart() -> None:
    # 3.11.7 (this machine) writes the decoded line break raw; patched versions do not.
    import sys

    patched = sys.version_info >= (3, 13) or (3, 12, 5) <= sys.version_info < (3, 13) \
        or (3, 11, 10) <= sys.version_info < (3, 12)
    assert stdlib_folds_safely() is patched


# --------------------------------------------------------------------------- where it is typed


@pytest.mark.parametrize("encoding", INJECTIONS.keys())
@pytest.mark.parametrize("field", ["sender_name", "subject"])
def test_the_back_office_refuses_encoded_words_in_header_fields(
    app: Flask, field: str, encoding: str
) -> None:
    shop, _ = make_shop()
    client = app.test_client()
    login(client, merchant(shop))
    db.session.rollback()
    form = {"lang": "fr", "sender_name": "", "subject": "", "intro": "", "logo_url": "",
            "brand_colour": "", field: INJECTIONS[encoding]}
    response = client.post(f"/admin/shops/{shop.key}/email", data=form)
    assert response.status_code == 422
    assert "doit tenir sur une ligne" in response.get_data(as_text=True)
    preview = client.post(f"/admin/shops/{shop.key}/email/preview", data=form)
    assert preview.status_code == 422 and field in preview.get_json()["errors"]
    assert db.session.scalars(select(EmailDesign)).all() == []


@pytest.mark.parametrize("field", ["sender_name", "subject"])
def test_a_harmless_encoded_word_is_refused_with_its_own_message(app: Flask, field: str) -> None:
    shop, _ = make_shop()
    with pytest.raises(DesignError) as caught:
        email_design.save_design(shop, merchant(shop), "fr", DesignInput(**{field: HARMLESS}))
    assert any("=?…?=" in message for message in caught.value.errors[field])


@pytest.mark.parametrize("encoding", INJECTIONS.keys())
def test_shops_create_refuses_an_encoded_word_in_the_name(app: Flask, encoding: str) -> None:
    result = app.test_cli_runner().invoke(
        args=["shops", "create", "--name", INJECTIONS[encoding], "--json"])
    assert result.exit_code != 0
    assert "single line" in result.output
    assert db.session.scalars(select(Shop)).all() == []
    harmless = app.test_cli_runner().invoke(args=["shops", "create", "--name", HARMLESS, "--json"])
    assert harmless.exit_code != 0 and "encoded word" in harmless.output


# --------------------------------------------------------------------------- stored before


def _store(shop: Shop, **values: Any) -> None:
    """Write values as an older version (or a hand-made SQL change) could have left them."""
    if "name" in values:
        db.session.execute(update(Shop).where(Shop.id == shop.id).values(name=values.pop("name")))
    if values:
        db.session.add(EmailDesign(shop_id=shop.id, language="fr", **values))
    db.session.commit()


CASES = [
    pytest.param({"sender_name": INJECTIONS["q"]}, "From", id="sender-q"),
    pytest.param({"sender_name": INJECTIONS["b"]}, "From", id="sender-b"),
    pytest.param({"subject": INJECTIONS["q"]}, "Subject", id="subject-q"),
    pytest.param({"subject": INJECTIONS["b"]}, "Subject", id="subject-b"),
    pytest.param({"name": INJECTIONS["q"]}, "From", id="shop-name-q"),
    pytest.param({"name": INJECTIONS["b-latin1"]}, "From", id="shop-name-b"),
]


@pytest.mark.parametrize(("stored", "header"), CASES)
def test_a_stored_value_never_reaches_a_message(
    mail_app: Flask, smtp: SMTPServer, stored: dict[str, str], header: str
) -> None:
    shop, _ = make_shop()
    request_id = schedule(shop, "1")
    _store(shop, **stored)
    with log_lines("kingavis.delivery") as logs:
        outcome = tick(utcnow())
    assert outcome.sent == 0
    assert smtp.messages == []
    row = request_row(request_id)
    assert row.state == "failed" and row.sent_at is None
    [line] = logs.lines("message refused: unsafe header")
    assert line["header"] == header and line["review_request"] == request_id
    assert "evil" not in str(line)
    with pytest.raises(UnsafeHeaderError):
        build_message(row, base_url="http://127.0.0.1:5000", mail_from=MAIL_FROM)


@pytest.mark.parametrize(("stored", "header"), CASES)
def test_the_email_page_never_fails_on_a_stored_value(
    app: Flask, stored: dict[str, str], header: str
) -> None:
    shop, _ = make_shop()
    _store(shop, **stored)
    client = app.test_client()
    login(client, merchant(shop))
    db.session.rollback()
    response = client.get(f"/admin/shops/{shop.key}/email")
    assert response.status_code == 200
    assert "=?…?=" in response.get_data(as_text=True) or \
        "doit tenir sur une ligne" in response.get_data(as_text=True)
    test_send = client.post(f"/admin/shops/{shop.key}/email/test",
                            data={"lang": "fr", "kind": "invitation"})
    assert test_send.status_code in (302, 400)


def test_the_web_process_says_at_start_whether_its_python_is_fixed(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from kingavis.mail_headers import check_python_email

    check_python_email.cache_clear()
    with captured_log(caplog, "kingavis.mail_headers", "ERROR"):
        app.test_client().get("/healthz")
        app.test_client().get("/healthz")
    lines = [r for r in caplog.records if r.name == "kingavis.mail_headers"]
    if stdlib_folds_safely():
        assert lines == []
    else:  # once per process, naming the CVE and the fixed versions
        [line] = lines
        assert "CVE-2024-6923" in line.getMessage() and "3.11.10" in line.getMessage()
