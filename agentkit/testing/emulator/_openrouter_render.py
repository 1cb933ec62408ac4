"""OpenRouter responses: usage in OpenAI's convention, cost, chunks and errors (§3.3 to §3.7)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from agentkit._models import ModelInfo
from agentkit.testing.emulator._cache import CachePlan
from agentkit.testing.emulator._common import ParsedCall
from agentkit.testing.emulator._model import ModelReply, output_tokens, thinking_signature
from agentkit.testing.emulator._openrouter_api import is_claude
from agentkit.testing.emulator._tokens import text_tokens

__all__ = [
    "ERROR_TYPES",
    "cost_of",
    "error_body",
    "midstream_error_frame",
    "output_and_reasoning",
    "response_body",
    "stream_frames",
    "usage_fields",
]

UsageChunk = Literal["repeat", "empty_choices", "null_finish"]

ERROR_TYPES: Mapping[int, tuple[str, str]] = {
    400: ("invalid_request", "Bad request"),
    401: ("authentication", "No auth credentials found"),
    402: ("payment_required", "Insufficient credits"),
    403: ("permission_denied", "Forbidden"),
    408: ("timeout", "Request timed out"),
    429: ("rate_limit_exceeded", "Rate limit exceeded"),
    500: ("server", "Internal Server Error"),
    502: ("provider_unavailable", "Provider returned error"),
    503: ("provider_overloaded", "No available providers"),
}
_FINISH = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "stop_sequence": "stop",
    "refusal": "content_filter",
    "pause_turn": "stop",
    "model_context_window_exceeded": "length",
}


def cost_of(plan: CachePlan, output: int, info: ModelInfo | None) -> tuple[float, float, float]:
    """(total, prompt, completion) cost in US dollars from list prices and cache multipliers."""
    if info is None or info.input_price is None or info.output_price is None:
        return 0.0, 0.0, 0.0
    per = 1e-6
    prompt = per * (
        info.input_price * plan.input_tokens
        + (info.cache_read_price or 0.0) * plan.read_tokens
        + (info.cache_write_5m_price or 0.0) * plan.write_5m_tokens
        + (info.cache_write_1h_price or 0.0) * plan.write_1h_tokens
    )
    completion = per * info.output_price * output
    return round(prompt + completion, 12), round(prompt, 12), round(completion, 12)


def usage_fields(
    plan: CachePlan, output: int, reasoning: int, info: ModelInfo | None, *, report_writes: bool
) -> dict[str, Any]:
    """OpenAI-convention usage: ``prompt_tokens`` includes cache reads and writes."""
    total, prompt_cost, completion_cost = cost_of(plan, output, info)
    details: dict[str, Any] = {"cached_tokens": plan.read_tokens}
    if report_writes:
        details["cache_write_tokens"] = plan.write_tokens
    details |= {"audio_tokens": 0, "video_tokens": 0}
    return {
        "prompt_tokens": plan.total_tokens,
        "completion_tokens": output,
        "total_tokens": plan.total_tokens + output,
        "cost": total,
        "is_byok": False,
        "prompt_tokens_details": details,
        "cost_details": {
            "upstream_inference_cost": total,
            "upstream_inference_prompt_cost": prompt_cost,
            "upstream_inference_completions_cost": completion_cost,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "image_tokens": 0,
            "audio_tokens": 0,
        },
    }


def _frame(data: Mapping[str, Any]) -> bytes:
    return (
        b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    )


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _finish(call: ParsedCall, reply: ModelReply) -> tuple[str, str]:
    native = "max_tokens" if call.request.max_tokens == 0 else reply.final_stop_reason
    finish = _FINISH[native]
    return finish, native if is_claude(call.request.model) else finish


def stream_frames(
    call: ParsedCall,
    reply: ModelReply,
    usage: Mapping[str, Any],
    *,
    generation_id: str,
    created: int,
    provider: str,
    keepalives: int,
    usage_chunk: UsageChunk,
) -> list[bytes]:
    """The SSE frames: keep-alive comments, chunks, the finish chunk twice, ``[DONE]`` (§3.3)."""
    frames = [b": OPENROUTER PROCESSING\n\n"] * keepalives
    head = {
        "id": generation_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": call.request.model,
        "provider": provider,
    }

    def chunk(
        delta: Mapping[str, Any], finish: str | None = None, native: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        choice = {
            "index": 0,
            "delta": dict(delta),
            "finish_reason": finish,
            "native_finish_reason": native,
        }
        return dict(head, choices=[choice], **extra)

    generate = call.request.max_tokens != 0
    if generate and reply.thinking is not None:
        for piece in _pieces(reply.thinking, 12) or [""]:
            detail = {
                "type": "reasoning.text",
                "text": piece,
                "format": "anthropic-claude-v1",
                "index": 0,
            }
            frames.append(
                _frame(
                    chunk(
                        {
                            "content": "",
                            "role": "assistant",
                            "reasoning": piece,
                            "reasoning_details": [detail],
                        }
                    )
                )
            )
        detail = {
            "type": "reasoning.text",
            "signature": thinking_signature(reply.thinking),
            "format": "anthropic-claude-v1",
            "index": 0,
        }
        frames.append(
            _frame(
                chunk(
                    {
                        "content": "",
                        "role": "assistant",
                        "reasoning": "",
                        "reasoning_details": [detail],
                    }
                )
            )
        )
    if generate:
        for piece in _pieces(reply.text, 8):
            frames.append(_frame(chunk({"content": piece, "role": "assistant"})))
        prefix = "toolu_" if is_claude(call.request.model) else "call_"
        for n, tool in enumerate(reply.tool_calls):
            call_id = tool.id or f"{prefix}emu{generation_id[-6:]}{n:02d}"
            start = {
                "index": n,
                "id": call_id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            frames.append(
                _frame(chunk({"content": None, "role": "assistant", "tool_calls": [start]}))
            )
            arguments = json.dumps(dict(tool.arguments), ensure_ascii=False)
            for piece in _pieces(arguments, 10):
                frames.append(
                    _frame(
                        chunk(
                            {
                                "content": None,
                                "role": "assistant",
                                "tool_calls": [{"index": n, "function": {"arguments": piece}}],
                            }
                        )
                    )
                )
    finish, native = _finish(call, reply)
    end = {"content": "", "role": "assistant"}
    frames.append(_frame(chunk(end, finish, native)))
    if usage_chunk == "repeat":
        frames.append(_frame(chunk(end, finish, native, usage=dict(usage))))
    elif usage_chunk == "empty_choices":
        frames.append(_frame(dict(head, choices=[], usage=dict(usage))))
    else:
        frames.append(_frame(chunk(end, None, None, usage=dict(usage))))
    frames.append(b"data: [DONE]\n\n")
    return frames


def response_body(
    call: ParsedCall,
    reply: ModelReply,
    usage: Mapping[str, Any],
    *,
    generation_id: str,
    created: int,
    provider: str,
) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` response."""
    generate = call.request.max_tokens != 0
    message: dict[str, Any] = {"role": "assistant", "content": reply.text if generate else ""}
    if generate and reply.thinking is not None:
        message["reasoning"] = reply.thinking
        message["reasoning_details"] = [
            {
                "type": "reasoning.text",
                "text": reply.thinking,
                "signature": thinking_signature(reply.thinking),
                "format": "anthropic-claude-v1",
                "index": 0,
            }
        ]
    if generate and reply.tool_calls:
        prefix = "toolu_" if is_claude(call.request.model) else "call_"
        message["tool_calls"] = [
            {
                "id": t.id or f"{prefix}emu{generation_id[-6:]}{n:02d}",
                "type": "function",
                "function": {"name": t.name, "arguments": json.dumps(dict(t.arguments))},
            }
            for n, t in enumerate(reply.tool_calls)
        ]
    finish, native = _finish(call, reply)
    return {
        "id": generation_id,
        "object": "chat.completion",
        "created": created,
        "model": call.request.model,
        "provider": provider,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish,
                "native_finish_reason": native,
            }
        ],
        "usage": dict(usage),
    }


def error_body(
    status: int, message: str | None = None, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{"error":{"code","message","metadata"}}`` with the HTTP status as ``code`` (§3.7)."""
    kind, default = ERROR_TYPES.get(status, ("unmapped", "Error"))
    meta = dict(metadata) if metadata is not None else {"error_type": kind}
    return {"error": {"code": status, "message": message or default, "metadata": meta}}


def midstream_error_frame(
    generation_id: str, created: int, model: str, provider: str, code: int
) -> bytes:
    """The final chunk of a stream that failed after 200 OK: top-level ``error`` (§3.7)."""
    kind, _ = ERROR_TYPES.get(code, ("unmapped", "Error"))
    return _frame(
        {
            "id": generation_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "provider": provider,
            "error": {
                "code": code,
                "message": "Provider disconnected unexpectedly",
                "metadata": {"error_type": kind},
            },
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "error",
                    "native_finish_reason": None,
                }
            ],
        }
    )


def output_and_reasoning(call: ParsedCall, reply: ModelReply) -> tuple[int, int]:
    """Completion tokens and the reasoning tokens among them."""
    if call.request.max_tokens == 0:
        return 0, 0
    return output_tokens(reply), text_tokens(reply.thinking or "")
