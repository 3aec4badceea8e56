"""No address, phone number or link ever reaches a public author name (issue 21).

Shops do send an email address as a first name. The author is then shown as "Client vérifié" /
"Verified customer" on the public page and in its JSON-LD, and is null in the API (which the
widget shows as the same words); the one rule is ``kingavis.reviews.public.author_display``.
Also: the page's links keep a filter equal to 1 (the one-star filter, the language switch).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from factories import make_shop
from flask import Flask
from publication_helpers import reviewed
from sqlalchemy import update

from kingavis.extensions import db
from kingavis.models import Review
from kingavis.reviews.public import author_display, kept_or_made_author

LEAKY = "leaky.customer@example.com"


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (LEAKY, "Dupont"),
        ("Zoë", LEAKY),
        ("zoe(at)example.com", None),
        ("06 12 34 56 78", None),
        ("+33 6 12 34 56 78", "Martin"),
        ("https://spam.example", None),
        ("www.boutique-zoe.fr", None),
        ("boutique-zoe.fr", None),
        ("zoe＠example.com", None),
    ],
)
def test_contact_data_in_a_name_shows_no_name(first: str, last: str | None) -> None:
    assert author_display(first, last) == ""


@pytest.mark.parametrize(("first", "last", "shown"), [
    ("Zoë", "Łukasiewicz", "Zoë Ł."), ("Jean-Marc", "O'Neil", "Jean-Marc O."),
    ("Anne Marie", None, "Anne Marie"), ("Louis 14", "Bourbon", "Louis 14 B."),
])
def test_ordinary_names_are_still_shown(first: str, last: str | None, shown: str) -> None:
    assert author_display(first, last) == shown


def test_a_kept_name_from_before_is_checked_again() -> None:
    assert kept_or_made_author(f"{LEAKY} D.", "Zoë", "Dupont") == ""
    assert kept_or_made_author("Zoë D.", None, None) == "Zoë D."


def _jsonld(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_an_address_as_first_name_is_shown_nowhere(app: Flask, client: Any) -> None:
    shop, _ = make_shop("Boutique Zoë")
    reviewed(shop, "1", 5, first_name=LEAKY, last_name="Dupont")
    reviewed(shop, "2", 4, first_name="Zoë", last_name="Łukasiewicz")
    for lang, words in (("fr", "Client vérifié"), ("en", "Verified customer")):
        page = client.get(f"/avis/{shop.slug}?lang={lang}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "leaky" not in html.lower() and "Zoë Ł." in html and words in html
        authors = [r["author"]["name"] for r in _jsonld(html)["review"]]
        assert sorted(authors) == sorted([words, "Zoë Ł."])
    api = client.get(f"/api/v1/shops/{shop.slug}/reviews")
    assert "leaky" not in api.get_data(as_text=True).lower()
    assert sorted(r["author"] or "" for r in api.get_json()["reviews"]) == ["", "Zoë Ł."]


def test_a_kept_author_name_with_an_address_is_not_shown(app: Flask, client: Any) -> None:
    shop, _ = make_shop("Boutique Zoë")
    review = reviewed(shop, "1", 5)
    db.session.execute(update(Review).where(Review.id == review.id)
                       .values(author_display=f"{LEAKY} D."))
    db.session.commit()
    assert "leaky" not in client.get(f"/avis/{shop.slug}").get_data(as_text=True).lower()
    assert "leaky" not in client.get(f"/api/v1/shops/{shop.slug}/reviews").get_data(as_text=True)


def test_the_one_star_filter_and_the_language_switch_keep_rating_1(app: Flask, client: Any) -> None:
    shop, _ = make_shop("Boutique Zoë")
    reviewed(shop, "1", 1, comment="Déçu.")
    reviewed(shop, "2", 5)
    html = client.get(f"/avis/{shop.slug}").get_data(as_text=True)
    assert f'href="/avis/{shop.slug}?rating=1"' in html
    filtered = client.get(f"/avis/{shop.slug}?rating=1").get_data(as_text=True)
    assert f'href="/avis/{shop.slug}?rating=1&amp;lang=en"' in filtered
    english = client.get(f"/avis/{shop.slug}?rating=1&lang=en").get_data(as_text=True)
    assert f'href="/avis/{shop.slug}?rating=1&amp;lang=fr"' in english
