"""Hypothesis strategies for generated conversations, and helpers to inspect cache markers.

For property tests of your own transforms; needs hypothesis
(``pip install 'agentkit-loop[testing]'``).

Contexts come with system blocks, tools, and messages of every role: text,
images, thinking, parallel and sequential tool calls, tool results, and
optionally markers placed by the caller (in a valid TTL order). Sites are
``(area, index, block)`` with area 0 = tools, 1 = system, 2 = messages, so
sorting them gives wire order.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from agentkit._json import canonical_json
from agentkit._messages import (
    AssistantMessage,
    CacheControl,
    Context,
    ImageContent,
    Message,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)

__all__ = [
    "TOOL_NAMES",
    "assistant_messages",
    "block_at",
    "contexts",
    "conversations",
    "grown",
    "images",
    "is_blank",
    "json_objects",
    "json_values",
    "markers",
    "message_sequences",
    "place_markers",
    "snapshot",
    "strip_markers",
    "text_blocks",
    "texts",
    "thinking_blocks",
    "tool_definitions",
    "tool_results",
    "user_messages",
    "with_caller_markers",
]

Site = tuple[int, int, int]
TOOL_NAMES = ("read_file", "search", "run", "write_file")

# Blank strings are drawn often: the API refuses markers on them.
texts = st.one_of(
    st.sampled_from(["", " ", "\n"]),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40),
)
text_blocks = st.builds(TextContent, texts)
images = st.builds(
    ImageContent,
    st.sampled_from(["iVBORw0KGgoAAAANSUhEUg==", "R0lGODlhAQABAAAAACw="]),
    st.sampled_from(["image/png", "image/gif"]),
)
thinking_blocks = st.builds(ThinkingContent, texts, st.none() | st.just("sig=="), st.booleans())
_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
tool_definitions = st.builds(
    ToolDefinition,
    st.sampled_from(TOOL_NAMES),
    st.text(max_size=60),
    st.builds(
        lambda props: {"type": "object", "properties": props},
        st.dictionaries(st.text(min_size=1, max_size=6), st.just({"type": "string"}), max_size=3),
    ),
)


def is_blank(text: str) -> bool:
    return not text or text.isspace()


def user_messages() -> st.SearchStrategy[UserMessage]:
    return st.builds(UserMessage, st.lists(text_blocks | images, min_size=1, max_size=3))


def tool_results(call_id: str, name: str = "run") -> st.SearchStrategy[ToolResultMessage]:
    return st.builds(
        ToolResultMessage,
        st.just(call_id),
        st.just(name),
        st.lists(text_blocks | images, max_size=2),
        st.booleans(),
    )


@st.composite
def assistant_messages(draw: st.DrawFn, call_ids: tuple[str, ...] = ()) -> AssistantMessage:
    """An assistant answer: maybe thinking, maybe text, then one tool call per id."""
    content: list[Any] = []
    if draw(st.booleans()):
        content.append(draw(thinking_blocks))
    if draw(st.booleans()) or not call_ids:
        content.append(draw(text_blocks))
    for call_id in call_ids:
        content.append(ToolCall(call_id, draw(st.sampled_from(TOOL_NAMES)), draw(json_objects)))
    stop = StopReason.TOOL_USE if call_ids else StopReason.STOP
    return AssistantMessage(tuple(content), stop, model="claude-sonnet-4-5", provider="anthropic")


@st.composite
def _tool_round(draw: st.DrawFn, prefix: str, parallel: int) -> list[Message]:
    ids = tuple(f"{prefix}_{n}" for n in range(parallel))
    round_: list[Message] = [draw(assistant_messages(ids))]
    round_.extend(draw(tool_results(call_id)) for call_id in ids)
    return round_


@st.composite
def conversations(draw: st.DrawFn, max_turns: int = 4, max_rounds: int = 4) -> tuple[Message, ...]:
    """Agent-shaped history: user turns, each followed by sequential rounds of parallel
    tool calls and their results, answered in text; it ends where a request would."""
    messages: list[Message] = []
    turns = draw(st.integers(1, max_turns))
    for turn in range(turns):
        messages.append(draw(user_messages()))
        for n in range(draw(st.integers(0, max_rounds))):
            parallel = draw(st.integers(1, 3))
            messages.extend(draw(_tool_round(f"call_{turn}_{n}", parallel)))
        if turn < turns - 1 or draw(st.integers(0, 9)) == 0:
            messages.append(draw(assistant_messages()))
    return tuple(messages)


def _any_message(index: int) -> st.SearchStrategy[Message]:
    ids = (f"any_{index}",)
    return st.one_of(
        user_messages(), assistant_messages(), assistant_messages(ids), tool_results(ids[0])
    )


@st.composite
def _arbitrary_messages(draw: st.DrawFn, max_size: int = 12) -> tuple[Message, ...]:
    size = draw(st.integers(0, max_size))
    return tuple(draw(_any_message(i)) for i in range(size))


def message_sequences() -> st.SearchStrategy[tuple[Message, ...]]:
    """Agent-shaped conversations mostly, and any order of roles sometimes."""
    return st.one_of(
        conversations(), conversations(max_turns=6, max_rounds=6), _arbitrary_messages()
    )


# --------------------------------------------------------------------------- markers


def markers(context: Context) -> dict[Site, str]:
    """Every marker in ``context``: site to TTL."""
    found: dict[Site, str] = {}
    for i, tool in enumerate(context.tools):
        if tool.cache_control is not None:
            found[(0, i, 0)] = tool.cache_control.ttl
    for i, text in enumerate(context.system):
        if text.cache_control is not None:
            found[(1, i, 0)] = text.cache_control.ttl
    for m, message in enumerate(context.messages):
        for b, block in enumerate(message.content):
            cache = getattr(block, "cache_control", None)
            if cache is not None:
                found[(2, m, b)] = cache.ttl
    return found


def block_at(context: Context, site: Site) -> Any:
    area, index, block = site
    if area == 0:
        return context.tools[index]
    if area == 1:
        return context.system[index]
    return context.messages[index].content[block]


def _with(item: Any, ttl: str | None) -> Any:
    return attrs.evolve(item, cache_control=None if ttl is None else CacheControl(ttl))  # type: ignore[arg-type]


def place_markers(context: Context, placed: dict[Site, str | None]) -> Context:
    """``context`` with the markers at ``placed`` set (None removes one)."""
    tools, system = list(context.tools), list(context.system)
    messages = list(context.messages)
    for (area, index, block), ttl in placed.items():
        if area == 0:
            tools[index] = _with(tools[index], ttl)
        elif area == 1:
            system[index] = _with(system[index], ttl)
        else:
            message = messages[index]
            content: list[Any] = list(message.content)
            content[block] = _with(content[block], ttl)
            messages[index] = attrs.evolve(message, content=tuple(content))
    return Context(tuple(system), tuple(messages), tuple(tools))


def strip_markers(context: Context) -> Context:
    """``context`` with every marker removed."""
    return place_markers(context, dict.fromkeys(markers(context)))


def snapshot(value: Context) -> str:
    """Byte-exact serialisation, for mutation and prefix checks."""
    return canonical_json(value.to_dict())


def _markable_sites(context: Context) -> list[Site]:
    sites: list[Site] = [(0, i, 0) for i in range(len(context.tools))]
    sites += [(1, i, 0) for i, t in enumerate(context.system) if not is_blank(t.text)]
    for m, message in enumerate(context.messages):
        for b, block in enumerate(message.content):
            if isinstance(block, ThinkingContent):
                continue
            if isinstance(block, TextContent) and is_blank(block.text):
                continue
            sites.append((2, m, b))
    return sites


@st.composite
def with_caller_markers(draw: st.DrawFn, context: Context, max_markers: int = 4) -> Context:
    """``context`` with up to ``max_markers`` markers a caller might place, TTLs in valid order."""
    sites = _markable_sites(context)
    if not sites or max_markers == 0:
        return context
    chosen = sorted(draw(st.sets(st.sampled_from(sites), max_size=max_markers)))
    long_lived = draw(st.integers(0, len(chosen)))
    placed: dict[Site, str | None] = {
        site: "1h" if n < long_lived else "5m" for n, site in enumerate(chosen)
    }
    return place_markers(context, placed)


@st.composite
def contexts(
    draw: st.DrawFn,
    messages: st.SearchStrategy[tuple[Message, ...]] | None = None,
    max_caller_markers: int = 4,
) -> Context:
    """A full request context: system blocks, tools, messages, caller markers."""
    system = draw(st.lists(text_blocks, max_size=3))
    tools = draw(st.lists(tool_definitions, max_size=3, unique_by=lambda t: t.name))
    history = draw(messages if messages is not None else message_sequences())
    context = Context(tuple(system), history, tuple(tools))
    if max_caller_markers and draw(st.booleans()):
        context = draw(with_caller_markers(context, max_caller_markers))
    return context


@st.composite
def grown(draw: st.DrawFn, context: Context) -> Context:
    """``context`` after one more request: the model's answer and what followed it."""
    index = len(context.messages)
    parallel = draw(st.integers(0, 3))
    ids = tuple(f"grow_{index}_{n}" for n in range(parallel))
    appended: list[Message] = [draw(assistant_messages(ids))]
    appended.extend(draw(tool_results(call_id)) for call_id in ids)
    if not ids or draw(st.booleans()):
        appended.append(draw(user_messages()))
    return context.evolve(messages=(*context.messages, *appended))
