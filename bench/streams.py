"""The SSE bodies streamed by item 2: long text and long tool arguments, in both formats."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["anthropic_body", "arguments_fragments", "openrouter_body"]

_SSE_ID = "gen-1778031313-XM4XZGmFyt6jg3GZ772w"
MODEL = "anthropic/claude-sonnet-4.5"


def arguments_fragments(count: int) -> list[str]:
    """``count`` fragments (10 characters each, as the services send) of one JSON object."""
    empty = len(json.dumps({"path": "notes.txt", "content": ""}))
    text = json.dumps({"path": "notes.txt", "content": "x" * (count * 10 - empty)})
    return [text[i : i + 10] for i in range(0, len(text), 10)]


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": _SSE_ID,
        "object": "chat.completion.chunk",
        "created": 1778031313,
        "model": MODEL,
        "provider": "Amazon Bedrock",
        "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish}
        ],
    }


def openrouter_body(kind: str, count: int) -> bytes:
    """An OpenRouter chat-completions stream of ``count`` text or tool-argument deltas."""
    parts = [b": OPENROUTER PROCESSING\n\n"]
    if kind == "text":
        for i in range(count):
            parts.append(_data(_chunk({"role": "assistant", "content": f" word{i}"})))
        finish = "stop"
    else:
        start = {
            "index": 0,
            "id": "toolu_01",
            "type": "function",
            "function": {"name": "write_file", "arguments": ""},
        }
        parts.append(_data(_chunk({"role": "assistant", "content": "", "tool_calls": [start]})))
        for fragment in arguments_fragments(count):
            call = {"index": 0, "type": "function", "function": {"arguments": fragment}}
            parts.append(_data(_chunk({"role": "assistant", "tool_calls": [call]})))
        finish = "tool_calls"
    last = _chunk({"role": "assistant", "content": ""}, finish)
    last["usage"] = {"prompt_tokens": 12, "completion_tokens": count, "total_tokens": 12 + count}
    parts += [_data(last), b"data: [DONE]\n\n"]
    return b"".join(parts)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\n".encode() + _data(payload)


def anthropic_body(kind: str, count: int) -> bytes:
    """An Anthropic Messages stream of ``count`` text or tool-argument deltas."""
    usage = {"input_tokens": 12, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    parts = [_event("message_start", {"type": "message_start", "message": message})]
    if kind == "text":
        block: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": f" word{i}"} for i in range(count)]
        stop = "end_turn"
    else:
        block = {"type": "tool_use", "id": "toolu_01", "name": "write_file", "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": f} for f in arguments_fragments(count)
        ]
        stop = "tool_use"
    parts.append(
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
    )
    for delta in deltas:
        parts.append(
            _event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    parts.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    parts.append(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": count},
            },
        )
    )
    parts.append(_event("message_stop", {"type": "message_stop"}))
    return b"".join(parts)
