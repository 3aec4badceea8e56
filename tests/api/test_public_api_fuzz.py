"""Hostile input on the public API: random slugs, query values and If-None-Match headers never
get a 5xx; each answer is either a document matching the OpenAPI schema, a 304, or a 400/404
problem, and always carries the public headers."""

from __future__ import annotations

from typing import Any

import pytest
from factories import make_shop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from publication_helpers import reviewed
from test_public_api_openapi import schema_of, validator

from kingavis.extensions import db

NUMBERS = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.sampled_from(["", " ", "0", "1", "100", "101", "5", "6", "1e3", "0x10", "١", "１", "+1",
                     " 2", "2 ", "1.0", "NaN", "inf", "-0", "9" * 40]),
    st.text(max_size=30),
)
VALUES = {
    "page": NUMBERS,
    "per_page": NUMBERS,
    "rating": NUMBERS,
    "sort": st.one_of(st.sampled_from(["recent", "rating_desc", "rating_asc", "RECENT", ""]),
                      st.text(max_size=30)),
    "lang": st.one_of(st.sampled_from(["fr", "en", "de", "", "en-GB"]), st.text(max_size=10)),
}
QUERIES = st.dictionaries(st.sampled_from([*VALUES, "other", "page[]", ""]),
                          st.text(max_size=20), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: VALUES.get(k, st.text(max_size=20)) for k in keys}))
SLUGS = st.one_of(st.just("boutique-zoe"), st.from_regex(r"[a-z0-9-]{1,90}", fullmatch=True),
                  st.text(min_size=1, max_size=100).filter(lambda s: "/" not in s))
IF_NONE_MATCH = st.one_of(st.none(), st.just("*"), st.text(max_size=60),
                          st.lists(st.from_regex(r'(W/)?"[ -~]{0,30}"', fullmatch=True),
                                   max_size=4).map(", ".join))
ENDPOINTS = {"summary": "/api/v1/shops/{slug}/summary",
             "reviews": "/api/v1/shops/{slug}/reviews",
             "badge.svg": "/api/v1/shops/{slug}/badge.svg"}


@pytest.fixture
def reviewed_shop(app: Any) -> str:
    shop = make_shop("Boutique Zoë")[0]
    for n, rating in enumerate([1, 5, 3]):
        reviewed(shop, f"10{n}", rating)
    slug = shop.slug
    db.session.commit()
    return slug


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(endpoint=st.sampled_from(list(ENDPOINTS)), slug=SLUGS, query=QUERIES,
       if_none_match=IF_NONE_MATCH)
def test_hostile_requests_never_get_a_5xx(client: Any, reviewed_shop: str, endpoint: str,
                                          slug: str, query: dict[str, str],
                                          if_none_match: str | None) -> None:
    headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
    try:
        response = client.get(f"/api/v1/shops/{slug}/{endpoint}", query_string=query,
                              headers=headers)
    except ValueError:
        return  # the test client itself refuses the header (e.g. a newline): never sent
    assert response.status_code in (200, 304, 400, 404), response.status_code
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in response.headers
    # An answer carries its ETag; an error never does, and is never stored (docs/hardening.md).
    if response.status_code in (200, 304):
        assert "ETag" in response.headers
    else:
        assert "ETag" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
    path = ENDPOINTS[endpoint]
    if response.status_code in (400, 404):
        validator(schema_of(path, str(response.status_code))).validate(response.get_json(force=True))
    elif response.status_code == 200 and endpoint != "badge.svg":
        validator(schema_of(path, "200")).validate(response.get_json())
