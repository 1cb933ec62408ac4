"""Fuzzing: arbitrary input gives a typed error or a valid value, never another exception.

Extends the existing properties (SSE decoder splits, JSON-shaped chunks,
message round trips) to arbitrary bytes through both chunk parsers, deeply
nested JSON, partial tool-call arguments, and ``from_dict`` of every type.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    AssistantMessage,
    CacheControl,
    Context,
    ImageContent,
    ProviderError,
    SerializationError,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UserMessage,
    message_from_dict,
)
from agentkit._events import ToolCallStart
from agentkit._messages import content_from_dict
from agentkit.providers._base import AssistantMessageBuilder, ModelOptions
from agentkit.providers._errors import error_from_response
from agentkit.providers._sse import SSEDecoder
from tests.reliability.helpers import FAST_RETRY, SECRET, make_provider
from tests.test_messages import contexts, definitions, json_values, messages, usages

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTEXT = Context("Be brief.", (UserMessage("Hi"),))
DEEP = 100_000  # nesting far past Python's recursion limit


def stream_through(api: str, body: bytes) -> None:
    """Serve ``body`` as a 200 event stream to a provider; only typed errors may escape."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async def go() -> None:
        with anyio.fail_after(10):
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
                provider = make_provider(api, "http://fuzz.invalid", client, retry=FAST_RETRY)
                outcome: AssistantMessage | ProviderError
                try:
                    outcome = await provider.stream(CONTEXT, ModelOptions("m")).result()
                except ProviderError as exc:
                    outcome = exc
                assert isinstance(outcome, AssistantMessage | ProviderError)
                assert SECRET not in str(outcome)

    anyio.run(go)


SSE_LINES = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.builds(lambda b: b"data: " + b, st.binary(max_size=60)),
        st.builds(lambda t: b"data: " + t.encode() + b"\n\n", st.text(max_size=60)),
        st.sampled_from([b"\n\n", b"data: [DONE]\n\n", b"event: error\n", b": ping\n\n"]),
    ),
    max_size=8,
)


@FUZZ
@given(api=st.sampled_from(["anthropic", "openrouter"]), parts=SSE_LINES)
def test_arbitrary_bytes_through_either_chunk_parser(api: str, parts: list[bytes]) -> None:
    stream_through(api, b"".join(parts))


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
@pytest.mark.parametrize("shape", ["[", '{"a":'])
def test_deeply_nested_json_in_a_stream_is_a_typed_error(api: str, shape: str) -> None:
    stream_through(api, b"data: " + (shape * DEEP).encode() + b"\n\n")


@pytest.mark.parametrize("shape", ["[", '{"a":'])
def test_deeply_nested_error_body_still_maps_to_its_status(shape: str) -> None:
    error = error_from_response(
        503, (shape * DEEP).encode(), provider="p", request_id=None, retry_after=None
    )
    assert error.status == 503
    assert error.retryable


def close_call(fragments: list[str]) -> ToolCall:
    builder = AssistantMessageBuilder(model="m", provider="p")
    builder.start()
    assert isinstance(builder.tool_call_start(0, "call_1", "f"), ToolCallStart)
    for fragment in fragments:
        builder.tool_call_arguments(0, fragment)
    (end,) = builder.close_blocks()
    assert isinstance(end.block, ToolCall)
    return end.block


def assert_valid_call(call: ToolCall) -> None:
    assert isinstance(call.arguments, dict)
    if call.arguments_error is not None:
        assert call.arguments == {}
        assert call.arguments_error.startswith("arguments ")


@FUZZ
@given(value=json_values.filter(lambda v: isinstance(v, dict)), data=st.data())
def test_partial_tool_arguments_give_a_call_or_a_named_error(value: Any, data: Any) -> None:
    raw = json.dumps(value)
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    pieces = data.draw(st.lists(st.integers(0, cut), max_size=4), label="splits")
    points = sorted({0, cut, *pieces})
    call = close_call([raw[a:b] for a, b in itertools.pairwise(points)])
    assert_valid_call(call)
    if cut == len(raw):
        assert call.arguments == value and call.arguments_error is None
    elif raw[:cut].strip():
        assert call.arguments_error is not None  # a strict prefix of an object is never valid


@FUZZ
@given(fragments=st.lists(st.text(max_size=20), max_size=6))
def test_arbitrary_tool_argument_text_gives_a_call_or_a_named_error(fragments: list[str]) -> None:
    assert_valid_call(close_call(fragments))


def test_deeply_nested_tool_arguments_give_a_named_error() -> None:
    call = close_call(["[" * DEEP])
    assert_valid_call(call)
    assert call.arguments_error is not None


FROM_DICT: dict[str, Callable[[Any], Any]] = {
    "Usage": Usage.from_dict,
    "Context": Context.from_dict,
    "ToolDefinition": ToolDefinition.from_dict,
    "CacheControl": CacheControl.from_dict,
    "TextContent": TextContent.from_dict,
    "ImageContent": ImageContent.from_dict,
    "ThinkingContent": ThinkingContent.from_dict,
    "ToolCall": ToolCall.from_dict,
    "UserMessage": UserMessage.from_dict,
    "AssistantMessage": AssistantMessage.from_dict,
    "ToolResultMessage": ToolResultMessage.from_dict,
    "message_from_dict": message_from_dict,
    "content_from_dict": content_from_dict,
}


def load(name: str, data: Any) -> None:
    """``from_dict`` either gives a value or raises :class:`SerializationError`."""
    try:
        value = FROM_DICT[name](data)
    except SerializationError as exc:
        problem = str(exc)
        assert problem, "a SerializationError names the problem"
    else:
        assert value.to_dict() is not None


def mutate(data: Any, draw: st.DataObject) -> Any:
    """``data`` with one nested value replaced, removed, or given an extra key."""
    if isinstance(data, dict) and data:
        key = draw.draw(st.sampled_from(sorted(data)), label="key")
        action = draw.draw(st.sampled_from(["replace", "delete", "recurse", "add"]))
        changed = dict(data)
        if action == "replace":
            changed[key] = draw.draw(json_values, label="new value")
        elif action == "delete":
            del changed[key]
        elif action == "add":
            changed[draw.draw(st.text(max_size=6))] = draw.draw(json_values)
        else:
            changed[key] = mutate(data[key], draw)
        return changed
    if isinstance(data, list) and data:
        index = draw.draw(st.integers(0, len(data) - 1), label="index")
        return [*data[:index], mutate(data[index], draw), *data[index + 1 :]]
    return draw.draw(json_values, label="new leaf")


VALID = st.one_of(
    st.tuples(st.just("Usage"), usages),
    st.tuples(st.just("Context"), contexts),
    st.tuples(st.just("ToolDefinition"), definitions),
    st.tuples(st.just("message_from_dict"), messages),
)


@FUZZ
@given(pair=VALID, data=st.data())
def test_from_dict_of_mutated_valid_data_is_a_value_or_a_serialization_error(
    pair: tuple[str, Any], data: st.DataObject
) -> None:
    name, value = pair
    encoded = json.loads(json.dumps(value.to_dict()))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        encoded = mutate(encoded, data)
    load(name, encoded)
    if name == "message_from_dict":
        load(type(value).__name__, encoded)


@FUZZ
@given(name=st.sampled_from(sorted(FROM_DICT)), data=json_values)
def test_from_dict_of_any_json_is_a_value_or_a_serialization_error(name: str, data: Any) -> None:
    load(name, data)


@FUZZ
@given(
    name=st.sampled_from(sorted(FROM_DICT)),
    data=st.dictionaries(
        st.sampled_from(
            ["type", "text", "data", "media_type", "cache_control", "ttl", "id", "name",
             "arguments", "content", "role", "stop_reason", "usage", "input", "output",
             "system", "messages", "tools", "parameters", "description", "thinking",
             "signature", "tool_call_id", "tool_name", "is_error", "cost", "redacted"]
        ),
        json_values,
        max_size=8,
    ),
)  # fmt: skip
def test_from_dict_of_plausible_keys_is_a_value_or_a_serialization_error(
    name: str, data: dict[str, Any]
) -> None:
    load(name, data)


def test_the_sse_decoder_bounds_one_event() -> None:
    decoder = SSEDecoder(max_event_size=1024)
    with pytest.raises(ProviderError):
        for _ in range(100):
            decoder.feed(b"data: " + b"x" * 100 + b"\n")
