"""Quickstart: subclass Agent, give it two tools, and watch the run's events stream.

    python examples/quickstart.py

No API key is needed: the model is agentkit's ScriptedProvider, which answers
from a small policy below exactly as a real provider streams. To use a real
model, pass any provider (for example OpenRouter's) instead.
"""

from __future__ import annotations

import logging

import anyio
import structlog

from agentkit import (
    AssistantMessage,
    Context,
    MessageEnd,
    MessageUpdate,
    TextDelta,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolResultMessage,
    TurnStart,
    UserMessage,
)
from agentkit.agent import Agent
from agentkit.providers.base import ModelOptions
from agentkit.testing import Reply, ScriptedProvider, call
from agentkit.tools import tool


class TravelAgent(Agent):
    """Plans a day out: knows the weather and can add up costs."""

    model = "scripted-demo"
    system_prompt = "You help people plan a day out. Use the tools; answer in one sentence."

    @tool
    def get_weather(self, city: str) -> dict[str, object]:
        """Today's weather in a city.

        Args:
            city: The city name, for example "Paris".
        """
        forecasts = {"paris": ("sunny", 24), "oslo": ("rain", 9)}
        sky, celsius = forecasts.get(city.lower(), ("cloudy", 15))
        return {"city": city, "sky": sky, "celsius": celsius}

    @tool
    async def add(self, a: float, b: float) -> float:
        """Add two amounts of money.

        Args:
            a: The first amount.
            b: The second amount.
        """
        return a + b


def demo_model(context: Context, options: ModelOptions) -> Reply:
    """A stand-in model: calls both tools, then answers from their results."""
    last = context.messages[-1]
    if isinstance(last, UserMessage):
        return Reply(
            text="Let me check the weather and the budget.",
            tool_calls=[call("get_weather", city="Paris"), call("add", a=18.5, b=42)],
        )
    results = {m.tool_name: m.text for m in context.messages if isinstance(m, ToolResultMessage)}
    return Reply(
        f"Paris looks good today ({results['get_weather']}), "
        f"and the museum plus dinner comes to {results['add']} euros.",
        chunk_size=6,
        delay=0.01,
    )


async def main() -> None:
    agent = TravelAgent(provider=ScriptedProvider(demo_model))
    async with agent.prompt("Plan my Saturday in Paris: museum 18.50, dinner 42.") as stream:
        async for event in stream:
            match event:
                case TurnStart(turn=turn):
                    print(f"--- turn {turn} ---")
                case MessageUpdate(delta=TextDelta(text=text)):
                    print(text, end="", flush=True)
                case MessageEnd(message=AssistantMessage()):
                    print()
                case ToolExecutionStart(call=tool_call):
                    print(f"  [tool]   {tool_call.name}({tool_call.arguments})")
                case ToolExecutionEnd(call=tool_call, result=result):
                    print(f"  [result] {tool_call.name} -> {result.text}")
        result = await stream.result()
    usage = result.usage
    print(
        f"\nstop: {result.stop_reason.value}; tokens in {usage.input}, out {usage.output}; "
        f"{len(agent.messages)} messages in the conversation"
    )


if __name__ == "__main__":
    # An application decides how much to log; the library never does.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    anyio.run(main)
