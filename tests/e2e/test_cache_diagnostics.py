"""Cache diagnostics end to end: AnthropicProvider(cache_diagnostics=True) over loopback
against the emulator, which compares each request with the one its
``diagnostics.previous_message_id`` names and reports the real API's reasons (§1.10)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from agentkit import (
    Agent,
    AnthropicProvider,
    AssistantMessage,
    CacheControl,
    Context,
    ModelOptions,
    TextContent,
    ToolDefinition,
    UserMessage,
)
from agentkit.testing.emulator import Emulator, ModelReply

pytestmark = pytest.mark.anyio

SENTINEL = "sk-test-SENTINEL-diagnostics-0000"
HAIKU = "claude-3-5-haiku-20241022"
SONNET = "claude-sonnet-4-5"


def text(tokens: int, word: str = "Review") -> str:
    sentence = f"{word} code for correctness, clarity and tests; cite the line you mean. "
    return (sentence * (tokens * 4 // len(sentence) + 1))[: tokens * 4]


async def ask(
    provider: AnthropicProvider, context: Context, model: str = HAIKU
) -> AssistantMessage:
    return await provider.stream(context, ModelOptions(model=model)).result()


def context(
    *messages: Any, system: str = text(2500), tools: tuple[ToolDefinition, ...] = ()
) -> Context:
    return Context(
        system=(TextContent(system, CacheControl()),), messages=tuple(messages), tools=tools
    )


async def test_each_reason_the_emulator_produces() -> None:
    replies = [ModelReply(text=f"answer {i}") for i in range(8)]
    with anyio.fail_after(30), capture_logs() as logs:
        async with Emulator(script=replies) as emu:
            provider = AnthropicProvider(
                api_key=SENTINEL, base_url=emu.anthropic_base_url, cache_diagnostics=True
            )
            async with provider:
                question = UserMessage("Review my patch.")
                first = await ask(provider, context(question))
                assert first.cache_miss_reason is None  # the first turn only opts in
                follow = UserMessage("And the tests?")
                base = (question, first, follow)
                same = await ask(provider, context(*base))
                assert same.cache_miss_reason is None  # nothing diverged
                assert same.usage.cache_read > 0

                seen = {}
                extra = ToolDefinition("lookup", "Look a path up.")
                seen["tools_changed"] = await ask(provider, context(*base, tools=(extra,)))
                seen["system_changed"] = await ask(
                    provider, context(*base, system=text(2500, "Read"))
                )
                seen["model_changed"] = await ask(provider, context(*base), model=SONNET)
                edited = (UserMessage("Review my other patch."), first, follow)
                seen["messages_changed"] = await ask(provider, context(*edited))
                unknown = AssistantMessage(
                    [TextContent("?")], provider="anthropic", response_id="msg_unknown"
                )
                seen["previous_message_not_found"] = await ask(
                    provider, context(question, unknown, follow)
                )
                # An expired entry is no structural change: the API gives no reason.
                emu.clock.advance(301)
                expired = await ask(provider, context(*base))
        requests = emu.requests
    for reason, answer in seen.items():
        assert answer.cache_miss_reason == reason
    assert expired.cache_miss_reason is None
    assert expired.usage.cache_read == 0
    # The header and previous_message_id went out on every request.
    assert all(r.headers.get("anthropic-beta") == "cache-diagnosis-2026-04-07" for r in requests)
    ids = [r.body["diagnostics"]["previous_message_id"] for r in requests]
    assert ids[0] is None
    assert ids[1] == first.response_id
    assert ids[-2] == "msg_unknown"
    events = [e for e in logs if e["event"] == "cache.miss_reason"]
    assert [e["cache_miss_reason"] for e in events] == list(seen)
    assert all(e["response_id"] and e["provider"] == "anthropic" for e in events)
    by_reason = {e["cache_miss_reason"]: e for e in events}
    # Tokens for the *_changed reasons only; a changed system keeps the (empty) tools.
    assert by_reason["system_changed"]["cache_missed_input_tokens"] > 2400
    assert by_reason["messages_changed"]["cache_missed_input_tokens"] < 100
    assert by_reason["previous_message_not_found"]["cache_missed_input_tokens"] is None
    assert SENTINEL not in repr(logs) and SENTINEL not in repr(seen)


async def test_agent_sees_system_changed_between_turns() -> None:
    replies = [ModelReply(text="First."), ModelReply(text="Second.")]
    with anyio.fail_after(20):
        async with Emulator(script=replies) as emu:
            provider = AnthropicProvider(
                api_key=SENTINEL, base_url=emu.anthropic_base_url, cache_diagnostics=True
            )
            async with provider:
                agent = Agent(provider=provider, model=HAIKU, system_prompt=text(2500))
                await agent.run("Review my patch.")
                later = Agent(
                    provider=provider,
                    model=HAIKU,
                    system_prompt=text(2500) + " Today is Tuesday.",
                    messages=agent.messages,
                )
                await later.run("And the tests?")
    answers = [m for m in later.messages if isinstance(m, AssistantMessage)]
    assert [a.cache_miss_reason for a in answers] == [None, "system_changed"]
    saved = AssistantMessage.from_dict(answers[-1].to_dict())
    assert saved.cache_miss_reason == "system_changed"


async def test_off_by_default_sends_nothing() -> None:
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text="Hi.")]) as emu:
            provider = AnthropicProvider(api_key=SENTINEL, base_url=emu.anthropic_base_url)
            async with provider:
                answer = await ask(provider, context(UserMessage("Hi")))
        (request,) = emu.requests
    assert "diagnostics" not in request.body
    assert "anthropic-beta" not in request.headers
    assert answer.cache_miss_reason is None
