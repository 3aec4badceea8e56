"""kingavis/api/openapi.json describes the public API as it really answers: its examples match
its schemas, its invalid examples are refused on the parameters it names, and real answers of
every endpoint (200, 304, 400, 404) match the document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import make_shop
from jsonschema import Draft202012Validator, FormatChecker
from processes import ROOT
from publication_helpers import minutes_ago, reviewed

from kingavis.extensions import db
from kingavis.models import utcnow

DOC_PATH = ROOT / "kingavis" / "api" / "openapi.json"
DOC: dict[str, Any] = json.loads(DOC_PATH.read_text(encoding="utf-8"))
PATHS = DOC["paths"]


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": DOC["components"]},
                                format_checker=FormatChecker())


def operation(path: str) -> dict[str, Any]:
    return PATHS[path]["get"]


def examples() -> list[tuple[str, str, str, dict[str, Any], Any]]:
    found = []
    for path, item in PATHS.items():
        for status, response in item["get"]["responses"].items():
            for content in response.get("content", {}).values():
                for name, example in content.get("examples", {}).items():
                    found.append((path, status, name, content["schema"], example["value"]))
    return found


def schema_of(path: str, status: str) -> dict[str, Any]:
    (content,) = operation(path)["responses"][status]["content"].values()
    return content["schema"]


def test_the_document_is_openapi_3_1_and_lists_every_endpoint_of_the_contract() -> None:
    assert DOC["openapi"].startswith("3.1.")
    assert set(PATHS) == {"/api/v1/shops/{slug}/summary", "/api/v1/shops/{slug}/reviews",
                          "/api/v1/shops/{slug}/badge.svg", "/widget.js", "/api/v1/openapi.json",
                          "/api/v1/shops/{slug}/products/{product_id}/summary",
                          "/api/v1/shops/{slug}/products/{product_id}/reviews",
                          "/api/v1/shops/{slug}/products/{product_id}/jsonld"}
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for path, item in PATHS.items():
        responses = item["get"]["responses"]
        assert {"200", "304"} <= set(responses), path
        assert "ETag" in responses["200"]["headers"]
    reviews = {p["name"]: p["schema"] for p in operation("/api/v1/shops/{slug}/reviews")["parameters"]}
    # Each parameter: its values, or an empty string for the default (issue 21).
    assert reviews["per_page"]["oneOf"][0]["maximum"] == 100
    assert reviews["sort"]["oneOf"][0]["enum"] == ["recent", "rating_desc", "rating_asc"]
    assert all({"type": "string", "const": ""} in reviews[name]["oneOf"]
               for name in ("page", "per_page", "sort", "rating"))
    assert {"page", "rating", "If-None-Match"} <= set(reviews)


@pytest.mark.parametrize("path, status, name, schema, value", examples(),
                         ids=[f"{e[0]} {e[1]} {e[2]}" for e in examples()])
def test_examples_match_their_schema(path, status, name, schema, value) -> None:
    validator(schema).validate(value)
    if status >= "400":
        assert value["status"] == int(status)


def test_the_served_document_is_the_file(client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.get_data() == DOC_PATH.read_bytes()


@pytest.mark.parametrize("name", operation("/api/v1/shops/{slug}/reviews")["x-invalid-examples"])
def test_invalid_examples_are_refused_on_the_parameters_they_name(client, app, name) -> None:
    example = operation("/api/v1/shops/{slug}/reviews")["x-invalid-examples"][name]
    shop = make_shop()[0]
    response = client.get(f"/api/v1/shops/{shop.slug}/reviews?{example['query']}")
    assert response.status_code == 400
    problem = response.get_json(force=True)
    validator(schema_of("/api/v1/shops/{slug}/reviews", "400")).validate(problem)
    assert sorted(problem["errors"]) == sorted(example["x-expected-errors"])


def test_real_answers_match_the_document(client, app) -> None:
    shop = make_shop("Boutique Zoë")[0]
    empty = make_shop("Boutique Neuve")[0]
    with_reply = reviewed(shop, "100", 5, "Parfait.", at=minutes_ago(3),
                          first_name="Zoë", last_name="Łukasiewicz")
    with_reply.reply_text = "Merci !"
    with_reply.reply_published_at = utcnow()
    db.session.commit()
    reviewed(shop, "101", 1, None, at=minutes_ago(2), first_name=None, last_name=None)
    slug, empty_slug = shop.slug, empty.slug

    def check(url: str, path: str, status: str) -> Any:
        response = client.get(url)
        assert response.status_code == int(status), url
        declared = operation(path)["responses"][status]
        for header in declared.get("headers", {}):
            if header != "Access-Control-Allow-Origin" or status != "304":
                assert header in response.headers, (url, header)
        if status == "304":
            return response
        (media_type,) = declared["content"]
        assert response.mimetype == media_type
        if "json" in media_type:
            validator(declared["content"][media_type]["schema"]).validate(response.get_json(force=True))
        return response

    summary = "/api/v1/shops/{slug}/summary"
    reviews = "/api/v1/shops/{slug}/reviews"
    badge = "/api/v1/shops/{slug}/badge.svg"
    for url in (f"/api/v1/shops/{slug}/summary", f"/api/v1/shops/{empty_slug}/summary"):
        check(url, summary, "200")
    for query in ("", "?per_page=1&page=2", "?sort=rating_asc", "?rating=1", "?page=40"):
        check(f"/api/v1/shops/{slug}/reviews{query}", reviews, "200")
    check(f"/api/v1/shops/{empty_slug}/reviews", reviews, "200")
    check(f"/api/v1/shops/{slug}/badge.svg?lang=en", badge, "200")
    check("/widget.js", "/widget.js", "200")
    for path in (summary, reviews, badge):
        check(path.replace("{slug}", "nobody"), path, "404")
    check(f"/api/v1/shops/{slug}/reviews?per_page=101", reviews, "400")
    check(f"/api/v1/shops/{slug}/badge.svg?lang=de", badge, "400")
    tag = client.get(f"/api/v1/shops/{slug}/reviews").headers["ETag"]
    not_modified = client.get(f"/api/v1/shops/{slug}/reviews", headers={"If-None-Match": tag})
    assert not_modified.status_code == 304
    for header in operation(reviews)["responses"]["304"]["headers"]:
        assert header in not_modified.headers


def test_a_nul_character_in_the_url_is_a_declared_400_on_every_endpoint(client, app) -> None:
    """A URL holding a NUL character (``%00``) is refused (by the review listings naming the
    parameter); every endpoint of the document declares that answer, with an example of it."""
    shop = make_shop("Boutique Zoë")[0]
    db.session.commit()
    for path in PATHS:
        url = path.replace("{slug}", shop.slug).replace("{product_id}", "sku-1")
        response = client.get(url + "?lang=%00")
        assert response.status_code == 400, url
        assert response.headers["Cache-Control"] == "no-store", url
        assert "ETag" not in response.headers, url
        declared = operation(path)["responses"]["400"]
        assert response.mimetype == "application/problem+json", url
        body = response.get_json(force=True)
        validator(declared["content"]["application/problem+json"]["schema"]).validate(body)
        examples = declared["content"]["application/problem+json"]["examples"].values()
        assert body["detail"] in {example["value"]["detail"] for example in examples}, url
