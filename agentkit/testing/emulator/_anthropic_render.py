"""Anthropic responses: usage, SSE frames, the message body and errors (§1.9, §2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentkit.testing.emulator._cache import CachePlan
from agentkit.testing.emulator._common import ParsedCall
from agentkit.testing.emulator._model import ModelReply, output_tokens, thinking_signature

__all__ = [
    "ERROR_TYPES",
    "error_body",
    "message_body",
    "message_id",
    "overloaded_frame",
    "stream_frames",
    "tool_ids",
    "usage_fields",
]

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES: Mapping[int, str] = {
    401: "invalid x-api-key",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}


def usage_fields(plan: CachePlan, output: int) -> dict[str, Any]:
    """The full usage object, Anthropic's convention: ``input_tokens`` excludes the cache."""
    return {
        "input_tokens": plan.input_tokens,
        "cache_creation_input_tokens": plan.write_tokens,
        "cache_read_input_tokens": plan.read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": plan.write_5m_tokens,
            "ephemeral_1h_input_tokens": plan.write_1h_tokens,
        },
        "output_tokens": output,
        "service_tier": "standard",
        "inference_geo": "not_available",
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _words(text: str) -> list[str]:
    """Text deltas of about two words each; joined they give back ``text``."""
    parts: list[str] = []
    current = ""
    for i, word in enumerate(text.split(" ")):
        current += word if i == 0 else " " + word
        if len(current.split()) >= 2:
            parts.append(current)
            current = ""
    if current or not parts:
        parts.append(current)
    return parts


def _frame(event: str, data: Mapping[str, Any], pad: int) -> bytes:
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # Real streams pad the JSON before its last brace (§2.1); parsers must cope.
    raw = raw[:-1] + " " * pad + "}" if pad else raw
    return f"event: {event}\ndata: {raw}\n\n".encode()


def tool_ids(reply: ModelReply, prefix: str, index: int) -> list[str]:
    return [c.id or f"{prefix}emu{index:06d}{n:02d}" for n, c in enumerate(reply.tool_calls)]


def stream_frames(
    call: ParsedCall, reply: ModelReply, plan: CachePlan, *, index: int, pad: bool
) -> list[bytes]:
    """The SSE frames of a streamed reply, as the real API sends them (§2.2)."""
    frames: list[bytes] = []

    def add(event: str, data: Mapping[str, Any]) -> None:
        frames.append(_frame(event, data, (len(frames) * 7) % 13 if pad else 0))

    output = 0 if call.request.max_tokens == 0 else output_tokens(reply)
    start = dict(_message(call, index), usage=usage_fields(plan, min(output, 1)))
    add("message_start", {"type": "message_start", "message": start})
    block = 0
    if reply.thinking is not None:
        add(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": block,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        )
        frames.append(b'event: ping\ndata: {"type": "ping"}\n\n')
        for piece in _words(reply.thinking):
            add(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": block,
                    "delta": {"type": "thinking_delta", "thinking": piece},
                },
            )
        add(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": block,
                "delta": {
                    "type": "signature_delta",
                    "signature": thinking_signature(reply.thinking),
                },
            },
        )
        add("content_block_stop", {"type": "content_block_stop", "index": block})
        block += 1
    if reply.text:
        add(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": block,
                "content_block": {"type": "text", "text": ""},
            },
        )
        if block == 0:
            frames.append(b'event: ping\ndata: {"type": "ping"}\n\n')
        for piece in _words(reply.text):
            add(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": block,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        add("content_block_stop", {"type": "content_block_stop", "index": block})
        block += 1
    for call_id, tool in zip(tool_ids(reply, "toolu_", index), reply.tool_calls, strict=True):
        add(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": block,
                "content_block": {
                    "type": "tool_use",
                    "id": call_id,
                    "name": tool.name,
                    "input": {},
                    "caller": {"type": "direct"},
                },
            },
        )
        arguments = json.dumps(dict(tool.arguments), ensure_ascii=False) if tool.arguments else ""
        for piece in ["", *(_pieces(arguments, 10) if arguments else [])]:
            add(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": block,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
        add("content_block_stop", {"type": "content_block_stop", "index": block})
        block += 1
    final = usage_fields(plan, output)
    add(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": _stop(call, reply),
                "stop_sequence": None,
                "stop_details": None,
            },
            "usage": {
                k: final[k]
                for k in (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                )
            },
        },
    )
    add("message_stop", {"type": "message_stop"})
    return frames


def _stop(call: ParsedCall, reply: ModelReply) -> str:
    return "max_tokens" if call.request.max_tokens == 0 else reply.final_stop_reason


def message_id(index: int) -> str:
    """The ``id`` of the response to request ``index``."""
    return f"msg_emu{index:08d}"


def _message(call: ParsedCall, index: int) -> dict[str, Any]:
    diagnostics = call.extra.get("diagnostics_result")
    extra = {} if diagnostics is None else {"diagnostics": diagnostics}
    return extra | {
        "model": call.request.model,
        "id": message_id(index),
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
    }


def message_body(
    call: ParsedCall, reply: ModelReply, plan: CachePlan, *, index: int
) -> dict[str, Any]:
    """The non-streamed response."""
    content: list[dict[str, Any]] = []
    if call.request.max_tokens != 0:
        if reply.thinking is not None:
            content.append(
                {
                    "type": "thinking",
                    "thinking": reply.thinking,
                    "signature": thinking_signature(reply.thinking),
                }
            )
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        for call_id, tool in zip(tool_ids(reply, "toolu_", index), reply.tool_calls, strict=True):
            content.append(
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": tool.name,
                    "input": dict(tool.arguments),
                }
            )
    output = 0 if call.request.max_tokens == 0 else output_tokens(reply)
    return dict(
        _message(call, index),
        content=content,
        stop_reason=_stop(call, reply),
        usage=usage_fields(plan, output),
    )


def error_body(status: int, message: str | None, *, request_id: str) -> dict[str, Any]:
    """The error JSON: ``{"type":"error","error":{type,message},"request_id"}``."""
    kind = ERROR_TYPES.get(status, "api_error")
    text = message or _DEFAULT_MESSAGES.get(status, "Error")
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": request_id}


def overloaded_frame() -> bytes:
    """The mid-stream error event the docs show (§2.4)."""
    return (
        b"event: error\n"
        b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
        b"\n\n"
    )
