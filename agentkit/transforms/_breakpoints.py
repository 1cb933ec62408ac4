"""Where cache markers can go, how Anthropic counts positions, and a cheap token estimate.

A *site* names one place that can carry a marker, in wire order
(tools, then system, then messages): ``(TOOLS, i, 0)``, ``(SYSTEM, i, 0)`` or
``(MESSAGES, message_index, block_index)``. Tuples compare in wire order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeAlias

from agentkit._json import canonical_json
from agentkit._messages import (
    CacheControl,
    CacheTTL,
    Context,
    ImageContent,
    Message,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
)

__all__ = [
    "IMAGE_TOKENS",
    "LOOKBACK",
    "MESSAGES",
    "SYSTEM",
    "TOOLS",
    "Site",
    "estimate_prefix_tokens",
    "existing_markers",
    "is_blank",
    "last_site",
    "markable",
    "span",
]

Site: TypeAlias = tuple[int, int, int]
TOOLS, SYSTEM, MESSAGES = 0, 1, 2

#: Positions a breakpoint checks on a miss, counting itself (Anthropic's lookback).
LOOKBACK = 20
#: Estimated tokens of one image. Anthropic charges about width*height/750 and
#: scales larger images down to about 1.15 megapixels, i.e. about 1,600 tokens.
IMAGE_TOKENS = 1_600
_CHARS_PER_TOKEN = 4

_TOOL_USE, _TOOL_RESULT, _BLOCK = "tool_use", "tool_result", "block"
_RUNS = (_TOOL_USE, _TOOL_RESULT)


def is_blank(text: str) -> bool:
    """True for text the API refuses to mark: empty or only whitespace."""
    return not text or text.isspace()


def markable(block: object, text_only: bool) -> bool:
    """Whether the transform may put a marker on ``block``."""
    if isinstance(block, TextContent):
        return not is_blank(block.text)
    if isinstance(block, ImageContent | ToolCall):
        return not text_only
    return False


def _message_site(messages: Sequence[Message], index: int, text_only: bool) -> Site | None:
    """The last markable site of ``messages[index]``.

    A tool result's blocks are one position on the wire (Anthropic marks the
    ``tool_result`` block whichever of its blocks carries the marker; the OpenAI
    format keeps its text in the ``tool`` message and moves images after it), so
    a blank last text or a trailing image falls back to an earlier block of the
    same result, never to an earlier message.
    """
    content = messages[index].content
    for block_index in range(len(content) - 1, -1, -1):
        if markable(content[block_index], text_only):
            return (MESSAGES, index, block_index)
    return None


def last_site(messages: Sequence[Message], end: int, text_only: bool) -> Site | None:
    """The last markable site in ``messages[:end]``, or None."""
    for index in range(end - 1, -1, -1):
        site = _message_site(messages, index, text_only)
        if site is not None:
            return site
    return None


def existing_markers(context: Context) -> list[tuple[Site, CacheTTL, bool]]:
    """Every marker already present, in wire order: ``(site, ttl, on_blank_text)``."""
    found: list[tuple[Site, CacheTTL, bool]] = []
    for i, tool in enumerate(context.tools):
        if tool.cache_control is not None:
            found.append(((TOOLS, i, 0), tool.cache_control.ttl, False))
    for i, text in enumerate(context.system):
        if text.cache_control is not None:
            found.append(((SYSTEM, i, 0), text.cache_control.ttl, is_blank(text.text)))
    for m, message in enumerate(context.messages):
        # Fast path first: this scan covers the whole conversation on every request.
        for block in message.content:
            # getattr: thinking blocks have no cache_control at all.
            if getattr(block, "cache_control", None) is not None:
                break
        else:
            continue
        for b, block in enumerate(message.content):
            if isinstance(block, ThinkingContent):
                continue
            cache: CacheControl | None = block.cache_control
            if cache is not None:
                blank = isinstance(block, TextContent) and is_blank(block.text)
                found.append(((MESSAGES, m, b), cache.ttl, blank))
    return found


def _items(
    messages: Sequence[Message], index: int, text_only: bool
) -> Iterator[tuple[str, int, Site | None]]:
    """Wire items of one message: ``(kind, block_index, markable site or None)``."""
    message = messages[index]
    if isinstance(message, ToolResultMessage):
        # One item, addressed by the block that would carry its marker.
        site = _message_site(messages, index, text_only)
        yield _TOOL_RESULT, len(message.content) - 1 if site is None else site[2], site
        return
    for b, block in enumerate(message.content):
        kind = _TOOL_USE if isinstance(block, ToolCall) else _BLOCK
        yield kind, b, (MESSAGES, index, b) if markable(block, text_only) else None


def span(
    messages: Sequence[Message], start: Site, end: Site, text_only: bool
) -> tuple[int, Site | None]:
    """Positions from ``start`` to ``end``, and a bridge site for a long span.

    Positions are counted as Anthropic counts them: each block is one, except
    that a run of consecutive ``tool_use`` blocks is one, and so is a run of
    consecutive tool results (consecutive tool-result messages are one user
    turn on the wire). The bridge site is the last markable site after
    ``start`` that is still within one lookback window of it, ``end`` excluded.
    """
    _, first, first_block = start
    previous = ""
    distance = 0
    bridge: Site | None = None
    for index in range(first, end[1] + 1):
        for kind, block, site in _items(messages, index, text_only):
            if index == first and block < first_block:
                continue
            if index == first and block == first_block:
                previous = kind
                continue
            if not (kind in _RUNS and kind == previous):
                distance += 1
            previous = kind
            if site == end:
                return distance, bridge
            if site is not None and distance < LOOKBACK:
                bridge = site
    return distance, bridge


def _block_chars(block: object) -> tuple[int, int]:
    """(characters, images) of one content block."""
    if isinstance(block, TextContent):
        return len(block.text), 0
    if isinstance(block, ThinkingContent):
        return len(block.thinking), 0
    if isinstance(block, ToolCall):
        return len(block.name) + len(canonical_json(block.arguments)), 0
    return 0, 1


def estimate_prefix_tokens(context: Context, end: Site, limit: int) -> int:
    """Estimated tokens of everything up to and including ``end``.

    Text, thinking, tool schemas and tool arguments count one token per four
    characters of their text or canonical JSON; an image counts
    :data:`IMAGE_TOKENS`. Counting stops once ``limit`` is reached, so the
    cost stays bounded on long conversations.
    """
    chars = 0
    images = 0

    def tokens() -> int:
        return chars // _CHARS_PER_TOKEN + images * IMAGE_TOKENS

    area, last, last_block = end
    for i, tool in enumerate(context.tools):
        if area == TOOLS and i > last:
            return tokens()
        chars += len(canonical_json([tool.name, tool.description, tool.parameters]))
    if area == TOOLS:
        return tokens()
    for i, text in enumerate(context.system):
        if area == SYSTEM and i > last:
            return tokens()
        chars += len(text.text)
    if area == SYSTEM or tokens() >= limit:
        return tokens()
    for m, message in enumerate(context.messages[: last + 1]):
        blocks = message.content
        if m == last and not isinstance(message, ToolResultMessage):
            blocks = blocks[: last_block + 1]
        for block in blocks:
            more_chars, more_images = _block_chars(block)
            chars += more_chars
            images += more_images
        if tokens() >= limit:
            break
    return tokens()
