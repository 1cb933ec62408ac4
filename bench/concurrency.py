"""Memory per concurrent run: 10,000 runs alive at once in one process, no HTTP.

Each run is a tool session with an in-process scripted model: the model calls
``add(a, b)``, the tool waits on one shared gate, then the model answers. When
every run is parked inside its tool call (each has a history, a pending tool
call and its streams open), the process's resident set is read; the gate opens
and every run must finish with the answer. Memory per run is (parked - before)
/ runs, where "before" is read after the shared objects (config, provider,
tool; an ``Agent`` holds one conversation, so each run builds its own) are
built and a few warm-up runs have completed. Each
configuration runs in a fresh process, so memory one frees is not the next
one's; the floor is a hand-written asyncio task per run doing the same.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from typing import Any

import anyio

from agentkit._agent import Agent
from agentkit._loop import LoopConfig, agent_loop
from agentkit._messages import Context, ToolResultMessage, Usage
from agentkit._tools import Tool
from agentkit.providers._base import ModelOptions
from agentkit.testing._scripted import Reply, ScriptedProvider, call
from bench.common import median, rss_bytes, spread

__all__ = ["KINDS", "measure", "run"]

_USAGE = Usage(input=10, output=5)
WARM_UP = 20


def _policy(context: Context, options: ModelOptions) -> Reply:
    if isinstance(context.messages[-1], ToolResultMessage):
        return Reply(text="done", usage=_USAGE)
    return Reply(tool_calls=[call("add", a=len(context.messages), b=1)], usage=_USAGE)


async def _park(runs: int, start: Any) -> dict[str, Any]:
    """Starts ``runs`` sessions made by ``start``; returns memory figures once all are parked."""
    state = {"parked": 0, "done": 0}
    all_parked = anyio.Event()
    gate = anyio.Event()
    return_value: dict[str, Any] = {}

    async def add(a: int, b: int) -> int:
        """Add two integers."""
        state["parked"] += 1
        if state["parked"] == target["n"]:
            all_parked.set()
        await gate.wait()
        return a + b

    target = {"n": WARM_UP}
    session = start(add)
    gate.set()  # warm-up: nothing waits
    async with anyio.create_task_group() as group:
        for i in range(WARM_UP):
            group.start_soon(session, i, state)
    if state["done"] != WARM_UP:
        raise RuntimeError(f"{WARM_UP - state['done']} warm-up runs did not answer")
    gate = anyio.Event()
    all_parked = anyio.Event()
    state.update(parked=0, done=0)
    target["n"] = runs
    gc.collect()
    before = rss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as group:
        for i in range(runs):
            group.start_soon(session, i, state)
        await all_parked.wait()
        gc.collect()
        parked = rss_bytes()
        return_value["parked_seconds"] = time.perf_counter() - wall
        gate.set()
    return_value.update(
        runs=runs,
        completed=state["done"],
        wall_seconds=time.perf_counter() - wall,
        cpu_seconds=time.process_time() - cpu,
        rss_before_bytes=before,
        rss_parked_bytes=parked,
        bytes_per_run=(parked - before) / runs,
    )
    return return_value


def _plain(add: Any) -> Any:
    async def session(i: int, state: dict[str, int]) -> None:
        history: list[dict[str, Any]] = [{"role": "user", "content": f"go {i}"}]
        history.append({"role": "assistant", "call": ("add", {"a": i, "b": 1})})
        history.append({"role": "tool", "content": str(await add(a=i, b=1))})
        history.append({"role": "assistant", "content": "done"})
        state["done"] += history[-1]["content"] == "done"

    return session


def _agent_loop(add: Any) -> Any:
    config = LoopConfig(
        provider=ScriptedProvider(_policy),
        options=ModelOptions("scripted"),
        tools=[Tool.from_function(add, name="add")],
    )

    async def session(i: int, state: dict[str, int]) -> None:
        result = await agent_loop(config, prompt=f"go {i}").result()
        state["done"] += result.text == "done"

    return session


def _agent_claude(add: Any) -> Any:
    provider = ScriptedProvider(_policy)
    tool = Tool.from_function(add, name="add")

    async def session(i: int, state: dict[str, int]) -> None:
        # An Agent holds one conversation (one run at a time): one per concurrent run.
        agent = Agent(provider, model="claude-sonnet-4-5", tools=[tool])
        result = await agent.run(f"go {i}")
        state["done"] += result.text == "done"

    return session


#: (key, label, session factory).
KINDS: tuple[tuple[str, str, Any], ...] = (
    ("plain", "plain asyncio task (floor)", _plain),
    ("agentkit", "agentkit `agent_loop` + `ScriptedProvider`", _agent_loop),
    ("agentkit_agent_claude", "agentkit `Agent.run`, Claude model (caching on)", _agent_claude),
)


def measure(kind: str, runs: int) -> dict[str, Any]:
    """One configuration, in this process: ``runs`` concurrent sessions of ``kind``."""
    factory = next(f for k, _, f in KINDS if k == kind)

    async def main() -> dict[str, Any]:
        return await _park(runs, factory)

    return anyio.run(main)


#: Independent runs of each configuration, each a fresh process.
RUNS = 3


def run(quick: bool = False) -> dict[str, Any]:
    runs = 1_000 if quick else 10_000
    rows = []
    for key, label, _ in KINDS:
        figures = []
        for _ in range(RUNS):
            child = subprocess.run(
                [sys.executable, "-m", "bench.concurrency", key, str(runs)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures.append(json.loads(child.stdout))
        per_run = [f["bytes_per_run"] for f in figures]
        rows.append(
            {
                "kind": key,
                "label": label,
                "runs": runs,
                "completed_runs": [f["completed"] for f in figures],
                "bytes_per_run": median(per_run),
                "bytes_per_run_runs": per_run,
                "bytes_per_run_spread": spread(per_run),
                "cpu_ms_per_run": median([f["cpu_seconds"] / runs * 1e3 for f in figures]),
                "rss_parked_bytes": median([f["rss_parked_bytes"] for f in figures]),
            }
        )
    return {"runs": RUNS, "concurrent": runs, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
