"""Captured content (prompts, answers, tool arguments and results), bounded in size.

Messages take the shape of the GenAI conventions' message schema (``role`` and
``parts``) as a JSON string. Every value is at most ``limit`` characters: a
message list keeps its newest messages that fit, each text cut to a quarter of
the limit; a plain text is cut and marked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentkit import (
    AssistantMessage,
    ImageContent,
    Message,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
)

__all__ = ["bounded_text", "messages_json", "parts_text", "system_json"]

MARK = "…[cut]"


def bounded_text(text: str, limit: int) -> str:
    """``text``, cut to at most ``limit`` characters and marked when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(MARK), 0)] + MARK


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _part(block: object, cut: int) -> dict[str, Any]:
    if isinstance(block, TextContent):
        return {"type": "text", "content": bounded_text(block.text, cut)}
    if isinstance(block, ThinkingContent):
        return {"type": "reasoning", "content": bounded_text(block.thinking, cut)}
    if isinstance(block, ToolCall):
        arguments = bounded_text(_dumps(block.arguments), cut)
        return {"type": "tool_call", "id": block.id, "name": block.name, "arguments": arguments}
    if isinstance(block, ImageContent):
        return {"type": "blob", "modality": "image", "mime_type": block.media_type}
    return {"type": type(block).__name__}


def _message(message: Message, cut: int) -> dict[str, Any]:
    if isinstance(message, ToolResultMessage):
        result = bounded_text(parts_text(message.content), cut)
        part = {"type": "tool_call_response", "id": message.tool_call_id, "result": result}
        return {"role": "tool", "parts": [part]}
    parts = [_part(block, cut) for block in message.content]
    if isinstance(message, AssistantMessage):
        return {"role": "assistant", "parts": parts, "finish_reason": message.stop_reason.value}
    return {"role": "user", "parts": parts}


def messages_json(messages: Sequence[Message], limit: int) -> str:
    """The newest of ``messages`` that fit in ``limit`` characters, as schema JSON."""
    whole = [_message(m, limit) for m in messages]
    text = _dumps(whole)
    if len(text) <= limit:
        return text
    cut = [_message(m, limit // 4) for m in messages]
    kept: list[dict[str, Any]] = []
    size = 2  # the brackets
    for item in reversed(cut):
        extra = len(_dumps(item)) + (1 if kept else 0)
        if size + extra > limit:
            break
        kept.insert(0, item)
        size += extra
    return _dumps(kept)


def system_json(system: Sequence[TextContent], limit: int) -> str:
    """System instructions as the conventions' list of text parts, bounded."""
    parts = [{"type": "text", "content": block.text} for block in system]
    text = _dumps(parts)
    if len(text) <= limit:
        return text
    kept: list[dict[str, str]] = []
    size = 2
    for block in system:
        item = {"type": "text", "content": bounded_text(block.text, limit // 4)}
        extra = len(_dumps(item)) + (1 if kept else 0)
        if size + extra > limit:
            break
        kept.append(item)
        size += extra
    return _dumps(kept)


def parts_text(content: Sequence[object]) -> str:
    """The text of a tool result's content; an image is named, not inlined."""
    pieces = []
    for block in content:
        if isinstance(block, TextContent):
            pieces.append(block.text)
        elif isinstance(block, ImageContent):
            pieces.append(f"[image {block.media_type}]")
    return "\n".join(pieces)
