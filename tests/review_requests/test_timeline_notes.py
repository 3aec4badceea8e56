"""Timeline notes written by King-Avis are stored as a code and worded in the reader's language;
parameters (an SMTP server's reply) and merchants' own notes are shown exactly as given."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_app
from factories import make_shop
from flask import Flask
from flask_babel import force_locale
from processes import fresh_postgres_database
from requests_helpers import decisions, request_row, scheduled
from smtp_server import SMTPServer
from sqlalchemy import text

from kingavis.delivery.dispatcher import tick
from kingavis.extensions import db
from kingavis.models import RequestDecision, Shop, utcnow
from kingavis.review_requests.actions import postpone, send_now
from kingavis.review_requests.notes import MESSAGES, NoteCode, describe_note, render

# A reply no server should send, but one could: HTML, %-directives, braces.
NASTY_REPLY = "451 4.3.0 <b>busy</b> 100%s {x} %(error)s %d %"


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM="avis@kingavis.test",
                      DISPATCH_RETRY_DELAYS=(30, 120))
    return app


def timeline_url(shop: Shop, request_id: int) -> str:
    return f"/admin/shops/{shop.key}/orders/{request_row(request_id).order_id}"


def entries(response) -> list[str]:
    """The timeline's entries as the merchant reads them (tags removed, entities decoded)."""
    body = response.get_data(as_text=True)
    listing = re.search(r'<ol class="timeline">(.*?)</ol>', body, re.S).group(1)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li))).strip()
            for li in re.findall(r"<li[^>]*>(.*?)</li>", listing, re.S)]


def add_decision(request_id: int, **fields) -> None:
    row = request_row(request_id)
    db.session.add(RequestDecision(review_request_id=request_id, state=row.state,
                                   due_at=row.due_at, actor="dispatcher", created_at=utcnow(),
                                   **fields))
    db.session.commit()


def test_a_dispatcher_note_is_french_by_default_and_english_for_an_english_merchant(
    mail_app: Flask, smtp: SMTPServer, merchant_client, shop: Shop
) -> None:
    request_id = scheduled(shop, "1", delivered_days_ago=11)
    smtp.data_reply = "451 4.3.0 Mailbox busy, try again later"
    assert tick().outcomes["retry"] == 1
    last = decisions(request_id)[-1]
    assert (last.note, last.note_code) == (None, NoteCode.RETRY)
    error = request_row(request_id).last_error or ""
    assert "Mailbox busy" in error

    french = entries(merchant_client.get(timeline_url(shop, request_id)))
    assert f"par King-Avis — erreur temporaire, nouvel essai dans 30 s : {error}" in french[-1]
    assert "temporary error" not in " ".join(french)

    merchant_client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    english = entries(merchant_client.get(timeline_url(shop, request_id)))
    assert f"by King-Avis — temporary error, retry in 30 s: {error}" in english[-1]
    assert "erreur temporaire" not in " ".join(english)


def test_the_dispatchers_claim_is_worded_in_the_readers_language(
    mail_app: Flask, merchant_client, shop: Shop
) -> None:
    request_id = scheduled(shop, "1", delivered_days_ago=11)
    assert tick().outcomes["sent"] == 1
    claim = [d for d in decisions(request_id) if d.state == "sending"]
    assert [(d.note, d.note_code, d.note_args) for d in claim] == [
        (None, NoteCode.CLAIMED, {"attempt": 1})
    ]
    french = " ".join(entries(merchant_client.get(timeline_url(shop, request_id))))
    assert "pris en charge pour l'envoi, tentative 1" in french
    assert "claimed" not in french
    merchant_client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    english = " ".join(entries(merchant_client.get(timeline_url(shop, request_id))))
    assert "pris en charge" not in english
    assert "picked up for sending, attempt 1" in english


def test_an_smtp_reply_with_markup_and_format_directives_shows_literally(
    mail_app: Flask, smtp: SMTPServer, merchant_client, shop: Shop
) -> None:
    request_id = scheduled(shop, "1", delivered_days_ago=11)
    smtp.data_reply = NASTY_REPLY
    assert tick().outcomes["retry"] == 1
    error = request_row(request_id).last_error or ""
    assert "<b>busy</b> 100%s {x} %(error)s %d %" in error  # what the server said, as stored

    for language, words in (("fr", "nouvel essai dans 30 s : "), ("en", "retry in 30 s: ")):
        merchant_client.post("/admin/language", data={"language": language, "next": "/admin/"})
        response = merchant_client.get(timeline_url(shop, request_id))
        assert response.status_code == 200
        assert words + error in entries(response)[-1]
        body = response.get_data(as_text=True)
        assert "&lt;b&gt;busy&lt;/b&gt;" in body and "<b>busy</b>" not in body


def test_a_merchants_note_with_percent_signs_shows_as_typed(merchant_client, shop: Shop) -> None:
    request_id = scheduled(shop, "1")
    typed = "client prévenu à 100% : %s %(days)s {x} <i>ok</i>"
    postpone(shop, [request_id], 3, note=typed, actor="marchand@example.com")
    last = decisions(request_id)[-1]
    assert (last.note, last.note_code) == (typed, None)

    response = merchant_client.get(timeline_url(shop, request_id))
    assert f"par marchand@example.com — {typed}" in entries(response)[-1]
    assert "<i>ok</i>" not in response.get_data(as_text=True)


def test_without_a_note_of_their_own_the_merchants_action_is_worded_per_language(
    merchant_client, shop: Shop
) -> None:
    request_id = scheduled(shop, "1")
    send_now(shop, [request_id], actor="marchand@example.com")
    assert "envoi immédiat demandé par le marchand" in entries(
        merchant_client.get(timeline_url(shop, request_id)))[-1]
    merchant_client.post("/admin/language", data={"language": "en", "next": "/admin/"})
    assert "sending now, as the merchant asked" in entries(
        merchant_client.get(timeline_url(shop, request_id)))[-1]


def test_old_text_notes_and_unknown_codes_still_show(merchant_client, shop: Shop) -> None:
    request_id = scheduled(shop, "1")
    add_decision(request_id, note="claimed, attempt 1")  # written before note codes
    add_decision(request_id, note_code="from_a_newer_version", note_args={"n": 1})
    add_decision(request_id, note_code=NoteCode.RETRY, note_args={"seconds": 30})  # no error

    response = merchant_client.get(timeline_url(shop, request_id))

    assert response.status_code == 200
    shown = entries(response)[-3:]
    assert shown[0].endswith("par King-Avis — claimed, attempt 1")
    assert shown[1].endswith("par King-Avis — from_a_newer_version")
    assert shown[2].endswith("par King-Avis — retry")


def test_every_code_has_a_message_that_formats_in_both_languages(app: Flask) -> None:
    assert set(NoteCode) == set(MESSAGES)
    for code, message in MESSAGES.items():
        with force_locale("fr"):  # French is the source: no catalog, the msgid itself
            names = re.findall(r"%\((\w+)\)s", str(message))
        args = {name: f"<{name} 100% {{x}}>" for name in names}
        for language in ("fr", "en"):
            with force_locale(language):
                shown = render(code, args)
            assert shown != code and "%(" not in shown, (code, language)
            assert all(value in shown for value in args.values()), (code, language, shown)


def test_codes_given_as_parameters_are_worded_and_other_values_are_not(app: Flask) -> None:
    with force_locale("en"):
        assert render(NoteCode.REMINDER_DROPPED_RULE, {"reason": "unsubscribed"}) \
            == "reminder not sent: customer unsubscribed"
        assert render(NoteCode.REMINDER_DROPPED_STATE, {"state": "scheduled"}) \
            == "reminder not sent: the request is “scheduled”"
        assert render(NoteCode.REFUSED, {"error": "unsubscribed"}) \
            == "refused by the mail server: unsubscribed"
    assert render(NoteCode.REMINDER_DROPPED_RULE, {"reason": "odd_reason"}) \
        == "relance non envoyée\u00a0: odd_reason"

    class Row:
        note = "texte"
        note_code = None
        note_args = None

    assert describe_note(Row()) == "texte"
    Row.note = None
    assert describe_note(Row()) == ""


# --- The migration: old rows keep their text, coded notes survive a downgrade --------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def test_migration_0003_keeps_text_notes_and_downgrades_codes_to_text(
    empty_database: str, tmp_path: Path
) -> None:
    from flask_migrate import downgrade, upgrade

    app = make_app(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        shop, _ = make_shop()
        coded = scheduled(shop, "1")
        typed = scheduled(shop, "2")
        send_now(shop, [coded], actor="marchand@example.com")
        postpone(shop, [typed], 2, note="livraison en retard, 100% sûr", actor="m@example.com")
        db.session.remove()

        downgrade(revision="0002")
        with db.engine.connect() as conn:
            notes = dict(conn.execute(text(
                "SELECT review_request_id, note FROM request_decisions WHERE note IS NOT NULL")).all())
        assert notes == {coded: "send_now_by_merchant", typed: "livraison en retard, 100% sûr"}

        upgrade()
        with app.test_request_context():
            shown = {d.review_request_id: describe_note(d) for d in db.session.execute(
                db.select(RequestDecision).where(RequestDecision.note.is_not(None))).scalars()}
        assert shown == notes  # text rows (from before the codes) show as they were written
        db.session.remove()
        db.engine.dispose()
