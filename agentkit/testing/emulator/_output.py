"""Structured output in the emulator: the request fields of both APIs, and answers that fill them.

Anthropic takes ``output_config.format = {"type": "json_schema", "schema": ...}``
(Claude 4.5 and later); OpenRouter takes OpenAI's ``response_format`` with
``type: "json_schema"``, refusing a ``strict`` schema that breaks strict mode's
rules, and dropping the field, as OpenRouter does, for a model without it
unless ``provider.require_parameters`` asks for a refusal (404).

:func:`output_request` tells which of agentkit's three output modes a request
uses; :func:`example_value` makes a value that fits a schema;
:func:`output_policy` answers every output request with one, the first
``invalid`` of them deliberately wrong, to test retries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentkit.providers._anthropic import claude_json_output
from agentkit.testing.emulator._common import ApiError
from agentkit.testing.emulator._model import (
    ModelPolicy,
    ModelReply,
    ModelRequest,
    ToolUse,
    demo_policy,
)

__all__ = [
    "OUTPUT_TOOL",
    "anthropic_output_schema",
    "answer_output",
    "example_value",
    "invalid_value",
    "openrouter_output_schema",
    "output_policy",
    "output_request",
]

#: The name agentkit gives its output tool (``"tool"`` mode).
OUTPUT_TOOL = "final_result"
_PROMPTED = re.compile(r"<output_schema>\s*(\{.*?\})\s*</output_schema>", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_schema(schema: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(schema, Mapping):
        raise ApiError(f"{path}: Input should be a valid dictionary")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ApiError(f"{path}: invalid JSON schema: {exc.message}") from None
    return schema


def anthropic_output_schema(body: Mapping[str, Any], model: str) -> Mapping[str, Any] | None:
    """The schema of ``output_config.format``, checked as the Messages API does."""
    if "output_format" in body:
        raise ApiError(
            "output_format: Extra inputs are not permitted (use output_config.format; "
            "output_format was the beta spelling)"
        )
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise ApiError("output_config: Input should be a valid dictionary")
    for key in config:
        if key not in ("effort", "format"):
            raise ApiError(f"output_config.{key}: Extra inputs are not permitted")
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise ApiError("output_config.format: Input should be a valid dictionary")
    if fmt.get("type") != "json_schema":
        raise ApiError("output_config.format.type: Input should be 'json_schema'")
    for key in fmt:
        if key not in ("type", "schema"):
            raise ApiError(f"output_config.format.{key}: Extra inputs are not permitted")
    if "schema" not in fmt:
        raise ApiError("output_config.format.schema: Field required")
    schema = _check_schema(fmt["schema"], "output_config.format.schema")
    if not claude_json_output(model):
        raise ApiError(f"'{model}' does not support output format (structured outputs).")
    return schema


def _strict_problem(schema: Any, context: tuple[str, ...]) -> str | None:
    """What breaks OpenAI's strict mode in ``schema``, in its words, or None."""
    if not isinstance(schema, Mapping):
        return None
    properties = schema.get("properties")
    where = f"In context={context!r}"
    if schema.get("type") == "object" or properties is not None:
        if schema.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        missing = [key for key in properties or {} if key not in schema.get("required", ())]
        if missing:
            return (
                f"{where}, 'required' is required to be supplied and to be an array "
                f"including every key in properties. Missing '{missing[0]}'."
            )
    children: list[tuple[tuple[str, ...], Any]] = [
        ((*context, "properties", key), value) for key, value in (properties or {}).items()
    ]
    if isinstance(schema.get("items"), Mapping):
        children.append(((*context, "items"), schema["items"]))
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        children.extend(((*context, key, str(i)), s) for i, s in enumerate(schema.get(key) or ()))
    for path, child in children:
        problem = _strict_problem(child, path)
        if problem is not None:
            return problem
    return None


def openrouter_output_schema(body: Mapping[str, Any], model: str) -> Mapping[str, Any] | None:
    """The schema of ``response_format``, checked as OpenRouter (and OpenAI) do.

    None when there is none, or when the model cannot take one and the request
    did not require it (OpenRouter then sends the request on without it).
    """
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise ApiError("response_format: must be an object")
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise ApiError(
            f"response_format.type: must be 'text', 'json_object' or 'json_schema', got {kind!r}"
        )
    if kind != "json_schema":
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, Mapping):
        raise ApiError("response_format.json_schema: required for type 'json_schema'")
    for key in spec:
        if key not in ("name", "schema", "strict", "description"):
            raise ApiError(f"response_format.json_schema.{key}: unknown parameter")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ApiError(
            "response_format.json_schema.name: required, 1-64 letters, digits, '_' or '-'"
        )
    strict = spec.get("strict", False)
    if not isinstance(strict, bool):
        raise ApiError("response_format.json_schema.strict: must be a boolean")
    schema = _check_schema(spec.get("schema"), "response_format.json_schema.schema")
    if strict:
        problem = _strict_problem(schema, ())
        if problem is not None:
            raise ApiError(f"Invalid schema for response_format '{name}': {problem}")
    if model.lower().startswith("anthropic/") and not claude_json_output(model):
        provider = body.get("provider")
        if isinstance(provider, Mapping) and provider.get("require_parameters") is True:
            raise ApiError(
                "No endpoints found that can handle the requested parameters.", status=404
            )
        return None  # OpenRouter drops what the upstream cannot do
    return schema


# --------------------------------------------------------------------------- answers


def output_request(
    request: ModelRequest,
) -> tuple[Literal["tool", "native", "prompted"], Mapping[str, Any]] | None:
    """Which agentkit output mode ``request`` uses, and the schema to fill; None for none."""
    if request.output_schema is not None:
        return "native", request.output_schema
    for tool in request.tools:
        if tool.name == OUTPUT_TOOL:
            return "tool", tool.parameters
    found = _PROMPTED.search(request.system)
    if found:
        try:
            schema = json.loads(found.group(1))
        except ValueError:
            return None
        if isinstance(schema, Mapping):
            return "prompted", schema
    return None


def example_value(schema: Any) -> Any:
    """A value that fits ``schema`` (the keywords agentkit's schemas use)."""
    if not isinstance(schema, Mapping):
        return None
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_value(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {key: example_value(value) for key, value in properties.items()}
    if kind == "array":
        prefix = schema.get("prefixItems")
        if prefix:
            return [example_value(item) for item in prefix]
        return [example_value(schema["items"])] if isinstance(schema.get("items"), Mapping) else []
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


def invalid_value(schema: Any) -> Any:
    """A value that does not fit ``schema``: an object without its first required key,
    else a wrong type."""
    if isinstance(schema, Mapping) and (schema.get("type") == "object" or "properties" in schema):
        value = example_value(schema)
        required = schema.get("required") or []
        if required:
            value.pop(required[0], None)
            return value
    return [["not", "the", "schema"]]


def answer_output(mode: str, schema: Mapping[str, Any]) -> ModelReply:
    """The answer giving a value that fits ``schema`` in ``mode``."""
    return _answer(mode, example_value(schema))


def _answer(mode: str, value: Any) -> ModelReply:
    if mode == "tool":
        return ModelReply(tool_calls=(ToolUse(OUTPUT_TOOL, value),))
    return ModelReply(text=json.dumps(value))


def output_policy(*, invalid: int = 0, fallback: ModelPolicy = demo_policy) -> ModelPolicy:
    """A policy giving the output every output request asks for, whatever its mode.

    The first ``invalid`` output answers do not fit the schema (a required key
    missing), so the run's retries can be tested; requests that ask for no
    output go to ``fallback``.
    """
    given = 0

    def policy(request: ModelRequest) -> ModelReply:
        nonlocal given
        asked = output_request(request)
        if asked is None:
            return fallback(request)
        mode, schema = asked
        given += 1
        value = invalid_value(schema) if given <= invalid else example_value(schema)
        return _answer(mode, value)

    return policy
