"""Agents the durable tests run, on the worker (this process or a worker process)."""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio

from agentkit import (
    Agent,
    AgentEvent,
    Context,
    ModelOptions,
    TextContent,
    ToolCall,
    ToolCallDecision,
    ToolContext,
    ToolResult,
    ToolResultMessage,
    TransformInfo,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call


def tool_results(context: Context) -> list[ToolResultMessage]:
    return [m for m in context.messages if isinstance(m, ToolResultMessage)]


def two_step_policy(context: Context, options: ModelOptions) -> Reply:
    """Ask for add and shout (in that order), then report what they returned."""
    results = tool_results(context)
    if not results:
        return Reply(
            text="Let me work.",
            tool_calls=[call("slow_add", a=2, b=3), call("shout", text="hi")],
        )
    return Reply(text="Results: " + " | ".join(r.text for r in results))


class Calculator(Agent):
    """A sync tool that is slow and an async one that is fast: their results keep call order."""

    model = "scripted-model"
    system_prompt = "You calculate."

    def __init__(self, **options: Any) -> None:
        super().__init__(provider=ScriptedProvider(two_step_policy), **options)
        self.log: list[str] = []
        self.lock = threading.Lock()
        self.fast_done = threading.Event()

    @tool
    def slow_add(self, a: int, b: int) -> int:
        """Add two numbers, slowly."""
        with self.lock:
            self.log.append("slow_add:start")
        # Ends only after the other call of the batch ended: they ran at the same time.
        finished = self.fast_done.wait(timeout=20)
        with self.lock:
            self.log.append(f"slow_add:end:{finished}")
        return a + b

    @tool
    async def shout(self, text: str, context: ToolContext) -> str:
        """Upper-case a text."""
        with self.lock:
            self.log.append(f"shout:{context.call.id}")
        self.fast_done.set()
        return text.upper()


def waiting_policy(context: Context, options: ModelOptions) -> Reply:
    """One call to wait_here; then answer the last message (a steer or follow-up, or results)."""
    results = tool_results(context)
    last = context.messages[-1]
    if not results:
        return Reply(text="Waiting.", tool_calls=[call("wait_here", label="w1")])
    if last.role == "user":
        return Reply(text=f"Heard: {last.text}")
    return Reply(text=f"Done after {len(results)} waits.")


class Waiter(Agent):
    """A tool that waits until the test lets it go (or the run is aborted)."""

    model = "scripted-model"

    def __init__(self, **options: Any) -> None:
        super().__init__(provider=ScriptedProvider(waiting_policy), **options)
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.cancelled = anyio.Event()
        self.calls: list[str] = []

    @tool
    async def wait_here(self, label: str) -> str:
        """Wait for the test."""
        self.calls.append(label)
        self.started.set()
        try:
            await self.release.wait()
        except BaseException:
            self.cancelled.set()
            raise
        return f"released {label}"


def dump(result: Any) -> str:
    return json.dumps([m.to_dict() for m in result.messages], sort_keys=True)


def guarded_policy(context: Context, options: ModelOptions) -> Reply:
    results = tool_results(context)
    if not results:
        return Reply(text="Trying.", tool_calls=[call("add", a=1, b=2), call("shout", text="x")])
    return Reply(text="Got: " + " | ".join(f"{r.text} ({r.is_error})" for r in results))


class Guarded(Agent):
    """Hooks and a transform, which run in the workflow: denied, rewritten, and a note added."""

    model = "scripted-model"

    def __init__(self, **options: Any) -> None:
        options.setdefault("provider", ScriptedProvider(guarded_policy))
        super().__init__(**options)
        self.events: list[str] = []

    @tool
    def add(self, a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool
    async def shout(self, text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        if call.name == "shout":
            return ToolCallDecision.deny("no shouting here")
        return ToolCallDecision.replace({"a": 10, "b": 20})

    async def after_tool_call(self, call: ToolCall, result: ToolResult) -> ToolResult | None:
        return ToolResult(f"sum={result.text}")

    def transform_context(self, context: Context, info: TransformInfo) -> Context:
        return context.evolve(system=(*context.system, TextContent(f"Turn {info.turn}.")))

    async def on_event(self, event: AgentEvent) -> None:
        self.events.append(type(event).__name__)
