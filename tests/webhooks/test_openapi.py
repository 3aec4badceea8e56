"""webhooks/openapi.json says what the endpoint does: its request examples load with the very
schema the endpoint uses, its invalid examples are refused on the paths it lists, its response
examples match their JSON Schemas, and real responses of the endpoint match them too."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import make_shop, new_webhook_id, post_event, sign, status_event
from jsonschema import Draft202012Validator, FormatChecker
from marshmallow import ValidationError
from processes import ROOT

from webhooks.schemas import OrderStatusEventSchema, flatten_errors, load_states

DOC_PATH = ROOT / "webhooks" / "openapi.json"
DOC: dict[str, Any] = json.loads(DOC_PATH.read_text(encoding="utf-8"))
OPERATION = DOC["paths"]["/webhooks/v1/{shop_key}/order-status"]["post"]
REQUEST = OPERATION["requestBody"]
REQUEST_EXAMPLES = REQUEST["content"]["application/json"]["examples"]
INVALID_EXAMPLES = REQUEST["x-invalid-examples"]


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema of the document, its $refs resolved against the document."""
    return Draft202012Validator({**schema, "components": DOC["components"]},
                                format_checker=FormatChecker())


def response_examples() -> list[tuple[str, str, dict[str, Any], Any]]:
    found = []
    for status, response in OPERATION["responses"].items():
        for media_type, content in response.get("content", {}).items():
            for name, example in content.get("examples", {}).items():
                found.append((f"{status} {name}", media_type, content["schema"], example["value"]))
    return found


def test_the_document_is_openapi_3_1_with_every_contract_response() -> None:
    assert DOC["openapi"].startswith("3.1.")
    assert set(OPERATION["responses"]) == {"200", "202", "400", "401", "404", "413", "415", "422", "429",
                                          "503"}
    headers = {p["name"] for p in OPERATION["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "Retry-After" in OPERATION["responses"]["429"]["headers"]
    assert "Idempotent-Replayed" in OPERATION["responses"]["200"]["headers"]
    for schema in DOC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", REQUEST_EXAMPLES)
def test_request_examples_load_with_the_endpoint_schema(name: str) -> None:
    value = REQUEST_EXAMPLES[name]["value"]
    loaded = OrderStatusEventSchema().load(copy.deepcopy(value))
    assert loaded["data"]["order"]["id"] == value["data"]["order"]["id"]
    assert loaded["data"]["changed_at"].tzinfo is not None
    validator(REQUEST["content"]["application/json"]["schema"]).validate(value)


@pytest.mark.parametrize("name", INVALID_EXAMPLES)
def test_invalid_request_examples_are_refused_on_the_listed_paths(name: str) -> None:
    example = INVALID_EXAMPLES[name]
    with pytest.raises(ValidationError) as caught:
        OrderStatusEventSchema().load(copy.deepcopy(example["value"]))
    assert sorted(flatten_errors(caught.value.messages)) == sorted(example["x-expected-errors"])
    assert not validator(REQUEST["content"]["application/json"]["schema"]).is_valid(example["value"])


@pytest.mark.parametrize("label, media_type, schema, value", response_examples(),
                         ids=[r[0] for r in response_examples()])
def test_response_examples_match_their_schema(label: str, media_type: str, schema: dict[str, Any],
                                              value: Any) -> None:
    validator(schema).validate(value)
    status = label.split()[0]
    if media_type == "application/problem+json":
        assert value["status"] == int(status)


def test_the_served_document_is_the_file(client: Any) -> None:
    response = client.get("/webhooks/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data() == DOC_PATH.read_bytes()


def _schema_of(status: str, media_type: str) -> dict[str, Any]:
    return OPERATION["responses"][status]["content"][media_type]["schema"]


def test_real_responses_match_the_document(client: Any) -> None:
    shop, secret = make_shop()
    body = copy.deepcopy(REQUEST_EXAMPLES["delivered"]["value"])
    body["data"]["changed_at"] = datetime.now(UTC).isoformat()
    accepted = post_event(client, shop, secret, body, webhook_id="msg_doc_1")
    assert accepted.status_code == 202
    validator(_schema_of("202", "application/json")).validate(accepted.get_json())

    replay = post_event(client, shop, secret, body, webhook_id="msg_doc_1")
    assert replay.status_code == 200
    validator(_schema_of("200", "application/json")).validate(replay.get_json())

    for name, example in INVALID_EXAMPLES.items():
        refused = post_event(client, shop, secret, example["value"])
        assert refused.status_code == 422, name
        problem = refused.get_json(force=True)
        validator(_schema_of("422", "application/problem+json")).validate(problem)
        assert sorted(problem["errors"]) == sorted(example["x-expected-errors"])

    unsigned = client.post(f"/webhooks/v1/{shop.key}/order-status", json=status_event())
    assert unsigned.status_code == 401
    validator(_schema_of("401", "application/problem+json")).validate(unsigned.get_json(force=True))


# --------------------------------------------------------------------------- order states and test events

STATES = DOC["paths"]["/webhooks/v1/{shop_key}/order-states"]["put"]
STATES_REQUEST = STATES["requestBody"]
STATES_EXAMPLES = STATES_REQUEST["content"]["application/json"]["examples"]
STATES_INVALID = STATES_REQUEST["x-invalid-examples"]


def test_the_order_states_operation_has_every_contract_response() -> None:
    assert set(STATES["responses"]) == {"200", "400", "401", "404", "413", "415", "422", "429",
                                        "503"}
    assert {p["name"] for p in STATES["parameters"] if p["in"] == "header"} == {
        "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "Idempotent-Replayed" in STATES["responses"]["200"]["headers"]


@pytest.mark.parametrize("name", STATES_EXAMPLES)
def test_order_states_examples_load_with_the_endpoint_schema(name: str) -> None:
    value = STATES_EXAMPLES[name]["value"]
    loaded = load_states(copy.deepcopy(value))
    assert [s["id"] for s in loaded["data"]["states"]] == [s["id"] for s in value["data"]["states"]]
    validator(STATES_REQUEST["content"]["application/json"]["schema"]).validate(value)


@pytest.mark.parametrize("name", STATES_INVALID)
def test_invalid_order_states_examples_are_refused_on_the_listed_paths(name: str) -> None:
    example = STATES_INVALID[name]
    with pytest.raises(ValidationError) as caught:
        load_states(copy.deepcopy(example["value"]))
    assert sorted(flatten_errors(caught.value.messages)) == sorted(example["x-expected-errors"])
    if not example.get("x-schema-cannot-tell"):
        assert not validator(STATES_REQUEST["content"]["application/json"]["schema"]).is_valid(
            example["value"])


def states_response_examples() -> list[tuple[str, str, dict[str, Any], Any]]:
    return [(f"{status} {name}", media_type, content["schema"], example["value"])
            for status, response in STATES["responses"].items()
            for media_type, content in response.get("content", {}).items()
            for name, example in content.get("examples", {}).items()]


@pytest.mark.parametrize("label, media_type, schema, value", states_response_examples(),
                         ids=[r[0] for r in states_response_examples()])
def test_order_states_response_examples_match_their_schema(label: str, media_type: str,
                                                          schema: dict[str, Any], value: Any) -> None:
    validator(schema).validate(value)
    if media_type == "application/problem+json":
        assert value["status"] == int(label.split()[0])


def test_real_order_states_and_test_answers_match_the_document(client: Any) -> None:
    shop, secret = make_shop()

    def put(payload: dict[str, Any], webhook_id: str | None = None) -> Any:
        raw = json.dumps(payload).encode()
        return client.put(f"/webhooks/v1/{shop.key}/order-states", data=raw,
                          headers=sign(secret, raw, webhook_id or new_webhook_id()))

    schema = STATES["responses"]["200"]["content"]["application/json"]["schema"]
    for name in STATES_EXAMPLES:
        answer = put(STATES_EXAMPLES[name]["value"])
        assert answer.status_code == 200, name
        validator(schema).validate(answer.get_json())
    for name, example in STATES_INVALID.items():
        refused = put(example["value"])
        assert refused.status_code == 422, name
        problem = refused.get_json(force=True)
        validator(STATES["responses"]["422"]["content"]["application/problem+json"]["schema"]).validate(problem)
        assert sorted(problem["errors"]) == sorted(example["x-expected-errors"])

    test = post_event(client, shop, secret, REQUEST_EXAMPLES["test"]["value"])
    assert test.status_code == 200 and test.get_json()["outcome"] == "test"
    validator(_schema_of("200", "application/json")).validate(test.get_json())
