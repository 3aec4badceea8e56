"""Reading published reviews (docs/publication.md): the one query behind the public page and API."""

from __future__ import annotations

import pytest
from factories import make_shop
from publication_helpers import minutes_ago, reviewed

from kingavis.extensions import db
from kingavis.models import Review, ReviewState, Shop
from kingavis.reviews.public import (
    Listing,
    ListingError,
    list_published,
    parse_listing,
    rating_summary,
)
from kingavis.reviews.publication import change_review_state


def test_summary_counts_every_published_rating_and_nothing_else(shop: Shop) -> None:
    for n, rating in enumerate([5, 5, 4, 1, 1, 3]):
        reviewed(shop, f"10{n}", rating)
    hidden = reviewed(shop, "200", 5)
    change_review_state(hidden, ReviewState.WITHDRAWN, actor="customer")
    db.session.commit()
    other_shop = make_shop("Autre boutique")[0]
    reviewed(other_shop, "300", 2)

    summary = rating_summary(shop.id)

    assert summary.count == 6
    assert summary.distribution == {1: 2, 2: 0, 3: 1, 4: 1, 5: 2}
    assert summary.average == 3.2  # 19 / 6 = 3.1666…


def test_summary_of_a_shop_without_reviews(shop: Shop) -> None:
    summary = rating_summary(shop.id)
    assert (summary.average, summary.count) == (None, 0)
    assert summary.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def test_average_rounds_half_up_to_one_decimal(shop: Shop) -> None:
    for n, rating in enumerate([5, 4, 4, 4]):  # 4.25
        reviewed(shop, f"40{n}", rating)
    assert rating_summary(shop.id).average == 4.3


def test_listing_is_newest_first_paged_and_filtered_only_when_asked(shop: Shop) -> None:
    ratings = [1, 5, 3, 5, 2]
    for n, rating in enumerate(ratings):
        reviewed(shop, f"50{n}", rating, f"avis {n}", at=minutes_ago(60 - n))

    page = list_published(shop, Listing(per_page=2))
    assert [r.comment for r in page.reviews] == ["avis 4", "avis 3"]
    assert (page.total, page.pages) == (5, 3)
    last = list_published(shop, Listing(page=3, per_page=2))
    assert [r.comment for r in last.reviews] == ["avis 0"]

    five = list_published(shop, Listing(rating=5))
    assert [r.comment for r in five.reviews] == ["avis 3", "avis 1"] and five.total == 2
    best = list_published(shop, Listing(sort="rating_desc"))
    assert [r.rating for r in best.reviews] == [5, 5, 3, 2, 1]
    worst = list_published(shop, Listing(sort="rating_asc"))
    assert [r.rating for r in worst.reviews] == [1, 2, 3, 5, 5]


def test_a_listed_review_shows_the_author_the_public_way(shop: Shop) -> None:
    reviewed(shop, "600", 4, first_name="Zoë", last_name="Łukasiewicz")
    (review,) = list_published(shop, Listing()).reviews
    assert review.author == "Zoë Ł."
    assert "customer-600@example.com" not in repr(review)
    assert review.experience_date is not None


def test_pending_and_withdrawn_reviews_are_not_listed(shop: Shop) -> None:
    shown = reviewed(shop, "700", 1)
    gone = reviewed(shop, "701", 5)
    change_review_state(gone, ReviewState.WITHDRAWN, actor="customer")
    waiting = reviewed(shop, "702", 5)
    db.session.get(Review, waiting.id).status = ReviewState.PENDING.value
    db.session.commit()
    assert [r.id for r in list_published(shop, Listing()).reviews] == [shown.id]


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        ({"page": "0"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "１"}, "page"),
        ({"per_page": "101"}, "per_page"),
        ({"rating": "6"}, "rating"),
        ({"rating": "-1"}, "rating"),
        ({"sort": "rating"}, "sort"),
        ({"page": "9" * 40}, "page"),
    ],
)
def test_listing_parameters_are_refused_by_name(args: dict[str, str], bad: str) -> None:
    with pytest.raises(ListingError) as caught:
        parse_listing(args)
    assert set(caught.value.errors) == {bad}


def test_listing_parameters_defaults() -> None:
    assert parse_listing({}) == Listing(page=1, per_page=20, sort="recent", rating=None)
    assert parse_listing({"page": "2", "per_page": "100", "sort": "rating_asc", "rating": "1",
                          "rating_extra": "x"}) == Listing(2, 100, "rating_asc", 1)
