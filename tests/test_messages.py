"""Value types: lossless JSON round trips, typed errors for bad data, usage arithmetic."""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import (
    AssistantMessage,
    CacheControl,
    Context,
    ImageContent,
    SerializationError,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UserMessage,
    message_from_dict,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
markers = st.one_of(st.none(), st.builds(CacheControl, st.sampled_from(["5m", "1h"])))
texts = st.builds(TextContent, st.text(max_size=40), markers)
images = st.builds(
    ImageContent,
    st.text("abcXYZ019+/=", max_size=20),
    st.sampled_from(["image/png", "image/jpeg"]),
    markers,
)
thinking = st.builds(
    ThinkingContent, st.text(max_size=30), st.one_of(st.none(), st.text(max_size=10)), st.booleans()
)
tool_calls = st.builds(
    ToolCall,
    st.text(min_size=1, max_size=10),
    st.text(min_size=1, max_size=10),
    json_objects,
    st.one_of(st.none(), st.text(max_size=20)),
    markers,
)
counts = st.integers(0, 10**9)
usages = st.builds(
    Usage,
    counts,
    counts,
    counts,
    counts,
    counts,
    counts,
    st.one_of(st.none(), st.floats(0, 1000, allow_nan=False)),
    st.booleans(),
    st.booleans(),
)
user_messages = st.builds(UserMessage, st.lists(st.one_of(texts, images), max_size=4))


def _call_id_or_self(block: object) -> object:
    return block.id if isinstance(block, ToolCall) else ("block", id(block))


assistant_messages = st.builds(
    AssistantMessage,
    # Tool-call ids are distinct within a message (InvalidValueError otherwise).
    st.lists(st.one_of(texts, thinking, tool_calls), max_size=4, unique_by=_call_id_or_self),
    st.sampled_from(list(StopReason)),
    usages,
    st.text(max_size=10),
    st.text(max_size=10),
    st.one_of(st.none(), st.text(max_size=10)),
    st.one_of(st.none(), st.text(max_size=10)),
    st.one_of(st.none(), json_objects),
)
tool_results = st.builds(
    ToolResultMessage,
    st.text(max_size=10),
    st.text(max_size=10),
    st.lists(st.one_of(texts, images), max_size=3),
    st.booleans(),
)
messages = st.one_of(user_messages, assistant_messages, tool_results)
tool_names = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)
definitions = st.builds(ToolDefinition, tool_names, st.text(max_size=20), json_objects, markers)
contexts = st.builds(
    Context,
    st.lists(texts, max_size=3),
    st.lists(messages, max_size=5),
    st.lists(definitions, max_size=3),
)


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(data))
    return result


@given(messages)
def test_every_message_round_trips_through_json(message: Any) -> None:
    assert message_from_dict(through_json(message.to_dict())) == message


@given(contexts)
def test_a_context_round_trips_through_json(context: Context) -> None:
    assert Context.from_dict(through_json(context.to_dict())) == context


@given(usages)
def test_usage_round_trips_through_json(usage: Usage) -> None:
    assert Usage.from_dict(through_json(usage.to_dict())) == usage


@given(usages, usages, usages)
def test_usage_addition_is_associative_and_commutative_in_counts(
    a: Usage, b: Usage, c: Usage
) -> None:
    left, right = (a + b) + c, a + (b + c)
    counts_of = attrs.asdict
    assert {k: v for k, v in counts_of(left).items() if k != "cost"} == {
        k: v for k, v in counts_of(right).items() if k != "cost"
    }
    if left.cost is None or right.cost is None:
        assert left.cost is right.cost is None
    else:
        assert math.isclose(left.cost, right.cost, rel_tol=1e-9, abs_tol=1e-12)
    assert (a + b).total == a.total + b.total
    assert a + Usage() == a
    assert (a + b).input == (b + a).input


@given(usages, usages)
def test_an_unknown_cost_makes_the_sum_unknown_and_known_costs_add_exactly(
    a: Usage, b: Usage
) -> None:
    total = a + b
    if a.cost is None or b.cost is None:
        assert total.cost is None  # unknown + anything = unknown, never a smaller known sum
    else:
        assert total.cost == a.cost + b.cost
    assert total.partial == (a.partial or b.partial)
    assert total.cache_write_derived == (a.cache_write_derived or b.cache_write_derived)
    assert (b + a).cost == total.cost  # float addition commutes exactly


def test_the_empty_usage_is_zero_dollars_not_unknown() -> None:
    # The start of every sum: nothing spent is known to cost nothing.
    assert Usage().cost == 0.0
    assert (Usage() + Usage(input=5, cost=None)).cost is None
    assert (Usage(cost=None) + Usage(cost=0.5)).cost is None
    assert Usage(cost=None).to_dict()["cost"] is None
    assert Usage.from_dict({"cost": None}).cost is None
    assert Usage(partial=True).to_dict()["partial"] is True
    assert "partial" not in Usage().to_dict()


def test_usage_total_counts_every_billed_token() -> None:
    usage = Usage(input=9, output=5, cache_read=5752, cache_write=100)
    assert usage.prompt == 5861
    assert usage.total == 5866


def test_strings_become_text_blocks() -> None:
    assert UserMessage("hi").content == (TextContent("hi"),)
    assert Context(system="Be brief.").system == (TextContent("Be brief."),)
    assert Context(system="").system == ()
    assert ToolResultMessage("id", "t", "out").text == "out"


def test_assistant_helpers() -> None:
    call = ToolCall("c1", "add", {"a": 1})
    message = AssistantMessage((TextContent("a"), ThinkingContent("x"), call, TextContent("b")))
    assert message.text == "ab"
    assert message.tool_calls == (call,)


def test_cache_ttl_is_checked() -> None:
    with pytest.raises(ValueError, match="5m' or '1h"):
        CacheControl("2h")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("nope", "message: expected an object, got str"),
        ({}, "message: missing key 'role'"),
        ({"role": "robot"}, "message.role: expected one of"),
        ({"role": "user", "content": "hi"}, "user.content: expected list, got str"),
        (
            {"role": "user", "content": [{"type": "thinking", "thinking": "x"}]},
            "content.type: expected one of ['image', 'text'], got 'thinking'",
        ),
        (
            {"role": "user", "content": [{"type": "text", "text": 3}]},
            "text.text: expected str, got int",
        ),
        (
            {
                "role": "user",
                "content": [{"type": "text", "text": "x", "cache_control": {"type": "x"}}],
            },
            "cache_control.type: expected 'ephemeral'",
        ),
        (
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "x",
                        "cache_control": {"type": "ephemeral", "ttl": "2h"},
                    }
                ],
            },
            "cache_control.ttl",
        ),
        (
            {
                "role": "assistant",
                "content": [],
                "stop_reason": "done",
                "usage": {},
                "model": "",
                "provider": "",
            },
            "assistant.stop_reason: unknown value 'done'",
        ),
        (
            {
                "role": "assistant",
                "content": [],
                "stop_reason": "stop",
                "usage": {"input": -1},
                "model": "",
                "provider": "",
            },
            "usage.input: expected a non-negative integer",
        ),
        (
            {
                "role": "assistant",
                "content": [],
                "stop_reason": "stop",
                "usage": {"cost": True},
                "model": "",
                "provider": "",
            },
            "usage.cost: expected a finite number",
        ),
        (
            {
                "role": "tool_result",
                "tool_call_id": "a",
                "tool_name": "b",
                "content": [],
                "is_error": 1,
            },
            "tool_result.is_error: expected bool, got int",
        ),
        (
            {
                "role": "assistant",
                "content": [{"type": "tool_call", "id": "1", "name": "n", "arguments": []}],
                "stop_reason": "stop",
                "usage": {},
                "model": "",
                "provider": "",
            },
            "tool_call.arguments: expected dict, got list",
        ),
    ],
)
def test_bad_data_gets_a_typed_error_naming_the_problem(data: Any, problem: str) -> None:
    with pytest.raises(SerializationError) as caught:
        message_from_dict(data)
    assert problem in str(caught.value)


@given(
    st.recursive(
        json_scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(
                    [
                        "role",
                        "content",
                        "type",
                        "text",
                        "usage",
                        "stop_reason",
                        "model",
                        "provider",
                        "id",
                        "name",
                        "arguments",
                        "is_error",
                        "tool_call_id",
                        "tool_name",
                        "cache_control",
                        "ttl",
                    ]
                ),
                inner,
                max_size=6,
            ),
        ),
        max_leaves=12,
    )
)
def test_arbitrary_json_gives_a_message_or_a_serialization_error(data: Any) -> None:
    try:
        message = message_from_dict(data)
    except SerializationError:
        return
    assert message_from_dict(message.to_dict()) == message


@pytest.mark.parametrize(
    ("build", "error", "problem"),
    [
        (lambda: UserMessage(5), TypeError, "UserMessage.content must be a sequence of blocks"),
        (lambda: UserMessage(["hi"]), TypeError, "UserMessage.content[0] must be TextContent"),
        (lambda: AssistantMessage("hi"), TypeError, "AssistantMessage.content must be a sequence"),
        (
            lambda: ToolResultMessage("c", "t", [ThinkingContent("x")]),
            TypeError,
            "ToolResultMessage.content[0] must be TextContent or ImageContent, got ThinkingContent",
        ),
        (lambda: ToolDefinition("bad name!", "d"), ValueError, "tool name 'bad name!' must be"),
    ],
)
def test_constructors_name_the_problem(build: Any, error: type, problem: str) -> None:
    with pytest.raises(error) as caught:
        build()
    assert problem in str(caught.value)


def test_a_bad_tool_name_in_saved_data_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match=r"tool\.name: 'a b' is not a valid tool name"):
        ToolDefinition.from_dict({"name": "a b", "description": "", "parameters": {}})


def test_tool_calls_are_hashable_and_hash_agrees_with_equality() -> None:
    a = ToolCall("c1", "add", {"a": 1, "b": [1, {"x": 2.0}]})
    b = ToolCall("c1", "add", {"b": [1.0, {"x": 2}], "a": 1.0})
    c = ToolCall("c1", "add", {"a": 1, "b": [1, {"x": 3}]})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
