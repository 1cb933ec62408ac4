"""The emulator's structured-output fields: taken and refused as the services do."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentkit.testing.emulator._anthropic_api as anthropic_api
import agentkit.testing.emulator._openrouter_api as openrouter_api
from agentkit.testing.emulator import (
    Emulator,
    ModelReply,
    ModelRequest,
    ModelTool,
    Turn,
    output_policy,
)
from agentkit.testing.emulator._common import ApiError
from agentkit.testing.emulator._output import example_value, invalid_value, output_request

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "Ann is 3."}]


def anthropic_body(model: str = "claude-haiku-4-5", **fields: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 100, "messages": MESSAGES, **fields}


def openrouter_body(model: str = "openai/gpt-4o-mini", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, **fields}


def json_schema_format(schema: Any = SCHEMA, **extra: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, **extra}}


# --------------------------------------------------------------------------- Anthropic


def test_anthropic_output_config_format_reaches_the_model() -> None:
    config = {"effort": "low", "format": {"type": "json_schema", "schema": SCHEMA}}
    call = anthropic_api.parse_request(anthropic_body(output_config=config))
    assert call.request.output_schema == SCHEMA
    assert anthropic_api.parse_request(anthropic_body()).request.output_schema is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"output_config": "json"}, "output_config: Input should be a valid dictionary"),
        ({"output_config": {"format": {"type": "json"}}}, "format.type: Input should be"),
        ({"output_config": {"format": {"type": "json_schema"}}}, "format.schema: Field required"),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": [1]}}},
            "format.schema: Input should be a valid dictionary",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": 3}}}},
            "format.schema: invalid JSON schema",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA, "x": 1}}},
            "format.x: Extra inputs are not permitted",
        ),
        ({"output_config": {"formats": {}}}, "output_config.formats: Extra inputs"),
        ({"output_format": {"type": "json_schema", "schema": SCHEMA}}, "output_format: Extra"),
    ],
)
def test_anthropic_refuses_malformed_output_fields(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError, match=message) as caught:
        anthropic_api.parse_request(anthropic_body(**fields))
    assert caught.value.status == 400


def test_anthropic_refuses_an_output_format_for_a_model_before_4_5() -> None:
    config = {"format": {"type": "json_schema", "schema": SCHEMA}}
    with pytest.raises(ApiError, match="does not support output format"):
        anthropic_api.parse_request(
            anthropic_body("claude-3-5-haiku-20241022", output_config=config)
        )


# --------------------------------------------------------------------------- OpenRouter


def test_openrouter_response_format_reaches_the_model() -> None:
    body = openrouter_body(response_format=json_schema_format(strict=True))
    assert openrouter_api.parse_request(body).request.output_schema == SCHEMA
    for kind in ("text", "json_object"):
        plain = openrouter_body(response_format={"type": kind})
        assert openrouter_api.parse_request(plain).request.output_schema is None


@pytest.mark.parametrize(
    ("response_format", "message"),
    [
        ("json", "response_format: must be an object"),
        ({"type": "yaml"}, "response_format.type"),
        ({"type": "json_schema"}, "json_schema: required"),
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA}}, "json_schema.name"),
        (json_schema_format(schema="x"), "json_schema.schema: Input should be a valid dictionary"),
        (json_schema_format(strict="yes"), "strict: must be a boolean"),
        (json_schema_format(other=1), "json_schema.other: unknown parameter"),
        (
            json_schema_format({**SCHEMA, "required": ["name"]}, strict=True),
            "'required' is required to be supplied and to be an array including every key "
            "in properties. Missing 'age'",
        ),
        (
            json_schema_format({"type": "object", "properties": {}}, strict=True),
            "'additionalProperties' is required to be supplied and to be false",
        ),
    ],
)
def test_openrouter_refuses_malformed_response_formats(response_format: Any, message: str) -> None:
    with pytest.raises(ApiError, match=message):
        openrouter_api.parse_request(openrouter_body(response_format=response_format))


def test_a_loose_schema_is_fine_without_strict() -> None:
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = openrouter_body(response_format=json_schema_format(loose))
    assert openrouter_api.parse_request(body).request.output_schema == loose


def test_openrouter_drops_a_format_an_old_claude_cannot_take_unless_it_is_required() -> None:
    old = "anthropic/claude-3.5-haiku"
    dropped = openrouter_api.parse_request(
        openrouter_body(old, response_format=json_schema_format())
    )
    assert dropped.request.output_schema is None  # silently, as OpenRouter does
    required = openrouter_body(
        old, response_format=json_schema_format(), provider={"require_parameters": True}
    )
    with pytest.raises(ApiError, match="No endpoints found") as caught:
        openrouter_api.parse_request(required)
    assert caught.value.status == 404


formats = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-2, 2)
    | st.sampled_from(["json_schema", "x", "object"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "format",
                    "schema",
                    "json_schema",
                    "name",
                    "strict",
                    "properties",
                    "effort",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(formats, formats)
def test_any_output_field_parses_or_is_refused_as_an_api_error(
    output_config: Any, response_format: Any
) -> None:
    for parse, body in (
        (anthropic_api.parse_request, anthropic_body(output_config=output_config)),
        (openrouter_api.parse_request, openrouter_body(response_format=response_format)),
    ):
        with contextlib.suppress(ApiError):
            parse(body)


# --------------------------------------------------------------------------- the model's answers


def request(**fields: Any) -> ModelRequest:
    base: dict[str, Any] = {
        "api": "anthropic",
        "model": "claude-haiku-4-5",
        "system": "",
        "turns": (Turn("user", ()),),
        "tools": (),
        "max_tokens": 100,
        "thinking": False,
    }
    return ModelRequest(**{**base, **fields})


def test_output_request_tells_the_three_modes_apart() -> None:
    assert output_request(request(output_schema=SCHEMA)) == ("native", SCHEMA)
    tool = ModelTool("final_result", "", SCHEMA)
    assert output_request(request(tools=(tool,))) == ("tool", SCHEMA)
    prompted = request(system='Answer.\n<output_schema>\n{"type": "object"}\n</output_schema>')
    assert output_request(prompted) == ("prompted", {"type": "object"})
    assert output_request(request()) is None


def test_output_policy_is_wrong_first_then_right() -> None:
    policy = output_policy(invalid=1)
    tool = ModelTool("final_result", "", SCHEMA)
    first, second = policy(request(tools=(tool,))), policy(request(tools=(tool,)))
    assert first.tool_calls[0].arguments == {"age": 1}  # 'name' is missing
    assert second.tool_calls[0].arguments == {"name": "example", "age": 1}
    assert policy(request(output_schema=SCHEMA)).text == '{"name": "example", "age": 1}'
    assert policy(request()).text.startswith("You said")  # no output asked: the demo policy


def test_example_and_invalid_values_against_their_schema() -> None:
    from jsonschema import Draft202012Validator

    schemas = [
        SCHEMA,
        {"type": "object", "properties": {"r": {"type": "string", "enum": ["a", "b"]}}},
        {"type": "object", "properties": {"r": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}},
        {"type": "array", "items": {"type": "number"}},
        {"type": "array", "prefixItems": [{"type": "boolean"}, {"type": "string"}]},
    ]
    for schema in schemas:
        assert Draft202012Validator(schema).is_valid(example_value(schema)), schema
    assert not Draft202012Validator(SCHEMA).is_valid(invalid_value(SCHEMA))


def test_demo_policy_gives_output_in_every_mode(emu: Emulator) -> None:
    emu.reset()  # the demo policy
    config = {"format": {"type": "json_schema", "schema": SCHEMA}}
    with httpx.Client(base_url=emu.base_url) as client:
        reply = client.post(
            "/v1/messages",
            json=anthropic_body(output_config=config),
            headers={"x-api-key": "sk-test"},
        )
    assert reply.status_code == 200, reply.text
    (record,) = emu.requests
    assert record.reply == ModelReply(text='{"name": "example", "age": 1}')
