"""Cache-breakpoint placements seen in the wild, each as an agentkit transform.

Every strategy returns the context with ``cache_control`` markers added, so the
same loop, tools, provider and emulator serve them all. ``Message`` here means
an agentkit message; the peers' "message" is a wire message, in which the
results of one step's tool calls travel together, so consecutive tool results
count as one message where a peer counts messages (opencode).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from agentkit._messages import (
    CacheControl,
    Context,
    ImageContent,
    Message,
    TextContent,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from agentkit.transforms import CacheBreakpoints, Transform, TransformInfo
from agentkit.transforms._caching import cache_breakpoints

__all__ = ["STRATEGIES", "Strategy", "strip_markers"]

_MARK = CacheControl("5m")


def _markable(block: object) -> bool:
    if isinstance(block, TextContent):
        return bool(block.text.strip())
    return isinstance(block, ToolCall | ImageContent)


def _mark_last_block(message: Message) -> Message:
    content: list[Any] = list(message.content)
    for i in range(len(content) - 1, -1, -1):
        if _markable(content[i]):
            content[i] = attrs.evolve(content[i], cache_control=_MARK)
            return attrs.evolve(message, content=tuple(content))
    return message


def _mark(
    context: Context,
    *,
    system: Iterable[int] = (),
    tools: Iterable[int] = (),
    messages: Iterable[int] = (),
) -> Context:
    sys_blocks = list(context.system)
    for i in system:
        sys_blocks[i] = attrs.evolve(sys_blocks[i], cache_control=_MARK)
    tool_defs = list(context.tools)
    for i in tools:
        tool_defs[i] = attrs.evolve(tool_defs[i], cache_control=_MARK)
    history = list(context.messages)
    for i in messages:
        history[i] = _mark_last_block(history[i])
    return context.evolve(system=tuple(sys_blocks), tools=tuple(tool_defs), messages=tuple(history))


def _wire_message_ends(messages: tuple[Message, ...]) -> list[int]:
    """Index of the last agentkit message of each wire message (tool results grouped)."""
    ends: list[int] = []
    for i, message in enumerate(messages):
        following = messages[i + 1] if i + 1 < len(messages) else None
        grouped = isinstance(message, ToolResultMessage) and isinstance(
            following, ToolResultMessage
        )
        if not grouped:
            ends.append(i)
    return ends


def no_caching(context: Context, info: TransformInfo) -> Context:
    return context


def every_user_message(context: Context, info: TransformInfo) -> Context:
    """The predecessor: a marker on every user message, none on tool results."""
    users = [i for i, m in enumerate(context.messages) if isinstance(m, UserMessage)]
    return _mark(context, messages=users)


def pi_mono(context: Context, info: TransformInfo) -> Context:
    """pi-mono: the system prompt, and the last block of the last message if a user's.

    Tool results count as the user's (they travel in a user message).
    """
    last = len(context.messages) - 1
    tail = [last] if last >= 0 and context.messages[last].role != "assistant" else []
    system = [len(context.system) - 1] if context.system else []
    return _mark(context, system=system, messages=tail)


def opencode(context: Context, info: TransformInfo) -> Context:
    """opencode: the first two system messages and the last two non-system messages."""
    ends = _wire_message_ends(context.messages)
    return _mark(context, system=range(min(2, len(context.system))), messages=ends[-2:])


def pydantic_ai(context: Context, info: TransformInfo) -> Context:
    """pydantic-ai's opt-in settings: the last tool, the last system block, the newest message."""
    tools = [len(context.tools) - 1] if context.tools else []
    system = [len(context.system) - 1] if context.system else []
    newest = [len(context.messages) - 1] if context.messages else []
    return _mark(context, system=system, tools=tools, messages=newest)


def strip_markers(context: Context) -> Context:
    """The context without any ``cache_control`` marker (a rejected request's retry)."""

    def clear(message: Message) -> Message:
        blocks: list[Any] = list(message.content)
        content = tuple(
            attrs.evolve(b, cache_control=None) if getattr(b, "cache_control", None) else b
            for b in blocks
        )
        return attrs.evolve(message, content=content)

    return context.evolve(
        system=tuple(attrs.evolve(b, cache_control=None) for b in context.system),
        tools=tuple(attrs.evolve(t, cache_control=None) for t in context.tools),
        messages=tuple(clear(m) for m in context.messages),
    )


@attrs.define(frozen=True, slots=True)
class Strategy:
    key: str
    label: str
    transform: Transform


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("none", "no caching", no_caching),
    Strategy("predecessor", "every user message (the predecessor)", every_user_message),
    Strategy("pi_mono", "system + last user message (pi-mono)", pi_mono),
    Strategy("opencode", "first 2 system + last 2 messages (opencode)", opencode),
    Strategy("pydantic_ai", "last tool + system + newest message (pydantic-ai)", pydantic_ai),
    Strategy("agentkit", "agentkit default (`CacheBreakpoints()`)", cache_breakpoints),
    Strategy(
        "agentkit_1h",
        "agentkit, 1h prefix (`CacheBreakpoints(mode='1h')`)",
        CacheBreakpoints(mode="1h"),
    ),
)
