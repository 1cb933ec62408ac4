"""Steering and abort: change a running agent's course, then stop a run mid-answer.

    python examples/steering_and_abort.py

1. While the first of three tool calls runs, another task calls
   ``agent.steer(...)``. The running tool finishes; the calls not yet started
   get a "Skipped" result, and the steering message opens the next turn.
2. A later run streams a long answer; another task calls ``agent.abort()``
   mid-stream. The run ends with ``StopReason.ABORTED`` and the partial answer
   stays in the conversation.

The model is a ScriptedProvider, so no API key or network is needed.
"""

from __future__ import annotations

import anyio

from agentkit import (
    Agent,
    Context,
    MessageUpdate,
    ModelOptions,
    TextDelta,
    ToolExecutionStart,
    ToolResultMessage,
    UserMessage,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call


class Forecaster(Agent):
    model = "scripted-demo"
    # One call at a time, so there are calls left to skip when steering arrives.
    tool_execution = "sequential"

    @tool
    async def forecast(self, city: str) -> str:
        """The weekly forecast for a city."""
        await anyio.sleep(0.2)  # a slow service: time for the user to change their mind
        return f"{city}: sunny all week"


def model(context: Context, options: ModelOptions) -> Reply:
    last = context.messages[-1]
    if isinstance(last, UserMessage) and last.text.startswith("Compare"):
        cities = ("Paris", "Rome", "Oslo")
        return Reply(tool_calls=[call("forecast", city=city) for city in cities])
    if isinstance(last, UserMessage) and last.text.startswith("Write"):
        poem = "Sunny all week in Paris, the river slow and bright; " * 20
        return Reply(poem, chunk_size=12, delay=0.01)
    done = [m.text for m in context.messages if isinstance(m, ToolResultMessage)]
    return Reply(f"As you asked, only Paris. {done[0]}.")


async def steer_when_tools_run(agent: Agent, tool_running: anyio.Event) -> None:
    await tool_running.wait()
    print("[user] steer: Never mind Rome and Oslo, just Paris.")
    agent.steer("Never mind Rome and Oslo, just Paris.")


async def abort_after_a_moment(agent: Agent, text_arrived: anyio.Event) -> None:
    await text_arrived.wait()
    await anyio.sleep(0.1)
    print("\n[user] abort")
    agent.abort()


async def main() -> None:
    agent = Forecaster(provider=ScriptedProvider(model))

    tool_running = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(steer_when_tools_run, agent, tool_running)
        async for event in agent.prompt("Compare the weather in Paris, Rome and Oslo."):
            if isinstance(event, ToolExecutionStart):
                print(f"[tool] {event.call.name}({event.call.arguments['city']})")
                tool_running.set()
    for message in agent.messages:
        if isinstance(message, ToolResultMessage):
            print(f"[result] {message.tool_name}: {message.text}")
    print(f"[answer] {agent.messages[-1].text}")

    text_arrived = anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(abort_after_a_moment, agent, text_arrived)
        stream = agent.prompt("Write me a long poem about the weather.")
        async for event in stream:
            if isinstance(event, MessageUpdate) and isinstance(event.delta, TextDelta):
                print(event.delta.text, end="", flush=True)
                text_arrived.set()
        result = await stream.result()
    # The partial answer stays in the conversation, so a next prompt can refer to it.
    partial = agent.messages[-1]
    print(f"\nstop: {result.stop_reason.value}; kept {len(partial.text)} characters of the poem")


if __name__ == "__main__":
    anyio.run(main)
