"""The merchant's own review-request email (issue 12): checking and saving it, the emails the
dispatcher then sends (invitation and reminder, through a real SMTP server on loopback), the
escaping of merchant and customer text, the preview endpoint and the test email.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from delivery_helpers import schedule
from factories import make_shop
from flask import Flask
from requests_helpers import audit_entries, login, merchant
from smtp_server import SMTPServer
from sqlalchemy import event, select

from kingavis.delivery import email_design, sending
from kingavis.delivery.design import DEFAULT_INTROS, DEFAULT_SUBJECTS, button_text_colour, parse
from kingavis.delivery.dispatcher import tick
from kingavis.delivery.email_design import DesignError, DesignInput
from kingavis.delivery.messages import build_message
from kingavis.extensions import db
from kingavis.models import EmailDesign, ReviewRequest, Shop, utcnow
from kingavis.shops.collection_settings import set_reminder

MAIL_FROM = "avis@kingavis.test"
GOOD = DesignInput(
    sender_name="L'équipe {shop_name}",
    subject="{shop_name} : votre colis vous plaît ?",
    intro="Bonjour de toute l'équipe !\n\nVotre commande {order_reference} est arrivée, "
          "{first_name} ?\nDites-nous tout.",
    logo_url="https://cdn.boutique-zoe.example/logo.png",
    brand_colour="#C2185B",
)


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def mail_app(app: Flask, smtp: SMTPServer) -> Flask:
    app.config.update(MAIL_URL=smtp.url, MAIL_FROM=MAIL_FROM)
    return app


def designs(shop_id: int) -> list[EmailDesign]:
    db.session.expire_all()
    return list(db.session.scalars(select(EmailDesign).where(EmailDesign.shop_id == shop_id)))


def received(smtp: SMTPServer) -> list[EmailMessage]:
    with smtp.lock:
        return [m.message for m in smtp.messages]


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def assert_contract(msg: EmailMessage, token: str, base: str) -> None:
    """docs/sending.md, whatever the customisation: From address, links, unsubscribe headers."""
    assert msg["From"].addresses[0].addr_spec == MAIL_FROM
    assert msg["List-Unsubscribe"].strip() == f"<{base}/u/{token}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = bodies(msg)
    for body in (text, html):
        assert f"{base}/r/{token}" in body
        assert f"{base}/u/{token}" in body


# --------------------------------------------------------------------------- the service


def test_the_editor_starts_from_the_default_texts(app: Flask) -> None:
    shop, _ = make_shop("Boutique Zoë")
    values = email_design.editor_values(shop, "fr")
    assert values.subject == "Votre avis sur votre commande chez {shop_name}"
    assert values.intro.startswith("Merci pour votre commande {order_reference} chez {shop_name}.")
    assert values.sender_name == "" and values.logo_url == "" and values.brand_colour == "#1d4ed8"
    assert email_design.editor_values(shop, "en").subject == "How was your order from {shop_name}?"
    # Saving the defaults as they are stores nothing and records nothing.
    user = merchant(shop)
    assert email_design.save_design(shop, user, "fr", values) == []
    assert designs(shop.id) == [] and audit_entries(shop) == []


@pytest.mark.parametrize("language", ["fr", "en"])
def test_default_texts_match_the_templates(language: str) -> None:
    """The editor's starting texts say what a shop without customisation sends."""
    from test_email import make_request

    def text_of(design: Any) -> tuple[str, str]:
        msg = build_message(make_request(locale=language), base_url="https://a.example",
                            mail_from=MAIL_FROM, design=design)
        return bodies(msg)[0], msg["Subject"]

    default_text, default_subject = text_of(None)
    custom = email_design.Design(subject=DEFAULT_SUBJECTS[language] + " ",
                                 intro=DEFAULT_INTROS[language] + "\n")
    custom_text, custom_subject = text_of(custom)
    assert custom_text == default_text
    assert custom_subject == default_subject


def test_save_all_five_fields_together_with_an_audit_entry(app: Flask) -> None:
    shop, _ = make_shop("Boutique Zoë")
    user = merchant(shop)
    changed = email_design.save_design(shop, user, "fr", GOOD)
    assert changed == ["sender_name", "subject", "intro", "logo_url", "brand_colour"]
    [row] = designs(shop.id)
    assert (row.language, row.sender_name, row.subject, row.logo_url, row.brand_colour) == (
        "fr", "L'équipe {shop_name}", "{shop_name} : votre colis vous plaît ?",
        "https://cdn.boutique-zoe.example/logo.png", "#c2185b")
    assert row.intro == GOOD.intro
    [entry] = audit_entries(shop)
    assert entry.action == "email_design.update" and entry.user_id == user.id
    assert entry.details["language"] == "fr"
    assert entry.details["after"]["brand_colour"] == "#c2185b"
    assert entry.details["before"]["subject"] is None
    # The English email is untouched.
    assert email_design.saved_design(shop, "en").is_default()

    # Back to the defaults: the row goes, the change is audited.
    assert email_design.save_design(shop, user, "fr", DesignInput()) == list(changed)
    assert designs(shop.id) == []
    assert [e.action for e in audit_entries(shop)] == ["email_design.update"] * 2


LONG = "x" * 151

BAD_INPUTS = [
    ("sender_name", DesignInput(sender_name="Zoë\r\nBcc: victim@example.com"), "tenir sur une ligne"),
    ("sender_name", DesignInput(sender_name="Zoë\x00"), "tenir sur une ligne"),
    ("sender_name", DesignInput(sender_name="z" * 101), "100 caractères"),
    ("sender_name", DesignInput(sender_name="Zoë\u202egnp.exe"), "tenir sur une ligne"),
    ("sender_name", DesignInput(sender_name="{first_name} de {shop_name}"), "{first_name} ne peut pas figurer ici"),
    ("subject", DesignInput(subject="Votre avis\nBcc: victim@example.com"), "tenir sur une ligne"),
    ("subject", DesignInput(subject=LONG), "150 caractères"),
    ("subject", DesignInput(subject="{first_name}, votre avis sur {order_reference}"),
     "{first_name}, {order_reference} ne peut pas figurer ici"),
    ("subject", DesignInput(subject="Avis sur {boutique}"), "Espace réservé inconnu : {boutique}. Possibles ici : {shop_name}."),
    ("intro", DesignInput(intro="Bonjour {prenom}, merci pour {total} !"),
     "Espaces réservés inconnus : {prenom}, {total}. Possibles ici : {first_name}, {order_reference}, {shop_name}."),
    ("intro", DesignInput(intro="Merci {first_name.__class__}"), "Espace réservé inconnu : {first_name.__class__}"),
    ("intro", DesignInput(intro="Merci {first_name!r}"), "Accolade sans sa paire"),
    ("intro", DesignInput(intro="Merci {first_name:>30}"), "Accolade sans sa paire"),
    ("intro", DesignInput(intro="Merci { pour"), "Accolade sans sa paire"),
    ("intro", DesignInput(intro="Merci } pour"), "Accolade sans sa paire"),
    ("intro", DesignInput(intro="é" * 1001), "1000 caractères"),
    ("intro", DesignInput(intro="ligne\n" * 21), "20 lignes"),
    ("intro", DesignInput(intro="Merci\x1b[31m"), "caractère de contrôle"),
    ("logo_url", DesignInput(logo_url="http://cdn.example/logo.png"), "doit commencer par https://"),
    ("logo_url", DesignInput(logo_url="javascript:alert(1)"), "doit commencer par https://"),
    ("logo_url", DesignInput(logo_url='https://cdn.example/a.png" onerror="alert(1)'), "ni espace, ni guillemet"),
    ("logo_url", DesignInput(logo_url="https://user:pw@cdn.example/logo.png"), "identifiant"),
    ("logo_url", DesignInput(logo_url="https:///logo.png"), "nom de domaine"),
    ("logo_url", DesignInput(logo_url="https://cdn.example/" + "a" * 500), "500 caractères"),
    ("brand_colour", DesignInput(brand_colour="red"), "#rrggbb"),
    ("brand_colour", DesignInput(brand_colour="#12345"), "#rrggbb"),
    ("brand_colour", DesignInput(brand_colour="#12345g"), "#rrggbb"),
    ("brand_colour", DesignInput(brand_colour="#123456;background:url(x)"), "#rrggbb"),
]


@pytest.mark.parametrize(("field", "data", "message"), BAD_INPUTS,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_INPUTS)])
def test_each_bad_input_is_refused_with_its_message_and_nothing_is_saved(
        app: Flask, field: str, data: DesignInput, message: str) -> None:
    shop, _ = make_shop("Boutique Zoë")
    user = merchant(shop)
    email_design.save_design(shop, user, "fr", GOOD)
    before = [(r.sender_name, r.subject, r.intro, r.logo_url, r.brand_colour) for r in designs(shop.id)]
    # The other fields valid and different, so a partial save would show.
    values = {k: v for k, v in GOOD.__dict__.items()}
    values.update({field: getattr(data, field)})
    values["brand_colour"] = values["brand_colour"] if field == "brand_colour" else "#000000"
    with pytest.raises(DesignError) as caught:
        email_design.save_design(shop, user, "fr", DesignInput(**values))
    assert list(caught.value.errors) == [field]
    assert any(message in m for m in caught.value.errors[field]), caught.value.errors
    db.session.rollback()
    after = [(r.sender_name, r.subject, r.intro, r.logo_url, r.brand_colour) for r in designs(shop.id)]
    assert after == before
    assert len(audit_entries(shop)) == 1


def test_every_bad_field_is_reported_at_once(app: Flask) -> None:
    shop, _ = make_shop()
    with pytest.raises(DesignError) as caught:
        email_design.save_design(shop, merchant(shop), "fr", DesignInput(
            sender_name="a\nb", subject="{x}", intro="{y}", logo_url="ftp://a", brand_colour="bleu"))
    assert set(caught.value.errors) == {"sender_name", "subject", "intro", "logo_url", "brand_colour"}
    assert designs(shop.id) == []


def test_unknown_language_is_refused(app: Flask) -> None:
    shop, _ = make_shop()
    with pytest.raises(DesignError) as caught:
        email_design.save_design(shop, merchant(shop), "de", GOOD)
    assert list(caught.value.errors) == ["language"]
    assert designs(shop.id) == []


def test_literal_braces_and_empty_values() -> None:
    from kingavis.delivery.design import BODY_PLACEHOLDERS, fill

    pieces = parse("Merci {first_name}, pour {{ votre }} commande {order_reference} chez {shop_name}.",
                   BODY_PLACEHOLDERS)
    assert fill(pieces, {"first_name": "Zoë", "order_reference": "X1", "shop_name": "B"}) == (
        "Merci Zoë, pour { votre } commande X1 chez B.")
    # No first name, no reference: no stray space before the comma or the word after.
    assert fill(pieces, {"first_name": "", "order_reference": "", "shop_name": "B"}) == (
        "Merci, pour { votre } commande chez B.")


def test_button_text_stays_readable_on_a_light_colour() -> None:
    assert button_text_colour("#1d4ed8") == "#ffffff"
    assert button_text_colour("#ffeb3b") == "#111827"


# --------------------------------------------------------------------------- what is sent


def _design_shop(name: str = "Boutique Zoë") -> Shop:
    shop, _ = make_shop(name)
    email_design.save_design(shop, merchant(shop, "createur@example.com"), "fr", GOOD)
    return shop


def test_invitation_sent_over_smtp_carries_the_design_and_the_contract(
        mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _design_shop()
    request_id = schedule(shop, "1", first_name="Zoë", reference="KDZPQRTAB")
    assert tick(utcnow()).sent == 1
    [msg] = received(smtp)
    token = db.session.get(ReviewRequest, request_id).token
    base = mail_app.config["KINGAVIS_BASE_URL"]
    assert_contract(msg, token, base)
    assert msg["From"].addresses[0].display_name == "L'équipe Boutique Zoë"
    assert msg["Subject"] == "Boutique Zoë : votre colis vous plaît ?"
    text, html = bodies(msg)
    assert "Votre commande KDZPQRTAB est arrivée, Zoë ?\nDites-nous tout." in text
    assert "Bonjour de toute l'équipe !" in text
    assert "Merci pour votre commande" not in text  # the default introduction is replaced
    assert "background:#c2185b;color:#ffffff;" in html
    assert 'src="https://cdn.boutique-zoe.example/logo.png" alt="Boutique Zoë"' in html
    assert "Votre commande KDZPQRTAB est arrivée, Zoë ?<br>" in html


def test_english_customer_gets_the_default_english_email(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _design_shop()  # only the French email is customised
    schedule(shop, "1", locale="en")
    assert tick(utcnow()).sent == 1
    [msg] = received(smtp)
    assert msg["Subject"] == "How was your order from Boutique Zoë?"
    assert msg["From"].addresses[0].display_name == "Boutique Zoë"
    assert "#c2185b" not in bodies(msg)[1] and "logo.png" not in bodies(msg)[1]


def test_reminder_uses_the_design_too(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _design_shop()
    set_reminder(shop, 3)
    request_id = schedule(shop, "1", reference="KDZPQRTAB")
    now = utcnow()
    assert tick(now).sent == 1
    assert tick(now + timedelta(days=3, minutes=1)).reminder_outcomes["sent"] == 1
    first, reminder = received(smtp)
    assert first["Message-ID"] != reminder["Message-ID"]
    token = db.session.get(ReviewRequest, request_id).token
    assert_contract(reminder, token, mail_app.config["KINGAVIS_BASE_URL"])
    assert reminder["Subject"] == "Rappel : Boutique Zoë : votre colis vous plaît ?"
    assert reminder["From"].addresses[0].display_name == "L'équipe Boutique Zoë"
    text, html = bodies(reminder)
    assert text.index("Petit rappel") < text.index("Votre commande KDZPQRTAB est arrivée")
    assert "background:#c2185b" in html and "logo.png" in html


def test_merchant_and_customer_text_are_escaped_in_the_html(mail_app: Flask, smtp: SMTPServer) -> None:
    shop, _ = make_shop("Boutique <Zoë> & Co")
    email_design.save_design(shop, merchant(shop), "fr", DesignInput(
        intro="<script>alert('merchant')</script> Merci {first_name} & bienvenue <b>chez</b> {shop_name}"))
    schedule(shop, "1", first_name='<img src=x onerror="alert(1)">')
    assert tick(utcnow()).sent == 1
    [msg] = received(smtp)
    text, html = bodies(msg)
    assert "<script" not in html and "<img src=x" not in html and "<b>chez" not in html
    assert "&lt;script&gt;alert(&#39;merchant&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "Boutique &lt;Zoë&gt; &amp; Co" in html
    # The text part is text: shown as typed.
    assert "<script>alert('merchant')</script> Merci <img src=x" in text


def test_no_customisation_can_remove_the_links_or_headers() -> None:
    """Whatever the five fields hold, the review link, the unsubscribe link and the RFC 8058
    headers are in every message (the fields cannot even name them)."""
    from test_email import TOKEN, make_request

    hostile = email_design.Design(sender_name="X", subject="Y", intro="Z", brand_colour="#ffffff",
                                  logo_url="https://a.example/l.png")
    for reminder in (False, True):
        msg = build_message(make_request(), base_url="https://a.example", mail_from=MAIL_FROM,
                            design=hostile, reminder=reminder)
        from email import policy
        from email.parser import BytesParser

        parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
        assert_contract(parsed, TOKEN, "https://a.example")  # type: ignore[arg-type]
        assert parsed["To"].addresses[0].display_name == ""


def test_a_sender_name_cannot_change_the_from_address() -> None:
    from email import policy
    from email.parser import BytesParser

    from test_email import make_request

    design = email_design.validate("fr", DesignInput(sender_name='Zoë" <pirate@evil.example>, x@y.example'))
    msg = build_message(make_request(), base_url="https://a.example", mail_from=MAIL_FROM, design=design)
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    [sender] = parsed["From"].addresses
    assert sender.addr_spec == MAIL_FROM
    assert sender.display_name == 'Zoë" <pirate@evil.example>, x@y.example'


def test_the_design_is_loaded_with_the_request_in_one_query(mail_app: Flask) -> None:
    shop = _design_shop()
    request_id = schedule(shop, "1")
    db.session.commit()
    db.session.expunge_all()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        loaded = sending._load(request_id, lock=False)
        assert loaded is not None
        message = build_message(loaded[0], base_url="https://a.example", mail_from=MAIL_FROM)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    db.session.rollback()
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1, statements
    assert message["Subject"] == "Boutique Zoë : votre colis vous plaît ?"


# --------------------------------------------------------------------------- back-office


def _client(app: Flask, shop: Shop, email: str = "marchand@example.com") -> Any:
    user = merchant(shop, email)
    client = app.test_client()
    login(client, user)
    db.session.rollback()
    return client


def _form(data: DesignInput, lang: str = "fr", **extra: str) -> dict[str, str]:
    return {"lang": lang, **data.__dict__, **extra}


def test_editor_page_shows_the_defaults_and_a_sandboxed_preview(app: Flask) -> None:
    shop, _ = make_shop("Boutique Zoë")
    client = _client(app, shop)
    response = client.get(f"/admin/shops/{shop.key}/email")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Votre avis sur votre commande chez {shop_name}" in html
    frame = re.search(r"<iframe[^>]*id=\"preview-html\"[^>]*>", html)
    assert frame is not None and 'sandbox=""' in frame.group(0)
    assert "allow-scripts" not in html and "allow-same-origin" not in html
    assert "Votre avis sur votre commande chez Boutique Zoë" in html  # the rendered subject
    english = client.get(f"/admin/shops/{shop.key}/email?lang=en").get_data(as_text=True)
    assert "How was your order from {shop_name}?" in english


def test_preview_endpoint_renders_unsaved_values(app: Flask) -> None:
    shop, _ = make_shop("Boutique Zoë")
    client = _client(app, shop)
    data = DesignInput(subject="Un mot sur {shop_name} ?",
                       intro="<script>alert(1)</script> Merci {first_name} pour {order_reference}.",
                       brand_colour="#00796b")
    response = client.post(f"/admin/shops/{shop.key}/email/preview", data=_form(data))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["subject"] == "Un mot sur Boutique Zoë ?"
    assert body["from"] == f'"Boutique Zoë" <{app.config["MAIL_FROM"]}>' or \
        body["from"] == f'Boutique Zoë <{app.config["MAIL_FROM"]}>'
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Merci Zoë pour XKBKNABJK." in body["html"]
    assert "<script" not in body["html"]
    assert "Merci Zoë pour XKBKNABJK." in body["text"]
    assert "background:#00796b" in body["html"]
    assert "/r/" in body["text"] and "/u/" in body["text"]
    reminder = client.post(f"/admin/shops/{shop.key}/email/preview",
                           data=_form(data, kind="reminder")).get_json()
    assert reminder["subject"] == "Rappel : Un mot sur Boutique Zoë ?"
    assert designs(shop.id) == []  # a preview saves nothing


def test_preview_endpoint_names_the_unknown_placeholders(app: Flask) -> None:
    shop, _ = make_shop()
    client = _client(app, shop)
    response = client.post(f"/admin/shops/{shop.key}/email/preview",
                           data=_form(DesignInput(intro="Merci {prenom} !", brand_colour="rouge")))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["intro"] == ["Espace réservé inconnu : {prenom}. Possibles ici : {first_name}, "
                               "{order_reference}, {shop_name}."]
    assert "brand_colour" in errors
    english = client.post(f"/admin/shops/{shop.key}/email/preview",
                          data=_form(DesignInput(intro="Merci {prenom} !")),
                          headers={"Accept-Language": "en"})
    assert english.status_code == 422


def test_save_through_the_page_and_refusal_keeps_everything(app: Flask) -> None:
    shop, _ = make_shop("Boutique Zoë")
    client = _client(app, shop)
    url = f"/admin/shops/{shop.key}/email"
    response = client.post(url, data=_form(GOOD))
    assert response.status_code == 302 and response.location.endswith("/email?lang=fr")
    [row] = designs(shop.id)
    assert row.subject == GOOD.subject
    bad = DesignInput(**{**GOOD.__dict__, "subject": "Autre objet", "intro": "Merci {client}"})
    response = client.post(url, data=_form(bad))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search("Rien n(&#39;|')a été enregistré", page)
    assert "Espace réservé inconnu : {client}." in page
    [row] = designs(shop.id)
    assert row.subject == GOOD.subject  # the valid field of the refused form is not saved either


def test_test_email_goes_to_the_merchant_through_smtp_and_is_audited(
        mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _design_shop()
    client = _client(mail_app, shop, "zoe.marchande@example.com")
    response = client.post(f"/admin/shops/{shop.key}/email/test", data={"lang": "fr", "kind": "invitation"})
    assert response.status_code == 302
    [sent] = smtp.messages
    assert sent.rcpt_tos == ["zoe.marchande@example.com"]
    assert sent.message["Subject"] == "Boutique Zoë : votre colis vous plaît ?"
    assert sent.message["From"].addresses[0].display_name == "L'équipe Boutique Zoë"
    assert sent.mail_from == MAIL_FROM
    assert sent.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, _ = bodies(sent.message)
    assert "Votre commande XKBKNABJK est arrivée, Zoë ?" in text
    entry = audit_entries(shop)[-1]
    assert entry.action == "email_design.test_send"
    assert entry.details == {"language": "fr", "reminder": False, "outcome": "sent"}
    follow = client.get(response.location).get_data(as_text=True)
    assert re.search("Email d(&#39;|')essai envoyé à zoe.marchande@example.com.", follow)

    client.post(f"/admin/shops/{shop.key}/email/test", data={"lang": "fr", "kind": "reminder"})
    assert smtp.messages[-1].message["Subject"].startswith("Rappel : ")


def test_test_emails_are_rate_limited(mail_app: Flask, smtp: SMTPServer) -> None:
    mail_app.config.update(EMAIL_TEST_LIMIT=2)
    shop = _design_shop()
    client = _client(mail_app, shop)
    url = f"/admin/shops/{shop.key}/email/test"
    assert client.post(url, data={"lang": "fr"}).status_code == 302
    assert client.post(url, data={"lang": "fr"}).status_code == 302
    refused = client.post(url, data={"lang": "fr"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert re.search("Trop d(&#39;|')emails d(&#39;|')essai", refused.get_data(as_text=True))
    assert len(smtp.messages) == 2
    assert [e.action for e in audit_entries(shop)].count("email_design.test_send") == 2


def test_a_refused_test_email_is_reported_and_audited(mail_app: Flask, smtp: SMTPServer) -> None:
    smtp.data_reply = "554 5.7.1 Message refused"
    shop = _design_shop()
    client = _client(mail_app, shop)
    response = client.post(f"/admin/shops/{shop.key}/email/test", data={"lang": "fr"})
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert re.search("n(&#39;|')a pas pu être envoyé", page) and "554" in page
    assert audit_entries(shop)[-1].details["outcome"] == "failed"


def test_test_email_with_an_unknown_language_sends_nothing(mail_app: Flask, smtp: SMTPServer) -> None:
    shop = _design_shop()
    client = _client(mail_app, shop)
    response = client.post(f"/admin/shops/{shop.key}/email/test", data={"lang": "de"})
    assert response.status_code == 400
    assert smtp.messages == []


def test_audit_page_names_the_new_actions(app: Flask) -> None:
    shop = _design_shop()
    client = _client(app, shop, "autre@example.com")
    page = client.get(f"/admin/shops/{shop.key}/audit").get_data(as_text=True)
    assert re.search("Email d(&#39;|')invitation modifié", page)
    json.dumps(audit_entries(shop)[0].details)  # stored as JSON
