"""Item 4, transforms: the default pipeline's time per call on contexts of 10 to 10,000 messages.

The default pipeline is what ``Agent`` runs before each request when the user
adds nothing: ``Pipeline((cache_breakpoints,))``. Contexts are a coding
session's mix (user text, assistant text + tool call, tool result), for a
Claude model through the Anthropic provider, with a fresh ``TransformInfo``
per call as the loop gives each turn.
"""

from __future__ import annotations

import math
import time
from typing import Any

from agentkit._messages import (
    AssistantMessage,
    Context,
    Message,
    TextContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from agentkit.transforms import Pipeline, TransformInfo
from agentkit.transforms._caching import cache_breakpoints
from bench.common import median

__all__ = ["SIZES", "make_context", "run", "time_per_call"]

SIZES = (10, 30, 100, 300, 1_000, 3_000, 10_000)
PIPELINE = Pipeline((cache_breakpoints,))


def make_context(size: int) -> Context:
    """A context of ``size`` messages: user, assistant with a tool call, tool result, ..."""
    messages: list[Message] = []
    i = 0
    while len(messages) < size:
        kind = len(messages) % 3
        if kind == 0:
            messages.append(UserMessage(f"Please look at file {i} and fix what is wrong in it."))
        elif kind == 1:
            call = ToolCall(f"toolu_{i}", "read_file", {"path": f"src/mod{i}.py"})
            messages.append(AssistantMessage((TextContent("Reading it."), call)))
        else:
            text = f"line {i}: " + "x = compute(y)\n" * 20
            messages.append(ToolResultMessage(f"toolu_{i}", "read_file", text))
            i += 1
    if isinstance(messages[-1], AssistantMessage):
        messages.pop()
    tools = tuple(
        ToolDefinition(f"tool{t}", "A tool of the bench.", {"type": "object", "properties": {}})
        for t in range(12)
    )
    return Context(
        system=(TextContent("You are a coding agent. " * 400),),
        messages=tuple(messages),
        tools=tools,
    )


def time_per_call(context: Context, min_seconds: float = 0.02, repeats: int = 7) -> float:
    """Median seconds of one pipeline call over ``repeats`` samples of at least ``min_seconds``."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            PIPELINE(context, TransformInfo("claude-sonnet-4-5", "anthropic"))
        if time.perf_counter() - start >= min_seconds or loops >= 1 << 20:
            break
        loops *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            PIPELINE(context, TransformInfo("claude-sonnet-4-5", "anthropic"))
        samples.append((time.perf_counter() - start) / loops)
    return median(samples)


def run(quick: bool = False) -> dict[str, Any]:
    sizes = SIZES[:4] if quick else SIZES
    rows = []
    for size in sizes:
        context = make_context(size)
        marked = PIPELINE(context, TransformInfo("claude-sonnet-4-5", "anthropic"))
        if marked is context:
            raise RuntimeError("the default pipeline placed no marker")
        seconds = time_per_call(context, 0.005 if quick else 0.02, 3 if quick else 7)
        rows.append({"messages": len(context.messages), "us_per_call": seconds * 1e6})
    first, last = rows[0], rows[-1]
    exponent = math.log(last["us_per_call"] / first["us_per_call"]) / math.log(
        last["messages"] / first["messages"]
    )
    tail = next(r for r in rows if r["messages"] * 10 >= last["messages"])
    tail_exponent = (
        math.log(last["us_per_call"] / tail["us_per_call"])
        / math.log(last["messages"] / tail["messages"])
        if tail is not last
        else exponent
    )
    return {"rows": rows, "growth_exponent": exponent, "tail_exponent": tail_exponent}
