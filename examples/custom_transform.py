"""A custom transform: trim old tool outputs before each request to the model.

    python examples/custom_transform.py

The agent reads three long files, one per turn. A transform given in
``Agent.transforms`` replaces every tool output but the newest with a short
note, so the model is not re-sent pages it has already read. The example then
prints what the provider received on each request (``ScriptedProvider.requests``)
and shows that the agent's own history still holds every output in full:
a transform changes the request, never the conversation.

Overriding the ``transform_context(context, info)`` hook works the same way.
No API key or network is needed.
"""

from __future__ import annotations

import anyio
import attrs

from agentkit import (
    Agent,
    Context,
    Message,
    ModelOptions,
    ToolResultMessage,
    TransformInfo,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call

KEEP = 1  # how many of the newest tool outputs go to the model in full


def trim_old_tool_outputs(context: Context, info: TransformInfo) -> Context:
    """Replace all but the newest KEEP tool outputs with a note of their size."""
    to_trim = sum(isinstance(m, ToolResultMessage) for m in context.messages) - KEEP
    if to_trim <= 0:
        return context  # nothing to trim: hand back the input itself
    messages: list[Message] = []
    for message in context.messages:
        if isinstance(message, ToolResultMessage) and to_trim > 0:
            to_trim -= 1
            # The same output is trimmed the same way in every later request, so
            # the prompt prefix (and a prompt cache) only changes where a new one is.
            note = f"[output of {message.tool_name} trimmed: {len(message.text)} characters]"
            messages.append(attrs.evolve(message, content=note))
        else:
            messages.append(message)  # untouched messages are shared, not copied
    return context.evolve(messages=tuple(messages))


class Reader(Agent):
    model = "scripted-demo"
    system_prompt = "You summarise files."
    transforms = (trim_old_tool_outputs,)

    @tool
    def read_file(self, path: str) -> str:
        """Read a text file."""
        return f"{path}: " + "lorem ipsum " * 150


def model(context: Context, options: ModelOptions) -> Reply:
    read = sum(isinstance(m, ToolResultMessage) for m in context.messages)
    if read < 3:
        return Reply(tool_calls=[call("read_file", path=f"part{read + 1}.txt")])
    return Reply("All three parts are lorem ipsum.")


async def main() -> None:
    provider = ScriptedProvider(model)
    agent = Reader(provider=provider)
    result = await agent.run("Summarise part1.txt to part3.txt.")
    print(f"answer: {result.text}")

    for number, request in enumerate(provider.requests, start=1):
        print(f"request {number}:")
        for message in request.messages:
            if isinstance(message, ToolResultMessage):
                print(f"  {message.text[:60]}  ({len(message.text)} characters)")
    sizes = [len(m.text) for m in agent.messages if isinstance(m, ToolResultMessage)]
    print(f"history keeps every output in full: {sizes} characters")


if __name__ == "__main__":
    anyio.run(main)
