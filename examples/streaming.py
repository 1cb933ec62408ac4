"""Streaming: print every kind of event of a run to the terminal as it happens.

    python examples/streaming.py

Shows the model's thinking and text as they arrive, a tool call's JSON
arguments as they stream in, a tool's progress reports, and each turn's token
usage. The model is a ScriptedProvider with small delays between events, so
the streaming is visible; no API key or network is needed.
"""

from __future__ import annotations

import anyio

from agentkit import (
    Agent,
    BlockEnd,
    Context,
    MessageUpdate,
    ModelOptions,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    ToolContext,
    ToolExecutionEnd,
    ToolExecutionUpdate,
    ToolResultMessage,
    TurnEnd,
    TurnStart,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call


class Indexer(Agent):
    model = "scripted-demo"
    system_prompt = "You index documents."

    @tool
    async def index_pages(self, site: str, pages: int, ctx: ToolContext) -> str:
        """Index the pages of a site.

        Args:
            site: The site's address.
            pages: How many pages to index.
        """
        for page in range(1, pages + 1):
            await anyio.sleep(0.02)
            # Progress goes to whoever watches the run, not to the model.
            await ctx.report(f"page {page}/{pages}")
        return f"indexed {pages} pages of {site}"


def model(context: Context, options: ModelOptions) -> Reply:
    results = [m for m in context.messages if isinstance(m, ToolResultMessage)]
    if not results:
        return Reply(
            thinking="The user wants the docs indexed; three pages is enough.",
            text="Indexing the docs now.",
            tool_calls=[call("index_pages", site="docs.example.com", pages=3)],
            chunk_size=8,  # small chunks, so there are many deltas to watch
            delay=0.01,
        )
    return Reply(f"Done: {results[-1].text}.", chunk_size=5, delay=0.01)


async def main() -> None:
    agent = Indexer(provider=ScriptedProvider(model))
    thinking_block = -1  # the thinking block being printed, to label its start once
    async with agent.prompt("Please index docs.example.com.") as stream:
        async for event in stream:
            match event:
                case TurnStart(turn=turn):
                    print(f"--- turn {turn} ---")
                case MessageUpdate(delta=ThinkingDelta(index=index, thinking=text)):
                    if index != thinking_block:
                        thinking_block = index
                        print("[thinking] ", end="")
                    print(text, end="", flush=True)
                case MessageUpdate(delta=TextDelta(text=text)):
                    print(text, end="", flush=True)
                case MessageUpdate(delta=ToolCallStart(name=name)):
                    print(f"[call] {name} ", end="", flush=True)
                case MessageUpdate(delta=ToolCallDelta(arguments=fragment)):
                    # Fragments are not valid JSON on their own: show, don't parse.
                    print(fragment, end="", flush=True)
                case MessageUpdate(delta=BlockEnd()):
                    print()
                case ToolExecutionUpdate(call=tool_call, progress=progress):
                    print(f"[progress] {tool_call.name}: {progress}")
                case ToolExecutionEnd(call=tool_call, result=output):
                    print(f"[result] {tool_call.name} -> {output.text}")
                case TurnEnd(turn=turn, message=message) if message is not None:
                    usage = message.usage
                    print(f"[usage] turn {turn}: {usage.input} in, {usage.output} out")
        result = await stream.result()
    print(f"stop: {result.stop_reason.value}; {result.usage.total} tokens in all")


if __name__ == "__main__":
    anyio.run(main)
