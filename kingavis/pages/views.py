"""``/u/<token>``: unsubscribe from a shop's review requests (docs/sending.md).

A GET only shows a page with a button (mail scanners fetch links); the button's POST, or the
RFC 8058 one-click POST (``List-Unsubscribe=One-Click``) that mail providers send to the
``List-Unsubscribe`` URL, records the unsubscription. Both are idempotent. The token in the URL
is the secret, so these POSTs need no CSRF token.

A review request already scheduled for that address is not touched here: the dispatcher checks
unsubscriptions again at send time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Response, current_app, make_response, request

from kingavis.csp import csp_nonce
from kingavis.delivery.rendering import available_languages, choose_language
from kingavis.extensions import csrf, db
from kingavis.logging import mask_email
from kingavis.models import ReviewRequest
from kingavis.pages import blueprint
from kingavis.privacy import unsubscriptions
from kingavis.private_urls import keep_private
from kingavis.review_requests.queries import request_by_token

log = logging.getLogger("kingavis.pages")


def _page(template: str, status: int = 200, **context: object) -> Response:
    # Rendered without the app's context processors: these pages need no session, no user.
    html = current_app.jinja_env.get_template(template).render(**context)
    response = make_response(html, status)
    keep_private(response)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{csp_nonce()}'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    return response


def _not_found() -> Response:
    languages = sorted(available_languages())
    lang = request.accept_languages.best_match(languages) or choose_language(None, None)
    db.session.rollback()
    return _page("pages/not_found.html", 404, lang=lang)


# The preview pages of a test email's links, by view name (kingavis.pages.sample registers
# them); "*" answers every other page of such a link.
SAMPLE_PAGES: dict[str, Callable[[str], Response]] = {}


def by_token(view: Callable[[ReviewRequest], Response]) -> Callable[[str], Response]:
    """A page of the customer's link: ``view`` gets the request its token names; a test email's
    token gets its preview page (nothing stored); an unknown or malformed token gets the
    not-found page."""

    @functools.wraps(view)
    def page(token: str) -> Response:
        review_request = request_by_token(token)
        if review_request is None:
            sample = SAMPLE_PAGES.get(view.__name__) or SAMPLE_PAGES.get("*")
            if sample is not None and token.startswith("essai-"):
                return sample(token)
            return _not_found()
        return view(review_request)

    return page


def _context(review_request: ReviewRequest, done: bool) -> dict[str, object]:
    order = review_request.order
    shop = review_request.shop
    return {
        "lang": choose_language(order.customer_locale, shop.language),
        "shop_name": shop.name,
        # An erased request has no address left to show.
        "email": mask_email(review_request.customer_email_normalized) or "***",
        "done": done,
    }


@blueprint.get("/u/<token>")
@by_token
def unsubscribe_page(review_request: ReviewRequest) -> Response:
    context = _context(review_request, unsubscriptions.is_unsubscribed(review_request.shop_id,
                                                       review_request.customer_email_hash))
    db.session.rollback()
    return _page("pages/unsubscribe.html", **context)


@blueprint.post("/u/<token>")
@csrf.exempt
@by_token
def unsubscribe(review_request: ReviewRequest) -> Response:
    unsubscriptions.unsubscribe(review_request.shop_id, review_request.customer_email_normalized,
                                review_request.customer_email_hash)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    log.info(
        "unsubscribed",
        extra={
            "fields": {
                "shop_id": review_request.shop_id,
                "review_request_id": review_request.id,
                "email": mask_email(review_request.customer_email_normalized),
                "one_click": one_click,
            }
        },
    )
    return _page("pages/unsubscribe.html", **_context(review_request, True))

