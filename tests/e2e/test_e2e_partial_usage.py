"""Usage on every path (issue 18 item 1): aborted, failed and stalled requests over HTTP.

The emulator records what it billed for each request (``emu.requests[i].cache`` and
``.usage``); a run that ends early must count what the service had reported by then.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from agentkit import (
    Agent,
    AnthropicProvider,
    ImageContent,
    MessageUpdate,
    OpenRouterProvider,
    ProviderError,
    RetryPolicy,
    StopReason,
    TextContent,
    TextDelta,
    ToolResult,
    Usage,
    tool,
)
from agentkit.providers import (
    MidStreamError,
    ProviderConnectionError,
    StreamStalledError,
    Timeouts,
)
from agentkit.testing.emulator import (
    DropFault,
    Emulator,
    ModelReply,
    StallFault,
    StreamErrorFault,
    ToolUse,
)

pytestmark = pytest.mark.anyio

API_KEY = "sk-e2e-SENTINEL-partial"
HAIKU = {"anthropic": "claude-haiku-4-5", "openrouter": "anthropic/claude-haiku-4.5"}
LONG_ANSWER = " ".join(f"word{n}" for n in range(200))  # many text deltas


def system_prompt(tokens: int) -> str:
    sentence = "Review code for correctness, clarity and tests; cite the line you mean. "
    return (sentence * (tokens * 4 // len(sentence) + 1))[: tokens * 4]


def provider_for(api: str, emulator: Emulator, **options: Any) -> Any:
    retry = RetryPolicy(max_retries=0)
    if api == "anthropic":
        return AnthropicProvider(
            api_key=API_KEY, base_url=emulator.anthropic_base_url, retry=retry, **options
        )
    return OpenRouterProvider(
        api_key=API_KEY, base_url=emulator.openrouter_base_url, retry=retry, **options
    )


def billed_prompt(emu: Emulator, index: int) -> tuple[int, int, int]:
    """(uncached input, cache read, cache write) the emulator billed for request ``index``."""
    cache = emu.requests[index].cache
    assert cache is not None
    return cache.input_tokens, cache.read_tokens, cache.write_5m_tokens + cache.write_1h_tokens


def counted(usage: Usage) -> tuple[int, int, int]:
    return usage.input, usage.cache_read, usage.cache_write


async def abort_mid_text(agent: Agent, prompt: str) -> Any:
    unsubscribe = agent.subscribe(
        lambda event: (
            agent.abort()
            if isinstance(event, MessageUpdate) and isinstance(event.delta, TextDelta)
            else None
        )
    )
    try:
        return await agent.run(prompt)
    finally:
        unsubscribe()


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_an_aborted_request_counts_what_the_service_billed(api: str) -> None:
    # The stream stalls after its first text delta, so the abort lands mid-answer.
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=LONG_ANSWER)]) as emu:
            emu.inject(StallFault(seconds=60, after=5 if api == "anthropic" else 3))
            async with provider_for(api, emu) as provider:
                agent = Agent(
                    provider=provider, model=HAIKU[api], system_prompt=system_prompt(5000)
                )
                result = await abort_mid_text(agent, "Review my patch.")
    assert result.stop_reason is StopReason.ABORTED
    (aborted,) = [m for m in result.messages if m.role == "assistant"]
    assert aborted.stop_reason is StopReason.ABORTED
    assert result.usage.partial and aborted.usage.partial
    billed = emu.requests[0]
    assert billed.usage is not None
    if api == "anthropic":
        # message_start carried the prompt's whole breakdown: every prompt token is counted.
        assert billed_prompt(emu, 0)[2] > 4096  # the system prompt was written
        assert counted(result.usage) == billed_prompt(emu, 0)
        assert 0 < result.usage.output <= billed.usage["output_tokens"]
        assert result.usage.cost is not None and result.usage.cost > 0
    else:
        # OpenRouter reports usage only in its last chunk: the provider looked the
        # generation up once the stream was closed, and got what it billed.
        assert counted(result.usage) == billed_prompt(emu, 0)
        assert billed.billed is not None
        assert result.usage.output == billed.billed["completion_tokens"]
        assert result.usage.cost == pytest.approx(billed.billed["cost"])


async def test_an_aborted_request_that_read_the_cache_counts_the_read() -> None:
    with anyio.fail_after(20):
        async with (
            Emulator(script=[ModelReply(text="Short answer.")]) as emu,
            provider_for("anthropic", emu) as provider,
        ):
            model = HAIKU["anthropic"]
            agent = Agent(provider=provider, model=model, system_prompt=system_prompt(5000))
            await agent.run("Warm the cache.")
            emu.inject(StallFault(seconds=60, after=5))
            emu.add_replies(ModelReply(text=LONG_ANSWER))
            result = await abort_mid_text(agent, "Again.")
    assert result.stop_reason is StopReason.ABORTED
    assert result.usage.partial
    assert counted(result.usage) == billed_prompt(emu, 1)
    assert result.usage.cache_read > 4096  # the second request read the cache


def _chunk(**fields: Any) -> bytes:
    base = {"id": "gen-1", "object": "chat.completion.chunk", "model": HAIKU["openrouter"]}
    return b"data: " + json.dumps(base | fields).encode() + b"\n\n"


async def test_an_openrouter_error_after_the_usage_chunk_keeps_that_usage() -> None:
    usage = {
        "prompt_tokens": 6000,
        "completion_tokens": 12,
        "cost": 0.0071,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 5000},
    }
    body = (
        _chunk(choices=[{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}])
        + _chunk(choices=[], usage=usage)
        + _chunk(
            error={"code": 502, "message": "Provider disconnected"},
            choices=[{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        )
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = OpenRouterProvider(
                api_key=API_KEY, base_url="https://or.example/api/v1", client=client
            )
            agent = Agent(provider=provider, model=HAIKU["openrouter"])
            with pytest.raises(MidStreamError) as raised:
                await agent.run("Hello.")
    spent = raised.value.usage
    assert spent is not None and spent.partial
    assert (spent.input, spent.cache_write, spent.output, spent.cost) == (1000, 5000, 12, 0.0071)


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_a_request_that_fails_mid_stream_adds_its_counts_to_the_error(api: str) -> None:
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=LONG_ANSWER)]) as emu:
            emu.inject(StreamErrorFault(after=8))
            async with provider_for(api, emu) as provider:
                agent = Agent(
                    provider=provider, model=HAIKU[api], system_prompt=system_prompt(5000)
                )
                with pytest.raises(MidStreamError) as raised:
                    await agent.run("Review my patch.")
    error = raised.value
    assert error.request_usage is not None and error.request_usage.partial
    assert error.usage == error.request_usage  # the run's usage: this one request
    assert counted(error.usage) == billed_prompt(emu, 0)
    if api == "openrouter":  # looked up at the generation endpoint
        billed = emu.requests[0].billed
        assert billed is not None and error.usage.cost == pytest.approx(billed["cost"])


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_a_stalled_request_adds_its_counts_to_the_error(api: str) -> None:
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=LONG_ANSWER)]) as emu:
            emu.inject(StallFault(seconds=60, after=6))
            timeouts = Timeouts(idle=0.3)
            async with provider_for(api, emu, timeouts=timeouts) as provider:
                agent = Agent(
                    provider=provider, model=HAIKU[api], system_prompt=system_prompt(5000)
                )
                with pytest.raises(StreamStalledError) as raised:
                    await agent.run("Review my patch.")
    error = raised.value
    assert isinstance(error, ProviderError)
    assert error.usage is not None and error.usage.partial
    assert counted(error.usage) == billed_prompt(emu, 0)
    if api == "openrouter":  # looked up at the generation endpoint
        billed = emu.requests[0].billed
        assert billed is not None and error.usage.cost == pytest.approx(billed["cost"])


async def test_an_unknown_model_costs_unknown_with_one_notice_naming_it() -> None:
    script = [ModelReply(text="One."), ModelReply(text="Two.")]
    with anyio.fail_after(20), capture_logs() as logs:
        async with Emulator(script=script) as emu, provider_for("anthropic", emu) as provider:
            agent = Agent(provider=provider, model="claude-opus-5")  # listed, no price yet
            first = await agent.run("Hello.")
            second = await agent.run("Again.")
    assert first.usage.input > 0
    assert first.usage.cost is None and second.usage.cost is None
    notices = [e for e in logs if e["event"] == "usage.price_unknown"]
    assert len(notices) == 1
    assert notices[0]["model"] == "claude-opus-5"


async def test_a_connection_dropped_mid_stream_keeps_the_counts_of_message_start() -> None:
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text=LONG_ANSWER)]) as emu:
            emu.inject(DropFault(after_bytes=1500))
            async with provider_for("anthropic", emu) as provider:
                agent = Agent(provider=provider, model=HAIKU["anthropic"])
                with pytest.raises(ProviderConnectionError) as raised:
                    await agent.run("Review my patch.")
    spent = raised.value.usage
    assert spent is not None and spent.partial
    assert counted(spent) == billed_prompt(emu, 0)
    assert spent.input > 0


# ------------------------------------------- placement through OpenRouter (issue 18 item 5)

PNG = "iVBORw0KGgoAAAANSUhEUg=="  # the emulator counts an image without decoding it


class Viewer(Agent):
    @tool
    def screenshot(self, page: str) -> ToolResult:
        """Take a screenshot of a page."""
        return ToolResult((TextContent(f"Screenshot of {page}: " + "layout ok. " * 300),
                           ImageContent(PNG, "image/png")))  # fmt: skip


async def test_a_tool_result_ending_in_an_image_is_read_back_through_openrouter() -> None:
    script = [
        ModelReply(tool_calls=[ToolUse("screenshot", {"page": "home"})]),
        ModelReply(text="Looks fine."),
        ModelReply(text="Still fine."),
    ]
    with anyio.fail_after(20):
        async with Emulator(script=script) as emu, provider_for("openrouter", emu) as provider:
            agent = Viewer(
                provider=provider, model=HAIKU["openrouter"], system_prompt=system_prompt(5000)
            )
            await agent.run("Check the home page.")
            await agent.run("And again?")
    after_result, next_prompt = emu.requests[1].cache, emu.requests[2].cache
    assert after_result is not None and next_prompt is not None
    # The request after the tool result wrote through it (its text carried the marker,
    # not the image), so the next request reads all of that instead of re-writing it.
    assert after_result.write_5m_tokens > 700
    assert next_prompt.read_tokens >= after_result.read_tokens + after_result.write_5m_tokens
