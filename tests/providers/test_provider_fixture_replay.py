"""Replay every recorded stream in the shared fixtures through its provider.

Expectations were checked by hand against the fixture files: usage numbers
against the ``usage`` objects in the streams, costs against list prices
(e.g. Opus 4.7: 798 x $5/M + 66 x $25/M = $0.00564).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_helpers import (
    FIXTURES,
    fixture_bytes,
    provider_kind,
    run_stream,
    split,
    summary,
)

from agentkit._events import BlockEnd, StreamStart, TextDelta, ThinkingDelta
from agentkit._messages import TextContent, ThinkingContent, ToolCall
from agentkit.providers._errors import MidStreamError, ResponseFormatError

# name -> (texts, tool calls (id, name, arguments), thinking, stop, usage, cost, model, id)
# usage is (input, output, cache_read, cache_write, cache_write_1h, reasoning).
Expect = tuple[
    list[str],
    list[tuple[str, str, dict[str, Any]]],
    list[str],
    str,
    tuple[int, int, int, int, int, int],
    float,
    str,
    str,
]

EXPECTED: dict[str, Expect] = {
    "anthropic_docs_example_basic_text.sse": (
        ["Hello!"], [], [], "stop", (25, 15, 0, 0, 0, 0), 25 * 3e-6 + 15 * 15e-6,
        "claude-sonnet-4-5-20250929", "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
    ),
    "anthropic_docs_example_extended_thinking.sse": (
        ["27 * 453 = 12,231"], [],
        ["Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3"
         "\n3. 27 * 400 = 10,800\n4. 27 * 50 = 1,350\n5. 27 * 3 = 81"
         "\n6. 10,800 + 1,350 + 81 = 12,231"],
        "stop", (0, 0, 0, 0, 0, 0), 0.0, "claude-sonnet-4-5-20250929", "msg_01...",
    ),
    "anthropic_docs_example_tool_use.sse": (
        ["Okay, let's check the weather for San Francisco, CA:"],
        [("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather",
          {"location": "San Francisco, CA", "unit": "fahrenheit"})],
        [], "tool_use", (472, 89, 0, 0, 0, 0), 472 * 3e-6 + 89 * 15e-6,
        "claude-sonnet-4-5-20250929", "msg_014p7gG3wDgGV9EUtLvnow3U",
    ),
    "anthropic_messages_basic_text.sse": (
        ["Hello there!"], [], [], "stop", (11, 6, 0, 0, 0, 0), None,
        "claude-3-opus-latest", "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK",
    ),
    "anthropic_messages_cache_write_then_read.call1.sse": (
        ["Hi."], [], [], "stop", (9, 5, 0, 5752, 0, 0), (9 + 5752 * 1.25 + 5 * 5) * 1e-6,
        "claude-haiku-4-5-20251001", "msg_01NSbhSJdF1R6Uz81RRKxd55",
    ),
    "anthropic_messages_cache_write_then_read.call2.sse": (
        ["Hi."], [], [], "stop", (9, 5, 5752, 0, 0, 0), (9 + 575.2 + 25) * 1e-6,
        "claude-haiku-4-5-20251001", "msg_01W9dNB2vnT7HoPQmDfKyniu",
    ),
    "anthropic_messages_delta_updates_input_tokens.jsonl": (
        ["pong"], [], [], "stop", (61, 2, 0, 0, 0, 0), 61 * 5e-6 + 2 * 25e-6,
        "claude-opus-4-5-20251101", "msg_3196a1cc08de4d76b85b8f5777c0d42b",
    ),
    "anthropic_messages_opus47_image_tool_result.sse": (
        ["jiggling restroom prison"], [], [], "stop", (1005, 13, 0, 0, 0, 0),
        1005 * 5e-6 + 13 * 25e-6, "claude-opus-4-7", "msg_017z3Dpfd8nim5vfCmcAQMFS",
    ),
    "anthropic_messages_opus47_tool_loop.call1.sse": (
        [], [("toolu_01M8nJQQMxqpv1VaPYuJKT4j", "get_weather", {"city": "Paris"})], [],
        "tool_use", (798, 66, 0, 0, 0, 0), 0.00564, "claude-opus-4-7",
        "msg_01DgAEgLgB1ZhavZon4qGE1t",
    ),
    "anthropic_messages_opus47_tool_loop.call2.sse": (
        ["Paris is currently sunny at 22°C."], [], [], "stop", (895, 19, 0, 0, 0, 0),
        895 * 5e-6 + 19 * 25e-6, "claude-opus-4-7", "msg_011KJqj32QjkrUAiBFxhmEoG",
    ),
    "anthropic_messages_patched_tool_order.sse": (
        ["The weather in Paris is currently 72°F."], [], [], "stop", (638, 14, 0, 0, 0, 0),
        638e-6 + 14 * 5e-6, "claude-haiku-4-5-20251001", "msg_01SikJVFaMR1XLMtavUhvuog",
    ),
    "anthropic_messages_prompt_cache_write_and_read_server_tools.jsonl": (
        ["The sum of the squares of the numbers 1 through 12 is **650**."], [], [], "stop",
        (6, 198, 6289, 3337, 0, 0), None, "claude-sonnet-5", "msg_011CdYfpjpVtBoXyXCQD1tQP",
    ),
    "anthropic_messages_streams_text.sse": (
        ["Hello!"], [], [], "stop", (18, 5, 0, 0, 0, 0), 18e-6 + 25e-6,
        "claude-haiku-4-5-20251001", "msg_01UodR8c3ezAK8rAfi8HAs8g",
    ),
    "anthropic_messages_streams_tool_call_forced.sse": (
        [], [("toolu_012rmAruviySvUXSjgCPWVRu", "get_weather", {"city": "Paris"})], [],
        "tool_use", (677, 33, 0, 0, 0, 0), 677e-6 + 33 * 5e-6, "claude-haiku-4-5-20251001",
        "msg_01RYgU7NUPMK4B9v8S7gVpCS",
    ),
    "anthropic_messages_text_usage_cache_fields.jsonl": (
        ["Hello! I'm doing well, thank you for asking. How are you doing today? "
         "Is there anything I can help you with?"], [], [], "stop", (12, 30, 0, 0, 0, 0),
        12 * 3e-6 + 30 * 15e-6, "claude-sonnet-4-5-20250929", "msg_01QC4g3HwBThD4BaNtBckFDJ",
    ),
    "anthropic_messages_thinking_signature.jsonl": (
        ["925 ÷ 5 = 185"], [],
        ["The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185"],
        "stop", (69, 53, 0, 0, 0, 0), 69 * 3e-6 + 53 * 15e-6, "claude-sonnet-4-5-20250929",
        "msg_01Y6V41gqPaKWEw7iPouH7iW",
    ),
    "anthropic_messages_tool_use.sse": (
        ["I'll check the current weather in Paris for you."],
        [("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})], [],
        "tool_use", (377, 65, 0, 0, 0, 0), 377 * 3e-6 + 65 * 15e-6, "claude-sonnet-4-20250514",
        "msg_019Q1hrJbZG26Fb9BQhrkHEr",
    ),
    "anthropic_messages_tool_use_no_args_multiple_pings.jsonl": (
        ["I'll update the issue list for you."],
        [("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", {})], [],
        "tool_use", (565, 48, 0, 0, 0, 0), 565 * 3e-6 + 48 * 15e-6,
        "claude-sonnet-4-5-20250929", "msg_01GE2RKp1VYsPzdFs3sS9z5S",
    ),
    "anthropic_openai_compat_endpoint_toolcall_index1.sse": (
        ["Reading it."], [("toolu_sanitized", "read_file", {"path": "a.txt"})], [],
        "tool_use", (0, 0, 0, 0, 0, 0), 0.0, "claude-haiku-4-5-20251001", "msg_sanitized",
    ),
    "openai_compat_databricks_claude_parallel_toolcalls_goose.sse": (
        ["I'll run both `ls` commands in a single turn for you - one on the current directory "
         "and one on the `working_dir`."],
        [("toolu_bdrk_01RMTd7R9DzQjEEWgDwzcBsU", "developer__shell", {"command": "ls"}),
         ("toolu_bdrk_016bgVTGZdpjP8ehjMWp9cWW", "developer__shell",
          {"command": "ls working_dir"})],
        # No cost reported: list prices of Sonnet 4, 4982 x $3/M + 122 x $15/M.
        [], "tool_use", (4982, 122, 0, 0, 0, 0), 0.016776,
        "us.anthropic.claude-sonnet-4-20250514-v1:0", "msg_bdrk_014pifLTHsNZz6Lmtw1ywgDJ",
    ),
    "openrouter_claude_opus47_bedrock_tool_loop.call1.sse": (
        [], [("toolu_bdrk_01AVRkzbigpMbNJ3zjnuQ6ZE", "get_weather", {"city": "Paris"})], [],
        "tool_use", (802, 66, 0, 0, 0, 0), 0.00566, "anthropic/claude-4.7-opus-20260416",
        "gen-1778031311-S3NlfYGRwAnOoPoNrThK",
    ),
    "openrouter_claude_opus47_bedrock_tool_loop.call2.sse": (
        ["It's sunny and 22°C in Paris."], [], [], "stop", (899, 19, 0, 0, 0, 0), 0.00497,
        "anthropic/claude-4.7-opus-20260416", "gen-1778031313-XM4XZGmFyt6jg3GZ772w",
    ),
    "openrouter_gpt4omini_azure_text.sse": (
        ["Hello!"], [], [], "stop", (21, 3, 0, 0, 0, 0), 4.95e-06, "openai/gpt-4o-mini",
        "gen-1778031306-UD7bR0I1JNCsPvVzlXat",
    ),
    "openrouter_gpt4omini_tool_loop.call1.sse": (
        [], [("call_S63bjYITINemSHZ4Uqns7PIu", "get_weather", {"city": "Paris"})], [],
        "tool_use", (66, 14, 0, 0, 0, 0), 1.83e-05, "openai/gpt-4o-mini",
        "gen-1778031307-FcHCDYW9unDVyRRL841T",
    ),
    "openrouter_gpt4omini_tool_loop.call2.sse": (
        ["The weather in Paris is sunny with a temperature of 22°C."], [], [], "stop",
        (98, 15, 0, 0, 0, 0), 2.37e-05, "openai/gpt-4o-mini", "gen-1778031308-uNHYY6MdDXOs0BYMXXVb",
    ),
    "openrouter_gpt4omini_toolcall_forced.sse": (
        [], [("call_L7mHMq49ZSUTBHjLJfBIP2eT", "get_weather", {"city": "Paris"})], [],
        "tool_use", (67, 5, 0, 0, 0, 0), 1.305e-05, "openai/gpt-4o-mini",
        "gen-1778031306-HYzOq04JIk1hZQ4iaNjD",
    ),
    "openrouter_gpt55_tool_loop.call1.sse": (
        [], [("call_4A7V7UN36HXCUUn8qAOQaKGw", "get_weather", {"city": "Paris"})], [],
        "tool_use", (69, 18, 0, 0, 0, 0), 0.000885, "openai/gpt-5.5-20260423",
        "gen-1778031308-dVa9axcHcOlG9GcilZkz",
    ),
    "openrouter_gpt55_tool_loop.call2.sse": (
        ["Paris is sunny and 22°C."], [], [], "stop", (108, 12, 0, 0, 0, 0), 0.0009,
        "openai/gpt-5.5-20260423", "gen-1778031310-JUYfFzDbun699uUYoA4N",
    ),
    "openrouter_gptoss_text_usage_chunk_goose.sse": (
        ["There are **47** files."], [], [], "stop", (7007, 49, 0, 0, 0, 0), None,
        "openai/gpt-oss-120b:free", "gen-1768896871-9HgAQqS1Z72C6gApaidi",
    ),
    # prompt 307 with 306 cached; xAI counts 227 reasoning tokens outside completion's 26
    # (total 560 = 307 + 26 + 227), so output is 253 with 227 of it reasoning.
    "xai_chat_completion_chunks_toolcall_cached_tokens.jsonl": (
        [], [("call_79382389", "weather", {"location": "San Francisco"})], ["<any>"],
        "tool_use", (1, 253, 306, 0, 0, 227), None, "grok-3-mini",
        "7027d986-3c59-a37a-9a5f-50713e01c8a6",
    ),
    "anthropic_messages_tool_use_truncated_max_tokens.sse": (
        ["I'll create a comprehensive tax guide for someone with multiple W2s and save it in a "
         "file called taxes.txt. Let me do that for you now."],
        [("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file", {})], [], "length",
        (450, 124, 0, 0, 0, 0), 450 * 3e-6 + 124 * 15e-6, "claude-3-7-sonnet-20250219",
        "msg_01UdjYBBipA9omjYhicnevgq",
    ),
    # Constructed in LiteLLM's proxy format (see its .source.txt): the signature arrives
    # alone in a thinking_blocks entry; reasoning_tokens (24) lie inside completion's 71.
    "openai_compat_litellm_proxy_thinking_blocks.sse": (
        ["Let me check."], [("toolu_01LiteLLMProxyCall0001", "get_weather", {"city": "Oslo"})],
        ["The user asks for Oslo's weather; I should call get_weather."],
        "tool_use", (412, 71, 0, 0, 0, 24), None, "claude-thinking",
        "chatcmpl-5f0c2e7a-litellm-proxy",
    ),
}  # fmt: skip

FAILING: dict[str, tuple[type[Exception], str]] = {
    "openai_compat_litellm_proxy_midstream_error_string_code.sse": (
        MidStreamError,
        "OpenAIException - Connection error.",
    ),
    "anthropic_litellm_proxy_midstream_error_string_code.sse": (
        MidStreamError,
        "AnthropicException - Overloaded.",
    ),
    "anthropic_docs_example_midstream_overloaded_error.sse": (MidStreamError, "Overloaded"),
    "openrouter_docs_example_midstream_error_streaming_page.sse": (
        MidStreamError,
        "Provider disconnected unexpectedly",
    ),
    "openrouter_docs_example_midstream_error_typed.sse": (MidStreamError, "Rate limit exceeded"),
    # The docs elide part of a JSON object with "...": not JSON, so a typed error.
    "anthropic_docs_example_web_search_server_tool.sse": (ResponseFormatError, "not JSON"),
}


def test_every_stream_fixture_is_covered() -> None:
    names = {p.name for p in FIXTURES.iterdir() if p.suffix in (".sse", ".jsonl")}
    assert names == set(EXPECTED) | set(FAILING)


def _check(name: str, message: Any, events: list[Any]) -> None:
    texts, calls, thinking, stop, usage, cost, model, response_id = EXPECTED[name]
    assert [b.text for b in message.content if isinstance(b, TextContent)] == texts
    got_calls = [(c.id, c.name, c.arguments) for c in message.tool_calls]
    assert got_calls == calls
    got_thinking = [b.thinking for b in message.content if isinstance(b, ThinkingContent)]
    if thinking == ["<any>"]:
        assert len(got_thinking) == 1
        assert got_thinking[0].startswith("First, the user is asking about the weather")
    else:
        assert got_thinking == thinking
    assert message.stop_reason.value == stop
    u = message.usage
    assert (u.input, u.output, u.cache_read, u.cache_write, u.cache_write_1h, u.reasoning) == usage
    if cost is None:  # no price for the model and none reported: unknown, not 0.0
        assert u.cost is None
    else:
        assert u.cost == pytest.approx(cost, rel=1e-9, abs=1e-12)
    assert message.model == model
    assert message.response_id == response_id
    # The events tell the same story as the final message.
    assert isinstance(events[0], StreamStart)
    ends = {e.index: e.block for e in events if isinstance(e, BlockEnd)}
    assert list(ends.values()) == list(message.content) or sorted(ends) == list(
        range(len(message.content))
    )
    for index, block in enumerate(message.content):
        assert ends[index] == block
        if isinstance(block, TextContent):
            parts = [e.text for e in events if isinstance(e, TextDelta) and e.index == index]
            assert "".join(parts) == block.text
        elif isinstance(block, ThinkingContent):
            parts = [
                e.thinking for e in events if isinstance(e, ThinkingDelta) and e.index == index
            ]
            assert "".join(parts) == block.thinking


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_replay(name: str) -> None:
    with anyio.fail_after(10):
        events, message = await run_stream(provider_kind(name), [fixture_bytes(name)])
    _check(name, message, events)


@pytest.mark.anyio
async def test_truncated_tool_call_becomes_an_argument_error() -> None:
    name = "anthropic_messages_tool_use_truncated_max_tokens.sse"
    with anyio.fail_after(10):
        _, message = await run_stream(provider_kind(name), [fixture_bytes(name)])
    (call,) = message.tool_calls
    assert isinstance(call, ToolCall)
    assert call.arguments_error is not None
    assert "not valid JSON" in call.arguments_error


@pytest.mark.anyio
async def test_thinking_signature_is_kept() -> None:
    name = "anthropic_messages_thinking_signature.jsonl"
    with anyio.fail_after(10):
        _, message = await run_stream(provider_kind(name), [fixture_bytes(name)])
    thinking = message.content[0]
    assert isinstance(thinking, ThinkingContent)
    assert thinking.signature is not None
    assert thinking.signature.startswith("EvQBCkYICxgCKkAxhD4NUKFzudtZ6NzbZdEiBACIScTzqjPViM596")
    assert thinking.signature.endswith("BgB")


@pytest.mark.anyio
async def test_openrouter_upstream_provider_in_provider_data() -> None:
    name = "openrouter_claude_opus47_bedrock_tool_loop.call1.sse"
    with anyio.fail_after(10):
        _, message = await run_stream(provider_kind(name), [fixture_bytes(name)])
    assert message.provider == "openrouter"
    assert message.provider_data == {"upstream_provider": "Amazon Bedrock"}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(FAILING))
async def test_replay_failing(name: str) -> None:
    error, text = FAILING[name]
    with anyio.fail_after(10), pytest.raises(error, match=text):
        await run_stream(provider_kind(name), [fixture_bytes(name)])


@pytest.mark.parametrize("name", sorted(EXPECTED))
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_rechunked_replay_gives_the_same_message(name: str, data: st.DataObject) -> None:
    raw = fixture_bytes(name)
    cuts = data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=40), label="cuts")
    backend = data.draw(st.sampled_from(["asyncio", "trio"]), label="backend")
    kind = provider_kind(name)

    async def both() -> tuple[Any, Any]:
        with anyio.fail_after(10):
            _, whole = await run_stream(kind, [raw])
            _, pieces = await run_stream(kind, split(raw, cuts))
            return whole, pieces

    whole, pieces = anyio.run(both, backend=backend)
    assert summary(pieces) == summary(whole)


LITELLM_SIGNATURE_START = "EqQBCkgIBhABGAIiQNq5litellm"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("openai_compat_litellm_proxy_midstream_error_string_code.sse", 500),
        ("anthropic_litellm_proxy_midstream_error_string_code.sse", 529),
    ],
)
async def test_litellm_string_error_codes_map_like_integer_ones(name: str, status: int) -> None:
    with anyio.fail_after(10), pytest.raises(MidStreamError) as info:
        await run_stream(provider_kind(name), [fixture_bytes(name)])
    assert info.value.code == str(status)  # kept as sent
    assert info.value.status == status
    assert info.value.retryable  # a 5xx, as the integer code would be


@pytest.mark.anyio
async def test_litellm_thinking_blocks_are_kept_and_sent_back() -> None:
    name = "openai_compat_litellm_proxy_thinking_blocks.sse"
    with anyio.fail_after(10):
        _, message = await run_stream(provider_kind(name), [fixture_bytes(name)])
    thinking = message.content[0]
    assert isinstance(thinking, ThinkingContent)
    assert thinking.signature is not None
    assert thinking.signature.startswith(LITELLM_SIGNATURE_START)
    blocks = (message.provider_data or {})["thinking_blocks"]
    assert blocks == [
        {"type": "thinking", "thinking": thinking.thinking, "signature": thinking.signature}
    ]
    # The next request carries them on the assistant message that made the call.
    from agentkit._messages import Context, ToolResultMessage, UserMessage
    from agentkit.providers import ModelOptions, OpenAICompatibleProvider

    call = message.tool_calls[0]
    context = Context(
        messages=(UserMessage("Weather?"), message, ToolResultMessage(call.id, call.name, "rain"))
    )
    body = OpenAICompatibleProvider("https://x").build_body(context, ModelOptions("m"))
    (assistant,) = [m for m in body["messages"] if m["role"] == "assistant"]
    assert assistant["thinking_blocks"] == blocks
    assert assistant["tool_calls"][0]["id"] == call.id


def _json_transport(body: bytes, content_type: str) -> Any:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    return lambda chunks: httpx.MockTransport(handler)


@pytest.mark.anyio
async def test_litellm_json_200_to_a_streaming_request_is_the_whole_answer() -> None:
    name = "openai_compat_litellm_proxy_json_200.json"
    with anyio.fail_after(10):
        events, message = await run_stream(
            "openai_compatible",
            [],
            transport_factory=_json_transport(fixture_bytes(name), "application/json"),
        )
    assert message.text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("toolu_01LiteLLMProxyCall0002", "get_weather", {"city": "Oslo"})
    ]
    assert message.stop_reason.value == "tool_use"
    assert message.response_id == "chatcmpl-8d2b41c0-litellm-proxy"
    u = message.usage
    assert (u.input, u.output, u.reasoning) == (412, 71, 24)
    thinking = message.content[0]
    assert isinstance(thinking, ThinkingContent)
    assert thinking.thinking == "The user asks for Oslo's weather; I should call get_weather."
    assert (thinking.signature or "").startswith(LITELLM_SIGNATURE_START)
    assert (message.provider_data or {})["thinking_blocks"][0]["signature"] == thinking.signature
    assert isinstance(events[0], StreamStart)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check."


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["openai_compatible", "anthropic"])
async def test_a_200_that_is_no_answer_is_a_typed_error_naming_its_type(kind: str) -> None:
    page = b"<html><body>Sign in to the network</body></html>"
    with anyio.fail_after(10), pytest.raises(ResponseFormatError) as info:
        await run_stream(kind, [], transport_factory=_json_transport(page, "text/html"))
    assert "text/html" in info.value.message
    assert not info.value.retryable
