"""The pages a test email's links open (docs/test-email.md): a preview of the questionnaire and
of the unsubscribe page, for the shop and language the signed token names. Nothing is stored:
a preview's form only answers that nothing was."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response

from kingavis.delivery.email_design import sample_request
from kingavis.extensions import db
from kingavis.models import Shop
from kingavis.pages.questionnaire import _render
from kingavis.pages.views import SAMPLE_PAGES, _not_found, _page
from kingavis.shops.sample_links import read_sample_token

TEXT = {
    "fr": {
        "notice": "Aperçu de l'email d'essai\u00a0: rien de ce que vous faites sur cette page n'est enregistré.",
        "done_title": "Aperçu\u00a0: rien n'a été enregistré",
        "done_text": "Sur le lien d'un vrai client, la suite s'afficherait ici. Un email d'essai ne crée ni avis ni désabonnement.",
        "address": "votre adresse",
    },
    "en": {
        "notice": "Test email preview: nothing you do on this page is stored.",
        "done_title": "Preview: nothing was stored",
        "done_text": "On a real customer's link, the next step would show here. A test email creates no review and no unsubscription.",
        "address": "your address",
    },
}


def _shop(token: str) -> tuple[Shop, str] | None:
    found = read_sample_token(token)
    if found is None:
        return None
    shop = db.session.get(Shop, found[0])
    return (shop, found[1]) if shop is not None else None


def _sample(render: Callable[[str, Shop, str], Response]) -> Callable[[str], Response]:
    """A preview page: ``render`` gets the shop and language of a genuine test email token."""

    def page(token: str) -> Response:
        found = _shop(token)
        if found is None:
            return _not_found()
        return render(token, *found)
    return page


@_sample
def questionnaire(token: str, shop: Shop, lang: str) -> Response:
    request = sample_request(shop, lang, token=token)
    for obj in (request, request.order):
        if obj in db.session:
            db.session.expunge(obj)
    return _render("pages/review.html", request, postponed=False, due="",
                   sample_notice=TEXT[lang]["notice"])


@_sample
def nothing_stored(token: str, shop: Shop, lang: str) -> Response:
    db.session.rollback()
    return _page("pages/sample_done.html", lang=lang, shop_name=shop.name, s=TEXT[lang])


@_sample
def unsubscribe(token: str, shop: Shop, lang: str) -> Response:
    db.session.rollback()
    return _page("pages/unsubscribe.html", lang=lang, shop_name=shop.name,
                 email=TEXT[lang]["address"], done=False, sample_notice=TEXT[lang]["notice"])


SAMPLE_PAGES.update({"review_page": questionnaire, "unsubscribe_page": unsubscribe,
                     "*": nothing_stored})
