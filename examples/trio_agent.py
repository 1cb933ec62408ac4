"""Running under trio: two agents at once in a trio nursery.

    python examples/trio_agent.py

agentkit is written against anyio, so the same Agent code runs on asyncio and
on trio unchanged; only the entry point differs. Here ``trio.run`` starts the
program (``anyio.run(main, backend="trio")`` is the same thing) and a nursery
runs two agents concurrently: each catalogue search waits until the other has
started too, so the program finishes only because the two runs overlap. Needs
trio (``pip install trio``); no API key or network.
"""

from __future__ import annotations

import time

import anyio
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

    def __init__(self, searches: Searches) -> None:
        super().__init__(provider=ScriptedProvider(model))
        self.searches = searches

    @tool
    async def search_catalogue(self, topic: str) -> str:
        """Search the library catalogue for books on a topic."""
        await self.searches.meet()
        return f"3 books on {topic}"


class Searches:
    """Two searches that each wait for the other to start: they must run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.both = anyio.Event()  # anyio, not trio: the tool runs on either event loop

    async def meet(self) -> None:
        self.running += 1
        if self.running == 2:
            self.both.set()
        await self.both.wait()


def model(context: Context, options: ModelOptions) -> Reply:
    last = context.messages[-1]
    if isinstance(last, UserMessage):
        topic = last.text.removeprefix("Find books on ")
        return Reply(tool_calls=[call("search_catalogue", topic=topic)])
    return Reply(f"I found {last.text}.")


async def ask(name: str, question: str, searches: Searches, started: float) -> None:
    agent = Librarian(searches)
    async with agent.prompt(question) as stream:
        async for event in stream:
            if isinstance(event, ToolExecutionStart | ToolExecutionEnd):
                what = "started" if isinstance(event, ToolExecutionStart) else "finished"
                print(f"{time.monotonic() - started:4.1f}s [{name}] {event.call.name} {what}")
    print(f"{time.monotonic() - started:4.1f}s [{name}] {agent.messages[-1].text}")


async def main() -> None:
    started = time.monotonic()
    searches = Searches()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask, "alice", "Find books on trio", searches, started)
        nursery.start_soon(ask, "bob", "Find books on anyio", searches, started)
    print(f"both answered in {time.monotonic() - started:.1f}s on trio")


if __name__ == "__main__":
    trio.run(main)
