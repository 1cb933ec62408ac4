"""Item 5, scale: many concurrent agent runs in one process against one emulator.

The emulator runs in a child process (``python -m agentkit.testing.emulator``)
so this process's memory and CPU are the runs' alone. Each run asks the
emulator's demo model to add two numbers: one tool call, one tool result, one
answer, two requests. Every event is counted twice: by the run's ``on_event``
listener (called by the producer just before it pushes the event) and by the
consumer iterating the run's stream; a lost event is a difference.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx

from agentkit._events import AgentEvent
from agentkit._loop import LoopConfig, agent_loop
from agentkit._messages import StopReason
from agentkit._tools import Tool
from agentkit.providers import AnthropicProvider
from agentkit.providers._base import ModelOptions
from agentkit.providers._http import Timeouts
from bench.common import rss_bytes

__all__ = ["emulator_process", "run", "run_many"]

_TICKS = os.sysconf("SC_CLK_TCK")
#: httpx's default connection limit, and a small pool: httpcore rechecks every
#: pooled connection on each request event, so fewer connections cost less CPU.
POOLS = (100, 20)


async def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@contextmanager
def emulator_process() -> Iterator[tuple[str, int]]:
    """Starts the emulator command on a free port; yields its Anthropic URL and pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit.testing.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "Anthropic API:" not in line:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        url = line.split()[2]
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


async def run_many(
    url: str, runs: int, emulator_pid: int | None = None, *, pool: int = 100
) -> dict[str, Any]:
    """``runs`` concurrent runs sharing one HTTP client of ``pool`` connections.

    Returns completion, events lost, CPU and memory.
    """
    produced = [0] * runs
    consumed = [0] * runs
    completed = [False] * runs
    errors: list[str] = []
    peak = baseline = rss_bytes()
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with httpx.AsyncClient(limits=limits) as client:
        provider = AnthropicProvider(
            api_key="bench",
            base_url=url,
            client=client,
            timeouts=Timeouts(pool=600.0, idle=600.0),
        )
        tool = Tool.from_function(add)

        async def one(i: int) -> None:
            def listen(event: AgentEvent) -> None:
                produced[i] += 1

            config = LoopConfig(
                provider=provider,
                options=ModelOptions("claude-haiku-4-5", max_tokens=256),
                tools=[tool],
                on_event=listen,
            )
            try:
                async with agent_loop(config, prompt=f"please add {i} and 3") as stream:
                    async for _ in stream:
                        consumed[i] += 1
                    result = await stream.result()
            except Exception as exc:  # counted, reported: one failure must not hide the others
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            completed[i] = result.stop_reason is StopReason.STOP and len(result.messages) == 4

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_bytes())
                await anyio.sleep(0.02)

        emulator_cpu = _cpu_seconds(emulator_pid) if emulator_pid else 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as outer:
            outer.start_soon(sample)
            async with anyio.create_task_group() as group:
                for i in range(runs):
                    group.start_soon(one, i)
            outer.cancel_scope.cancel()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        emulator_cpu = (_cpu_seconds(emulator_pid) - emulator_cpu) if emulator_pid else 0.0
    peak = max(peak, rss_bytes())
    return {
        "runs": runs,
        "completed": sum(completed),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "events_produced": sum(produced),
        "events_consumed": sum(consumed),
        "events_lost": sum(p - c for p, c in zip(produced, consumed, strict=True)),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "emulator_cpu_seconds": emulator_cpu,
        "runs_per_second": runs / wall,
        "rss_baseline_bytes": baseline,
        "rss_peak_bytes": peak,
        "bytes_per_run": (peak - baseline) / runs,
    }


def measure(runs: int, pool: int) -> dict[str, Any]:
    """One configuration against a fresh emulator."""
    with emulator_process() as (url, pid):
        figures: dict[str, Any] = anyio.run(functools.partial(run_many, url, runs, pid, pool=pool))
    return {"pool": pool, **figures}


def run(quick: bool = False) -> dict[str, Any]:
    """Each configuration in a fresh process: memory freed by one is not the next one's."""
    runs = 100 if quick else 1_000
    out = []
    for pool in POOLS:
        child = subprocess.run(
            [sys.executable, "-m", "bench.scale", str(runs), str(pool)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(child.stdout))
    return {"by_pool": out}


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2]))))
