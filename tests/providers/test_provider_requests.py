"""Request bodies and headers, checked against recorded requests and the documented shapes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from provider_helpers import FIXTURES, SECRET, fixture_bytes, make_provider, sse_transport
from structlog.testing import capture_logs

from agentkit._json import canonical_json
from agentkit._messages import (
    AssistantMessage,
    CacheControl,
    Context,
    ImageContent,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from agentkit.providers._anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from agentkit.providers._base import ModelOptions, ReasoningOptions
from agentkit.providers._openai_compat import OpenAICompatibleProvider
from agentkit.providers._openrouter import OpenRouterProvider

WEATHER = ToolDefinition(
    "get_weather",
    "Get current weather for a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
CALL = ToolCall("toolu_01M8nJQQMxqpv1VaPYuJKT4j", "get_weather", {"city": "Paris"})
RESULT = ToolResultMessage(CALL.id, "get_weather", '{"temperature":22,"condition":"sunny"}')


def recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text())["body"])


def loop_context(system: str, call: ToolCall) -> Context:
    return Context(
        system=system,
        messages=(
            UserMessage("What is the weather in Paris?"),
            AssistantMessage((call,), StopReason.TOOL_USE),
            ToolResultMessage(call.id, "get_weather", '{"temperature":22,"condition":"sunny"}'),
        ),
        tools=(WEATHER,),
    )


def test_anthropic_body_matches_the_recorded_tool_loop() -> None:
    want = recorded("anthropic_messages_opus47_tool_loop.call2.request.json")
    provider = AnthropicProvider(api_key=SECRET)
    context = loop_context("Use the get_weather tool, then answer in one short sentence.", CALL)
    got = provider.build_body(context, ModelOptions("claude-opus-4-7", max_tokens=80))
    # agentkit always sends content as arrays; the recording used a string tool_result.
    tool_result = got["messages"][2]["content"][0]
    assert tool_result["content"] == [{"type": "text", "text": RESULT.text}]
    tool_result["content"] = RESULT.text
    assert got == want


def test_anthropic_body_matches_the_recorded_cache_write() -> None:
    want = recorded("anthropic_messages_cache_write_then_read.call1.request.json")
    system = TextContent(want["system"][0]["text"], CacheControl())
    context = Context(system=(system,), messages=(UserMessage("Say hi."),))
    options = ModelOptions("claude-haiku-4-5-20251001", max_tokens=16, temperature=0)
    got = AnthropicProvider(api_key=SECRET).build_body(context, options)
    assert got["system"][0].pop("cache_control") == {"type": "ephemeral", "ttl": "5m"}
    want["system"][0].pop("cache_control")
    assert got == want


def _as_strings(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our array-of-one-text-part content written the way the recording wrote it."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and len(content) == 1 and content[0]["type"] == "text":
            out.append({**message, "content": content[0]["text"]})
        else:
            out.append(message)
    return out


def test_openrouter_body_matches_the_recorded_tool_loop() -> None:
    want = recorded("openrouter_claude_opus47_bedrock_tool_loop.call2.request.json")
    call = ToolCall("toolu_bdrk_01AVRkzbigpMbNJ3zjnuQ6ZE", "get_weather", {"city": "Paris"})
    context = loop_context(want["messages"][0]["content"], call)
    options = ModelOptions("anthropic/claude-opus-4.7", max_tokens=80, temperature=0)
    got = OpenRouterProvider(api_key=SECRET).build_body(context, options)
    assert got["tools"] == want["tools"]
    assert _as_strings(got["messages"]) == want["messages"]
    assert got["messages"][0]["content"] == [
        {"type": "text", "text": want["messages"][0]["content"]}
    ]
    # OpenRouter always includes usage; the deprecated stream_options are not sent.
    del want["stream_options"]
    # agentkit adds a session id for sticky routing (the recording had none).
    assert got.pop("session_id").startswith("agentkit-")
    assert {k: v for k, v in got.items() if k not in ("messages",)} == {
        k: v for k, v in want.items() if k not in ("messages",)
    }


def test_openrouter_session_id_is_stable_across_a_conversation() -> None:
    provider = OpenRouterProvider(api_key=SECRET)
    options = ModelOptions("anthropic/claude-sonnet-4.5")
    first = Context(system="Be brief.", messages=(UserMessage("hi"),))
    marked = Context(
        system=(TextContent("Be brief.", CacheControl()),),
        messages=(UserMessage((TextContent("hi", CacheControl()),)),),
    )
    later = first.evolve(
        messages=(*first.messages, AssistantMessage((TextContent("yo"),)), UserMessage("more"))
    )
    ids = {provider.build_body(c, options)["session_id"] for c in (first, marked, later)}
    assert len(ids) == 1, "markers and new turns do not change the conversation's id"
    other = Context(system="Be brief.", messages=(UserMessage("a different chat"),))
    assert provider.build_body(other, options)["session_id"] not in ids
    assert (
        OpenRouterProvider(api_key=SECRET, session_id="mine").build_body(first, options)[
            "session_id"
        ]
        == "mine"
    )
    assert "session_id" not in OpenRouterProvider(api_key=SECRET, sticky=False).build_body(
        first, options
    )


def test_openrouter_cache_markers_only_on_text_parts() -> None:
    image = ImageContent("aGk=", "image/png", CacheControl("1h"))
    marked_call = ToolCall("c1", "get_weather", {"city": "Paris"}, cache_control=CacheControl())
    context = Context(
        system=(TextContent("sys", CacheControl()),),
        messages=(
            UserMessage((image, TextContent("what is this?"))),
            AssistantMessage((TextContent("Let me look."), marked_call), StopReason.TOOL_USE),
            ToolResultMessage("c1", "get_weather", (TextContent("sunny", CacheControl()),)),
            UserMessage((ImageContent("aGk=", "image/png", CacheControl()),)),
        ),
        tools=(ToolDefinition("t", "d", cache_control=CacheControl()),),
    )
    with capture_logs() as logs:
        body = OpenRouterProvider(api_key=SECRET).build_body(context, ModelOptions("m"))
    messages = body["messages"]
    assert messages[0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral", "ttl": "5m"}}
        ],
    }
    # The image's marker moved to the next text part of the same message.
    assert messages[1]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,aGk="},
    }
    assert messages[1]["content"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    # The tool call's marker moved back to the assistant's text part.
    assert messages[2]["content"] == [
        {
            "type": "text",
            "text": "Let me look.",
            "cache_control": {"type": "ephemeral", "ttl": "5m"},
        }
    ]
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert messages[3] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": [
            {"type": "text", "text": "sunny", "cache_control": {"type": "ephemeral", "ttl": "5m"}}
        ],
    }
    assert "cache_control" not in json.dumps(messages[4])
    assert "cache_control" not in json.dumps(body["tools"])
    events = [(log["event"], log.get("where")) for log in logs]
    assert ("cache.marker_moved", "messages[0]") in events
    assert ("cache.marker_moved", "messages[1]") in events
    assert ("cache.marker_dropped", "messages[3]") in events
    assert ("cache.marker_dropped", "tools[t]") in events


def test_openai_compatible_strips_every_marker() -> None:
    context = Context(
        system=(TextContent("sys", CacheControl()),),
        messages=(UserMessage((TextContent("hi", CacheControl()),)),),
        tools=(ToolDefinition("t", "d", cache_control=CacheControl()),),
    )
    body = OpenAICompatibleProvider("https://x").build_body(context, ModelOptions("m"))
    assert "cache_control" not in json.dumps(body)
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][1]["content"] == [{"type": "text", "text": "hi"}]


def test_reasoning_details_go_back_unchanged_on_tool_call_messages() -> None:
    details = [{"type": "reasoning.text", "text": "hm", "signature": "sig", "index": 0}]
    with_calls = AssistantMessage(
        (ThinkingContent("hm"), CALL),
        StopReason.TOOL_USE,
        provider_data={"reasoning_details": details},
    )
    without = AssistantMessage((TextContent("done"),), provider_data={"reasoning_details": details})
    context = Context(messages=(UserMessage("q"), with_calls, RESULT, without))
    messages = OpenRouterProvider(api_key=SECRET).build_body(context, ModelOptions("m"))["messages"]
    assert messages[1]["reasoning_details"] == details
    assert messages[1]["content"] is None
    assert "reasoning_details" not in messages[3]
    plain = OpenAICompatibleProvider("https://x").build_body(context, ModelOptions("m"))
    assert "reasoning_details" not in plain["messages"][1]


def test_failed_and_empty_assistant_messages_are_skipped() -> None:
    context = Context(
        messages=(
            UserMessage("q"),
            AssistantMessage((TextContent("partial"),), StopReason.ERROR),
            AssistantMessage((), StopReason.ABORTED),
            AssistantMessage((TextContent(""),), StopReason.ABORTED),
            UserMessage("again"),
        )
    )
    for provider in (OpenRouterProvider(api_key=SECRET), AnthropicProvider(api_key=SECRET)):
        messages = provider.build_body(context, ModelOptions("m"))["messages"]
        assert [m["role"] for m in messages] == ["user", "user"]


def test_tool_result_images_follow_in_a_user_message_for_chat_completions() -> None:
    result = ToolResultMessage("c1", "shot", (ImageContent("aGk=", "image/png"),))
    context = Context(messages=(UserMessage("q"), AssistantMessage((CALL,)), result))
    messages = OpenRouterProvider(api_key=SECRET).build_body(context, ModelOptions("m"))["messages"]
    assert messages[2]["role"] == "tool"
    assert messages[2]["content"] == [{"type": "text", "text": "(images follow)"}]
    assert messages[3]["role"] == "user"
    assert messages[3]["content"][1]["type"] == "image_url"


def test_anthropic_tool_results_thinking_and_markers() -> None:
    second = ToolCall("toolu_2", "get_weather", {"city": "Rome"})
    context = Context(
        system=(TextContent("a"), TextContent("b", CacheControl("1h"))),
        messages=(
            UserMessage((ImageContent("aGk=", "image/png", CacheControl()),)),
            AssistantMessage(
                (
                    ThinkingContent("think", "sig"),
                    ThinkingContent("from elsewhere"),
                    ThinkingContent("opaque", redacted=True),
                    CALL,
                    second,
                ),
                StopReason.TOOL_USE,
            ),
            ToolResultMessage(CALL.id, "get_weather", "sunny"),
            ToolResultMessage(
                second.id, "get_weather", (TextContent("rain", CacheControl()),), is_error=True
            ),
        ),
        tools=(ToolDefinition("t", "d", cache_control=CacheControl("1h")),),
    )
    body = AnthropicProvider(api_key=SECRET).build_body(context, ModelOptions("claude-x"))
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["system"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    user, assistant, results = body["messages"]
    assert user["content"][0]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "aGk=",
    }
    assert user["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    assert assistant["content"][:2] == [
        {"type": "thinking", "thinking": "think", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    assert [b["type"] for b in assistant["content"]] == [
        "thinking", "redacted_thinking", "tool_use", "tool_use",
    ]  # fmt: skip
    assert results["role"] == "user"
    assert results["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": CALL.id,
            "content": [{"type": "text", "text": "sunny"}],
        },
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": [{"type": "text", "text": "rain"}],
            "is_error": True,
            "cache_control": {"type": "ephemeral", "ttl": "5m"},
        },
    ]


@pytest.mark.parametrize(
    ("reasoning", "expected"),
    [
        (
            ReasoningOptions(budget_tokens=4000),
            {"thinking": {"type": "enabled", "budget_tokens": 4000}},
        ),
        (
            ReasoningOptions(effort="minimal"),
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
        ),
        (
            ReasoningOptions(effort="high"),
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
        ),
    ],
)
def test_anthropic_reasoning_options(reasoning: ReasoningOptions, expected: dict[str, Any]) -> None:
    body = AnthropicProvider(api_key=SECRET).build_body(
        Context(messages=(UserMessage("q"),)), ModelOptions("claude-x", reasoning=reasoning)
    )
    assert {k: body[k] for k in expected} == expected
    if reasoning.budget_tokens:
        assert body["max_tokens"] == DEFAULT_MAX_TOKENS + reasoning.budget_tokens


def test_openrouter_options_and_extra_last() -> None:
    provider = OpenRouterProvider(
        api_key=SECRET,
        provider_routing={"order": ["anthropic"], "allow_fallbacks": False},
        session_id="s1",
    )
    options = ModelOptions(
        "anthropic/claude-opus-4.7",
        reasoning=ReasoningOptions(effort="high"),
        stop=("END",),
        extra={"session_id": "override", "top_p": 0.5},
    )
    body = provider.build_body(Context(messages=(UserMessage("q"),)), options)
    assert body["provider"] == {"order": ["anthropic"], "allow_fallbacks": False}
    assert body["session_id"] == "override"
    assert body["top_p"] == 0.5
    assert body["reasoning"] == {"effort": "high"}
    assert body["stop"] == ["END"]
    assert "usage" not in body and "stream_options" not in body
    budget = ModelOptions("m", reasoning=ReasoningOptions(effort="low", budget_tokens=1000))
    assert provider.build_body(Context(), budget)["reasoning"] == {"max_tokens": 1000}


def test_session_id_length_is_checked() -> None:
    with pytest.raises(ValueError, match="at most 256"):
        OpenRouterProvider(api_key=SECRET, session_id="x" * 257)


def test_request_prefix_is_byte_identical_turn_to_turn() -> None:
    turn1 = loop_context("sys", CALL)
    args = {"b": 1, "a": {"z": [1, 2], "y": "é"}}
    turn2 = turn1.evolve(
        messages=(
            *turn1.messages,
            AssistantMessage((ToolCall("c2", "get_weather", args),), StopReason.TOOL_USE),
            ToolResultMessage("c2", "get_weather", "ok"),
        )
    )
    for provider in (OpenRouterProvider(api_key=SECRET), AnthropicProvider(api_key=SECRET)):
        first = provider.build_body(turn1, ModelOptions("m"))
        second = provider.build_body(turn2, ModelOptions("m"))
        encoded1 = [canonical_json(m) for m in first["messages"]]
        encoded2 = [canonical_json(m) for m in second["messages"]]
        assert encoded2[: len(encoded1)] == encoded1
        assert canonical_json(first["tools"]) == canonical_json(second["tools"])
        assert canonical_json(provider.build_body(turn2, ModelOptions("m"))) == canonical_json(
            second
        )


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["openrouter", "anthropic", "openai_compatible"])
async def test_headers_and_wire_body(kind: str) -> None:
    seen: list[httpx.Request] = []
    name = {
        "openrouter": "openrouter_gpt4omini_azure_text.sse",
        "anthropic": "anthropic_messages_streams_text.sse",
        "openai_compatible": "anthropic_openai_compat_endpoint_toolcall_index1.sse",
    }[kind]
    transport = sse_transport([fixture_bytes(name)], seen=seen)
    extra: dict[str, Any] = (
        {"app_url": "https://example.org", "app_name": "demo"} if kind == "openrouter" else {}
    )
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport) as client:
            provider = make_provider(kind, client, **extra)
            await provider.stream(loop_context("sys", CALL), ModelOptions("m")).result()
    (request,) = seen
    headers = request.headers
    assert "anthropic-beta" not in headers
    assert request.method == "POST"
    body = request.content
    assert json.loads(body)["stream"] is True
    assert body == canonical_json(json.loads(body)).encode()  # sorted, compact, deterministic
    if kind == "anthropic":
        assert request.url == "http://test/v1/messages"
        assert headers["x-api-key"] == SECRET
        assert headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in headers
    else:
        assert request.url.path.endswith("/chat/completions")
        assert headers["authorization"] == f"Bearer {SECRET}"
    if kind == "openrouter":
        assert headers["http-referer"] == "https://example.org"
        assert headers["x-title"] == "demo"


def test_openai_compatible_sends_no_authorization_without_a_key() -> None:
    provider = OpenAICompatibleProvider("http://localhost:8000/v1")
    assert "authorization" not in provider._headers()
