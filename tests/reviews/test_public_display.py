"""What the public sees of a review's author and dates (docs/publication.md), one rule for every page."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kingavis.reviews.public import author_display, experience_date
from kingavis.shops.slugs import slugify


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("Zoë", "Łukasiewicz", "Zoë Ł."),
        ("  Marc ", " dupont", "Marc D."),
        ("Anne Marie", None, "Anne Marie"),
        (None, "Martin", "M."),
        (None, None, ""),
        ("", "   ", ""),
    ],
)
def test_author_is_the_first_name_and_the_last_names_initial(first, last, shown) -> None:
    assert author_display(first, last) == shown


def test_author_never_shows_the_whole_last_name() -> None:
    assert "Łukasiewicz" not in author_display("Zoë", "Łukasiewicz")


def test_experience_date_is_the_order_date_in_the_shops_zone_else_the_trigger_date() -> None:
    placed = datetime(2026, 11, 11, 23, 30, tzinfo=UTC)  # 12 Nov in Paris
    triggered = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert experience_date(placed, triggered, "Europe/Paris") == date(2026, 11, 12)
    assert experience_date(None, triggered, "Europe/Paris") == date(2026, 11, 20)
    assert experience_date(None, None, "Europe/Paris") is None


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Boutique Zoë", "boutique-zoe"),
        ("  L'Épicerie -- fine !", "l-epicerie-fine"),
        ("***", "boutique"),
        ("a" * 200, "a" * 70),
    ],
)
def test_slug_is_url_safe_ascii(name: str, slug: str) -> None:
    assert slugify(name) == slug
