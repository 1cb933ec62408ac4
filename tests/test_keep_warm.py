"""KeepWarm against the emulator's cache engine, on a manual clock and an injected sleeper:
no real sleeps; every step waits on the sleeper being parked or on keep-warm stopping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from agentkit import Agent, AnthropicProvider, AssistantMessage, KeepWarm, Usage
from agentkit.testing import ScriptedProvider
from agentkit.testing.emulator import Emulator, ModelReply

pytestmark = pytest.mark.anyio

SENTINEL = "sk-test-SENTINEL-keepwarm-0000"
HAIKU = "claude-3-5-haiku-20241022"


def text(tokens: int) -> str:
    sentence = "Review code for correctness, clarity and tests; cite the line you mean. "
    return (sentence * (tokens * 4 // len(sentence) + 1))[: tokens * 4]


class Sleeper:
    """An injected ``sleep``: parks until the test wakes it (after moving the clock)."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._wakes: list[anyio.Event] = []
        self._taken = 0
        self._arrived = anyio.Event()

    async def __call__(self, seconds: float) -> None:
        wake = anyio.Event()
        self.asked.append(seconds)
        self._wakes.append(wake)
        self._arrived.set()
        await wake.wait()

    async def parked(self) -> float:
        """Wait for the next sleep to start; returns the seconds asked."""
        while self._taken >= len(self._wakes):
            self._arrived = anyio.Event()
            await self._arrived.wait()
        self._taken += 1
        return self.asked[self._taken - 1]

    def wake(self) -> None:
        """End the sleep :meth:`parked` last returned."""
        self._wakes[self._taken - 1].set()


@asynccontextmanager
async def agent_on_emulator(replies: int = 4) -> AsyncIterator[tuple[Emulator, Agent[Any]]]:
    script = [ModelReply(text=f"answer {i}") for i in range(replies)]
    async with Emulator(script=script) as emu:
        provider = AnthropicProvider(api_key=SENTINEL, base_url=emu.anthropic_base_url)
        async with provider:
            yield emu, Agent(provider=provider, model=HAIKU, system_prompt=text(2500))


def last_answer(agent: Agent[Any]) -> AssistantMessage:
    return [m for m in agent.messages if isinstance(m, AssistantMessage)][-1]


def billed(emu: Emulator, refreshes: int) -> Usage:
    """What the emulator billed for the max_tokens=0 requests."""
    records = [r for r in emu.requests if r.body["max_tokens"] == 0]
    assert len(records) == refreshes
    return Usage(
        cache_read=sum(r.usage["cache_read_input_tokens"] for r in records),
        cache_write=sum(r.usage["cache_creation_input_tokens"] for r in records),
        output=sum(r.usage["output_tokens"] for r in records),
    )


@pytest.mark.parametrize("keep_warm", [True, False])
async def test_a_twenty_minute_pause_keeps_the_conversation(keep_warm: bool) -> None:
    sleeper = Sleeper()
    with anyio.fail_after(30), capture_logs() as logs:
        async with agent_on_emulator() as (emu, agent):
            await agent.run("Review my patch.")
            if keep_warm:
                async with KeepWarm(agent, interval=240, max_requests=10, sleep=sleeper) as warm:
                    for _ in range(5):  # 5 x 240 s = 20 minutes
                        assert await sleeper.parked() == 240
                        emu.clock.advance(240)
                        sleeper.wake()
                    await sleeper.parked()  # the fifth refresh is done
            else:
                emu.clock.advance(1200)
            await agent.run("And the tests?")
            answer = last_answer(agent)
    if keep_warm:
        assert warm.requests == 5
        assert warm.stopped is None
        spent = billed(emu, 5)
        assert (warm.usage.cache_read, warm.usage.cache_write) == (
            spent.cache_read,
            spent.cache_write,
        )
        assert warm.usage.output == spent.output == 0
        assert warm.usage.cache_write == 0  # a replay of the last request only reads
        assert warm.usage.cost is not None and warm.usage.cost > 0
        # Every refresh read the whole conversation, so the next prompt did too.
        assert warm.usage.cache_read >= 5 * 2500
        assert answer.usage.cache_read > 2500
        events = [e for e in logs if e["event"] == "cache.keep_warm"]
        assert len(events) == 5 and events[-1]["total_cost"] == warm.usage.cost
    else:
        assert answer.usage.cache_read == 0
    assert SENTINEL not in repr(logs)


async def test_stops_at_max_requests() -> None:
    sleeper = Sleeper()
    with anyio.fail_after(30):
        async with agent_on_emulator() as (emu, agent):
            await agent.run("Review my patch.")
            async with KeepWarm(agent, interval=240, max_requests=2, sleep=sleeper) as warm:
                for _ in range(2):
                    await sleeper.parked()
                    emu.clock.advance(240)
                    sleeper.wake()
                assert await warm.wait_stopped() == "max_requests"
    assert warm.requests == 2
    billed(emu, 2)


async def test_stops_before_passing_max_cost() -> None:
    sleeper = Sleeper()
    with anyio.fail_after(30):
        async with agent_on_emulator() as (emu, agent):
            await agent.run("Review my patch.")
            async with KeepWarm(agent, interval=240, max_requests=1, sleep=sleeper) as probe:
                await sleeper.parked()
                emu.clock.advance(240)
                sleeper.wake()
                await probe.wait_stopped()
            one = probe.usage.cost
            assert one is not None and one > 0
            cap = one * 2.5  # room for two refreshes, not three
            async with KeepWarm(agent, interval=240, max_cost=cap, sleep=sleeper) as warm:
                for _ in range(2):
                    await sleeper.parked()
                    emu.clock.advance(240)
                    sleeper.wake()
                assert await warm.wait_stopped() == "max_cost"
    assert warm.requests == 2
    assert warm.usage.cost is not None and warm.usage.cost <= cap


async def test_a_prompt_stops_the_pending_refresh() -> None:
    sleeper = Sleeper()
    with anyio.fail_after(30):
        async with agent_on_emulator() as (emu, agent):
            await agent.run("Review my patch.")
            async with KeepWarm(agent, interval=240, max_requests=5, sleep=sleeper) as warm:
                await sleeper.parked()
                await agent.run("And the tests?")  # cancels the sleep; no refresh is sent
                await sleeper.parked()  # idle again: the timer starts over
            # Leaving the block cancels the parked sleeper: no task outlives it.
    assert warm.requests == 0
    assert [r.body["max_tokens"] != 0 for r in emu.requests] == [True, True]


async def test_prewarm_writes_system_before_the_first_message() -> None:
    with anyio.fail_after(30):
        async with agent_on_emulator() as (emu, agent):
            async with KeepWarm(agent, max_requests=1, sleep=Sleeper()) as warm:
                warmed = await warm.prewarm()
                await agent.run("Review my patch.")
            first = last_answer(agent)
    assert warmed.content == () and warmed.usage.output == 0
    assert warmed.usage.cache_write >= 2500
    assert first.usage.cache_read >= 2500  # the first real request read the warmed prefix
    assert warm.requests == 1
    assert billed(emu, 1).cache_write == warmed.usage.cache_write


def test_a_cap_is_required() -> None:
    with pytest.raises(ValueError, match="cap"):
        KeepWarm(Agent(ScriptedProvider([]), model=HAIKU))
    with pytest.raises(ValueError, match="interval"):
        KeepWarm(Agent(ScriptedProvider([]), model=HAIKU), max_requests=1, interval=0)


async def test_aclose_stops_keep_warm_and_the_block_goes_on() -> None:
    sleeper = Sleeper()
    with anyio.fail_after(30):
        async with agent_on_emulator() as (emu, agent):
            await agent.run("Review my patch.")
            async with KeepWarm(agent, interval=240, max_requests=5, sleep=sleeper) as warm:
                await sleeper.parked()
                await warm.aclose()
                emu.clock.advance(240)
                await agent.run("And the tests?")  # still runs inside the block
            answer = last_answer(agent)
    assert warm.requests == 0
    assert answer.text == "answer 1"
    assert len(emu.requests) == 2
