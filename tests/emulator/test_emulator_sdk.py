"""The emulator driven by the official ``anthropic`` and ``openai`` SDKs (issue 18 item 7).

Each test checks every usage field the SDK parses against what the emulator
recorded it billed, streamed and not, so the wire shapes are the ones the
vendors' own clients accept.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

from agentkit.testing.emulator import Emulator, ModelReply, ToolUse  # noqa: E402

pytestmark = pytest.mark.anyio

KEY = "sk-sdk-SENTINEL-emulator"
SYSTEM = "You review patches; cite the line you mean. " * 500  # about 5,600 tokens
ANSWER = "The patch looks right, but line 12 needs a test."


def _anthropic_body(stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 200,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Review it."}],
    }


@pytest.fixture(params=[False, True], ids=["whole", "streamed"])
def streamed(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_the_anthropic_sdk_reads_every_usage_field(streamed: bool) -> None:
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=ANSWER)] * 2) as emu:
            client = anthropic.AsyncAnthropic(api_key=KEY, base_url=emu.anthropic_base_url)
            messages = []
            for _ in range(2):  # a cache write, then a read
                if streamed:
                    async with client.messages.stream(**_anthropic_body(True)) as stream:
                        messages.append(await stream.get_final_message())
                else:
                    messages.append(await client.messages.create(**_anthropic_body(False)))
            await client.close()
    for message, record in zip(messages, emu.requests, strict=True):
        billed = record.billed
        assert billed is not None
        usage = message.usage
        assert usage.input_tokens == billed["input_tokens"]
        assert usage.output_tokens == billed["output_tokens"]
        assert usage.cache_creation_input_tokens == billed["cache_creation_input_tokens"]
        assert usage.cache_read_input_tokens == billed["cache_read_input_tokens"]
        assert usage.cache_creation is not None
        split = billed["cache_creation"]
        assert usage.cache_creation.ephemeral_5m_input_tokens == split["ephemeral_5m_input_tokens"]
        assert usage.cache_creation.ephemeral_1h_input_tokens == split["ephemeral_1h_input_tokens"]
        assert message.stop_reason == "end_turn"
        assert message.content[0].type == "text" and message.content[0].text == ANSWER
    assert messages[0].usage.cache_creation_input_tokens > 4096
    assert messages[1].usage.cache_read_input_tokens == (
        messages[0].usage.cache_creation_input_tokens
    )


async def test_the_anthropic_sdk_sees_a_forced_tool_call_and_max_tokens() -> None:
    tool = {"name": "search", "description": "d", "input_schema": {"type": "object"}}
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text="no tool"), ModelReply(text=ANSWER)]) as emu:
            client = anthropic.AsyncAnthropic(api_key=KEY, base_url=emu.anthropic_base_url)
            forced = await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=100,
                messages=[{"role": "user", "content": "go"}],
                tools=[tool],
                tool_choice={"type": "tool", "name": "search"},
            )
            cut = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=3, messages=[{"role": "user", "content": "go"}]
            )
            with pytest.raises(anthropic.NotFoundError):
                await client.messages.create(
                    model="claude-nope", max_tokens=3, messages=[{"role": "user", "content": "go"}]
                )
            await client.close()
    assert forced.stop_reason == "tool_use"
    assert [b.name for b in forced.content if b.type == "tool_use"] == ["search"]
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3


def _openai_kwargs() -> dict[str, Any]:
    return {
        "model": "anthropic/claude-haiku-4.5",
        "max_tokens": 200,
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
                ],
            },
            {"role": "user", "content": "Review it."},
        ],
        "extra_body": {"session_id": "sdk-test"},  # OpenRouter's sticky routing
    }


async def test_the_openai_sdk_reads_every_usage_field_from_openrouter(
    streamed: bool, anyio_backend: str
) -> None:
    if streamed and anyio_backend == "trio":
        # The SDK's own SSE generators are left unexhausted at [DONE] and only closed
        # by the garbage collector, which trio reports as unraisable: asyncio only.
        pytest.skip("openai's AsyncStream leaks its async generators under trio")
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=ANSWER)] * 2) as emu:
            client = openai.AsyncOpenAI(api_key=KEY, base_url=emu.openrouter_base_url)
            usages, finishes = [], []
            for _ in range(2):
                if streamed:
                    stream = await client.chat.completions.create(
                        **_openai_kwargs(), stream=True, stream_options={"include_usage": True}
                    )
                    text, usage, finish = "", None, None
                    async with stream:
                        async for chunk in stream:
                            for choice in chunk.choices:
                                text += choice.delta.content or ""
                                finish = choice.finish_reason or finish
                            usage = chunk.usage or usage
                    assert text == ANSWER
                else:
                    completion = await client.chat.completions.create(**_openai_kwargs())
                    assert completion.choices[0].message.content == ANSWER
                    usage, finish = completion.usage, completion.choices[0].finish_reason
                usages.append(usage)
                finishes.append(finish)
            await client.close()
    for usage, record in zip(usages, emu.requests, strict=True):
        billed = record.billed
        assert usage is not None and billed is not None
        assert usage.prompt_tokens == billed["prompt_tokens"]
        assert usage.completion_tokens == billed["completion_tokens"]
        assert usage.total_tokens == billed["total_tokens"]
        assert usage.prompt_tokens_details is not None
        assert (
            usage.prompt_tokens_details.cached_tokens
            == (billed["prompt_tokens_details"]["cached_tokens"])
        )
        assert usage.completion_tokens_details is not None
        assert (
            usage.completion_tokens_details.reasoning_tokens
            == (billed["completion_tokens_details"]["reasoning_tokens"])
        )
        assert getattr(usage.prompt_tokens_details, "cache_write_tokens", None) == (
            billed["prompt_tokens_details"].get("cache_write_tokens")
        )
        extra = usage.model_extra or {}
        assert extra["cost"] == pytest.approx(billed["cost"])  # OpenRouter's own field
    assert finishes == ["stop", "stop"]
    assert usages[1].prompt_tokens_details.cached_tokens > 4096  # type: ignore[union-attr]


async def test_the_openai_sdk_sees_tool_choice_and_the_model_list() -> None:
    tool = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    script = [ModelReply(tool_calls=[ToolUse("search", {"q": "x"})]), ModelReply(text="x")]
    with anyio.fail_after(20):
        async with Emulator(script=script) as emu:
            client = openai.AsyncOpenAI(api_key=KEY, base_url=emu.openrouter_base_url)
            none = await client.chat.completions.create(
                model="anthropic/claude-haiku-4.5",
                messages=[{"role": "user", "content": "go"}],
                tools=[tool],  # type: ignore[list-item]
                tool_choice="none",
            )
            forced = await client.chat.completions.create(
                model="anthropic/claude-haiku-4.5",
                messages=[{"role": "user", "content": "go"}],
                tools=[tool],  # type: ignore[list-item]
                tool_choice={"type": "function", "function": {"name": "search"}},
            )
            models = [m.id async for m in client.models.list()]
            with pytest.raises(openai.NotFoundError):
                await client.chat.completions.create(
                    model="nope", messages=[{"role": "user", "content": "go"}]
                )
            await client.close()
    assert none.choices[0].message.tool_calls in (None, [])
    assert none.choices[0].finish_reason == "stop"
    calls = forced.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["search"]  # type: ignore[union-attr]
    assert forced.choices[0].finish_reason == "tool_calls"
    assert "anthropic/claude-haiku-4.5" in models
