"""The merchant's own review-request email: checking and saving it, previewing it, and sending
the merchant a test email.

Per shop and per language (``kingavis.i18n.LANGUAGES``): a sender name, a subject, an introduction
paragraph, a logo URL (https) and a brand colour (``#rrggbb``). Each starts from the default
(``editor_values``); a value left empty, or equal to the default, is stored as "the default"
(NULL), so the shop keeps following King-Avis's wording where it did not change it.

``save_design`` checks every field before changing anything, raises ``DesignError`` (a French
message per field, translated when shown) and saves the five fields together with their audit
entry in one commit. ``preview`` and ``send_test_email`` build the message with the same
function the dispatcher uses (``delivery.messages.build_message``), for a sample order, so what the
merchant sees is what customers get: the same headers, review link and unsubscribe links.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import gettext, ngettext

from kingavis.accounts import audit
from kingavis.delivery.design import (
    BODY_PLACEHOLDERS,
    COLOUR,
    DEFAULT_COLOUR,
    DEFAULT_INTROS,
    DEFAULT_SUBJECTS,
    FIELDS,
    HEADER_PLACEHOLDERS,
    MAX_INTRO,
    MAX_INTRO_LINES,
    MAX_LOGO_URL,
    MAX_SENDER_NAME,
    MAX_SUBJECT,
    Design,
    PlaceholderError,
    parse,
)
from kingavis.delivery.errors import MailError, UnsafeHeaderError
from kingavis.errors import FieldErrors
from kingavis.extensions import db
from kingavis.i18n import LANGUAGES
from kingavis.mail_headers import CONTROL, ENCODED, header_text_problem
from kingavis.models import EmailDesign, Order, ReviewRequest, Shop, User
from kingavis.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from kingavis.shops.sample_links import sample_token

log = logging.getLogger("kingavis.delivery.email_design")

SAMPLE_FIRST_NAME = "Zoë"
SAMPLE_REFERENCE = "XKBKNABJK"
SAMPLE_EMAIL = "zoe@example.com"
PREVIEW_TOKEN = "apercu-" + "0" * 25
# Test emails: per merchant and shop, a few per quarter of an hour and a daily ceiling per shop
# (app config EMAIL_TEST_LIMIT / EMAIL_TEST_WINDOW_SECONDS / EMAIL_TEST_DAILY_LIMIT).
DEFAULT_TEST_LIMIT = 5
DEFAULT_TEST_WINDOW_SECONDS = 15 * 60
DEFAULT_TEST_DAILY_LIMIT = 30
LIMITER_KEY = "kingavis_test_email_limiter"
REDIS_PREFIX = "kingavis:ratelimit:test-email:"


class DesignError(FieldErrors[list[str]]):
    """Invalid input; ``errors`` maps each field to its messages (nothing was saved)."""


class TestEmailRefused(Exception):
    """Too many test emails: ``retry_after`` seconds before the next one is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many test emails; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class DesignInput:
    """The editor's five fields as typed (empty: the default)."""

    sender_name: str = ""
    subject: str = ""
    intro: str = ""
    logo_url: str = ""
    brand_colour: str = ""
    shop_url: str = ""


@dataclass(frozen=True)
class EmailPreview:
    """A message as a mail client shows it: its headers of note and its two parts."""

    sender: str
    sender_name: str
    to: str
    subject: str
    text: str
    html: str
    list_unsubscribe: str
    list_unsubscribe_post: str


@dataclass(frozen=True)
class TestEmail:
    """A test email handed to the mail server (``sent``) or refused by it (``error``)."""

    sent: bool
    error: str | None
    recipient: str


# --------------------------------------------------------------------------- reading


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise DesignError({"language": [gettext("Langue inconnue : choisissez fr ou en.")]})
    return language


def saved_design(shop: Shop, language: str) -> Design:
    """The shop's saved customisation in ``language`` (all None when it has none)."""
    for row in shop.email_designs:
        if row.language == language:
            return Design(**{name: getattr(row, name) for name in FIELDS})
    return Design()


def editor_values(shop: Shop, language: str) -> DesignInput:
    """What the editor shows: the saved values, else the default texts to start from."""
    design = saved_design(shop, language)
    return DesignInput(
        sender_name=design.sender_name or "",
        subject=design.subject or DEFAULT_SUBJECTS[language],
        intro=design.intro or DEFAULT_INTROS[language],
        logo_url=design.logo_url or "",
        brand_colour=design.brand_colour or DEFAULT_COLOUR,
        shop_url=design.shop_url or "",
    )


# --------------------------------------------------------------------------- validation


def _add(errors: dict[str, list[str]], name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _braces(names: tuple[str, ...]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def _placeholder_messages(exc: PlaceholderError, allowed: tuple[str, ...]) -> list[str]:
    messages = []
    if exc.unknown:
        messages.append(ngettext(
            "Espace réservé inconnu : %(names)s. Possibles ici : %(allowed)s.",
            "Espaces réservés inconnus : %(names)s. Possibles ici : %(allowed)s.",
            len(exc.unknown), names=_braces(exc.unknown), allowed=_braces(allowed)))
    if exc.not_here:
        messages.append(gettext(
            "%(names)s ne peut pas figurer ici : les données du client n'entrent jamais dans les "
            "en-têtes de l'email. Possible ici : %(allowed)s.",
            names=_braces(exc.not_here), allowed=_braces(allowed)))
    if exc.malformed:
        messages.append(gettext(
            "Accolade sans sa paire ou espace réservé mal écrit : écrivez par exemple "
            "%(example)s, et {{ ou }} pour une accolade seule.", example="{shop_name}"))
    return messages


def _check_text(errors: dict[str, list[str]], name: str, value: str,
                allowed: tuple[str, ...]) -> None:
    try:
        parse(value, allowed)
    except PlaceholderError as exc:
        for message in _placeholder_messages(exc, allowed):
            _add(errors, name, message)


_BIDI = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _controls(value: str, keep: str = "") -> bool:
    """Whether ``value`` holds a control character (other than those in ``keep``), or a
    bidirectional override, which makes text read differently from what it is."""
    return any((unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI) and ch not in keep
               for ch in value)


def _header_field(errors: dict[str, list[str]], name: str, value: str, limit: int,
                  too_long: str, one_line: str) -> str | None:
    # Judged as a mail program shows it, encoded words decoded (docs/email-headers.md).
    problem = header_text_problem(value)
    if problem == CONTROL:
        _add(errors, name, one_line)
    elif problem == ENCODED:
        _add(errors, name, encoded_word_message())
    elif len(value) > limit:
        _add(errors, name, too_long)
    else:
        _check_text(errors, name, value, HEADER_PLACEHOLDERS)
    return value or None


def encoded_word_message() -> str:
    return gettext("Les séquences =?…?= (mots encodés des en-têtes d'email) ne sont pas "
                   "acceptées : écrivez le texte tel qu'il doit s'afficher.")


def validate(language: str, data: DesignInput) -> Design:
    """The cleaned design, or DesignError with a French message for every invalid field.

    Rules: no line break or control character in the sender name and the subject (they are
    headers), as typed or once decoded, and no RFC 2047 encoded word (``=?…?=``), at most 100 and 150 characters, only ``{shop_name}`` in them; the introduction at
    most 1000 characters on 20 lines, with ``{first_name}``, ``{order_reference}`` and
    ``{shop_name}``; the logo an https address of at most 500 characters; the colour
    ``#rrggbb``. A value equal to the default is the default (None).
    """
    errors: dict[str, list[str]] = {}
    try:
        check_language(language)
    except DesignError as exc:
        errors.update(exc.errors)
        raise DesignError(errors) from None

    sender = _header_field(
        errors, "sender_name", (data.sender_name or "").strip(), MAX_SENDER_NAME,
        gettext("Le nom d'expéditeur ne doit pas dépasser %(max)s caractères.", max=MAX_SENDER_NAME),
        gettext("Le nom d'expéditeur doit tenir sur une ligne, sans caractère de contrôle."))
    subject = _header_field(
        errors, "subject", (data.subject or "").strip(), MAX_SUBJECT,
        gettext("L'objet ne doit pas dépasser %(max)s caractères.", max=MAX_SUBJECT),
        gettext("L'objet doit tenir sur une ligne, sans caractère de contrôle."))

    intro = (data.intro or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if _controls(intro, keep="\n\t"):
        _add(errors, "intro", gettext("L'introduction ne doit pas contenir de caractère de contrôle."))
    elif len(intro) > MAX_INTRO:
        _add(errors, "intro", gettext("L'introduction ne doit pas dépasser %(max)s caractères.",
                                      max=MAX_INTRO))
    elif intro.count("\n") >= MAX_INTRO_LINES:
        _add(errors, "intro", gettext("L'introduction ne doit pas dépasser %(max)s lignes.",
                                      max=MAX_INTRO_LINES))
    else:
        _check_text(errors, "intro", intro, BODY_PLACEHOLDERS)

    logo = (data.logo_url or "").strip() or None
    if logo is not None and (message := logo_url_error(logo)):
        _add(errors, "logo_url", message)

    colour = (data.brand_colour or "").strip().lower() or None
    if colour is not None and not COLOUR.fullmatch(colour):
        _add(errors, "brand_colour", gettext(
            "La couleur doit s'écrire #rrggbb, par exemple %(example)s.", example=DEFAULT_COLOUR))

    site = (data.shop_url or "").strip() or None
    if site is not None and (message := shop_url_error(site)):
        _add(errors, "shop_url", message)

    if errors:
        raise DesignError(errors)
    return Design(
        sender_name=None if sender == "{shop_name}" else sender,
        subject=None if subject == DEFAULT_SUBJECTS[language] else subject,
        intro=None if not intro or intro == DEFAULT_INTROS[language] else intro,
        logo_url=logo,
        brand_colour=None if colour == DEFAULT_COLOUR else colour,
        shop_url=site,
    )


def shop_url_error(url: str) -> str | None:
    """Why the shop's site address is refused, or None: an https address like the logo's."""
    if logo_url_error(url) is None:
        return None
    return gettext("L'adresse de la boutique doit être une adresse https:// valable, sans espace.")


def logo_url_error(url: str) -> str | None:
    """Why a logo address is refused, or None. https only: an image fetched over http would
    show a warning or nothing in many mail clients, and could be swapped on the way."""
    if len(url) > MAX_LOGO_URL:
        return gettext("L'adresse du logo ne doit pas dépasser %(max)s caractères.", max=MAX_LOGO_URL)
    if any(ch.isspace() or ch in "\"'<>\\`" for ch in url) or _controls(url):
        return gettext("L'adresse du logo ne doit contenir ni espace, ni guillemet, ni chevron.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return gettext("L'adresse du logo n'est pas une adresse valable.")
    if parts.scheme.lower() != "https":
        return gettext("L'adresse du logo doit commencer par https://.")
    if not parts.hostname:
        return gettext("L'adresse du logo doit contenir un nom de domaine.")
    if parts.username or parts.password:
        return gettext("L'adresse du logo ne doit pas contenir d'identifiant ni de mot de passe.")
    return None


# --------------------------------------------------------------------------- saving


def save_design(shop: Shop, user: User | None, language: str, data: DesignInput) -> list[str]:
    """Check and save the shop's email in ``language``: all five fields or nothing. Commits.

    Returns the names of the fields that changed (none: nothing written, no audit entry).
    Raises DesignError with every invalid field's message; nothing is saved then.
    """
    design = validate(language, data)
    before = saved_design(shop, language)
    changed = [name for name in FIELDS if getattr(design, name) != getattr(before, name)]
    if not changed:
        return []
    row = next((r for r in shop.email_designs if r.language == language), None)
    if design.is_default():
        if row is not None:
            shop.email_designs.remove(row)
    else:
        if row is None:
            row = EmailDesign(language=language)
            shop.email_designs.append(row)
        for name in FIELDS:
            setattr(row, name, getattr(design, name))
    audit.record(user, "email_design.update", shop=shop, target_type="shop", target_id=shop.id,
                 details={"language": language,
                          "before": {k: getattr(before, k) for k in changed},
                          "after": {k: getattr(design, k) for k in changed}})
    db.session.commit()
    log.info("email design changed", extra={"fields": {"shop": shop.key, "language": language,
                                                      "fields": changed}})
    return changed


# --------------------------------------------------------------------------- preview, test


def sample_request(shop: Shop, language: str, *, email: str = SAMPLE_EMAIL,
                   token: str = PREVIEW_TOKEN) -> ReviewRequest:
    """A review request for a sample order of ``shop``, in ``language``; never saved (none of
    these objects is added to the session)."""
    order = Order(id=0, shop_id=shop.id, external_id="exemple", reference=SAMPLE_REFERENCE,
                  customer_email=email, customer_first_name=SAMPLE_FIRST_NAME,
                  customer_locale=language)
    return ReviewRequest(id=0, shop_id=shop.id, order_id=0, token=token, shop=shop, order=order,
                         customer_email_normalized=email.lower(), state="sending",
                         platform="kingavis")


def _build(shop: Shop, language: str, design: Design | None, *, reminder: bool, email: str,
           token: str) -> EmailMessage:
    from kingavis.delivery.messages import build_message

    kwargs: dict[str, Any] = {} if design is None else {"design": design}
    request = sample_request(shop, language, email=email, token=token)
    try:
        return build_message(request, base_url=current_app.config["KINGAVIS_BASE_URL"],
                             mail_from=current_app.config["MAIL_FROM"], reminder=reminder,
                             **kwargs)
    except UnsafeHeaderError as exc:
        # A value saved before encoded words were refused, or the shop's name: shown on the
        # page as the field's error, never a failure (docs/email-headers.md).
        field = "subject" if exc.header == "Subject" else "sender_name"
        raise DesignError({field: [encoded_word_message()]}) from None
    finally:
        # Nothing of the sample may reach the database.
        for obj in (request, request.order):
            if obj in db.session:
                db.session.expunge(obj)


def preview(shop: Shop, language: str, data: DesignInput, *, reminder: bool = False) -> EmailPreview:
    """The email a customer would get with ``data`` (not saved), for a sample order.

    Raises DesignError when ``data`` is invalid, as ``save_design`` would.
    """
    design = validate(language, data)
    message = _build(shop, language, design, reminder=reminder, email=SAMPLE_EMAIL,
                     token=PREVIEW_TOKEN)
    parsed: Any = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    sender = parsed["From"].addresses[0]
    return EmailPreview(
        sender=str(parsed["From"]),
        sender_name=sender.display_name,
        to=str(parsed["To"]),
        subject=str(parsed["Subject"]),
        text=parsed.get_body(("plain",)).get_content(),
        html=parsed.get_body(("html",)).get_content(),
        list_unsubscribe=" ".join(str(parsed["List-Unsubscribe"]).split()),
        list_unsubscribe_post=str(parsed["List-Unsubscribe-Post"]),
    )


def _limiter(app: Flask) -> Limiter:
    limiter = app.extensions.get(LIMITER_KEY)
    if limiter is None:
        redis = app.extensions.get("redis")
        made: Limiter = RedisLimiter(redis, prefix=REDIS_PREFIX) if redis is not None else MemoryLimiter()
        limiter = app.extensions.setdefault(LIMITER_KEY, made)
    return limiter


def _check_rate(shop: Shop, user: User) -> None:
    """A few test emails per merchant and shop in a window, and a daily ceiling per shop:
    enough to try every change, too few to use the button to send mail in bulk."""
    config = current_app.config
    limiter = _limiter(current_app._get_current_object())  # type: ignore[attr-defined]
    limit = int(config.get("EMAIL_TEST_LIMIT") or DEFAULT_TEST_LIMIT)
    window = int(config.get("EMAIL_TEST_WINDOW_SECONDS") or DEFAULT_TEST_WINDOW_SECONDS)
    daily = int(config.get("EMAIL_TEST_DAILY_LIMIT") or DEFAULT_TEST_DAILY_LIMIT)
    wait = limiter.hit(f"user:{user.id}:shop:{shop.id}", limit, window)
    if wait is None:
        wait = limiter.hit(f"shop:{shop.id}", daily, 24 * 3600)
    if wait is not None:
        raise TestEmailRefused(wait)


def send_test_email(shop: Shop, user: User, language: str, *, reminder: bool = False) -> TestEmail:
    """Send the shop's saved email in ``language`` (for a sample order) to ``user``'s own
    address, through the configured mail transport (MAIL_URL), and audit it. Commits.

    Raises DesignError for an unknown language and TestEmailRefused past the rate limit
    (nothing sent, nothing recorded). A mail server's refusal is returned, and audited.
    """
    from kingavis.delivery.service import mask_emails
    from kingavis.delivery.transports import open_transport

    check_language(language)
    _check_rate(shop, user)
    error: str | None = None
    try:
        message = _build(shop, language, None, reminder=reminder, email=user.email,
                         token=sample_token(shop.id, language))
        with open_transport(current_app.config["MAIL_URL"]) as transport:
            transport.send(message)
    except (MailError, OSError, ValueError) as exc:
        error = mask_emails(str(exc)) or type(exc).__name__
        log.warning("test email not sent", extra={"fields": {"shop": shop.key, "error": error}})
    audit.record(user, "email_design.test_send", shop=shop, target_type="shop", target_id=shop.id,
                 details={"language": language, "reminder": reminder,
                          "outcome": "sent" if error is None else "failed"})
    db.session.commit()
    return TestEmail(sent=error is None, error=error, recipient=user.email)
