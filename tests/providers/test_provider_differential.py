"""The same bytes through the official SDKs' SSE decoders and stream accumulators.

Test-only dependencies: ``openai`` and ``anthropic``. Compares text, tool
calls and usage with what agentkit's providers make of the same stream.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from provider_helpers import fixture_bytes, provider_kind, run_stream

from agentkit._messages import AssistantMessage

openai_streaming = pytest.importorskip("openai._streaming")
openai_chat = pytest.importorskip("openai.lib.streaming.chat")
anthropic_streaming = pytest.importorskip("anthropic._streaming")
anthropic_messages = pytest.importorskip("anthropic.lib.streaming._messages")

from anthropic.types import RawMessageStreamEvent  # noqa: E402
from openai._models import construct_type  # noqa: E402
from openai.types.chat import ChatCompletionChunk  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

CHAT_FIXTURES = [
    "openrouter_claude_opus47_bedrock_tool_loop.call1.sse",
    "openrouter_claude_opus47_bedrock_tool_loop.call2.sse",
    "openrouter_gpt4omini_azure_text.sse",
    "openrouter_gpt4omini_tool_loop.call1.sse",
    "openrouter_gpt4omini_tool_loop.call2.sse",
    "openrouter_gpt4omini_toolcall_forced.sse",
    "openrouter_gpt55_tool_loop.call1.sse",
    "openrouter_gpt55_tool_loop.call2.sse",
    # Left out: the SDK's accumulator indexes its list of calls by ``index`` and
    # fails when it starts at 1 (anthropic_openai_compat_endpoint_toolcall_index1.sse).
    # Transcribed captures without blank lines between events (goose) are left out:
    # they are not valid SSE for a strict decoder.
]
MESSAGES_FIXTURES = [
    "anthropic_messages_basic_text.sse",
    "anthropic_messages_cache_write_then_read.call1.sse",
    "anthropic_messages_cache_write_then_read.call2.sse",
    "anthropic_messages_opus47_image_tool_result.sse",
    "anthropic_messages_opus47_tool_loop.call1.sse",
    "anthropic_messages_opus47_tool_loop.call2.sse",
    "anthropic_messages_patched_tool_order.sse",
    "anthropic_messages_streams_text.sse",
    "anthropic_messages_streams_tool_call_forced.sse",
    "anthropic_messages_tool_use.sse",
    "anthropic_messages_thinking_signature.jsonl",
    "anthropic_messages_text_usage_cache_fields.jsonl",
    "anthropic_messages_tool_use_no_args_multiple_pings.jsonl",
    "anthropic_messages_prompt_cache_write_and_read_server_tools.jsonl",
    "anthropic_messages_delta_updates_input_tokens.jsonl",
    "anthropic_docs_example_tool_use.sse",
]


def ours(name: str) -> AssistantMessage:
    async def go() -> AssistantMessage:
        with anyio.fail_after(10):
            _, message = await run_stream(provider_kind(name), [fixture_bytes(name)])
        return message

    result: AssistantMessage = anyio.run(go)
    return result


@pytest.mark.parametrize("name", CHAT_FIXTURES)
def test_chat_completions_agree_with_the_openai_sdk(name: str) -> None:
    state = openai_chat.ChatCompletionStreamState()
    usage: Any = None
    for sse in openai_streaming.SSEDecoder().iter_bytes(iter([fixture_bytes(name)])):
        if sse.data.startswith("[DONE]"):
            break
        # Leniently, as the SDK itself builds chunks (OpenRouter adds fields and values).
        chunk: Any = construct_type(type_=ChatCompletionChunk, value=json.loads(sse.data))
        usage = chunk.usage or usage
        state.handle_chunk(chunk)
    completion = state.get_final_completion()
    message = completion.choices[0].message
    mine = ours(name)
    assert mine.text == (message.content or "")
    theirs_calls = [
        (c.id, c.function.name, json.loads(c.function.arguments or "{}"))
        for c in message.tool_calls or []
    ]
    assert [(c.id, c.name, c.arguments) for c in mine.tool_calls] == theirs_calls
    if usage is not None:
        assert mine.usage.prompt == usage.prompt_tokens
        assert mine.usage.output == usage.completion_tokens
        cached = (usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens) or 0
        assert mine.usage.cache_read == cached


@pytest.mark.parametrize("name", MESSAGES_FIXTURES)
def test_messages_agree_with_the_anthropic_sdk(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    for sse in anthropic_streaming.SSEDecoder().iter_bytes(iter([fixture_bytes(name)])):
        data = json.loads(sse.data)
        if data["type"] in ("ping", "error"):
            continue
        snapshot = anthropic_messages.accumulate_event(
            event=adapter.validate_python(data), current_snapshot=snapshot, json_bufs=json_bufs
        )
    assert snapshot is not None
    mine = ours(name)
    texts = [b.text for b in snapshot.content if b.type == "text"]
    assert mine.text == "".join(texts)
    calls = [(b.id, b.name, b.input) for b in snapshot.content if b.type == "tool_use"]
    assert [(c.id, c.name, c.arguments) for c in mine.tool_calls] == calls
    thinking = [(b.thinking, b.signature) for b in snapshot.content if b.type == "thinking"]
    from agentkit._messages import ThinkingContent

    assert [
        (b.thinking, b.signature) for b in mine.content if isinstance(b, ThinkingContent)
    ] == thinking
    usage: Any = snapshot.usage
    assert mine.usage.input == usage.input_tokens
    assert mine.usage.output == usage.output_tokens
    assert mine.usage.cache_read == (usage.cache_read_input_tokens or 0)
    assert mine.usage.cache_write == (usage.cache_creation_input_tokens or 0)
    assert (
        mine.stop_reason.value == {"end_turn": "stop", "tool_use": "tool_use"}[snapshot.stop_reason]
    )
