"""A custom provider: a rule-based "model" written from scratch, used by an Agent.

    python examples/custom_provider.py

A provider is anything with a ``name`` and a ``stream(context, options)``
method returning a not-yet-started ``EventStream`` of assistant events whose
result is the final ``AssistantMessage``. ``AssistantMessageBuilder`` makes
the events and assembles the message, so a provider only decides what to say.
This one asks the agent's calculator tool for arithmetic and echoes anything
else. Wrapping a real model's API works the same way. No API key or network.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Literal

import anyio

from agentkit import (
    Agent,
    AssistantEvent,
    AssistantMessage,
    AssistantMessageBuilder,
    Context,
    EventStream,
    MessageUpdate,
    ModelOptions,
    StopReason,
    TextDelta,
    ToolExecutionEnd,
    ToolResultMessage,
    Usage,
    tool,
)

ARITHMETIC = re.compile(r"(\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)")


class RuleModel:
    """Calls ``calculate`` for arithmetic, reports the tool's answer, echoes the rest."""

    name = "rules"

    def stream(
        self, context: Context, options: ModelOptions
    ) -> EventStream[AssistantEvent, AssistantMessage]:
        # stream() only describes the request; the producer runs when the loop
        # starts reading, under the loop's control, so an abort can cancel it.
        async def produce(out: EventStream[AssistantEvent, AssistantMessage]) -> None:
            builder = AssistantMessageBuilder(model=options.model, provider=self.name)
            await out.push(builder.start())
            last = context.messages[-1]
            found = ARITHMETIC.search(last.text)
            if isinstance(last, ToolResultMessage):
                reply, stop = f"The answer is {last.text}.", StopReason.STOP
            elif found and any(t.name == "calculate" for t in context.tools):
                reply, stop = "Let me work that out.", StopReason.TOOL_USE
            else:
                reply, stop = f"You said: {last.text}", StopReason.STOP
            for i, word in enumerate(reply.split(" ")):
                await anyio.sleep(0.01)  # a real model streams; so does this one
                await out.push(builder.text("text", word if i == 0 else " " + word))
            if stop is StopReason.TOOL_USE and found:
                # Keys name blocks; the builder numbers them in order of appearance.
                call_id = f"call_{len(context.messages)}"  # unique within the conversation
                await out.push(builder.tool_call_start("call", call_id, "calculate"))
                a, op, b = found.groups()
                arguments = json.dumps({"a": float(a), "op": op, "b": float(b)})
                # Real APIs send the JSON arguments in fragments; the builder joins them.
                half = len(arguments) // 2
                for fragment in (arguments[:half], arguments[half:]):
                    await out.push(builder.tool_call_arguments("call", fragment))
            for event in builder.close_blocks():
                await out.push(event)
            # Failures would be raised here, as a ProviderError subclass.
            words_in = sum(len(m.text.split()) for m in context.messages)
            out.end(builder.build(stop, Usage(input=words_in, output=len(reply.split()))))

        return EventStream(produce, name=self.name)


class Calculator(Agent):
    model = "rules-v1"

    @tool
    def calculate(self, a: float, op: Literal["+", "-", "*", "/"], b: float) -> str:
        """Apply an arithmetic operator to two numbers."""
        operators = {"+": operator.add, "-": operator.sub, "*": operator.mul}
        return f"{operators.get(op, operator.truediv)(a, b):g}"


async def main() -> None:
    agent = Calculator(provider=RuleModel())
    for question in ("What is 12 * 7?", "Hello there"):
        print(f"> {question}")
        async for event in agent.prompt(question):
            match event:
                case MessageUpdate(delta=TextDelta(text=text)):
                    print(text, end="", flush=True)
                case ToolExecutionEnd(call=call, result=result):
                    print(f"\n  [tool] {call.name}({call.arguments}) -> {result.text}")
        print()
    answers = [m for m in agent.messages if isinstance(m, AssistantMessage)]
    print(f"{len(agent.messages)} messages; answers by {sorted({m.provider for m in answers})}")


if __name__ == "__main__":
    anyio.run(main)
