"""The public API of docs/publication.md as a shop's page sees it: summary, reviews, badge, widget.js.

Every parameter and error, the headers every answer carries (CORS, cache, ETag, nosniff), no
cookie ever, only published reviews with the author shown the public way, and ratings never
deciding what is shown.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from factories import make_shop
from flask.testing import FlaskClient
from publication_helpers import minutes_ago, reviewed

from kingavis.accounts.users import create_user
from kingavis.api.badge import _STARS, filled_width
from kingavis.extensions import db
from kingavis.models import Review, ReviewState, utcnow
from kingavis.reviews.publication import change_review_state

SVG_NS = "{http://www.w3.org/2000/svg}"


def api(client: FlaskClient, path: str, **headers: str) -> Any:
    return client.get(path, headers=headers)


def assert_public_headers(response: Any, max_age: int = 30) -> None:
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if response.status_code >= 400:  # an error is kept by no cache and has no ETag (issue 21)
        assert response.headers["Cache-Control"] == "no-store"
        assert "ETag" not in response.headers
    else:
        assert response.headers["Cache-Control"] == f"public, max-age={max_age}"
        assert re.fullmatch(r'"[^"]+"', response.headers["ETag"])
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


# --- summary -------------------------------------------------------------------------------


def test_summary_is_the_contract_document_over_published_reviews_only(client, shop) -> None:
    for n, rating in enumerate([5, 5, 4, 1, 3, 5]):
        reviewed(shop, f"10{n}", rating)
    gone = reviewed(shop, "200", 1)
    change_review_state(gone, ReviewState.WITHDRAWN, actor="customer")
    refused = reviewed(shop, "201", 5)
    change_review_state(refused, ReviewState.REJECTED, actor="operator", reason="spam")
    db.session.commit()
    reviewed(make_shop("Autre boutique")[0], "300", 2)

    response = api(client, f"/api/v1/shops/{shop.slug}/summary")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert_public_headers(response)
    assert response.get_json() == {
        "shop": {"name": "Boutique Zoë", "public_url": f"http://kingavis.test/avis/{shop.slug}"},
        "rating": {"average": 3.8, "count": 6,  # 23 / 6 = 3.83
                   "distribution": {"1": 1, "2": 0, "3": 1, "4": 1, "5": 3}},
    }


def test_summary_of_a_shop_without_reviews_has_a_null_average(client, shop) -> None:
    body = api(client, f"/api/v1/shops/{shop.slug}/summary").get_json()
    assert body["rating"] == {"average": None, "count": 0,
                              "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}


@pytest.mark.parametrize("path", ["summary", "reviews", "badge.svg", "reviews?per_page=500"])
@pytest.mark.parametrize("slug", ["inconnue", "UPPER", "a" * 81, "x%20y", "%C3%A9t%C3%A9", "..", "-"])
def test_an_unknown_slug_is_a_404_problem_with_the_public_headers(client, shop, slug, path) -> None:
    response = api(client, f"/api/v1/shops/{slug}/{path}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    problem = response.get_json(force=True)
    assert problem["status"] == 404 and problem["type"].endswith("/unknown-shop")
    assert_public_headers(response)


def test_any_other_path_under_the_api_is_a_404_problem(client) -> None:
    for path in ("/api/v1/shops", "/api/v1/shops/x/summary/extra", "/api/v2/anything"):
        response = api(client, path)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_writing_methods_are_refused_with_a_problem(client, shop) -> None:
    for method in ("post", "put", "delete", "patch"):
        response = getattr(client, method)(f"/api/v1/shops/{shop.slug}/summary")
        assert response.status_code == 405
        assert response.mimetype == "application/problem+json"


def test_head_answers_the_headers_of_get(client, shop) -> None:
    got = api(client, f"/api/v1/shops/{shop.slug}/summary")
    head = client.head(f"/api/v1/shops/{shop.slug}/summary")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert_public_headers(head)


def test_a_cors_preflight_is_allowed_from_any_origin(client, shop) -> None:
    response = client.options(
        f"/api/v1/shops/{shop.slug}/reviews",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "if-none-match"})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "if-none-match" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Set-Cookie" not in response.headers


# --- reviews -------------------------------------------------------------------------------


def test_reviews_show_the_contract_fields_the_author_the_public_way_and_no_email(client, shop) -> None:
    review = reviewed(shop, "100", 4, "Très bien emballé.", at=minutes_ago(5),
                      first_name="Zoë", last_name="Łukasiewicz", email="zoe.secret@example.com")
    review.reply_text = "Merci Zoë !"
    review.reply_published_at = utcnow()
    db.session.commit()

    response = api(client, f"/api/v1/shops/{shop.slug}/reviews")

    assert response.status_code == 200
    assert_public_headers(response)
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 1)
    (item,) = body["reviews"]
    assert item["id"] == str(review.id)
    assert (item["rating"], item["comment"], item["author"]) == (4, "Très bien emballé.", "Zoë Ł.")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", item["experience_date"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["published_at"])
    assert item["verified"] is True
    assert item["reply"]["text"] == "Merci Zoë !"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["reply"]["published_at"])
    text = response.get_data(as_text=True)
    assert "@" not in text and "Łukasiewicz" not in text and "secret" not in text


def test_a_review_without_names_has_a_null_author(client, shop) -> None:
    reviewed(shop, "100", 5, None, first_name=None, last_name=None)
    (item,) = api(client, f"/api/v1/shops/{shop.slug}/reviews").get_json()["reviews"]
    assert item["author"] is None and item["comment"] is None and item["reply"] is None


def test_reviews_are_paged_sorted_and_filtered_as_asked(client, shop) -> None:
    ratings = [1, 5, 3, 5, 2, 4, 1]
    for n, rating in enumerate(ratings):
        reviewed(shop, f"50{n}", rating, f"avis {n}", at=minutes_ago(60 - n))
    base = f"/api/v1/shops/{shop.slug}/reviews"

    def comments(query: str) -> list[str]:
        body = api(client, f"{base}?{query}").get_json()
        return [r["comment"] for r in body["reviews"]]

    assert comments("") == [f"avis {n}" for n in range(6, -1, -1)]
    assert comments("per_page=3") == ["avis 6", "avis 5", "avis 4"]
    assert comments("per_page=3&page=3") == ["avis 0"]
    assert comments("per_page=3&page=4") == []
    assert comments("sort=recent&per_page=2&page=2") == ["avis 4", "avis 3"]
    assert comments("rating=5") == ["avis 3", "avis 1"]
    assert comments("rating=1&sort=rating_asc") == ["avis 6", "avis 0"]
    body = api(client, f"{base}?sort=rating_desc").get_json()
    assert [r["rating"] for r in body["reviews"]] == [5, 5, 4, 3, 2, 1, 1]
    body = api(client, f"{base}?sort=rating_asc&per_page=100").get_json()
    assert [r["rating"] for r in body["reviews"]] == [1, 1, 2, 3, 4, 5, 5]
    assert (body["per_page"], body["total"]) == (100, 7)
    filtered = api(client, f"{base}?rating=5&per_page=1&page=2").get_json()
    assert (filtered["page"], filtered["per_page"], filtered["total"]) == (2, 1, 2)
    # Empty parameters take their default; unknown ones are ignored (cache busters…).
    assert comments("page=&per_page=&sort=&rating=&v=3") == comments("")


@pytest.mark.parametrize("query, bad", [
    ("per_page=101", {"per_page"}),
    ("per_page=0", {"per_page"}),
    ("per_page=-5", {"per_page"}),
    ("page=0", {"page"}),
    ("page=1.5", {"page"}),
    ("page=9999999", {"page"}),
    ("page=%EF%BC%91", {"page"}),  # a full-width digit one
    ("rating=0", {"rating"}),
    ("rating=6", {"rating"}),
    ("rating=five", {"rating"}),
    ("sort=best", {"sort"}),
    ("sort=RECENT", {"sort"}),
    ("page=x&per_page=1000&rating=9&sort=%00", {"page", "per_page", "rating", "sort"}),
])
def test_bad_parameters_are_a_400_problem_naming_each_one(client, shop, query, bad) -> None:
    reviewed(shop, "100", 5)
    response = api(client, f"/api/v1/shops/{shop.slug}/reviews?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert_public_headers(response)
    problem = response.get_json(force=True)
    assert problem["status"] == 400 and problem["type"].endswith("/invalid-parameters")
    assert set(problem["errors"]) == bad
    for messages in problem["errors"].values():
        assert messages and all(isinstance(m, str) and m for m in messages)


def test_only_published_reviews_are_listed(client, shop) -> None:
    shown = reviewed(shop, "100", 3)
    for order, state in (("101", ReviewState.WITHDRAWN), ("102", ReviewState.REJECTED)):
        change_review_state(reviewed(shop, order, 5), state, actor="operator")
    db.session.commit()
    body = api(client, f"/api/v1/shops/{shop.slug}/reviews").get_json()
    assert [r["id"] for r in body["reviews"]] == [str(shown.id)] and body["total"] == 1


# --- a rating never decides what is shown ------------------------------------------------------


def test_one_star_and_five_star_reviews_both_show_everywhere(client, shop) -> None:
    reviewed(shop, "100", 1, "Jamais reçu mon colis.", at=minutes_ago(10))
    reviewed(shop, "101", 5, "Parfait, merci.", at=minutes_ago(5))

    summary = api(client, f"/api/v1/shops/{shop.slug}/summary").get_json()["rating"]
    assert (summary["count"], summary["average"]) == (2, 3.0)
    assert summary["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1}
    listed = api(client, f"/api/v1/shops/{shop.slug}/reviews").get_json()
    assert [(r["rating"], r["comment"]) for r in listed["reviews"]] == [
        (5, "Parfait, merci."), (1, "Jamais reçu mon colis.")]
    for rating in (1, 5):
        only = api(client, f"/api/v1/shops/{shop.slug}/reviews?rating={rating}").get_json()
        assert [r["rating"] for r in only["reviews"]] == [rating]
    badge = api(client, f"/api/v1/shops/{shop.slug}/badge.svg").get_data(as_text=True)
    assert ">3,0<" in badge and "2 avis" in badge


# --- badge ---------------------------------------------------------------------------------


def svg_of(response: Any) -> ET.Element:
    return ET.fromstring(response.get_data())  # noqa: S314 - our own answer


def test_the_badge_shows_stars_the_average_and_the_count_in_french(client, shop) -> None:
    for n, rating in enumerate([5, 5, 4, 5, 4]):  # 4.6
        reviewed(shop, f"10{n}", rating)

    response = api(client, f"/api/v1/shops/{shop.slug}/badge.svg")

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert_public_headers(response)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    root = svg_of(response)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("role") == "img" and root.get("lang") == "fr"
    title = root.find(f"{SVG_NS}title")
    assert title.text == "Boutique Zoë\u00a0: note moyenne 4,6 sur 5, 5 avis vérifiés (King-Avis)"
    assert root.get("aria-labelledby") == title.get("id")
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    assert texts == ["4,6", "5 avis · King-Avis"]
    # Readable small: the average is the big figure, no text under 12 units.
    sizes = [int(t.get("font-size")) for t in root.iter(f"{SVG_NS}text")]
    assert sizes[0] >= 20 and min(sizes) >= 12
    # Grey row of five stars, gold row clipped to 4 whole stars and 60 % of the fifth.
    paths = list(root.iter(f"{SVG_NS}path"))
    assert [p.get("d") for p in paths] == [_STARS, _STARS]
    clip = root.find(f".//{SVG_NS}g/{SVG_NS}svg")
    assert float(clip.get("width")) == pytest.approx(4 * 19 + 0.6 * 16)
    assert clip.get("overflow") == "hidden"


def test_the_badge_in_english_and_the_shop_language_by_default(client, app) -> None:
    english = make_shop("London Shop", language="en")[0]
    reviewed(english, "1", 4)
    reviewed(english, "2", 5)
    default = svg_of(api(client, f"/api/v1/shops/{english.slug}/badge.svg"))
    assert default.get("lang") == "en"
    assert default.find(f"{SVG_NS}title").text == (
        "London Shop: average rating 4.5 out of 5, 2 verified reviews (King-Avis)")
    assert ["".join(t.itertext()) for t in default.iter(f"{SVG_NS}text")] == [
        "4.5", "2 reviews · King-Avis"]
    french = svg_of(api(client, f"/api/v1/shops/{english.slug}/badge.svg?lang=fr"))
    assert "".join(french.find(f"{SVG_NS}text").itertext()) == "4,5"


def test_the_badge_of_a_shop_without_reviews(client, shop) -> None:
    root = svg_of(api(client, f"/api/v1/shops/{shop.slug}/badge.svg?lang=en"))
    assert root.find(f"{SVG_NS}title").text == "Boutique Zoë: no verified reviews yet (King-Avis)"
    assert ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")] == [
        "–", "No reviews yet · King-Avis"]
    assert float(root.find(f".//{SVG_NS}g/{SVG_NS}svg").get("width")) == 0


def test_one_review_is_singular_and_big_counts_are_grouped(app) -> None:
    from kingavis.api.badge import badge_texts
    from kingavis.reviews.public import RatingSummary

    with app.test_request_context():
        one = RatingSummary(average=5.0, count=1, distribution={})
        assert badge_texts("B", one, "fr") == (
            "B\u00a0: note moyenne 5,0 sur 5, 1 avis vérifié (King-Avis)", "1 avis")
        assert badge_texts("B", one, "en")[1] == "1 review"
        many = RatingSummary(average=4.2, count=12345, distribution={})
        assert badge_texts("B", many, "en")[1] == "12,345 reviews"
        assert badge_texts("B", many, "fr")[1].replace("\u202f", " ") == "12 345 avis"


def test_the_shop_name_is_escaped_in_the_badge(client, app) -> None:
    hostile = make_shop('Zoë <script>alert(1)</script> & "Co" ]]>')[0]
    reviewed(hostile, "1", 5)
    response = api(client, f"/api/v1/shops/{hostile.slug}/badge.svg")
    text = response.get_data(as_text=True)
    assert "<script" not in text
    root = svg_of(response)  # well-formed XML
    assert root.find(f"{SVG_NS}title").text.startswith('Zoë <script>alert(1)</script> & "Co" ]]>')
    assert not list(root.iter(f"{SVG_NS}script"))


@pytest.mark.parametrize("lang", ["de", "FR", "en-GB", "<svg>", "fr,en"])
def test_an_unsupported_badge_language_is_a_400_problem(client, shop, lang) -> None:
    response = client.get(f"/api/v1/shops/{shop.slug}/badge.svg", query_string={"lang": lang})
    assert response.status_code == 400
    assert list(response.get_json(force=True)["errors"]) == ["lang"]
    assert_public_headers(response)


@pytest.mark.parametrize("average, width", [
    (None, 0), (1.0, 19), (3.5, 3 * 19 + 8), (4.6, 4 * 19 + 0.6 * 16), (5.0, 92)])
def test_stars_are_filled_to_the_average(average, width) -> None:
    assert filled_width(average) == pytest.approx(width)


# --- widget.js ------------------------------------------------------------------------------


def test_widget_js_is_small_cacheable_and_self_contained(client) -> None:
    response = api(client, "/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert_public_headers(response, max_age=300)
    source = response.get_data()
    assert len(gzip.compress(source, 9)) < 10 * 1024
    text = source.decode("utf-8")
    # No framework, no other site contacted, no cookies, no HTML parsing of data.
    assert not re.search(r"\b(import|require)\s*\(", text)
    assert re.findall(r"https?://[^\s\"')]+", text) == ["http://www.w3.org/2000/svg"]
    assert "document.cookie" not in text and "innerHTML" not in text
    assert "insertAdjacentHTML" not in text and "eval(" not in text
    assert 'credentials: "omit"' in text
    assert "document.currentScript" in text and "attachShadow" in text
    # The widget draws the same stars as the SVG badge.
    assert f'var STARS = "{_STARS}";' in text
    revalidated = api(client, "/widget.js", If_None_Match=response.headers["ETag"])
    assert revalidated.status_code == 304


# --- no cookies --------------------------------------------------------------------------------


def test_no_cookie_is_read_or_set_even_for_a_logged_in_merchant(client, shop) -> None:
    create_user("zoe@example.com", "correct horse battery", shop)
    login = client.post("/admin/login", data={"email": "zoe@example.com",
                                              "password": "correct horse battery"})
    assert login.status_code == 302 and "Set-Cookie" in login.headers
    client.set_cookie("remember_token", "1|forged", domain="localhost")
    reviewed(shop, "100", 5)
    paths = [f"/api/v1/shops/{shop.slug}/summary", f"/api/v1/shops/{shop.slug}/reviews",
             f"/api/v1/shops/{shop.slug}/badge.svg", "/widget.js", "/api/v1/openapi.json",
             f"/api/v1/shops/{shop.slug}/reviews?page=0", "/api/v1/shops/nope/summary",
             "/api/v1/nothing"]
    for path in paths:
        response = client.get(path, headers={"User-Agent": "another browser"})
        assert "Set-Cookie" not in response.headers, path
        assert "Cookie" not in response.headers.get("Vary", ""), path
    # The back-office session itself is untouched and still works.
    still = client.get("/admin/")
    assert still.status_code == 302 and "/login" not in still.headers["Location"]


def test_the_public_answers_do_not_depend_on_a_session(client, shop) -> None:
    reviewed(shop, "100", 5)
    anonymous = api(client, f"/api/v1/shops/{shop.slug}/summary")
    create_user("zoe@example.com", "correct horse battery", shop)
    client.post("/admin/login", data={"email": "zoe@example.com", "password": "correct horse battery"})
    logged_in = api(client, f"/api/v1/shops/{shop.slug}/summary")
    assert logged_in.get_data() == anonymous.get_data()
    assert logged_in.headers["ETag"] == anonymous.headers["ETag"]


def test_the_openapi_document_is_served_with_the_public_headers(client) -> None:
    response = api(client, "/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["openapi"].startswith("3.1")
    assert_public_headers(response, max_age=300)


def test_a_review_deleted_from_the_database_is_gone_after_a_cache_refresh(client, shop) -> None:
    review = reviewed(shop, "100", 5)
    assert api(client, f"/api/v1/shops/{shop.slug}/reviews").get_json()["total"] == 1
    db.session.delete(db.session.get(Review, review.id))
    db.session.commit()
    assert api(client, f"/api/v1/shops/{shop.slug}/reviews").get_json()["total"] == 0


@pytest.mark.parametrize("count, lang", [(0, "en"), (1, "fr"), (12345, "en"), (1234567, "fr")])
def test_the_badge_is_wide_enough_for_its_count_line(app, count, lang) -> None:
    from kingavis.api.badge import CHAR_WIDTH, STARS_X, badge_svg
    from kingavis.reviews.public import RatingSummary

    with app.test_request_context():
        root = ET.fromstring(badge_svg("B", RatingSummary(4.0 if count else None, count, {}), lang))  # noqa: S314
    line = "".join(list(root.iter(f"{SVG_NS}text"))[1].itertext())
    assert float(root.get("width")) >= STARS_X + len(line) * CHAR_WIDTH
    assert root.get("viewBox") == f"0 0 {root.get('width')} 48"
