"""Issue 18 item 6: how much of the cached prefix survives a user pause, and what it costs.

A short conversation (a ~3,000-token system prompt, four turns 20 s apart)
then a pause of 1 to 60 minutes, then one more turn. Each policy runs the real
``Agent`` and ``AnthropicProvider`` over loopback HTTP against the emulator,
whose cache engine runs on a virtual clock: keep-warm's injected sleeper moves
the clock instead of waiting, so a 60-minute pause takes milliseconds.

Policies:

- ``current``: the default 5-minute markers, nothing while idle;
- ``1h``: ``CacheBreakpoints(mode="1h")`` (tools and system at the 1-hour TTL);
- ``auto``: no markers from agentkit, top-level automatic ``cache_control``
  (``AnthropicProvider(automatic_caching=True)``);
- ``keep_warm``: the default markers plus :class:`agentkit.KeepWarm` (a
  ``max_tokens=0`` replay of the last request every 240 s, cap 15 requests).

The 5-minute ideal for the turn after the pause is what it reads with no pause
at all (the whole previous prompt); "kept" is its read tokens over that.
Costs are the registry's list prices for the model, in dollars: the turn
after the pause plus whatever keep-warm spent during it.
"""

from __future__ import annotations

from typing import Any

import anyio

from agentkit import Agent, AnthropicProvider, CacheBreakpoints, KeepWarm
from agentkit._messages import AssistantMessage
from agentkit.testing.emulator import Emulator, ManualClock, ModelReply

__all__ = ["MODEL", "PAUSES_MINUTES", "run"]

MODEL = "claude-sonnet-4-5"
PAUSES_MINUTES = (1, 2, 4, 5, 6, 10, 15, 20, 30, 45, 60)
QUICK_PAUSES = (1, 10, 60)
INTERVAL = 240.0
CAP = 15
THINK = 20.0
TURNS = 4
KEY = "sk-bench-keep-warm"


def _text(tokens: int, word: str) -> str:
    sentence = f"{word} the code for correctness, clarity and tests; cite each line you mean. "
    return (sentence * (tokens * 4 // len(sentence) + 1))[: tokens * 4]


SYSTEM = _text(3000, "Review")


class _VirtualSleep:
    """Keep-warm's sleeper: moves the emulator clock, and parks at the user's return."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.resume_at: float | None = None
        self.parked = anyio.Event()
        self._armed = anyio.Event()

    def arm(self, resume_at: float) -> None:
        """The user pauses now and returns at ``resume_at``."""
        self.resume_at = resume_at
        self._armed.set()

    async def __call__(self, seconds: float) -> None:
        while self.resume_at is None:  # no pause yet: the next prompt cancels this
            self._armed = anyio.Event()
            await self._armed.wait()
        if self.clock.now() + seconds <= self.resume_at:
            self.clock.advance(seconds)
            await anyio.lowlevel.checkpoint()
            return
        self.clock.advance(max(0.0, self.resume_at - self.clock.now()))
        self.parked.set()
        await anyio.Event().wait()  # until the next prompt cancels it


async def _parked_or_stopped(sleeper: _VirtualSleep, warm: KeepWarm) -> None:
    async with anyio.create_task_group() as group:

        async def parked() -> None:
            await sleeper.parked.wait()
            group.cancel_scope.cancel()

        async def stopped() -> None:
            await warm.wait_stopped()
            group.cancel_scope.cancel()

        group.start_soon(parked)
        group.start_soon(stopped)


def _answers(agent: Agent[Any]) -> list[AssistantMessage]:
    return [m for m in agent.messages if isinstance(m, AssistantMessage)]


async def _session(policy: str, pause: float, *, prewarm: bool = False) -> dict[str, Any]:
    clock = ManualClock()
    replies = [ModelReply(text=_text(150, f"Answer{i}")) for i in range(TURNS + 1)]
    async with Emulator(script=replies, clock=clock) as emu:
        provider = AnthropicProvider(
            api_key=KEY, base_url=emu.anthropic_base_url, automatic_caching=policy == "auto"
        )
        async with provider:
            options: dict[str, Any] = {}
            if policy == "1h":
                options["caching"] = CacheBreakpoints(mode="1h")
            elif policy == "auto":
                options["caching"] = CacheBreakpoints(mode="off")
            agent: Agent[Any] = Agent(
                provider=provider, model=MODEL, system_prompt=SYSTEM, **options
            )
            sleeper = _VirtualSleep(clock)
            warm = KeepWarm(agent, interval=INTERVAL, max_requests=CAP, sleep=sleeper)
            async with warm:  # "current" and "1h" close it at the pause, unused
                if prewarm:
                    await warm.prewarm()
                    clock.advance(30.0)  # the user types the first message
                for turn in range(TURNS):
                    if turn:
                        clock.advance(THINK)
                    await agent.run(_text(200, f"Question{turn}"))
                if policy == "keep_warm":
                    resume_at = clock.now() + pause
                    sleeper.arm(resume_at)
                    with anyio.fail_after(30):
                        await _parked_or_stopped(sleeper, warm)
                    clock.advance(max(0.0, resume_at - clock.now()))  # stopped at the cap
                else:
                    clock.advance(pause)
                    await warm.aclose()
                after_warm = warm.usage.cost or 0.0
                refreshes = warm.requests - (1 if prewarm else 0)
                await agent.run(_text(200, "Question-after"))
            answers = _answers(agent)
    first, last = answers[0], answers[-1]
    return {
        "read": last.usage.cache_read,
        "write": last.usage.cache_write + last.usage.cache_write_1h,
        "turn_cost": last.usage.cost or 0.0,
        "keep_warm_cost": after_warm if policy == "keep_warm" else 0.0,
        "refreshes": refreshes if policy == "keep_warm" else 0,
        "first_read": first.usage.cache_read,
        "prewarm_cost": (warm.usage.cost or 0.0) if prewarm else 0.0,
    }


async def _all(pauses: tuple[int, ...]) -> dict[str, Any]:
    ideal = await _session("current", 0.0)
    rows = []
    for minutes in pauses:
        row: dict[str, Any] = {"minutes": minutes}
        for policy in ("current", "1h", "auto", "keep_warm"):
            got = await _session(policy, minutes * 60.0)
            row[policy] = dict(got, kept=got["read"] / ideal["read"] if ideal["read"] else 0.0)
        rows.append(row)
    cold = await _session("current", 0.0)
    warmed = await _session("current", 0.0, prewarm=True)
    return {
        "model": MODEL,
        "interval_seconds": INTERVAL,
        "cap_requests": CAP,
        "turns_before_pause": TURNS,
        "ideal_read": ideal["read"],
        "ideal_turn_cost": ideal["turn_cost"],
        "rows": rows,
        "prewarm": {
            "first_read_cold": cold["first_read"],
            "first_read_prewarmed": warmed["first_read"],
            "prewarm_cost": warmed["prewarm_cost"],
        },
    }


def run(quick: bool = False) -> dict[str, Any]:
    pauses = QUICK_PAUSES if quick else PAUSES_MINUTES
    result: dict[str, Any] = anyio.run(_all, pauses)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=1))
