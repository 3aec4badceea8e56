"""The review-request email (docs/sending.md): headers, languages, links, hostile customer text.

Every message is serialised with as_bytes() and parsed back, as a mail server would see it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser, Parser

import pytest

from kingavis.delivery.errors import InvalidMessageError, PermanentMailError
from kingavis.delivery.messages import build_message
from kingavis.delivery.rendering import choose_language, language_of
from kingavis.models import Order, ReviewRequest, Shop

BASE = "https://avis.example.net"
MAIL_FROM = "avis@kingavis.example"
TOKEN = "tok_" + "A" * 28 + "-_b9"

EXPECTED_HEADERS = {
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
    "content-language", "list-unsubscribe", "list-unsubscribe-post",
}


def make_request(*, request_id: int = 42, token: str = TOKEN, shop_name: str = "Boutique Zoë",
                 shop_language: str = "fr", email: str = "zoe@example.com",
                 first_name: str | None = "Zoë", locale: str | None = "fr",
                 reference: str | None = "XKBKNABJK") -> ReviewRequest:
    """A review request with its order and shop, as the dispatcher loads them (not persisted)."""
    shop = Shop(id=7, key="shp_test", name=shop_name, language=shop_language)
    order = Order(id=3, shop_id=7, external_id="1234", reference=reference, customer_email=email,
                  customer_first_name=first_name, customer_last_name="Łukasiewicz",
                  customer_locale=locale)
    return ReviewRequest(id=request_id, shop_id=7, order_id=3, token=token, shop=shop, order=order,
                         customer_email_normalized=email.lower(), state="sending")


def roundtrip(msg: EmailMessage) -> EmailMessage:
    raw = msg.as_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "a line longer than RFC 5322 allows"
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def parts(msg: EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def header_names(msg: EmailMessage) -> set[str]:
    names = [k.lower() for k in msg]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    return set(names)


def test_french_message_has_every_part_the_contract_requires() -> None:
    msg = roundtrip(build_message(make_request(), base_url=BASE, mail_from=MAIL_FROM))

    assert header_names(msg) == EXPECTED_HEADERS
    sender = msg["From"].addresses
    assert len(sender) == 1
    assert sender[0].display_name == "Boutique Zoë"
    assert sender[0].addr_spec == MAIL_FROM
    recipient = msg["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in recipient] == [("", "zoe@example.com")]
    assert msg["Subject"] == "Votre avis sur votre commande chez Boutique Zoë"
    assert msg["Content-Language"] == "fr"
    # (the header may be folded: a reader unfolds it)
    assert msg["List-Unsubscribe"].strip() == f"<{BASE}/u/{TOKEN}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text, html = parts(msg)
    for body in (text, html):
        assert "Zoë" in body
        assert "Boutique Zoë" in body
        assert "XKBKNABJK" in body
        assert f"{BASE}/r/{TOKEN}" in body
        assert f"{BASE}/u/{TOKEN}" in body
    assert text.startswith("Bonjour Zoë,")
    assert f'href="{BASE}/r/{TOKEN}"' in html
    assert f'href="{BASE}/u/{TOKEN}"' in html


def test_english_when_the_customer_locale_is_english() -> None:
    msg = roundtrip(build_message(make_request(locale="en-GB"), base_url=BASE, mail_from=MAIL_FROM))
    assert msg["Subject"] == "How was your order from Boutique Zoë?"
    assert msg["Content-Language"] == "en"
    text, html = parts(msg)
    assert text.startswith("Hello Zoë,")
    assert 'lang="en"' in html and "Leave a review" in html


@pytest.mark.parametrize(
    ("locale", "shop_language", "expected"),
    [
        ("fr", "en", "fr"),
        ("fr-FR", "en", "fr"),
        ("fr_FR", "en", "fr"),
        ("FR", "en", "fr"),
        ("en_US", "fr", "en"),
        ("de-DE", "en", "en"),  # no German template: the shop's language
        ("de", "fr", "fr"),
        (None, "en", "en"),
        ("", "en", "en"),
        ("x\r\nBcc: a@b", "en", "en"),
    ],
)
def test_language_is_the_customers_when_a_template_exists_else_the_shops(
    locale: str | None, shop_language: str, expected: str
) -> None:
    assert choose_language(locale, shop_language) == expected
    msg = roundtrip(build_message(make_request(locale=locale, shop_language=shop_language),
                                  base_url=BASE, mail_from=MAIL_FROM))
    assert msg["Content-Language"] == expected


def test_language_of_locale_forms() -> None:
    assert language_of("pt-BR") == "pt"
    assert language_of("zh_Hant_TW") == "zh"
    assert language_of("12") is None
    assert language_of(None) is None


def test_message_id_is_stable_for_a_request_and_does_not_reveal_its_token() -> None:
    first = build_message(make_request(), base_url=BASE, mail_from=MAIL_FROM)
    again = build_message(make_request(), base_url=BASE, mail_from=MAIL_FROM)
    other = build_message(make_request(request_id=43, token="tok_" + "B" * 28),
                          base_url=BASE, mail_from=MAIL_FROM)

    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"] != other["Message-ID"]
    message_id = roundtrip(first)["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@avis.example.net>")
    assert TOKEN not in message_id


def test_invitation_sent_again_after_not_received_has_its_own_message_id() -> None:
    first = build_message(make_request(), base_url=BASE, mail_from=MAIL_FROM)
    postponed = make_request()
    postponed.postponed_at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    again = build_message(postponed, base_url=BASE, mail_from=MAIL_FROM)
    retry = build_message(postponed, base_url=BASE, mail_from=MAIL_FROM)

    # A new email (not a retry): providers must not drop it as a duplicate of the first.
    assert again["Message-ID"] != first["Message-ID"]
    assert retry["Message-ID"] == again["Message-ID"]


def test_message_id_domain_falls_back_when_the_base_url_host_is_not_a_domain() -> None:
    msg = build_message(make_request(), base_url="http://[::1]:5000", mail_from=MAIL_FROM)
    assert roundtrip(msg)["Message-ID"].endswith("@kingavis.invalid>")


HOSTILE_NAMES = [
    pytest.param("Zoë\r\nBcc: victim@example.org", "Zoë Bcc: victim@example.org", id="crlf-bcc"),
    pytest.param("Zoë\nSubject: hacked\n\nbody", "Zoë Subject: hacked body", id="lf-subject"),
    pytest.param("Zoë\rX-Evil: 1", "Zoë X-Evil: 1", id="cr"),
    pytest.param("Ignacy Łukasiewicz", "Ignacy Łukasiewicz", id="polish"),
    pytest.param("山田", "山田", id="japanese"),
    pytest.param("Ζωή", "Ζωή", id="greek"),
    pytest.param("زينب", "زينب", id="arabic"),
    pytest.param("Zoë\u202eevil\u2066", "Zoë evil", id="bidi-overrides"),
    pytest.param("=?utf-8?q?Bcc:_x@y?=", "=?utf-8?q?Bcc:_x@y?=", id="encoded-word"),
    pytest.param("a\x00b\x1bc", "a b c", id="control-chars"),
]


@pytest.mark.parametrize(("first_name", "shown"), HOSTILE_NAMES)
def test_customer_text_never_adds_or_alters_a_header(first_name: str, shown: str) -> None:
    request = make_request(first_name=first_name, reference=first_name)
    msg = roundtrip(build_message(request, base_url=BASE, mail_from=MAIL_FROM))

    assert header_names(msg) == EXPECTED_HEADERS
    assert msg.defects == []
    assert [a.addr_spec for a in msg["To"].addresses] == ["zoe@example.com"]
    assert msg["Subject"] == "Votre avis sur votre commande chez Boutique Zoë"
    assert msg["From"].addresses[0].display_name == "Boutique Zoë"
    for part in msg.walk():
        assert set(k.lower() for k in part) <= EXPECTED_HEADERS | {
            "content-transfer-encoding"}
    text, html = parts(msg)
    assert f"Bonjour {shown}," in text
    assert shown.replace("'", "&#39;") in html or shown in html


def test_a_very_long_name_still_makes_a_valid_message() -> None:
    name = "Ζωή" * 3334  # 10,002 characters
    msg = roundtrip(build_message(make_request(first_name=name, reference="R" * 10_000),
                                  base_url=BASE, mail_from=MAIL_FROM))
    assert header_names(msg) == EXPECTED_HEADERS
    assert msg.defects == []
    text, _ = parts(msg)
    greeting = text.splitlines()[0]
    assert greeting.startswith("Bonjour ΖωήΖωή") and greeting.endswith("…,")
    assert len(greeting) < 120
    assert f"{BASE}/r/{TOKEN}" in text


def test_html_part_escapes_customer_and_shop_text() -> None:
    request = make_request(first_name="<script>alert(1)</script>", reference='"><img src=x>',
                           shop_name="Zoë & <Co>")
    msg = roundtrip(build_message(request, base_url=BASE, mail_from=MAIL_FROM))
    _, html = parts(msg)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The only <img> is our open pixel; the customer-supplied one is escaped.
    assert "<img src=x>" not in html and html.count("<img") == 1
    assert "&#34;&gt;&lt;img src=x&gt;" in html
    assert "Zoë &amp; &lt;Co&gt;" in html
    assert msg["From"].addresses[0].display_name == "Zoë & <Co>"


def test_shop_name_with_quotes_and_commas_stays_one_sender() -> None:
    request = make_request(shop_name='Zoë, "Paris" <b@c.d>')
    msg = roundtrip(build_message(request, base_url=BASE, mail_from=MAIL_FROM))
    senders = msg["From"].addresses
    assert [(a.display_name, a.addr_spec) for a in senders] == [('Zoë, "Paris" <b@c.d>', MAIL_FROM)]
    assert msg["Subject"] == 'Votre avis sur votre commande chez Zoë, "Paris" <b@c.d>'


def test_no_first_name_gives_a_plain_greeting() -> None:
    msg = roundtrip(build_message(make_request(first_name=None, reference=None),
                                  base_url=BASE, mail_from=MAIL_FROM))
    text, _ = parts(msg)
    assert text.startswith("Bonjour,")
    assert "commande chez Boutique Zoë" in text


@pytest.mark.parametrize(
    "email",
    [
        "zoe@example.com\r\nBcc: victim@example.org",
        "Zoë <zoe@example.com>",
        "zoe@example.com, victim@example.org",
        "not-an-address",
        "zoe@",
        "@example.com",
        "zoe@exa mple.com",
    ],
)
def test_an_invalid_recipient_is_a_permanent_error_that_does_not_echo_it(email: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        build_message(make_request(email=email), base_url=BASE, mail_from=MAIL_FROM)
    assert isinstance(caught.value, PermanentMailError)
    assert "example" not in str(caught.value)


def test_international_addresses() -> None:
    idn = roundtrip(build_message(make_request(email="zoe@exämple.com"), base_url=BASE,
                                  mail_from=MAIL_FROM))
    assert [a.addr_spec for a in idn["To"].addresses] == ["zoe@xn--exmple-cua.com"]

    msg = build_message(make_request(email="山田@example.jp"), base_url=BASE, mail_from=MAIL_FROM)
    assert msg.policy.utf8  # needs SMTPUTF8 (the transport asks the server for it)
    raw = msg.as_bytes()
    assert "山田@example.jp".encode() in raw
    parsed = Parser(policy=policy.default).parsestr(raw.decode("utf-8"))
    assert [a.addr_spec for a in parsed["To"].addresses] == ["山田@example.jp"]
    assert header_names(parsed) == EXPECTED_HEADERS


def test_mail_from_may_be_given_with_a_name_the_shop_name_wins() -> None:
    msg = roundtrip(build_message(make_request(), base_url=BASE,
                                  mail_from="King-Avis <avis@kingavis.example>"))
    assert [(a.display_name, a.addr_spec) for a in msg["From"].addresses] == [
        ("Boutique Zoë", "avis@kingavis.example")]


def test_a_renamed_shop_shows_its_new_name_in_the_next_message() -> None:
    request = make_request(shop_name="Boutique Zoë")
    before = build_message(request, base_url=BASE, mail_from=MAIL_FROM)
    request.shop.name = "Zoë & Fils"
    after = roundtrip(build_message(request, base_url=BASE, mail_from=MAIL_FROM))

    assert after["From"].addresses[0].display_name == "Zoë & Fils"
    assert after["Subject"] == "Votre avis sur votre commande chez Zoë & Fils"
    text, html = parts(after)
    assert "Zoë & Fils" in text and "Zoë &amp; Fils" in html
    assert "Boutique" not in text
    # The message built before the change is left as it was.
    assert roundtrip(before)["From"].addresses[0].display_name == "Boutique Zoë"


@pytest.mark.parametrize("international_first", [True, False])
def test_sender_name_is_encoded_for_ascii_mail_and_plain_for_smtputf8_mail(
    international_first: bool,
) -> None:
    shop_name = f"Épicerie Zoë {'A' if international_first else 'B'}"
    ascii_request = make_request(shop_name=shop_name)
    utf8_request = make_request(shop_name=shop_name, email="山田@example.jp")
    order = [utf8_request, ascii_request] if international_first else [ascii_request, utf8_request]
    raw = {id(r): build_message(r, base_url=BASE, mail_from=MAIL_FROM).as_bytes() for r in order}

    ascii_from = next(line for line in raw[id(ascii_request)].split(b"\r\n")
                      if line.startswith(b"From:"))
    assert ascii_from.isascii() and b"=?utf-8?" in ascii_from
    assert f"From: {shop_name} <{MAIL_FROM}>".encode() in raw[id(utf8_request)]
    for data in raw.values():
        parsed = Parser(policy=policy.default).parsestr(data.decode("utf-8"))
        assert parsed["From"].addresses[0].display_name == shop_name


def test_customer_text_shaped_like_a_part_boundary_stays_in_its_part() -> None:
    fake = "--===============1234567890123456789=="
    msg = roundtrip(build_message(make_request(first_name=fake, reference=fake + "--"),
                                  base_url=BASE, mail_from=MAIL_FROM))
    assert msg.defects == []
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(msg)
    assert text.startswith(f"Bonjour {fake},") and f"{fake}--" in text
    assert fake in html
