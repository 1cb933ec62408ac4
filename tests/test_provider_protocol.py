"""The Provider protocol is structural: a provider and its stream written from
scratch, with no agentkit base class and no EventStream, drive the loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

import anyio
import pytest

from agentkit import (
    Agent,
    AssistantEvent,
    AssistantMessage,
    Context,
    ModelOptions,
    StopReason,
    StreamStart,
    TextContent,
    TextDelta,
    ToolCall,
    ToolCallStart,
    Usage,
    tool,
)

pytestmark = pytest.mark.anyio


class HandWrittenStream:
    """An AssistantStream by duck typing: a list of events and a final message."""

    def __init__(self, events: list[AssistantEvent], final: AssistantMessage) -> None:
        self.events = events
        self.final = final
        self.entered = self.exited = False

    async def __aenter__(self) -> HandWrittenStream:
        self.entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exited = True

    async def __aiter__(self) -> AsyncIterator[AssistantEvent]:
        for event in self.events:
            await anyio.lowlevel.checkpoint()
            yield event

    async def result(self) -> AssistantMessage:
        return self.final

    def cancel(self) -> None:  # pragma: no cover - nothing to abort here
        pass


class HandWrittenProvider:
    name = "handwritten"

    def __init__(self) -> None:
        self.contexts: list[Context] = []
        self.streams: list[HandWrittenStream] = []

    def stream(self, context: Context, options: ModelOptions) -> HandWrittenStream:
        self.contexts.append(context)
        empty = AssistantMessage((), model=options.model, provider=self.name)
        if len(self.contexts) == 1:
            call = ToolCall("call-1", "shout", {"word": "hi"})
            final = AssistantMessage(
                (call,),
                StopReason.TOOL_USE,
                usage=Usage(input=5, output=2),
                model=options.model,
                provider=self.name,
            )
            events: list[AssistantEvent] = [
                StreamStart(empty),
                ToolCallStart(0, call.id, call.name),
            ]
        else:
            answer = self.contexts[-1].messages[-1]
            text = f"the tool said {answer.text}"
            final = AssistantMessage(
                (TextContent(text),),
                usage=Usage(input=9, output=4),
                model=options.model,
                provider=self.name,
            )
            events = [StreamStart(empty), TextDelta(0, text)]
        stream = HandWrittenStream(events, final)
        self.streams.append(stream)
        return stream


class Shouter(Agent):
    model = "hand-1"

    @tool
    def shout(self, word: str) -> str:
        """Shout a word."""
        return word.upper()


async def test_a_provider_without_eventstream_drives_a_tool_run() -> None:
    provider = HandWrittenProvider()
    with anyio.fail_after(10):
        result = await Shouter(provider=provider).run("shout hi")
    assert result.text == "the tool said HI"
    assert result.usage == Usage(input=14, output=6)
    assert len(provider.contexts) == 2
    assert all(s.entered and s.exited for s in provider.streams)
