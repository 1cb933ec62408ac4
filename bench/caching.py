"""Item 1, cache savings: the session of ``bench.session`` under each placement strategy.

Each strategy runs the whole session through ``agent_loop`` and the
``AnthropicProvider`` against the emulator, so a rejected request is a real
400. A rejected request is counted and sent again without markers, so the
conversation (and every later request) is identical across strategies.

Costs are input-side only (output is the same for all) and come from the
emulator's cache report of each answered request and the model's list prices:
input x1, read x0.1, 5m write x1.25, 1h write x2.

The ideal, per request: read the whole previous prompt, write only what is
new; except where no placement could do it: after a gap longer than 5 minutes
every 5m entry has expired (read nothing, write everything), and a prompt
shorter than the minimum cacheable length writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio

from agentkit._errors import ProviderError
from agentkit._loop import LoopConfig, agent_loop
from agentkit._messages import AssistantMessage, Context, Message, TextContent
from agentkit._models import find_model
from agentkit._stream import EventStream
from agentkit.providers import AnthropicProvider
from agentkit.providers._base import AssistantStream, ModelOptions, Provider
from agentkit.providers._http import RetryPolicy
from agentkit.testing.emulator import Emulator, EmulatorConfig, ManualClock
from bench import session
from bench.strategies import STRATEGIES, Strategy, strip_markers

__all__ = ["MODEL", "run", "run_session"]

MODEL = "claude-sonnet-4-5"
SECONDS_PER_REQUEST = 3.0  # the emulator clock moves this much per answered request
THINK_SECONDS = 20.0  # between user turns
PAUSE_SECONDS = 360.0  # the long pause: longer than the 5-minute TTL
TTL_5M = 300.0


class _Rejections:
    """Wraps a provider: a rejected (400) request is counted and retried without markers."""

    def __init__(self, inner: Provider, clock: ManualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.rejected = 0
        self.messages: list[str] = []
        self.times: list[float] = []  # the clock at each answered request

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
        async def produce(out: AssistantStream) -> None:
            try:
                await self._relay(context, options, out)
            except ProviderError as exc:
                if exc.status != 400:
                    raise
                self.rejected += 1
                self.messages.append(str(exc))
                await self._relay(strip_markers(context), options, out)

        return EventStream(produce, name="rejections")

    async def _relay(self, context: Context, options: ModelOptions, out: AssistantStream) -> None:
        now = self.clock.now()
        async with self.inner.stream(context, options) as answer:
            async for event in answer:
                await out.push(event)
            message: AssistantMessage = await answer.result()
        self.times.append(now)
        self.clock.advance(SECONDS_PER_REQUEST)
        out.end(message)


async def run_session(
    emu: Emulator, strategy: Strategy, turns: int | None = None
) -> dict[str, Any]:
    """Plays the session (or its first ``turns`` turns) under ``strategy``; returns its figures."""
    emu.reset()
    emu.set_policy(session.policy)
    assert isinstance(emu.clock, ManualClock)
    provider = AnthropicProvider(
        api_key="bench", base_url=emu.anthropic_base_url, retry=RetryPolicy(max_retries=0)
    )
    wrapper = _Rejections(provider, emu.clock)
    config = LoopConfig(
        provider=wrapper,
        options=ModelOptions(MODEL, max_tokens=4096),
        system_prompt=[TextContent(t) for t in session.SYSTEM],
        tools=session.TOOLS,
        transform=strategy.transform,
    )
    history: list[Message] = []
    async with provider:
        for number, prompt in enumerate(session.PROMPTS[:turns], start=1):
            pause = PAUSE_SECONDS if number == session.PAUSE_BEFORE_TURN else THINK_SECONDS
            emu.clock.advance(pause)
            result = await agent_loop(config, history, prompt).result()
            history.extend(result.messages)
    answered = [r for r in emu.requests if r.status == 200]
    if len(answered) != len(wrapper.times):
        raise RuntimeError(f"{len(answered)} answered requests but {len(wrapper.times)} timed")
    reports = [r.cache for r in answered]
    if any(c is None for c in reports):
        raise RuntimeError("an answered request has no cache report")
    return {
        "requests": len(answered),
        "rejected": wrapper.rejected,
        "rejection_example": wrapper.messages[0] if wrapper.messages else None,
        "totals": [c.total_tokens for c in reports if c is not None],
        "read": [c.read_tokens for c in reports if c is not None],
        "write_5m": [c.write_5m_tokens for c in reports if c is not None],
        "write_1h": [c.write_1h_tokens for c in reports if c is not None],
        "input": [c.input_tokens for c in reports if c is not None],
        "times": wrapper.times,
    }


def _cost(price: float, inp: int, read: int, w5: int, w1h: int) -> float:
    return price * (inp + 0.1 * read + 1.25 * w5 + 2.0 * w1h) / 1e6


def ideal(totals: Sequence[int], times: Sequence[float], minimum: int) -> dict[str, int]:
    """The ideal's token split over the session (see the module docstring)."""
    read = write = inp = 0
    for k, total in enumerate(totals):
        fresh = k == 0 or times[k] - times[k - 1] > TTL_5M
        cached = 0 if fresh or totals[k - 1] < minimum else totals[k - 1]
        read += cached
        if total >= minimum:
            write += total - cached
        else:
            inp += total - cached
    return {"read": read, "write_5m": write, "input": inp}


def summarise(raw: dict[str, dict[str, Any]], minimum: int) -> dict[str, Any]:
    info = find_model(MODEL)
    if info is None or info.input_price is None:
        raise RuntimeError(f"no price for {MODEL}")
    price = info.input_price
    base = raw["none"]
    for key, figures in raw.items():
        if figures["totals"] != base["totals"]:
            raise RuntimeError(f"strategy {key!r} played a different session")
    uncached = _cost(price, sum(base["totals"]), 0, 0, 0)
    best = ideal(base["totals"], base["times"], minimum)
    ideal_cost = _cost(price, best["input"], best["read"], best["write_5m"], 0)
    rows = []
    for key, figures in raw.items():
        cost = _cost(
            price,
            sum(figures["input"]),
            sum(figures["read"]),
            sum(figures["write_5m"]),
            sum(figures["write_1h"]),
        )
        saving = uncached - cost
        rows.append(
            {
                "strategy": key,
                "requests": figures["requests"],
                "rejected": figures["rejected"],
                "rejection_example": figures["rejection_example"],
                "hits": sum(1 for r in figures["read"] if r > 0),
                "read_tokens": sum(figures["read"]),
                "write_5m_tokens": sum(figures["write_5m"]),
                "write_1h_tokens": sum(figures["write_1h"]),
                "input_tokens": sum(figures["input"]),
                "cost_usd": cost,
                "cost_vs_none": cost / uncached,
                "share_of_ideal_saving": saving / (uncached - ideal_cost),
            }
        )
    return {
        "minimum": minimum,
        "model": MODEL,
        "input_price_per_mtok": price,
        "requests": len(base["totals"]),
        "prompt_tokens": sum(base["totals"]),
        "last_prompt_tokens": base["totals"][-1],
        "uncached_cost_usd": uncached,
        "ideal": {**best, "cost_usd": ideal_cost, "cost_vs_none": ideal_cost / uncached},
        "rows": rows,
    }


#: (minimum cacheable tokens, one position per run of tool blocks): the newer
#: documented counting at both minimums, and the older one-position-per-block.
CONFIGS: tuple[tuple[int, bool], ...] = ((1024, True), (4096, True), (1024, False))


async def _run_config(
    minimum: int, collapse: bool, strategies: Sequence[Strategy], turns: int | None
) -> dict[str, Any]:
    config = EmulatorConfig(min_cacheable_tokens={MODEL: minimum}, collapse_tool_runs=collapse)
    raw: dict[str, dict[str, Any]] = {}
    async with Emulator(config=config, clock=ManualClock()) as emu:
        for strategy in strategies:
            raw[strategy.key] = await run_session(emu, strategy, turns)
    return {**summarise(raw, minimum), "collapse_tool_runs": collapse}


def run(quick: bool = False, *, turns: int | None = None) -> dict[str, Any]:
    """Every strategy under each of ``CONFIGS``; ``quick`` plays the first 6 turns."""
    played = turns if turns is not None else (6 if quick else None)
    # The sessions wait on loopback round trips far more than they compute: one
    # thread (and emulator) per configuration overlaps the waits.
    with ThreadPoolExecutor(len(CONFIGS)) as pool:
        futures = [
            pool.submit(anyio.run, _run_config, m, c, STRATEGIES, played) for m, c in CONFIGS
        ]
        results = [f.result() for f in futures]
    return {
        "labels": {s.key: s.label for s in STRATEGIES},
        "session": {
            "user_turns": played or len(session.PROMPTS),
            "all_turns": len(session.PROMPTS),
            "planned_requests": session.request_count(),
            "tools": len(session.TOOLS),
            "pause_before_turn": session.PAUSE_BEFORE_TURN,
            "pause_seconds": PAUSE_SECONDS,
        },
        "configs": results,
    }
