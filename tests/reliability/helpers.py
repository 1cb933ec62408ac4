"""What the reliability tests share: a connection-counting transport, a leak check,
the emulator's scripted model, and where in a stream each fault phase falls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import sniffio
from attrs import define

from agentkit import Agent, AgentEvent, AnthropicProvider, MessageEnd, OpenRouterProvider
from agentkit._messages import Message
from agentkit.providers._http import RetryPolicy, Timeouts
from agentkit.testing.emulator import ModelReply, ModelRequest, ToolUse

__all__ = [
    "FAST_RETRY",
    "MODELS",
    "SECRET",
    "PATIENT",
    "TIMEOUTS",
    "MessageLog",
    "Phases",
    "TaskSnapshot",
    "make_provider",
    "phases_of",
    "weather_policy",
]

SECRET = "sk-RELIABILITY-SENTINEL-9f8e7d6c5b4a3210"
MODELS = {"anthropic": "claude-haiku-4-5", "openrouter": "anthropic/claude-haiku-4.5"}
#: Retries without waiting, so a retried fault costs milliseconds.
FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.001, max_retry_delay=0.01)
#: A stall is declared after a quarter second: for the cases that inject one.
TIMEOUTS = Timeouts(connect=2.0, write=2.0, pool=2.0, idle=0.25)
#: The cases without a stall wait longer, so a loaded machine is never taken for one.
PATIENT = Timeouts(connect=5.0, write=5.0, pool=5.0, idle=5.0)

FIRST_TEXT = "Let me check the weather now."
FINAL_TEXT = "Rain in Oslo."


def weather_policy(request: ModelRequest) -> ModelReply:
    """Text and a ``forecast`` call for a user turn; a plain answer after tool results."""
    if any(block.kind == "tool_result" for block in request.turns[-1].blocks):
        return ModelReply(text=FINAL_TEXT)
    return ModelReply(text=FIRST_TEXT, tool_calls=[ToolUse("forecast", {"city": "Oslo, Norway"})])


def make_provider(
    api: str,
    base_url: str,
    client: httpx.AsyncClient,
    *,
    api_key: str = SECRET,
    retry: RetryPolicy = FAST_RETRY,
    timeouts: Timeouts = TIMEOUTS,
) -> AnthropicProvider | OpenRouterProvider:
    # The tests that pass a made-up ``http://….invalid`` host also pass a mock transport.
    insecure = httpx.URL(base_url).host.endswith(".invalid")
    if api == "anthropic":
        return AnthropicProvider(
            api_key=api_key, base_url=base_url, client=client, retry=retry, timeouts=timeouts,
            allow_insecure_http=insecure,
        )  # fmt: skip
    return OpenRouterProvider(
        api_key=api_key, base_url=base_url, client=client, retry=retry, timeouts=timeouts,
        allow_insecure_http=insecure,
    )  # fmt: skip


class MessageLog:
    """Every message that had a ``MessageEnd``, as an agent listener saw them."""

    def __init__(self, agent: Agent) -> None:
        self.ended: list[Message] = []
        self.events: list[AgentEvent] = []
        self.unsubscribe = agent.subscribe(self._see)

    def _see(self, event: AgentEvent) -> None:
        self.events.append(event)
        if isinstance(event, MessageEnd):
            self.ended.append(event.message)


class TaskSnapshot:
    """The tasks alive now, to compare with later: asyncio tasks, or trio's system tasks."""

    def __init__(self) -> None:
        self.backend = sniffio.current_async_library()
        self.tasks = self._current()

    def _current(self) -> set[Any]:
        if self.backend == "asyncio":
            return set(asyncio.all_tasks())
        import trio

        root = trio.lowlevel.current_root_task()
        assert root is not None
        tasks: set[Any] = set()
        for nursery in root.child_nurseries:
            tasks |= set(nursery.child_tasks)
        return tasks

    async def leftovers(self, *, settle: float = 1.0) -> set[Any]:
        """Tasks started since the snapshot and still alive after up to ``settle`` seconds."""
        with anyio.move_on_after(settle):
            while self._current() - self.tasks:  # noqa: ASYNC110 - no event to wait on
                await anyio.sleep(0.005)
        return self._current() - self.tasks


@define(frozen=True)
class Phases:
    """Where each phase of a stream starts: frames sent before it, and bytes sent before it."""

    frames: dict[str, int]
    offsets: dict[str, int]


def _frames(body: str) -> Iterator[tuple[int, str]]:
    offset = 0
    for frame in body.split("\n\n"):
        yield offset, frame
        offset += len((frame + "\n\n").encode())


def phases_of(api: str, body: str) -> Phases:
    """The phases of a clean stream of :data:`weather_policy`'s first answer."""
    frames: dict[str, int] = {"start": 0}
    offsets: dict[str, int] = {"start": 0}
    args_seen = 0
    for index, (offset, frame) in enumerate(_frames(body)):

        def mark(phase: str, index: int = index, offset: int = offset) -> None:
            if phase not in frames:
                frames[phase] = index
                offsets[phase] = offset

        if api == "anthropic":
            if '"text_delta"' in frame:
                mark("before_first_delta")
                if "before_first_delta" in frames and frames["before_first_delta"] != index:
                    mark("mid_text")
            elif '"input_json_delta"' in frame and '"partial_json":""' not in frame:
                args_seen += 1
                if args_seen == 2:
                    mark("mid_tool_args")
            elif '"message_delta"' in frame:
                mark("at_usage")
        elif '"content":"' in frame and '"content":""' not in frame:
            mark("before_first_delta")
            if frames["before_first_delta"] != index:
                mark("mid_text")
        elif '"arguments":"' in frame and '"arguments":""' not in frame:
            args_seen += 1
            if args_seen == 2:
                mark("mid_tool_args")
        elif '"usage"' in frame:
            mark("at_usage")
    missing = {"before_first_delta", "mid_text", "mid_tool_args", "at_usage"} - set(frames)
    assert not missing, f"{api}: phases not found in the clean stream: {missing}"
    return Phases(frames, offsets)
