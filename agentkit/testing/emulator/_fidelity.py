"""What the services refuse or cut short, and the emulator must too (issue 18 item 7).

- an unknown model: Anthropic 404 ``not_found_error`` ``model: <name>``; OpenRouter
  404 ``No endpoints found for <name>.`` (a name without a vendor prefix, or a
  Claude name agentkit's registry does not know);
- a prompt plus ``max_tokens`` over the model's context window: Anthropic 400
  ``prompt is too long: N tokens > W maximum``; OpenRouter 400 with
  ``metadata.error_type = "context_length_exceeded"``;
- ``max_tokens``: the reply is cut to fit and stops with ``max_tokens``
  (OpenRouter ``length``); tool calls that do not fit are dropped;
- stop sequences (Anthropic ``stop_sequences``, OpenRouter ``stop``): the text
  ends before the first one found, tool calls are dropped, the stop reason is
  ``stop_sequence`` (OpenRouter ``stop``);
- a stream the client leaves early is billed for the prompt and for the output
  sent before it left (:func:`sent_output`), never for the whole reply;
- ``tool_choice``: ``none`` makes no tool call; a forced tool (Anthropic
  ``{"type": "tool", "name": ...}``, OpenAI ``{"type": "function", "function":
  {"name": ...}}``) and ``any`` / ``required`` must call one (:func:`apply_tool_choice`);
  a forced name that is not among the tools is the API's 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from agentkit._models import ModelInfo
from agentkit.testing.emulator._common import ApiError
from agentkit.testing.emulator._model import ModelReply, ToolUse
from agentkit.testing.emulator._tokens import json_tokens, text_tokens

__all__ = [
    "anthropic_model_entry",
    "apply_tool_choice",
    "check_context_window",
    "check_model",
    "fit_reply",
    "model_listing",
    "sent_output",
    "stop_sequences",
]

_CHARS_PER_TOKEN = 4


def check_model(api: str, model: str, info: ModelInfo | None) -> None:
    """Raise the API's 404 for a model it does not serve."""
    if api == "anthropic":
        if info is None:
            raise ApiError(f"model: {model}", status=404)
        return
    vendor, slash, _ = model.partition("/")
    if not slash or not vendor or (vendor == "anthropic" and info is None):
        raise ApiError(f"No endpoints found for {model}.", status=404)


def check_context_window(
    api: str, info: ModelInfo | None, prompt_tokens: int, max_tokens: int | None
) -> None:
    """Raise the API's context-length error when the prompt and the output cannot fit."""
    window = None if info is None else info.context_window
    if window is None:
        return
    if api == "anthropic":
        if prompt_tokens > window:
            raise ApiError(f"prompt is too long: {prompt_tokens} tokens > {window} maximum")
        if prompt_tokens + (max_tokens or 0) > window:
            raise ApiError(
                f"input length and `max_tokens` exceed context limit: {prompt_tokens} + "
                f"{max_tokens} > {window}, decrease input length or `max_tokens` and try again"
            )
        return
    if prompt_tokens + (max_tokens or 0) > window:
        raise ApiError(
            f"This endpoint's maximum context length is {window} tokens. However, you "
            f"requested about {prompt_tokens + (max_tokens or 0)} tokens ({prompt_tokens} of "
            f"text input, {max_tokens or 0} in the output). Please reduce the length of either "
            'one, or use the "middle-out" transform to compress your prompt automatically.',
            status=400,
            error_type="context_length_exceeded",
        )


def stop_sequences(api: str, body: Mapping[str, Any]) -> tuple[str, ...]:
    """The stop sequences a request asks for (Anthropic ``stop_sequences``, OpenAI ``stop``)."""
    raw = body.get("stop_sequences") if api == "anthropic" else body.get("stop")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return ()
    if not all(isinstance(s, str) for s in raw):
        raise ApiError("stop_sequences: Input should be a valid list of strings")
    return tuple(s for s in raw if s)


def fit_reply(reply: ModelReply, max_tokens: int | None, stops: tuple[str, ...]) -> ModelReply:
    """``reply`` as the service would end it: at a stop sequence, or at ``max_tokens``."""
    found = [(reply.text.find(s), s) for s in stops if s in reply.text]
    if found:
        at, _ = min(found)
        reply = attrs.evolve(
            reply, text=reply.text[:at], tool_calls=(), stop_reason="stop_sequence"
        )
    if max_tokens is None or max_tokens == 0:  # 0: the pre-warm, answered empty elsewhere
        return reply
    budget = max_tokens - text_tokens(reply.thinking or "")
    if budget < 0:
        kept = (reply.thinking or "")[: max_tokens * _CHARS_PER_TOKEN]
        return attrs.evolve(reply, thinking=kept, text="", tool_calls=(), stop_reason="max_tokens")
    if text_tokens(reply.text) > budget:
        text = reply.text[: budget * _CHARS_PER_TOKEN]
        return attrs.evolve(reply, text=text, tool_calls=(), stop_reason="max_tokens")
    budget -= text_tokens(reply.text)
    kept_calls: list[ToolUse] = []
    for call in reply.tool_calls:
        cost = text_tokens(call.name) + json_tokens(dict(call.arguments))
        if cost > budget:
            return attrs.evolve(reply, tool_calls=tuple(kept_calls), stop_reason="max_tokens")
        budget -= cost
        kept_calls.append(call)
    return reply


def _frame_data(frame: bytes) -> Any:
    for line in frame.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            try:
                return json.loads(line[5:])
            except json.JSONDecodeError:
                return None
    return None


def sent_output(api: str, frames: tuple[bytes, ...]) -> tuple[int, int]:
    """(output, reasoning) tokens of the answer in ``frames``: what a cut stream is billed.

    The estimate is the emulator's one rule (four characters a token, rounded up, for
    the text, the thinking and each tool call's name and argument JSON as sent), and
    never less than the 1 token every started answer generates.
    """
    text: list[str] = []
    thinking: list[str] = []
    tools: list[str] = []
    for frame in frames:
        data = _frame_data(frame)
        if not isinstance(data, dict):
            continue
        if api == "anthropic":
            delta = data.get("delta") or {}
            block = data.get("content_block") or {}
            if data.get("type") == "content_block_start" and block.get("type") == "tool_use":
                tools.append(str(block.get("name", "")))
            elif delta.get("type") == "text_delta":
                text.append(str(delta.get("text", "")))
            elif delta.get("type") == "thinking_delta":
                thinking.append(str(delta.get("thinking", "")))
            elif delta.get("type") == "input_json_delta" and tools:
                tools[-1] += str(delta.get("partial_json", ""))
            continue
        for choice in data.get("choices") or ():
            delta = choice.get("delta") or {}
            text.append(str(delta.get("content") or ""))
            thinking.append(str(delta.get("reasoning") or ""))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if "name" in function:
                    tools.append(str(function["name"]))
                if tools:
                    tools[-1] += str(function.get("arguments") or "")
    reasoning = text_tokens("".join(thinking))
    total = text_tokens("".join(text)) + reasoning + sum(text_tokens(t) for t in tools)
    return max(total, 1), reasoning


def _forced_name(api: str, choice: Mapping[str, Any]) -> str | None:
    if api == "anthropic":
        return str(choice["name"]) if choice.get("type") == "tool" and "name" in choice else None
    function = choice.get("function")
    if choice.get("type") == "function" and isinstance(function, Mapping):
        return str(function.get("name", ""))
    return None


def apply_tool_choice(
    api: str, body: Mapping[str, Any], reply: ModelReply, tool_names: tuple[str, ...]
) -> ModelReply:
    """``reply`` as the request's ``tool_choice`` allows it (or the API's 400 for a bad one).

    ``none``: the tool calls are dropped and the turn ends. A forced tool: calls to
    other tools are dropped, and a reply without a call to it gets one with empty
    arguments (the model must call it). ``any`` / ``required``: a reply without
    any call gets one to the first tool. ``auto`` (or no ``tool_choice``): unchanged.
    """
    raw = body.get("tool_choice")
    if raw is None:
        return reply
    choice: Mapping[str, Any] = {"type": raw} if isinstance(raw, str) else raw
    if not isinstance(choice, Mapping):
        raise ApiError("tool_choice: Input should be a valid dictionary")
    kind = choice.get("type")
    if api == "anthropic" and kind not in ("auto", "any", "tool", "none"):
        raise ApiError("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if api != "anthropic" and kind not in ("auto", "none", "required", "function"):
        raise ApiError(f"Invalid tool_choice: {json.dumps(raw)}")
    if kind == "none":
        if not reply.tool_calls:
            return reply
        stop = None if reply.stop_reason == "tool_use" else reply.stop_reason
        return attrs.evolve(reply, tool_calls=(), stop_reason=stop)
    if kind == "auto":
        return reply
    if not tool_names:
        raise ApiError(
            "tool_choice may only be specified while providing tools"
            if api == "anthropic"
            else "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
            "'tools' are specified."
        )
    forced = _forced_name(api, choice)
    if forced is not None and forced not in tool_names:
        raise ApiError(
            f"Tool '{forced}' not found in provided tools"
            if api == "anthropic"
            else f"Invalid tool_choice: no function named '{forced}' in 'tools'"
        )
    calls = reply.tool_calls
    if forced is not None:
        calls = tuple(c for c in calls if c.name == forced)[:1] or (ToolUse(forced, {}),)
    elif not calls:
        calls = (ToolUse(tool_names[0], {}),)
    kept = None if reply.stop_reason in (None, "end_turn") else reply.stop_reason
    return attrs.evolve(reply, tool_calls=calls, stop_reason=kept)


def _anthropic_id(info: ModelInfo) -> str:
    return info.key.replace(".", "-")


def anthropic_model_entry(model: str, info: ModelInfo) -> dict[str, Any]:
    """One entry of Anthropic's ``GET /v1/models`` (and the body of ``/v1/models/{id}``)."""
    ident = model if model.startswith("claude") else _anthropic_id(info)
    return {
        "type": "model",
        "id": ident,
        "display_name": ident.replace("-", " ").title(),
        "created_at": "2026-01-01T00:00:00Z",
    }


def _per_token(price: float | None) -> str:
    return "0" if price is None else f"{price / 1e6:.10f}".rstrip("0").rstrip(".")


def model_listing(api: str, models: tuple[ModelInfo, ...]) -> dict[str, Any]:
    """``GET /v1/models`` (Anthropic's page shape) or ``/api/v1/models`` (OpenRouter's)."""
    if api == "anthropic":
        entries = [anthropic_model_entry(_anthropic_id(m), m) for m in models]
        return {
            "data": entries,
            "has_more": False,
            "first_id": entries[0]["id"] if entries else None,
            "last_id": entries[-1]["id"] if entries else None,
        }
    data = []
    for m in models:
        ident = m.key if "/" in m.key else f"anthropic/{m.key}"
        data.append(
            {
                "id": ident,
                "canonical_slug": ident,
                "name": ident,
                "created": 1_767_225_600,
                "description": "Served by the agentkit emulator.",
                "context_length": m.context_window,
                "architecture": {
                    "modality": "text+image->text",
                    "input_modalities": ["text", "image"],
                    "output_modalities": ["text"],
                    "tokenizer": "Claude" if m.explicit_cache_breakpoints else "Other",
                    "instruct_type": None,
                },
                "pricing": {
                    "prompt": _per_token(m.input_price),
                    "completion": _per_token(m.output_price),
                    "input_cache_read": _per_token(m.cache_read_price),
                    "input_cache_write": _per_token(m.cache_write_5m_price),
                },
                "top_provider": {
                    "context_length": m.context_window,
                    "max_completion_tokens": None,
                    "is_moderated": False,
                },
                "per_request_limits": None,
                "supported_parameters": [
                    "max_tokens",
                    "stop",
                    "temperature",
                    "tool_choice",
                    "tools",
                    "reasoning",
                    "response_format",
                    "structured_outputs",
                ],
            }
        )
    return {"data": data}
