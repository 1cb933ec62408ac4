"""A worker in a process of its own, for the crash test: python -m tests.temporal.worker_process.

Arguments: the server address, the task queue, and a directory where each tool
(and the last model call) records its attempts. On the first attempt of
``fetch``, ``charge`` and the last model call it prints ``started <name>`` and
waits forever (the test kills the process then); later attempts finish.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import anyio
from temporalio.client import Client

from agentkit import Agent, Context, ModelOptions, ToolContext, ToolResultMessage, tool
from agentkit.temporal import DurableAgent, create_worker
from agentkit.testing import Reply, ScriptedProvider, call

RECORDS = Path(".")


def policy(context: Context, options: ModelOptions) -> Reply:
    results = [m for m in context.messages if isinstance(m, ToolResultMessage)]
    if not results:
        return Reply(text="First a note.", tool_calls=[call("note", text="begin")])
    if len(results) == 1:
        return Reply(text="Now both.", tool_calls=[call("fetch", key="k"), call("charge", cents=5)])
    text = "Finished: " + " | ".join(r.text for r in results)
    if attempt("model", "final") == 1:  # the last model call hangs, the first time
        print("started model", flush=True)
        return Reply(text=text, hang=True)
    return Reply(text=text)


def attempt(name: str, call_id: str) -> int:
    path = RECORDS / f"attempts-{name}"
    with path.open("a") as file:
        file.write(call_id + "\n")
    return len(path.read_text().splitlines())


async def first_attempt_hangs(name: str, call_id: str) -> None:
    if attempt(name, call_id) == 1:
        print(f"started {name}", flush=True)
        await anyio.sleep_forever()


class Crasher(Agent):
    model = "scripted-model"

    def __init__(self) -> None:
        super().__init__(provider=ScriptedProvider(policy))

    @tool
    def note(self, text: str, context: ToolContext) -> str:
        """Note something."""
        attempt("note", context.call.id)
        return f"noted {text}"

    @tool
    async def fetch(self, key: str, context: ToolContext) -> str:
        """Fetch a value (idempotent: safe to run again)."""
        await first_attempt_hangs("fetch", context.call.id)
        return f"value of {key}"

    @tool
    async def charge(self, cents: int, context: ToolContext) -> str:
        """Charge a card (not idempotent)."""
        await first_attempt_hangs("charge", context.call.id)
        return f"charged {cents}"


SPEC = DurableAgent(Crasher, not_idempotent={"charge"}, heartbeat_timeout=timedelta(seconds=2))


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    async with create_worker(client, task_queue, [SPEC]):
        print("ready", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    RECORDS = Path(sys.argv[3])
    anyio.run(main, sys.argv[1], sys.argv[2])
