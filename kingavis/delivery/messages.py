"""The emails King-Avis builds, put together: the review request and its reminder
(docs/sending.md), and the notices to a review's author. Their text comes from
``rendering.py``, their headers from ``headers.py``.

Building a message sits on the dispatcher's hot path, and the stdlib's generic route cost more
than handing the message to the mail server: a parse for every ``msg[...] =`` (several per
``set_content``) and a boundary search at each flattening. The message is therefore put
together from the same stdlib pieces, in the same shape, with less repeated work (see
``_text_part`` and ``_boundary`` here, and the header objects of ``headers.py``); what is sent
is unchanged.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from email import quoprimime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any

from kingavis.delivery.design import Design
from kingavis.delivery.headers import (
    SMTP,
    SMTPUTF8,
    author_message_id,
    cached_header,
    date_header,
    message_id_for,
    recipient_address,
    refusals_logged,
    refuse_unsafe,
    sender_header,
)
from kingavis.delivery.outbound import finish
from kingavis.delivery.rendering import (
    MAX_NAME_CHARS,
    MAX_REFERENCE_CHARS,
    MAX_REPLY_CHARS_SHOWN,
    apply_design,
    choose_language,
    clean_paragraphs,
    clean_text,
    click_url,
    design_of,
    open_url,
    platform_name,
    render,
    render_author_notice,
    review_url,
    sender_name,
    unsubscribe_url,
)
from kingavis.models import ReviewRequest

_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def _quoted_printable(text: str, max_line_length: int | None) -> str:
    """The payload ``set_content(text, cte="quoted-printable")`` stores for ``text`` (UTF-8)."""
    lines = text.encode("utf-8").splitlines()
    return quoprimime.body_encode(
        (b"\n".join(lines) + b"\n").decode("latin-1"), max_line_length
    )


def _text_part(pol: EmailPolicy, subtype: str, text: str, *, mime_version: bool) -> EmailMessage:
    """A UTF-8 quoted-printable text part, with the headers ``set_content`` gives it (the part
    ``add_alternative`` adds also gets its own MIME-Version)."""
    part = EmailMessage(policy=pol)
    part["Content-Type"] = cached_header("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = cached_header("Content-Transfer-Encoding", "quoted-printable")
    if mime_version:
        part["MIME-Version"] = cached_header("MIME-Version", "1.0")
    part.set_payload(_quoted_printable(text, pol.max_line_length))
    return part


def _boundary(*payloads: str) -> str:
    """A multipart boundary in the stdlib generator's format, absent from every payload.

    The generator would search the flattened parts for its random boundary with a new regular
    expression each time; quoted-printable text never holds "==" (every "=" is followed by two
    hex digits or ends the line), so the check here only guards against the impossible.
    """
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}" + "=="
        if not any(boundary in payload for payload in payloads):
            return boundary


_SAVED: Any = object()


@refusals_logged
def build_message(
    request: ReviewRequest, *, base_url: str, mail_from: str, reminder: bool = False,
    design: Design | None = _SAVED,
) -> EmailMessage:
    """The review-request email for ``request`` (its order and shop are loaded from it);
    ``reminder``: the one reminder, with its own wording and Message-ID, the same links.

    ``design``: the shop's saved customisation of the chosen language unless given (the
    back-office preview passes the one being edited; None for the defaults)."""
    order = request.order
    shop = request.shop
    to = recipient_address(order.customer_email)
    lang = choose_language(order.customer_locale, shop.language)
    unsubscribe = unsubscribe_url(base_url, request.token)
    context: dict[str, object] = {
        "first_name": clean_text(order.customer_first_name, MAX_NAME_CHARS),
        "shop_name": clean_text(shop.name, 200),
        "order_reference": clean_text(order.reference, MAX_REFERENCE_CHARS),
        "review_url": review_url(base_url, request.token),
        "unsubscribe_url": unsubscribe,
        "click_url": click_url(base_url, request.token),
        "open_url": open_url(base_url, request.token),
        "platform_name": platform_name(request),
        "reminder": reminder,
    }
    if design is _SAVED:
        design = design_of(request, lang)
    custom_subject = apply_design(context, design, lang)
    subject, text, html = render(lang, context)
    if custom_subject is not None:
        subject = custom_subject

    international = not to.username.isascii()
    pol = SMTPUTF8 if international else SMTP
    text_part = _text_part(pol, "plain", text, mime_version=False)
    html_part = _text_part(pol, "html", html, mime_version=True)

    # The headers, in the order set_content() and add_alternative() gave them.
    msg = EmailMessage(policy=pol)
    msg["From"] = sender_header(sender_name(shop.name, design), mail_from)
    msg["To"] = to
    msg["Subject"] = cached_header("Subject", subject)
    msg["Date"] = date_header(format_datetime(datetime.now(UTC)))
    msg["Message-ID"] = message_id_for(request, base_url, reminder=reminder)
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = cached_header(
        "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"
    )
    return _assemble(msg, text_part, html_part, lang, request, mail_from)


@refusals_logged
def build_author_message(
    kind: str,
    outgoing_id: int,
    request: ReviewRequest,
    *,
    reply_text: str | None,
    reason_label: str | None,
    public_url: str,
    base_url: str,
    mail_from: str,
    product_name: str | None = None,
    page_url: str | None = None,
) -> EmailMessage:
    """The email telling a review's author that it is published (``kind`` "published"),
    refused with ``reason_label`` ("rejected"), or that the shop replied ("reply"). Built from
    the same pieces as the review request, from the shop's name, to the bare address, in the
    customer's language; no customer or merchant text in a header. For a product review,
    ``product_name`` names the product in the text and ``page_url`` is its public page."""
    order = request.order
    shop = request.shop
    to = recipient_address(order.customer_email)
    lang = choose_language(order.customer_locale, shop.language, frozenset({"fr", "en"}))
    context: dict[str, object] = {
        "kind": kind,
        "first_name": clean_text(order.customer_first_name, MAX_NAME_CHARS),
        "shop_name": clean_text(shop.name, 200),
        "reason": clean_text(reason_label, 300),
        "reply": clean_paragraphs(reply_text, MAX_REPLY_CHARS_SHOWN),
        "public_url": page_url or public_url,
        "charter_url": public_url + "/charte",
        "product_name": clean_text(product_name, 200),
        "review_url": review_url(base_url, request.token),
    }
    subject, text, html = render_author_notice(lang, context)
    international = not to.username.isascii()
    pol = SMTPUTF8 if international else SMTP
    text_part = _text_part(pol, "plain", text, mime_version=False)
    html_part = _text_part(pol, "html", html, mime_version=True)
    msg = EmailMessage(policy=pol)
    msg["From"] = sender_header(shop.name, mail_from)
    msg["To"] = to
    msg["Subject"] = cached_header("Subject", subject)
    msg["Date"] = date_header(format_datetime(datetime.now(UTC)))
    msg["Message-ID"] = author_message_id(kind, outgoing_id, request.token, base_url)
    return _assemble(msg, text_part, html_part, lang, request, mail_from)


def _assemble(msg: EmailMessage, text_part: EmailMessage, html_part: EmailMessage, lang: str,
              request: ReviewRequest, mail_from: str) -> EmailMessage:
    """The end every message shares: its MIME headers and its two parts (quoted-printable: 7-bit
    safe for any server, short lines whatever the customer's text), then the last check of
    every header and the envelope (``finish``)."""
    msg["MIME-Version"] = cached_header("MIME-Version", "1.0")
    boundary = _boundary(text_part.get_payload(), html_part.get_payload())
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    msg["Content-Language"] = cached_header("Content-Language", lang)
    msg.attach(text_part)
    msg.attach(html_part)
    return finish(refuse_unsafe(msg, request), bounce_token=request.bounce_token,
                  mail_from=mail_from)
