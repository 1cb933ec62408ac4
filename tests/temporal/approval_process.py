"""The approval test's other processes: python -m tests.temporal.approval_process MODE ...

``worker ADDRESS QUEUE RECORDS`` serves :data:`SPEC` (each tool run appends a
line to ``RECORDS/runs-<tool>``) and prints ``ready``. ``decide ADDRESS
WORKFLOW_ID`` is a client of its own: it reads the paused state, approves the
first pending call, denies the second, and prints ``decided``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from temporalio.client import Client

from agentkit import Agent, Approval, Context, ModelOptions, ToolCall, ToolResultMessage, tool
from agentkit.temporal import DurableAgent, DurableRun, create_worker
from agentkit.testing import Reply, ScriptedProvider

RECORDS = Path(".")

CALLS = [
    ToolCall("c1", "list_files"),
    ToolCall("c2", "delete_file", {"path": "old.log"}),
    ToolCall("c3", "delete_file", {"path": "cache.tmp"}),
]
DENIAL = "keep the cache for now"


def policy(context: Context, options: ModelOptions) -> Reply:
    results = [m for m in context.messages if isinstance(m, ToolResultMessage)]
    if not results:
        return Reply(text="Cleaning up.", tool_calls=CALLS)
    return Reply(text="Done: " + " | ".join(f"{r.text} ({r.is_error})" for r in results))


def record(name: str, line: str) -> None:
    with (RECORDS / f"runs-{name}").open("a") as file:
        file.write(line + "\n")


class Janitor(Agent):
    model = "scripted-model"

    def __init__(self) -> None:
        super().__init__(provider=ScriptedProvider(policy))

    @tool
    def list_files(self) -> list[str]:
        """List the files."""
        record("list_files", "listed")
        return ["old.log", "cache.tmp"]

    @tool(requires_approval=True)
    async def delete_file(self, path: str) -> str:
        """Delete a file."""
        record("delete_file", path)
        return f"deleted {path}"


SPEC = DurableAgent(Janitor)


async def worker(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    async with create_worker(client, task_queue, [SPEC]):
        print("ready", flush=True)
        await anyio.sleep_forever()


async def decide(address: str, workflow_id: str) -> None:
    client = await Client.connect(address)
    run = DurableRun(client.get_workflow_handle(workflow_id))
    paused = await run.paused()
    assert paused is not None, "the run is not waiting"
    first, second = paused.pending
    await run.decide({first.id: Approval.approve(), second.id: Approval.deny(DENIAL)})
    print("decided", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        RECORDS = Path(sys.argv[4])
        anyio.run(worker, sys.argv[2], sys.argv[3])
    else:
        anyio.run(decide, sys.argv[2], sys.argv[3])
        # A short-lived client process can crash in Temporal's core runtime while the
        # interpreter finalizes (temporalio/sdk-python#300): done, so skip the teardown.
        os._exit(0)
