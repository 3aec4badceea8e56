"""The public review page ``/avis/<slug>`` and its charter (docs/publication.md), as a shop's customers
and search engines see them. SQLite and PostgreSQL; reviews made through the questionnaire."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from publication_helpers import minutes_ago, reviewed

from kingavis.extensions import db
from kingavis.models import Review, ReviewState, Shop, utcnow
from kingavis.reviews.publication import REJECTION_REASONS, change_review_state


def get(client, url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    response = client.get(url, headers=headers)
    return response.status_code, response.get_data(as_text=True), dict(response.headers)


def json_ld(page: str) -> dict:
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    return json.loads(block)


def shown_comments(page: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r'<p class="comment">(.*?)</p>', page, re.S)]


def test_the_page_shows_every_published_review_whatever_its_rating(client, shop_with_markup_in_name: Shop) -> None:
    reviewed(shop_with_markup_in_name, "1", 1, "Colis jamais arrivé.", at=minutes_ago(30))
    reviewed(shop_with_markup_in_name, "2", 5, "Parfait, merci !", at=minutes_ago(20))

    status, page, headers = get(client, f"/avis/{shop_with_markup_in_name.slug}")

    assert status == 200
    assert '<html lang="fr">' in page
    assert shown_comments(page) == ["Parfait, merci !", "Colis jamais arrivé."]  # newest first
    assert "3,0" in page and "2 avis vérifiés" in page
    assert "Boutique &lt;Zoë&gt; &amp; Fils" in page and "<Zoë>" not in page
    # Each review: the author's first name and initial, its rating for screen readers, the
    # verified mention linking to the charter, both dates.
    assert page.count("Zoë Ł.") == 2 and "Łukasiewicz" not in page and "@example.com" not in page
    assert "Note\u00a0: 1 sur 5" in page and "Note\u00a0: 5 sur 5" in page
    assert page.count(f'href="/avis/{shop_with_markup_in_name.slug}/charte"') >= 3
    assert "Avis vérifié" in page
    assert re.search(r"Expérience du \d{1,2} \w+\.? 20\d\d", page)
    assert re.search(r"Publié le \d{1,2} \w+\.? 20\d\d", page)
    assert headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_distribution_and_average(client, shop_with_markup_in_name: Shop) -> None:
    for n, rating in enumerate([5, 5, 4, 1]):
        reviewed(shop_with_markup_in_name, f"1{n}", rating)
    page = get(client, f"/avis/{shop_with_markup_in_name.slug}")[1]
    assert "3,8" in page  # 15 / 4 = 3.75, one decimal
    counts = re.findall(r'<progress max="100" value="(\d+)"', page)
    assert counts == ["50", "25", "0", "0", "25"]  # 5 to 1 stars, in percent


def test_withdrawn_and_pending_reviews_are_not_shown_nor_counted(client, shop_with_markup_in_name: Shop) -> None:
    reviewed(shop_with_markup_in_name, "1", 4, "Visible.")
    gone = reviewed(shop_with_markup_in_name, "2", 5, "Retiré.")
    change_review_state(gone, ReviewState.WITHDRAWN, actor="customer")
    waiting = reviewed(shop_with_markup_in_name, "3", 2, "En attente.")
    db.session.get(Review, waiting.id).status = ReviewState.PENDING.value
    db.session.commit()

    page = get(client, f"/avis/{shop_with_markup_in_name.slug}")[1]

    assert shown_comments(page) == ["Visible."]
    assert "1 avis vérifié" in page and "4,0" in page
    assert json_ld(page)["aggregateRating"]["reviewCount"] == 1


def test_the_merchants_reply_is_shown_with_its_date(client, shop_with_markup_in_name: Shop) -> None:
    review = reviewed(shop_with_markup_in_name, "1", 3, "Correct.")
    row = db.session.get(Review, review.id)
    row.reply_text = "Merci <Zoë>, nous corrigeons."
    row.reply_published_at = utcnow()
    db.session.commit()

    page = get(client, f"/avis/{shop_with_markup_in_name.slug}")[1]

    assert "Réponse de Boutique &lt;Zoë&gt; &amp; Fils" in page
    assert "Merci &lt;Zoë&gt;, nous corrigeons." in page
    assert re.search(r"le \d{1,2} \w+\.? 20\d\d", page.split("Réponse de")[1])


def test_twenty_a_page_newest_first(client, shop_with_markup_in_name: Shop) -> None:
    for n in range(23):
        reviewed(shop_with_markup_in_name, f"{100 + n}", 1 + n % 5, f"avis {n}", at=minutes_ago(100 - n))

    first = get(client, f"/avis/{shop_with_markup_in_name.slug}")[1]
    second = get(client, f"/avis/{shop_with_markup_in_name.slug}?page=2")[1]

    assert shown_comments(first) == [f"avis {n}" for n in range(22, 2, -1)]
    assert shown_comments(second) == ["avis 2", "avis 1", "avis 0"]
    assert f'href="/avis/{shop_with_markup_in_name.slug}?page=2" rel="next"' in first
    assert "Page 2 sur 2" in second
    assert get(client, f"/avis/{shop_with_markup_in_name.slug}?page=3")[0] == 404


def test_filter_and_sort_are_the_readers_choice(client, shop_with_markup_in_name: Shop) -> None:
    for n, rating in enumerate([2, 5, 1, 5]):
        reviewed(shop_with_markup_in_name, f"{n}", rating, f"avis {n}", at=minutes_ago(50 - n))

    fives = get(client, f"/avis/{shop_with_markup_in_name.slug}?rating=5")[1]
    lowest = get(client, f"/avis/{shop_with_markup_in_name.slug}?sort=rating_asc")[1]
    highest = get(client, f"/avis/{shop_with_markup_in_name.slug}?sort=rating_desc")[1]

    assert shown_comments(fives) == ["avis 3", "avis 1"]
    assert shown_comments(lowest) == ["avis 2", "avis 0", "avis 3", "avis 1"]
    assert shown_comments(highest) == ["avis 3", "avis 1", "avis 0", "avis 2"]
    # The summary is over every review, whatever the filter.
    assert "4 avis vérifiés" in fives


@pytest.mark.parametrize(
    ("query", "named"),
    [("?page=abc", "page"), ("?page=0", "page"), ("?rating=6", "rating"),
     ("?sort=best", "sort"), ("?rating=%00", "rating"), ("?page=" + "9" * 50, "page")],
)
def test_bad_parameters_get_a_clear_400(client, shop_with_markup_in_name: Shop, query: str, named: str) -> None:
    status, page, headers = get(client, f"/avis/{shop_with_markup_in_name.slug}{query}")
    assert status == 400
    assert f"<code>{named}</code>" in page
    assert headers["Cache-Control"] == "no-store"


def test_unknown_shop_is_404(client, shop_with_markup_in_name: Shop) -> None:
    assert get(client, "/avis/no-such-shop")[0] == 404
    assert get(client, "/avis/no-such-shop/charte")[0] == 404
    assert get(client, "/avis/" + "x" * 500)[0] == 404


def test_english_by_parameter_or_browser_preference(client, shop_with_markup_in_name: Shop) -> None:
    reviewed(shop_with_markup_in_name, "1", 4, "Bien.")
    by_param = get(client, f"/avis/{shop_with_markup_in_name.slug}?lang=en")[1]
    by_browser = get(client, f"/avis/{shop_with_markup_in_name.slug}", **{"Accept-Language": "en-GB,en;q=0.9"})[1]
    french = get(client, f"/avis/{shop_with_markup_in_name.slug}", **{"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})[1]
    for page in (by_param, by_browser):
        assert '<html lang="en">' in page
        assert "Customer reviews of" in page and "4.0" in page and "1 verified review" in page
        assert "Rated 4 out of 5" in page
    assert '<html lang="fr">' in french and "4,0" in french


def test_indexable_without_duplicates(client, shop_with_markup_in_name: Shop, app: Flask) -> None:
    for n in range(21):
        reviewed(shop_with_markup_in_name, f"{n}", 5)
    base = app.config["KINGAVIS_BASE_URL"]
    plain = get(client, f"/avis/{shop_with_markup_in_name.slug}")[1]
    second = get(client, f"/avis/{shop_with_markup_in_name.slug}?page=2")[1]
    filtered = get(client, f"/avis/{shop_with_markup_in_name.slug}?rating=5&sort=rating_asc")[1]
    english = get(client, f"/avis/{shop_with_markup_in_name.slug}?lang=en")[1]

    assert f'<link rel="canonical" href="{base}/avis/{shop_with_markup_in_name.slug}">' in plain
    assert "noindex" not in plain
    assert f'<link rel="alternate" hreflang="en" href="{base}/avis/{shop_with_markup_in_name.slug}?lang=en">' in plain
    assert f'<link rel="canonical" href="{base}/avis/{shop_with_markup_in_name.slug}?page=2">' in second
    # A filtered or re-sorted view points to the plain page and stays out of the index.
    assert f'<link rel="canonical" href="{base}/avis/{shop_with_markup_in_name.slug}">' in filtered
    assert '<meta name="robots" content="noindex, follow">' in filtered
    assert f'<link rel="canonical" href="{base}/avis/{shop_with_markup_in_name.slug}?lang=en">' in english


# --- schema.org ---------------------------------------------------------------------------------

# What schema.org and search engines expect of the types the page claims: each property's
# expected type (https://schema.org/AggregateRating, /Review, /Rating, /Person, /Organization).
SCHEMA = {
    "Organization": {"name": str, "url": str, "aggregateRating": "AggregateRating", "review": ["Review"]},
    "AggregateRating": {"ratingValue": (int, float), "reviewCount": int, "ratingCount": int,
                        "bestRating": int, "worstRating": int},
    "Review": {"author": "Person", "datePublished": str, "reviewRating": "Rating", "reviewBody": str},
    "Rating": {"ratingValue": int, "bestRating": int, "worstRating": int},
    "Person": {"name": str},
}
REQUIRED = {
    "Organization": {"name"},
    "AggregateRating": {"ratingValue", "reviewCount", "bestRating", "worstRating"},
    "Review": {"author", "reviewRating", "datePublished"},
    "Rating": {"ratingValue"},
    "Person": {"name"},
}


def check_thing(thing: dict, expected: str) -> None:
    assert thing["@type"] == expected
    props = SCHEMA[expected]
    assert REQUIRED[expected] <= set(thing), (expected, thing)
    for key, value in thing.items():
        if key.startswith("@"):
            continue
        assert key in props, f"{expected} has no property {key}"
        kind = props[key]
        if isinstance(kind, list):
            assert isinstance(value, list) and value
            for item in value:
                check_thing(item, kind[0])
        elif isinstance(kind, str):
            check_thing(value, kind)
        else:
            assert isinstance(value, kind) and not isinstance(value, bool), (key, value)
    if expected in ("Rating", "AggregateRating"):
        assert thing.get("worstRating", 1) <= thing["ratingValue"] <= thing.get("bestRating", 5)


def test_json_ld_describes_the_shop_and_the_reviews_on_the_page(client, shop_with_markup_in_name: Shop) -> None:
    reviewed(shop_with_markup_in_name, "1", 1, "Déçu </script><script>alert(1)</script>", at=minutes_ago(5))
    reviewed(shop_with_markup_in_name, "2", 5, None, at=minutes_ago(1))

    page = get(client, f"/avis/{shop_with_markup_in_name.slug}")[1]
    data = json_ld(page)

    assert data["@context"] == "https://schema.org"
    check_thing(data, "Organization")
    assert data["aggregateRating"]["ratingValue"] == 3.0
    assert [r["reviewRating"]["ratingValue"] for r in data["review"]] == [5, 1]
    assert data["review"][1]["reviewBody"].startswith("Déçu </script>")
    assert "<script>alert(1)" not in page  # the comment cannot close the JSON-LD block


def test_json_ld_of_a_shop_without_reviews_claims_no_rating(client, shop_with_markup_in_name: Shop) -> None:
    data = json_ld(get(client, f"/avis/{shop_with_markup_in_name.slug}")[1])
    check_thing(data, "Organization")
    assert "aggregateRating" not in data and "review" not in data


# --- the charter --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_charter_states_what_the_law_asks(client, shop_with_markup_in_name: Shop, lang: str) -> None:
    status, page, _ = get(client, f"/avis/{shop_with_markup_in_name.slug}/charte?lang={lang}")
    page = html.unescape(page)
    assert status == 200
    assert f'<html lang="{lang}">' in page
    for mention in ("L111-7-2", "D111-17", "NF Z74-501", "7", "24", "60"):
        assert mention in page
    words = {
        "fr": ["commande réelle", "lien personnel", "Aucun avis n'est retenu, masqué, filtré ni classé",
               "Aucun avis n'est rémunéré", "7 jours au plus", "restent en ligne", "Motifs de refus",
               "Signaler un avis", "retirer son avis", "données personnelles"],
        "en": ["real order", "personal link", "No review is held back, hidden, filtered or ordered",
               "No review is paid for", "7 days at most", "stay online", "Reasons for refusal",
               "Reporting a review", "withdraw their review", "personal data"],
    }[lang]
    for phrase in words:
        assert phrase in page, phrase
    assert page.count('<li id="motif-') == len(REJECTION_REASONS)


def test_the_charter_follows_the_shops_settings(client, shop_with_markup_in_name: Shop) -> None:
    shop_with_markup_in_name.retention_months = 36
    shop_with_markup_in_name.review_link_days = 45
    db.session.commit()
    page = get(client, f"/avis/{shop_with_markup_in_name.slug}/charte")[1]
    assert "supprimées 36 mois après" in page
    assert "valable 45 jours" in page


def english_date(moment) -> str:
    local = moment.astimezone(ZoneInfo("Europe/Paris"))
    return f"{local.strftime('%b')} {local.day}, {local.year}"  # the medium date of every page


def test_the_experience_date_is_the_order_date_else_the_trigger_date(client, shop_with_markup_in_name: Shop) -> None:
    with_date = reviewed(shop_with_markup_in_name, "1", 4, "Bien.", at=minutes_ago(2))
    without = reviewed(shop_with_markup_in_name, "2", 4, "Bien aussi.", at=minutes_ago(1))
    placed = utcnow() - timedelta(days=40)
    db.session.get(Review, with_date.id).order.placed_at = placed
    db.session.commit()
    triggered = db.session.get(Review, without.id).review_request.triggered_at

    page = get(client, f"/avis/{shop_with_markup_in_name.slug}?lang=en")[1]

    assert f"Experience of {english_date(placed)}" in page
    assert f"Experience of {english_date(triggered)}" in page


@pytest.mark.parametrize("query", ["", "?rating=5", "?page=2"])
def test_a_view_counts_the_shops_reviews_once(client, shop: Shop, query: str) -> None:
    """The rating summary gives the page's total (all, or those of the rating asked for): no
    second count of the shop's reviews per view."""
    from sqlalchemy import event

    for n in range(3):
        reviewed(shop, f"c{n}", 5 if n else 2)
    seen: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        seen.append(statement.lower())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        status, page, _ = get(client, f"/avis/{shop.slug}{query}")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert status == (404 if query == "?page=2" else 200)
    assert len([s for s in seen if "count(" in s and "from reviews" in s]) == 1
