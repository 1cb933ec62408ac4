"""Soak: thousands of agent runs against the emulator with random faults (``make soak``).

Every run draws, from a seeded generator, an HTTP fault (status, mid-stream
error, dropped connection, stall, malformed frame, slow drip, or none) at a
random point of the stream, a tool fault (none, raises, hangs past its
timeout, returns something unserialisable) and a consumer (reads all, breaks
early, is cancelled, aborts). Each run must end in a documented state, leave
no task and no HTTP response open, and keep the agent's history equal to the
messages that had a ``MessageEnd``. Memory (traced Python allocations and
RSS) is sampled every ``--every`` runs after a full collection; the report
gives the least-squares slope in bytes per run over the second half.

    python scripts/soak.py --runs 3000 --seed 8 [--backend trio] [--json out.json]

Exit status 1 when a run ended in an undocumented state, a task or connection
leaked, a message was lost or duplicated, or the traced slope exceeds
``--max-slope`` bytes per run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

import anyio
import httpx
import structlog

from agentkit import (
    Agent,
    AgentEvent,
    AnthropicProvider,
    AuthenticationError,
    MessageEnd,
    MessageUpdate,
    MidStreamError,
    OpenRouterProvider,
    OverloadedError,
    ProviderConnectionError,
    RateLimitError,
    ResponseFormatError,
    RetryPolicy,
    RunResult,
    ServerError,
    StopReason,
    StreamClosedError,
    StreamStalledError,
    Timeouts,
    Tool,
    tool,
)
from agentkit.testing import CountingTransport
from agentkit.testing.emulator import (
    DripFault,
    DropFault,
    Emulator,
    Fault,
    MalformedFault,
    ModelReply,
    ModelRequest,
    StallFault,
    StatusFault,
    StreamErrorFault,
    ToolUse,
)

MODELS = {"anthropic": "claude-haiku-4-5", "openrouter": "anthropic/claude-haiku-4.5"}
#: The outcomes docs/reliability.md documents; anything else is a failure of the soak.
DOCUMENTED = (
    AuthenticationError,
    RateLimitError,
    OverloadedError,
    ServerError,
    MidStreamError,
    ProviderConnectionError,
    StreamStalledError,
    ResponseFormatError,
    StreamClosedError,
)


def policy(request: ModelRequest) -> ModelReply:
    if any(block.kind == "tool_result" for block in request.turns[-1].blocks):
        return ModelReply(text="Rain in Oslo.")
    return ModelReply(
        text="Let me check the weather now.", tool_calls=[ToolUse("forecast", {"city": "Oslo"})]
    )


def make_tool(kind: str) -> Tool:
    @tool(timeout=0.02)
    async def forecast(city: str) -> Any:
        """Today's forecast."""
        if kind == "raises":
            raise RuntimeError("the forecast service is down")
        if kind == "hangs":
            await anyio.sleep(30)
        if kind == "unserialisable":
            return object()
        return "rain, 9 °C"

    return forecast


TOOLS = {kind: make_tool(kind) for kind in ("ok", "raises", "hangs", "unserialisable")}


def draw_fault(rng: random.Random) -> tuple[str, Fault | None, int]:
    kind = rng.choice(
        ["none", "none", "status", "stream_error", "drop", "stall", "malformed", "drip"]
    )
    after = rng.randrange(0, 15)
    if kind == "status":
        status = rng.choice([401, 429, 500, 503, 529])
        retry_after = rng.choice([None, 0.0])
        return f"status_{status}", StatusFault(status, retry_after=retry_after), rng.choice([1, 3])
    faults: dict[str, Fault | None] = {
        "none": None,
        "stream_error": StreamErrorFault(after=after),
        "drop": DropFault(after_bytes=rng.randrange(0, 3000)),
        "stall": StallFault(seconds=30, after=after, before_headers=rng.random() < 0.2),
        "malformed": MalformedFault(after=after),
        "drip": DripFault(chunk=rng.choice([64, 512]), delay=0.0005),
    }
    return kind, faults[kind], 1


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.outcomes: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.problems: list[str] = []
        self.samples: list[tuple[int, int, int]] = []  # (run, traced bytes, rss bytes)
        self.transport = CountingTransport()

    def tasks(self) -> int:
        if self.args.backend == "asyncio":
            return len(asyncio.all_tasks())
        import trio  # noqa: PLC0415

        root = trio.lowlevel.current_root_task()
        assert root is not None
        return sum(len(n.child_tasks) for n in root.child_nurseries)

    async def one_run(self, index: int, emu: Emulator, providers: dict[str, Any]) -> None:
        rng = self.rng
        api = rng.choice(list(MODELS))
        fault_name, fault, times = draw_fault(rng)
        tool_kind = rng.choice(list(TOOLS))
        consumer = rng.choice(["reads_all", "reads_all", "breaks", "cancelled", "aborts"])
        self.faults[f"{fault_name}/{tool_kind}/{consumer}"] += 1
        emu.reset(script=policy)
        if fault is not None:
            emu.inject(fault, times=times, api=api)  # type: ignore[arg-type]
        tasks_before = self.tasks()
        agent = Agent(providers[api], model=MODELS[api], tools=[TOOLS[tool_kind]])
        ended: list[Any] = []

        def see(event: AgentEvent) -> None:
            if isinstance(event, MessageEnd):
                ended.append(event.message)
            if consumer == "aborts" and isinstance(event, MessageUpdate):
                agent.abort()

        agent.subscribe(see)
        outcome: Any
        with anyio.fail_after(10):
            stream = agent.prompt("Weather in Oslo?")
            try:
                if consumer == "breaks":
                    async for event in stream:
                        if isinstance(event, MessageUpdate):
                            break
                elif consumer == "cancelled":
                    with anyio.CancelScope() as scope:
                        async with stream:
                            async for event in stream:
                                if isinstance(event, MessageUpdate):
                                    scope.cancel()
                outcome = await stream.result()
            except Exception as exc:
                outcome = exc
            await agent.wait_for_idle()
        if isinstance(outcome, RunResult):
            name = outcome.stop_reason.value
            if outcome.stop_reason not in (StopReason.STOP, StopReason.ABORTED):
                self.problems.append(f"run {index}: stop reason {name}")
        elif isinstance(outcome, DOCUMENTED):
            name = type(outcome).__name__
        else:
            name = f"UNDOCUMENTED {type(outcome).__name__}"
            self.problems.append(f"run {index}: {outcome!r}")
        self.outcomes[name] += 1
        if list(agent.messages) != ended:
            self.problems.append(f"run {index}: history differs from the MessageEnd messages")
        left_open = self.transport.open
        if left_open:
            self.problems.append(f"run {index}: {left_open} HTTP responses left open")
            self.transport.closed += left_open  # count each leak once
        with anyio.move_on_after(1):
            while self.tasks() > tasks_before:  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.005)
        if self.tasks() > tasks_before:
            self.problems.append(f"run {index}: {self.tasks() - tasks_before} tasks left")

    async def main(self) -> None:
        args = self.args
        retry = RetryPolicy(max_retries=2, base_delay=0.001, max_retry_delay=0.005)
        timeouts = Timeouts(idle=0.1, connect=2, write=2, pool=2)
        with Emulator(script=policy) as emu:
            async with httpx.AsyncClient(transport=self.transport) as client:
                providers = {
                    "anthropic": AnthropicProvider(
                        api_key="k", base_url=emu.anthropic_base_url, client=client,
                        retry=retry, timeouts=timeouts,
                    ),
                    "openrouter": OpenRouterProvider(
                        api_key="k", base_url=emu.openrouter_base_url, client=client,
                        retry=retry, timeouts=timeouts,
                    ),
                }  # fmt: skip
                started = time.perf_counter()
                for index in range(args.runs):
                    await self.one_run(index, emu, providers)
                    if index % args.every == args.every - 1:
                        gc.collect()
                        traced = tracemalloc.get_traced_memory()[0]
                        self.samples.append((index + 1, traced, rss()))
                        if args.progress:
                            print(f"{index + 1} runs, traced {traced / 1e6:.2f} MB", flush=True)
                self.seconds = time.perf_counter() - started


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of (run, bytes): bytes per run."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--every", type=int, default=100, help="runs between memory samples")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--max-slope", type=float, default=256.0, help="bytes per run")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    # A program may configure logging: keep warnings (retries are expected), drop output.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(file=open(os.devnull, "w")),  # noqa: SIM115
    )
    # The emulator's server reports each dropped connection; they are injected on purpose.
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    tracemalloc.start()
    soak = Soak(args)
    anyio.run(soak.main, backend=args.backend)
    tracemalloc.stop()
    half = soak.samples[len(soak.samples) // 2 :]
    traced_slope = slope([(r, t) for r, t, _ in half])
    rss_slope = slope([(r, m) for r, _, m in half])
    figures = {
        "runs": args.runs,
        "seed": args.seed,
        "backend": args.backend,
        "seconds": round(soak.seconds, 1),
        "outcomes": dict(soak.outcomes.most_common()),
        "fault_combinations": len(soak.faults),
        "problems": soak.problems[:20],
        "problem_count": len(soak.problems),
        "traced_bytes_per_run": round(traced_slope, 1),
        "rss_bytes_per_run": round(rss_slope, 1),
        "traced_mb_first_last": [
            round(soak.samples[0][1] / 1e6, 2), round(soak.samples[-1][1] / 1e6, 2)
        ],
        "rss_mb_first_last": [
            round(soak.samples[0][2] / 1e6, 1), round(soak.samples[-1][2] / 1e6, 1)
        ],
    }  # fmt: skip
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    failed = bool(soak.problems) or traced_slope > args.max_slope
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
