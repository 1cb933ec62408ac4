"""Running under trio: two agents at once in a trio nursery.

    python examples/trio_agent.py

agentkit is written against anyio, so the same Agent code runs on asyncio and
on trio unchanged; only the entry point differs. Here ``trio.run`` starts the
program (``anyio.run(main, backend="trio")`` is the same thing) and a nursery
runs two agents concurrently: both tools sleep 0.3 s, and both runs finish in
about 0.3 s, not 0.6 s. Needs trio (``pip install trio``); no API key or network.
"""

from __future__ import annotations

import logging
import time

import anyio
import structlog
import trio

from agentkit import (
    Agent,
    Context,
    ModelOptions,
    ToolExecutionEnd,
    ToolExecutionStart,
    UserMessage,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call


class Librarian(Agent):
    model = "scripted-demo"

    @tool
    async def search_catalogue(self, topic: str) -> str:
        """Search the library catalogue for books on a topic."""
        # anyio.sleep (not trio.sleep) keeps the tool usable on either event loop.
        await anyio.sleep(0.3)
        return f"3 books on {topic}"


def model(context: Context, options: ModelOptions) -> Reply:
    last = context.messages[-1]
    if isinstance(last, UserMessage):
        topic = last.text.removeprefix("Find books on ")
        return Reply(tool_calls=[call("search_catalogue", topic=topic)])
    return Reply(f"I found {last.text}.")


async def ask(name: str, question: str, started: float) -> None:
    agent = Librarian(provider=ScriptedProvider(model))
    async for event in agent.prompt(question):
        if isinstance(event, ToolExecutionStart | ToolExecutionEnd):
            what = "started" if isinstance(event, ToolExecutionStart) else "finished"
            print(f"{time.monotonic() - started:4.1f}s [{name}] {event.call.name} {what}")
    print(f"{time.monotonic() - started:4.1f}s [{name}] {agent.messages[-1].text}")


async def main() -> None:
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask, "alice", "Find books on trio", started)
        nursery.start_soon(ask, "bob", "Find books on anyio", started)
    print(f"both answered in {time.monotonic() - started:.1f}s on trio")


if __name__ == "__main__":
    # An application decides how much to log; the library never does.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    trio.run(main)
