"""OpenRouter ``POST /api/v1/chat/completions``: request parsing and validation.

Claude models (``anthropic/*``) get Anthropic's explicit caching: markers are
honoured on text parts of array content, on ``tools[]`` entries and at top
level; a marker on a message object or on string content is ignored, as
OpenRouter does (§3.1, §4.4). Other models get implicit prefix caching.
Responses are rendered by :mod:`agentkit.testing.emulator._openrouter_render`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentkit.testing.emulator._common import (
    ApiError,
    Candidate,
    ParsedCall,
    PromptBuilder,
    apply_automatic,
    check_markers,
    check_tool_results,
    parse_ttl,
    strip_marker,
)
from agentkit.testing.emulator._model import Block, ModelRequest, ModelTool, Turn
from agentkit.testing.emulator._output import openrouter_output_schema
from agentkit.testing.emulator._tokens import IMAGE_TOKENS, json_tokens, text_tokens

__all__ = ["is_claude", "parse_request"]


def is_claude(model: str) -> bool:
    return model.lower().startswith("anthropic/")


def _text_parts(content: Any, path: str) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return []
    if not isinstance(content, list):
        raise ApiError(f"{path}: content must be a string or an array of parts")
    for i, part in enumerate(content):
        if not isinstance(part, Mapping) or part.get("type") not in ("text", "image_url"):
            raise ApiError(f"{path}.{i}: parts must be text or image_url")
    return content


def parse_request(
    body: Any, *, session_header: str | None = None, collapse_tool_runs: bool = True
) -> ParsedCall:
    """Validate a chat-completions request and lay out its prompt; raises :class:`ApiError`."""
    if not isinstance(body, Mapping):
        raise ApiError("Request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError("model: a model name is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError("messages: a non-empty array is required")
    claude = is_claude(model)
    builder = PromptBuilder(collapse_tool_runs=collapse_tool_runs)
    candidates: list[Candidate] = []
    ignored: list[str] = []

    def marker(raw: Mapping[str, Any], path: str, position: int, eligible: bool) -> None:
        ttl = parse_ttl(raw["cache_control"], path) if "cache_control" in raw else None
        if ttl is not None and not claude:
            ignored.append(path)
            ttl = None
        if ttl is not None:
            builder.mark(path, ttl, position)
        if eligible:
            candidates.append(Candidate(path, position, ttl))

    tools: list[ModelTool] = []
    for i, tool in enumerate(body.get("tools") or []):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise ApiError(f"tools.{i}.function.name: required")
        tools.append(
            ModelTool(fn["name"], str(fn.get("description", "")), fn.get("parameters", {}))
        )
        bare = strip_marker(tool)
        marker(tool, f"tools.{i}", builder.add({"tool": bare}, json_tokens(bare)), True)

    system = [
        m for m in messages if isinstance(m, Mapping) and m.get("role") in ("system", "developer")
    ]
    others = [
        m
        for m in messages
        if not (isinstance(m, Mapping) and m.get("role") in ("system", "developer"))
    ]
    system_texts: list[str] = []
    s_index = 0
    for m, message in enumerate(system):
        content = message.get("content", "")
        if "cache_control" in message:
            ignored.append(f"system message {m}")
        if isinstance(content, str):
            builder.add({"system_string": content}, text_tokens(content))
            system_texts.append(content)
            s_index += 1
            continue
        for i, part in enumerate(_text_parts(content, f"messages.{m}.content")):
            if part.get("type") != "text":
                raise ApiError(f"messages.{m}.content.{i}: system messages take text parts only")
            path = f"system.{s_index}"
            text = str(part.get("text", ""))
            _check_text(part, path, text)
            system_texts.append(text)
            position = builder.add({"system": strip_marker(part)}, text_tokens(text))
            marker(part, path, position, bool(text))
            s_index += 1

    salt: Any = {"reasoning": body.get("reasoning"), "tool_choice": body.get("tool_choice")}
    turns: list[Turn] = []
    out_index = -1
    for m, message in enumerate(others):
        if not isinstance(message, Mapping):
            raise ApiError(f"messages.{m}: a message must be an object")
        role = message.get("role")
        if role not in ("user", "assistant", "tool"):
            raise ApiError(f"messages.{m}.role: unknown role {role!r}")
        if "cache_control" in message:
            ignored.append(f"messages.{m}")
        if (
            role == "tool"
            and turns
            and turns[-1].role == "user"
            and turns[-1].blocks
            and all(b.kind == "tool_result" for b in turns[-1].blocks)
        ):
            blocks = list(turns.pop().blocks)  # consecutive tool messages form one user turn
        else:
            blocks = []
            out_index += 1
            builder.end_run()
        first = not blocks
        content = message.get("content")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise ApiError(f"messages.{m}.tool_call_id: required for role 'tool'")
            parts = (
                [] if isinstance(content, str) else _text_parts(content, f"messages.{m}.content")
            )
            text = (
                content
                if isinstance(content, str)
                else " ".join(str(p.get("text", "")) for p in parts)
            )
            blocks.append(Block("tool_result", text=text, id=call_id))
            # Markers never change a prefix hash: strip them from the parts as well.
            bare = {k: v for k, v in message.items() if k not in ("cache_control", "content")}
            bare["content"] = (
                content if isinstance(content, str) else [strip_marker(p) for p in parts]
            )
            position = builder.add(
                {"salt": salt, "tool": bare}, text_tokens(text), run="tool_result"
            )
            # A marker on a text part of a tool message marks its tool_result block.
            for c, part in enumerate(parts):
                path = f"messages.{out_index}.content.{len(blocks) - 1}.content.{c}"
                if part.get("type") == "image_url":
                    if "cache_control" in part:
                        ignored.append(path)
                    continue
                part_text = str(part.get("text", ""))
                _check_text(part, path, part_text)
                marker(part, path, position, bool(part_text))
            turns.append(Turn("user", tuple(blocks)))
            salt = None
            continue
        for d in message.get("reasoning_details") or []:
            if isinstance(d, Mapping):
                text = str(d.get("text") or d.get("data") or "")
                blocks.append(Block("thinking", text=text))
                builder.add({"salt": salt, "reasoning": d, "first": first}, text_tokens(text))
                salt, first = None, False
        if isinstance(content, str) and content:
            blocks.append(Block("text", text=content))
            builder.add({"salt": salt, "role": role, "string": content}, text_tokens(content))
            candidates.append(Candidate(f"messages.{out_index}.content", builder.count - 1, None))
            salt = None
        elif content is not None and not isinstance(content, str):
            for c, part in enumerate(_text_parts(content, f"messages.{m}.content")):
                path = f"messages.{out_index}.content.{c}"
                if part.get("type") == "image_url":
                    blocks.append(Block("image"))
                    position = builder.add(
                        {"salt": salt, "role": role, "part": strip_marker(part)}, IMAGE_TOKENS
                    )
                    if "cache_control" in part:
                        ignored.append(path)  # only text parts carry markers (§3.1)
                    candidates.append(Candidate(path, position, None))
                else:
                    text = str(part.get("text", ""))
                    _check_text(part, path, text)
                    blocks.append(Block("text", text=text))
                    key = {"salt": salt, "role": role, "first": first, "part": strip_marker(part)}
                    marker(part, path, builder.add(key, text_tokens(text)), bool(text))
                salt, first = None, False
        for call in message.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(call.get("id"), str):
                raise ApiError(f"messages.{m}.tool_calls: each needs an id and a function")
            name, raw_args = str(fn.get("name", "")), fn.get("arguments") or "{}"
            try:
                args = json.loads(raw_args)
            except (TypeError, json.JSONDecodeError):
                raise ApiError(f"messages.{m}.tool_calls: arguments are not valid JSON") from None
            if not isinstance(args, Mapping):
                raise ApiError(f"messages.{m}.tool_calls: arguments must be a JSON object")
            blocks.append(Block("tool_use", id=call["id"], name=name, input=dict(args)))
            builder.add(
                {"salt": salt, "call": call}, text_tokens(name) + json_tokens(args), run="tool_use"
            )
            salt = None
        turns.append(Turn("user" if role == "user" else "assistant", tuple(blocks)))

    if "cache_control" in body:
        if claude:
            apply_automatic(builder, candidates, body["cache_control"])
        else:
            ignored.append("cache_control")
    breakpoints = check_markers(builder.markers)
    session = body.get("session_id", session_header)
    if session is not None and (not isinstance(session, str) or len(session) > 256):
        raise ApiError("session_id: must be a string of at most 256 characters")
    provider = body.get("provider") or {}
    order = provider.get("order") if isinstance(provider, Mapping) else None
    if order is not None and not (
        isinstance(order, list) and all(isinstance(o, str) for o in order)
    ):
        raise ApiError("provider.order: must be an array of provider slugs")
    reasoning = body.get("reasoning")
    thinking = isinstance(reasoning, Mapping) and (
        reasoning.get("enabled") is True
        or ("effort" in reasoning and reasoning["effort"] != "none")
        or bool(reasoning.get("max_tokens"))
    )
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 0):
        raise ApiError("max_tokens: must be a non-negative integer")
    check_tool_results(turns, claude=claude)
    first_user = json.dumps(others[0], sort_keys=True) if others else ""
    request = ModelRequest(
        "openrouter",
        model,
        "\n".join(system_texts),
        tuple(turns),
        tuple(tools),
        max_tokens,
        thinking,
        openrouter_output_schema(body, model),
    )
    return ParsedCall(
        request,
        builder.positions(),
        breakpoints,
        stream=bool(body.get("stream")),
        implicit_cache=not claude,
        session_id=session,
        provider_order=tuple(order or ()),
        sticky_hint=json.dumps(system[:1], sort_keys=True) + first_user,
        ignored_markers=tuple(ignored),
    )


def _check_text(part: Mapping[str, Any], path: str, text: str) -> None:
    if "cache_control" in part and not text:
        raise ApiError(f"{path}.text: cache_control cannot be set for empty text blocks")
