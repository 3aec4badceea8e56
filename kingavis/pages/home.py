"""``/``: what King-Avis is, for anyone who opens the bare address, with the way to the
merchants' back-office. In the browser's language (French by default, ``?lang=en``)."""

from __future__ import annotations

from flask import Response, current_app, make_response

from kingavis.errors import error_language
from kingavis.pages import blueprint

TEXT = {
    "fr": {
        "title": "King-Avis — avis clients vérifiés",
        "lead": "King-Avis collecte les avis des clients d'une boutique en ligne\u00a0: après chaque commande livrée, le client reçoit un email l'invitant à noter sa commande, et son avis vérifié est publié sur la page d'avis de la boutique.",
        "merchant": "Vous êtes marchand\u00a0?",
        "admin": "Ouvrir l'espace marchand",
        "customer": "Vous êtes client\u00a0? Le lien de l'email reçu après votre commande mène directement à votre questionnaire.",
        "other": "English",
    },
    "en": {
        "title": "King-Avis — verified customer reviews",
        "lead": "King-Avis collects reviews from an online shop's customers: after each delivered order the customer gets an email inviting them to rate it, and their verified review is published on the shop's review page.",
        "merchant": "Are you a merchant?",
        "admin": "Open the merchant back-office",
        "customer": "Are you a customer? The link in the email you received after your order leads straight to your questionnaire.",
        "other": "Français",
    },
}


@blueprint.get("/")
def home() -> Response:
    lang = error_language()
    html = current_app.jinja_env.get_template("pages/home.html").render(
        lang=lang, t=TEXT[lang], other_url="/?lang=" + ("en" if lang == "fr" else "fr"),
        other_lang="en" if lang == "fr" else "fr")
    response = make_response(html)
    response.headers["Vary"] = "Accept-Language"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return response
