"""Request parsing: any JSON either parses or raises ApiError, never anything else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentkit.testing.emulator._anthropic_api as anthropic_api
import agentkit.testing.emulator._openrouter_api as openrouter_api
from agentkit.testing.emulator._common import ApiError, ParsedCall

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "type",
        "text",
        "cache_control",
        "content",
        "role",
        "name",
        "id",
        "input",
        "tool_use_id",
        "thinking",
        "function",
        "arguments",
        "tool_calls",
        "tool_call_id",
        "reasoning_details",
        "ttl",
        "data",
        "image_url",
        "parameters",
    ]
)
shaped = st.recursive(
    st.none()
    | st.text(max_size=4)
    | st.sampled_from(
        [
            "text",
            "user",
            "assistant",
            "tool",
            "system",
            "ephemeral",
            "1h",
            "tool_use",
            "tool_result",
            "thinking",
            "image_url",
            "function",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def check_layout(call: ParsedCall) -> None:
    """At most 4 breakpoints, inside the prompt, 1h ones before 5m ones."""
    assert len(call.breakpoints) <= 4
    assert all(0 <= bp.index < len(call.positions) for bp in call.breakpoints)
    ttls = [bp.ttl for bp in call.breakpoints]
    assert ttls == sorted(ttls, key=lambda t: t == "5m")
    assert all(p.tokens >= 0 for p in call.positions)


def error_of(parse: Callable[[Any], object], body: Any) -> ApiError | None:
    try:
        parse(body)
    except ApiError as exc:
        return exc
    return None


markers = st.none() | st.sampled_from(
    [
        {"type": "ephemeral"},
        {"type": "ephemeral", "ttl": "1h"},
        {"type": "ephemeral", "ttl": "5m"},
        {"type": "ephemeral", "ttl": "2h"},
        {"type": "other"},
        "x",
    ]
)


def with_marker(block: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(block, markers).map(
        lambda bm: bm[0] if bm[1] is None else bm[0] | {"cache_control": bm[1]}
    )


texts = st.sampled_from(["", "hi", "Paris 12"])
anthropic_blocks = with_marker(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, texts),
        st.just({"type": "image", "source": {"type": "base64", "data": "AA=="}}),
        st.builds(
            lambda i: {"type": "tool_use", "id": f"t{i}", "name": "f", "input": {"a": i}},
            st.integers(0, 2),
        ),
        st.builds(
            lambda i: {"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"},
            st.integers(0, 2),
        ),
        st.just({"type": "thinking", "thinking": "hm", "signature": "s"}),
        st.just({"type": "redacted_thinking", "data": "zz"}),
        shaped.filter(lambda v: isinstance(v, dict)),
    )
)
anthropic_messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": texts | st.lists(anthropic_blocks, min_size=1, max_size=4),
        }
    ),
    min_size=1,
    max_size=4,
)
anthropic_bodies = st.fixed_dictionaries(
    {
        "model": st.just("claude-3-5-haiku"),
        "max_tokens": st.integers(0, 10),
        "messages": anthropic_messages,
    },
    optional={
        "system": texts
        | st.lists(
            with_marker(st.builds(lambda t: {"type": "text", "text": t}, texts)), max_size=3
        ),
        "tools": st.lists(with_marker(st.just({"name": "f", "input_schema": {}})), max_size=2),
        "cache_control": markers,
        "stream": st.booleans(),
    },
)
openrouter_parts = with_marker(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, texts),
        st.just({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}),
    )
)
openrouter_messages = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["system", "user", "assistant"]),
                "content": texts | st.lists(openrouter_parts, min_size=1, max_size=3),
            }
        ),
        st.builds(
            lambda i: {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    }
                ],
            },
            st.integers(0, 2),
        ),
        st.builds(
            lambda i: {"role": "tool", "tool_call_id": f"c{i}", "content": "ok"}, st.integers(0, 2)
        ),
        shaped.filter(lambda v: isinstance(v, dict)),
    ),
    min_size=1,
    max_size=5,
)
openrouter_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"]),
        "messages": openrouter_messages,
    },
    optional={
        "tools": st.lists(
            with_marker(st.just({"type": "function", "function": {"name": "f", "parameters": {}}})),
            max_size=2,
        ),
        "cache_control": markers,
        "session_id": st.none() | texts,
        "provider": st.just({"order": ["anthropic"]}),
        "reasoning": st.just({"effort": "high"}),
    },
)


def bodies(model: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "model": st.just(model),
            "max_tokens": st.integers(0, 10),
            "messages": st.lists(shaped, min_size=1, max_size=3),
        },
        optional={
            "system": shaped,
            "tools": st.lists(shaped, max_size=2),
            "cache_control": shaped,
            "stream": st.booleans(),
            "reasoning": shaped,
            "provider": shaped,
            "session_id": shaped,
        },
    )


@settings(max_examples=80, deadline=None)
@given(body=anthropic_bodies | bodies("claude-3-5-haiku") | json_values)
def test_anthropic_parser_raises_only_api_errors(body: Any) -> None:
    error = error_of(anthropic_api.parse_request, body)
    assert error is None or (error.status == 400 and error.message)
    if error is None:
        check_layout(anthropic_api.parse_request(body))


@settings(max_examples=80, deadline=None)
@given(body=openrouter_bodies | bodies("anthropic/claude-3.5-haiku") | json_values)
def test_openrouter_parser_raises_only_api_errors(body: Any) -> None:
    error = error_of(openrouter_api.parse_request, body)
    assert error is None or (error.status == 400 and error.message)
    if error is None:
        check_layout(openrouter_api.parse_request(body))


def test_system_string_and_blocks_are_positions() -> None:
    call = anthropic_api.parse_request(
        {
            "model": "m",
            "max_tokens": 1,
            "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "tools": [{"name": "t", "input_schema": {}}],
            "messages": [{"role": "user", "content": "hello"}],
        }
    )
    assert len(call.positions) == 4
    assert call.request.system == "a\nb"
    with pytest.raises(ApiError, match="system: Input should be a valid string or list"):
        anthropic_api.parse_request(
            {
                "model": "m",
                "max_tokens": 1,
                "system": 3,
                "messages": [{"role": "user", "content": "x"}],
            }
        )
