"""The ``auto`` mode: AnthropicProvider(automatic_caching=True) sends top-level
``cache_control`` and the emulator places the breakpoint, as the API does (§1.1)."""

from __future__ import annotations

import anyio
import pytest

from agentkit import Agent, AnthropicProvider, AssistantMessage, CacheBreakpoints
from agentkit.testing.emulator import Emulator, ModelReply

pytestmark = pytest.mark.anyio

HAIKU = "claude-3-5-haiku-20241022"
SYSTEM = "Review code for correctness, clarity and tests; cite the line you mean. " * 150


def has_block_marker(body: object) -> bool:
    return "'cache_control'" in repr(
        {k: v for k, v in body.items() if k != "cache_control"}  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize("explicit", [False, True])
async def test_automatic_caching_reads_the_conversation(explicit: bool) -> None:
    replies = [ModelReply(text="First."), ModelReply(text="Second.")]
    with anyio.fail_after(20):
        async with Emulator(script=replies) as emu:
            provider = AnthropicProvider(
                api_key="sk-auto", base_url=emu.anthropic_base_url, automatic_caching=True
            )
            async with provider:
                options = {} if explicit else {"caching": CacheBreakpoints(mode="off")}
                agent = Agent(provider=provider, model=HAIKU, system_prompt=SYSTEM, **options)
                await agent.run("Review my patch.")
                await agent.run("And the tests?")
        requests = emu.requests
    answers = [m for m in agent.messages if isinstance(m, AssistantMessage)]
    assert all(r.body["cache_control"] == {"type": "ephemeral"} for r in requests)
    assert [has_block_marker(r.body) for r in requests] == [explicit, explicit]
    # The second request reads the whole first prompt (system and first message).
    assert answers[0].usage.cache_write > 2000
    assert answers[1].usage.cache_read == answers[0].usage.cache_write


async def test_off_by_default() -> None:
    with anyio.fail_after(20):
        async with Emulator(script=[ModelReply(text="Hi.")]) as emu:
            provider = AnthropicProvider(api_key="sk-auto", base_url=emu.anthropic_base_url)
            async with provider:
                await Agent(provider=provider, model=HAIKU).run("Hi")
        (request,) = emu.requests
    assert "cache_control" not in request.body
