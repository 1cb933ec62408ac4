"""End to end over loopback HTTP: Agent + each provider + the emulator's caching rules."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from agentkit import (
    Agent,
    AnthropicProvider,
    AssistantMessage,
    BadRequestError,
    CacheBreakpoints,
    Context,
    OpenRouterProvider,
    Provider,
    RetryPolicy,
    TextContent,
    TransformInfo,
    UserMessage,
    tool,
)
from agentkit._messages import CacheControl
from agentkit.testing.emulator import Emulator, EmulatorConfig, ModelReply, ToolUse

pytestmark = pytest.mark.anyio

API_KEY = "sk-e2e-test-key"
HAIKU = {"anthropic": "claude-3-5-haiku-20241022", "openrouter": "anthropic/claude-3.5-haiku"}
APIS = ["anthropic", "openrouter"]


def system_prompt(tokens: int) -> str:
    """About ``tokens`` tokens by the four-characters-a-token estimate both sides use."""
    sentence = "Review code for correctness, clarity and tests; cite the line you mean. "
    return (sentence * (tokens * 4 // len(sentence) + 1))[: tokens * 4]


def provider_for(api: str, emulator: Emulator) -> Provider:
    retry = RetryPolicy(max_retries=2, base_delay=0.01)
    if api == "anthropic":
        return AnthropicProvider(api_key=API_KEY, base_url=emulator.anthropic_base_url, retry=retry)
    return OpenRouterProvider(api_key=API_KEY, base_url=emulator.openrouter_base_url, retry=retry)


@asynccontextmanager
async def session(api: str, script: Any, **config: Any) -> AsyncIterator[tuple[Emulator, Provider]]:
    async with Emulator(script=script, config=EmulatorConfig(**config)) as emulator:
        provider = provider_for(api, emulator)
        async with provider:  # type: ignore[attr-defined]
            yield emulator, provider


class Reviewer(Agent):
    @tool
    def read_file(self, path: str) -> str:
        """Read a file of the repository."""
        return f"contents of {path}: " + "x = 1\n" * 20


def answers(agent: Agent) -> list[AssistantMessage]:
    return [m for m in agent.messages if isinstance(m, AssistantMessage)]


@pytest.mark.parametrize("api", APIS)
async def test_second_request_reads_the_cached_system_prompt(api: str) -> None:
    with anyio.fail_after(20):
        async with session(api, [ModelReply(text="First."), ModelReply(text="Second.")]) as (
            emu,
            provider,
        ):
            agent = Reviewer(provider=provider, model=HAIKU[api], system_prompt=system_prompt(2400))
            await agent.run("Review my patch.")
            await agent.run("And the tests?")
        first, second = answers(agent)
        assert first.usage.cache_read == 0
        assert first.usage.cache_write > 2048
        assert second.usage.cache_read >= first.usage.cache_write
        assert emu.requests[1].cache.read_tokens == second.usage.cache_read
        assert second.usage.cost < first.usage.cost


@pytest.mark.parametrize("api", APIS)
async def test_below_the_minimum_nothing_is_cached_and_the_run_says_so(api: str) -> None:
    with anyio.fail_after(20), capture_logs() as logs:
        async with session(api, [ModelReply(text="First."), ModelReply(text="Second.")]) as (
            _,
            provider,
        ):
            agent = Reviewer(provider=provider, model=HAIKU[api], system_prompt=system_prompt(1200))
            await agent.run("Review my patch.")
            await agent.run("And the tests?")
    first, second = answers(agent)
    assert (first.usage.cache_write, second.usage.cache_read, second.usage.cache_write) == (0, 0, 0)
    warnings = [entry for entry in logs if entry["event"] == "cache.prefix_below_minimum"]
    assert len(warnings) == 1, "once per process for this model and prefix, over two runs"
    assert warnings[0]["minimum"] == 2048
    assert 1200 <= warnings[0]["estimate"] < 2048


async def test_openrouter_without_reported_writes_derives_them_from_cost() -> None:
    script = [ModelReply(text="First."), ModelReply(text="Second.")]
    with anyio.fail_after(20):
        async with session("openrouter", script, report_cache_writes=False) as (emu, provider):
            agent = Reviewer(
                provider=provider, model=HAIKU["openrouter"], system_prompt=system_prompt(2400)
            )
            await agent.run("Review my patch.")
            await agent.run("And the tests?")
        first, second = answers(agent)
        assert first.usage.cache_write_derived
        written = emu.requests[0].cache.write_5m_tokens + emu.requests[0].cache.write_1h_tokens
        assert abs(first.usage.cache_write - written) <= 1
        assert second.usage.cache_read > 0


def tool_session(steps: int) -> Callable[[Any], ModelReply]:
    """A coding session: parallel reads, then a long sequential chain, then an answer."""
    replies = [
        ModelReply(
            tool_calls=[
                ToolUse("read_file", {"path": "a.py"}),
                ToolUse("read_file", {"path": "b.py"}),
            ]
        )
    ]
    replies += [
        ModelReply(text=f"Step {n}.", tool_calls=[ToolUse("read_file", {"path": f"m{n}.py"})])
        for n in range(steps - 2)
    ]
    replies.append(ModelReply(text="Done: the patch is fine."))
    return replies  # type: ignore[return-value]


@pytest.mark.parametrize("api", APIS)
async def test_a_thirty_request_tool_session_reads_the_whole_previous_request_each_time(
    api: str,
) -> None:
    with anyio.fail_after(60):
        async with session(api, tool_session(30)) as (emu, provider):
            agent = Reviewer(provider=provider, model=HAIKU[api], system_prompt=system_prompt(2400))
            result = await agent.run("Review the whole module.")
        assert result.text == "Done: the patch is fine."
        records = emu.requests
        assert len(records) == 30
        assert all(r.status == 200 for r in records), "no request was rejected"
        for before, after in itertools.pairwise(records):
            # Ideal caching: everything the previous request sent is read back.
            assert after.cache.read_tokens == before.cache.total_tokens


def predecessor(context: Context, info: TransformInfo) -> Context:
    """The predecessor's strategy: a marker on the last block of every user message."""
    marked = [
        UserMessage((*m.content[:-1], TextContent(m.text, CacheControl())))
        if isinstance(m, UserMessage)
        else m
        for m in context.messages
    ]
    return context.evolve(messages=tuple(marked))


@pytest.mark.parametrize("api", APIS)
async def test_a_marker_on_every_user_message_is_rejected_from_the_fifth_message_on(
    api: str,
) -> None:
    script = [ModelReply(text=f"Answer {n}.") for n in range(1, 5)]
    with anyio.fail_after(30):
        async with session(api, script) as (emu, provider):
            agent = Reviewer(
                provider=provider,
                model=HAIKU[api],
                system_prompt=system_prompt(2400),
                caching=CacheBreakpoints(mode="off"),
                transforms=[predecessor],
            )
            for n in range(1, 5):
                assert (await agent.run(f"Question {n}?")).text == f"Answer {n}."
            for n in (5, 6):
                with pytest.raises(BadRequestError) as caught:
                    await agent.run(f"Question {n}?")
                assert caught.value.status == 400
                assert "A maximum of 4 blocks with cache_control may be provided. Found" in str(
                    caught.value
                )
        assert [r.status for r in emu.requests] == [200, 200, 200, 200, 400, 400]
        # The agent kept its history and stays usable: nothing lost, nothing doubled.
        assert [m.text for m in agent.messages if isinstance(m, UserMessage)] == [
            f"Question {n}?" for n in range(1, 7)
        ]


async def test_an_openrouter_tool_run_drops_no_marker_and_reads_the_whole_prefix() -> None:
    # Every marker the transform places is one the OpenAI format can carry: none
    # is dropped on the way out (no cache.marker_dropped), and caching still works.
    script = [
        ModelReply(tool_calls=[ToolUse("read_file", {"path": "a.py"})]),
        ModelReply(text="Looks fine."),
        ModelReply(text="Tests too."),
    ]
    with anyio.fail_after(20), capture_logs() as logs:
        async with session("openrouter", script) as (emu, provider):
            agent = Reviewer(
                provider=provider, model=HAIKU["openrouter"], system_prompt=system_prompt(2500)
            )
            await agent.run("Review my patch.")
            await agent.run("And the tests?")
    assert [e for e in logs if e["event"] == "cache.marker_dropped"] == []
    first, second, third = (record.cache for record in emu.requests)
    assert first.write_5m_tokens > 2048
    assert second.read_tokens >= first.write_5m_tokens
    assert third.read_tokens >= second.read_tokens + second.write_5m_tokens
    assert third.hit_position == second.breakpoint_positions[-1], "the whole prefix is read"
