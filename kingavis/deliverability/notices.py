"""The email telling a shop's merchants that its sending was paused because of its complaint
rate (docs/deliverability.md). Plain text, in each account's language, no customer data."""

from __future__ import annotations

import logging
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select

from kingavis.delivery.errors import MailError
from kingavis.delivery.outbound import finish
from kingavis.extensions import db
from kingavis.models import Shop, User, user_shops, utcnow

log = logging.getLogger("kingavis.deliverability")


def pause_message(shop: Shop, user: User, figures: Any) -> EmailMessage:
    """The notice to one merchant account."""
    config = current_app.config
    rate = f"{figures.complaint_rate * 100:.2f}"
    settings_url = f"{config['KINGAVIS_BASE_URL']}/admin/shops/{shop.key}/settings"
    with force_locale(user.language or "fr"):
        subject = gettext("King-Avis : envois en pause (taux de plaintes trop élevé)")
        body = gettext(
            "Les envois de demandes d'avis de votre boutique ont été mis en pause automatiquement "
            "(%(shop)s) : %(complaints)s clients sur %(emails)s emails envoyés en 30 jours ont "
            "signalé l'email comme indésirable (%(rate)s %%), au-delà du seuil de 0,3 %% que "
            "les messageries tolèrent.\n\nRien n'est perdu : les demandes attendent la reprise. "
            "Vérifiez que vous n'écrivez qu'à des clients qui ont commandé récemment et qui "
            "s'attendent à votre email, puis reprenez les envois depuis vos réglages :\n%(url)s\n",
            shop=shop.name, complaints=figures.complaints, emails=figures.emails,
            rate=rate, url=settings_url)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address("King-Avis", addr_spec=parseaddr(config["MAIL_FROM"])[1])
    msg["To"] = Address(addr_spec=user.email)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="kingavis.invalid")
    msg.set_content(body)
    return finish(msg, bounce_token=None, mail_from=config["MAIL_FROM"])


def tell_merchants_paused(shop: Shop, figures: Any) -> int:
    """Email each merchant account of ``shop``; a mail error is logged, never raised (the pause
    stands and the back-office shows it). Returns how many were sent."""
    from kingavis.delivery.transports import open_transport

    users = db.session.execute(
        select(User).join(user_shops, user_shops.c.user_id == User.id)
        .where(user_shops.c.shop_id == shop.id)).scalars().all()
    sent = 0
    try:
        with open_transport(current_app.config["MAIL_URL"]) as transport:
            for user in users:
                transport.send(pause_message(shop, user, figures))
                sent += 1
    except (MailError, OSError, ValueError) as exc:
        log.warning("pause notice not sent", extra={"fields": {"shop": shop.key,
                                                              "error": type(exc).__name__}})
    return sent
