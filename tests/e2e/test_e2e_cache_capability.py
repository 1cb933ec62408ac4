"""Caching follows the API, not the name: an aliased model on the Anthropic API still reads.

Before, a gateway alias (a LiteLLM or proxy model name) got no markers and no
warning, and every turn paid for the whole prompt uncached.
"""

from __future__ import annotations

import anyio
import pytest
from structlog.testing import capture_logs

from agentkit import Agent, AnthropicProvider, AssistantMessage, CacheBreakpoints, RetryPolicy
from agentkit._models import ModelInfo, find_model
from agentkit.testing.emulator import Emulator, EmulatorConfig, ModelReply

pytestmark = pytest.mark.anyio

ALIAS = "team-gateway/fast-large"  # what a proxy calls the model; the registry has no idea


def system_prompt(tokens: int) -> str:
    """About ``tokens`` tokens by the four-characters-a-token estimate both sides use."""
    sentence = "Review code for correctness, clarity and tests; cite the line you mean. "
    return (sentence * (tokens * 4 // len(sentence) + 1))[: tokens * 4]


def answers(agent: Agent) -> list[AssistantMessage]:
    return [m for m in agent.messages if isinstance(m, AssistantMessage)]


async def two_turns(agent_class: type[Agent], model: str) -> tuple[Agent, Emulator, list[dict]]:
    script = [ModelReply(text="First."), ModelReply(text="Second.")]
    with capture_logs() as logs:
        # The emulator plays the gateway that serves the alias (an unknown name is a 404).
        served = ModelInfo(ALIAS, context_window=200_000, min_cacheable_tokens=1024)
        async with Emulator(
            script=script, config=EmulatorConfig(models={ALIAS: served})
        ) as emulator:
            provider = AnthropicProvider(
                api_key="sk-e2e-alias-key",
                base_url=emulator.anthropic_base_url,
                retry=RetryPolicy(max_retries=2, base_delay=0.01),
            )
            async with provider:
                agent = agent_class(
                    provider=provider, model=model, system_prompt=system_prompt(2400)
                )
                await agent.run("Review my patch.")
                await agent.run("And the tests?")
    return agent, emulator, logs


async def test_an_aliased_model_on_the_anthropic_api_reads_the_cache_on_request_2() -> None:
    assert find_model(ALIAS) is None
    with anyio.fail_after(20):
        agent, emulator, logs = await two_turns(Agent, ALIAS)
    first, second = answers(agent)
    assert [r.body["model"] for r in emulator.requests] == [ALIAS, ALIAS]
    assert first.usage.cache_write > 2048
    assert second.usage.cache_read >= first.usage.cache_write
    assert emulator.requests[1].cache.read_tokens == second.usage.cache_read
    assert second.usage.cache_write < 100, "only the new turn is written"
    notices = [e for e in logs if e["event"] == "cache.model_assumed"]
    assert len(notices) == 2, "once per run, and there were two runs"
    assert notices[0]["model"] == ALIAS
    assert notices[0]["min_cacheable_tokens"] == 1024


async def test_without_markers_the_same_alias_reads_nothing() -> None:
    """The control: with markers off the same alias reads nothing, so the test above can fail."""

    class NoMarkers(Agent):
        caching = CacheBreakpoints(explicit_breakpoints=False)

    with anyio.fail_after(20):
        agent, emulator, _ = await two_turns(NoMarkers, ALIAS)
    first, second = answers(agent)
    assert (first.usage.cache_write, second.usage.cache_read) == (0, 0)
    assert all("cache_control" not in str(r.body) for r in emulator.requests)
