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
  ``stop_sequence`` (OpenRouter ``stop``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agentkit._models import ModelInfo
from agentkit.testing.emulator._common import ApiError
from agentkit.testing.emulator._model import ModelReply, ToolUse
from agentkit.testing.emulator._tokens import json_tokens, text_tokens

__all__ = ["check_context_window", "check_model", "fit_reply", "stop_sequences"]

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
