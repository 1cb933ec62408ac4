"""End to end over loopback HTTP: real providers on the emulator, with the SDK recording.

Cache read and creation tokens reach the chat spans as the conventions name
them, and the API key (a sentinel) is nowhere in what is exported, with
content capture on.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

import agentkit.otel
from agentkit import (
    Agent,
    AnthropicProvider,
    OpenRouterProvider,
    Provider,
    ProviderError,
    RetryPolicy,
    tool,
)
from agentkit.testing.emulator import (
    Emulator,
    Fault,
    ModelReply,
    StatusFault,
    StreamErrorFault,
    ToolUse,
)

from .conftest import Telemetry, make_telemetry

pytestmark = pytest.mark.anyio

SENTINEL = "sk-otel-SENTINEL-4c1d9e7a2b"
MODELS = {"anthropic": "claude-3-5-haiku-20241022", "openrouter": "anthropic/claude-3.5-haiku"}


def provider_for(api: str, emulator: Emulator) -> Provider:
    retry = RetryPolicy(max_retries=1, base_delay=0.01)
    if api == "anthropic":
        return AnthropicProvider(
            api_key=SENTINEL, base_url=emulator.anthropic_base_url, retry=retry
        )
    return OpenRouterProvider(api_key=SENTINEL, base_url=emulator.openrouter_base_url, retry=retry)


class Reviewer(Agent):
    # Long enough to be cached: about 2400 tokens at four characters a token.
    system_prompt = "Review code for correctness, clarity and tests. " * 200

    @tool
    def read_file(self, path: str) -> str:
        """Read a file of the repository."""
        return f"contents of {path}"


@pytest.fixture
def everything() -> Iterator[Telemetry]:
    yield make_telemetry(capture_content=True)
    agentkit.otel.uninstrument()


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_cache_tokens_are_recorded_and_the_key_never_is(
    api: str, everything: Telemetry
) -> None:
    script = [
        ModelReply(text="Let me look.", tool_calls=[ToolUse("read_file", {"path": "a.py"})]),
        ModelReply(text="Looks fine."),
        ModelReply(text="Tests pass."),
    ]
    with anyio.fail_after(30):
        async with Emulator(script=script) as emulator:
            provider = provider_for(api, emulator)
            async with provider:  # type: ignore[attr-defined]
                agent = Reviewer(provider=provider, model=MODELS[api])
                await agent.run("Review my patch.")
                await agent.run("And the tests?")
    chats = sorted(everything.named("chat "), key=lambda s: s.start_time or 0)
    assert len(chats) == 3
    assert len(everything.named("invoke_agent Reviewer")) == 2
    assert len(everything.named("execute_tool read_file")) == 1
    first, second, third = (dict(c.attributes or {}) for c in chats)
    answers = [m for m in agent.messages if m.role == "assistant"]
    for attributes, answer in zip((first, second, third), answers, strict=True):
        usage = answer.usage  # type: ignore[union-attr]
        assert attributes["gen_ai.provider.name"] == api
        assert attributes["gen_ai.usage.cache_read.input_tokens"] == usage.cache_read
        assert attributes["gen_ai.usage.cache_creation.input_tokens"] == usage.cache_write
        assert attributes["gen_ai.usage.input_tokens"] == usage.prompt
        assert attributes["gen_ai.usage.output_tokens"] == usage.output
        assert attributes["gen_ai.response.id"] == answer.response_id  # type: ignore[union-attr]
        assert attributes["agentkit.usage.cost"] == pytest.approx(usage.cost)
    # The first request writes the long system prompt; the later ones read it.
    assert first["gen_ai.usage.cache_creation.input_tokens"] > 2048  # type: ignore[operator]
    assert first["gen_ai.usage.cache_read.input_tokens"] == 0
    assert second["gen_ai.usage.cache_read.input_tokens"] > 2048  # type: ignore[operator]
    assert third["gen_ai.usage.cache_read.input_tokens"] > 2048  # type: ignore[operator]

    dump = everything.dump()
    assert "Review my patch." in dump  # content capture was on: the check can see content
    assert "SENTINEL" not in dump
    assert SENTINEL[:12] not in dump


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
@pytest.mark.parametrize(
    "fault",
    [StatusFault(401, message="invalid x-api-key"), StreamErrorFault(after=3)],
    ids=["401", "stream_error"],
)
async def test_a_failed_request_is_recorded_without_the_key(
    api: str, fault: Fault, everything: Telemetry
) -> None:
    with anyio.fail_after(30):
        async with Emulator(script=[ModelReply(text="Never seen.")]) as emulator:
            emulator.inject(fault, times=5)
            provider = provider_for(api, emulator)
            async with provider:  # type: ignore[attr-defined]
                agent = Reviewer(provider=provider, model=MODELS[api])
                with pytest.raises(ProviderError) as raised:
                    await agent.run("Review my patch.")
    chat = everything.one("chat ")
    run = everything.one("invoke_agent")
    for span in (chat, run):
        assert span.attributes["error.type"] == type(raised.value).__qualname__  # type: ignore[index]
        assert [e.name for e in span.events] == ["exception"]
    dump = everything.dump()
    assert "SENTINEL" not in dump
    assert SENTINEL[:12] not in dump
