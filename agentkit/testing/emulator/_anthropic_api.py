"""Anthropic ``POST /v1/messages``: request parsing and validation.

Responses are rendered by :mod:`agentkit.testing.emulator._anthropic_render`.
"""

from __future__ import annotations

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
from agentkit.testing.emulator._output import anthropic_output_schema
from agentkit.testing.emulator._tokens import IMAGE_TOKENS, json_tokens, text_tokens

__all__ = ["parse_request"]


def _require(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in body:
        raise ApiError(f"{key}: Field required")
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ApiError(f"{key}: Input has the wrong type")
    return value


def _tool_result_text(content: Any, path: str) -> tuple[str, int]:
    if isinstance(content, str):
        return content, text_tokens(content)
    if not isinstance(content, list):
        raise ApiError(f"{path}.content: Input should be a valid string or list")
    texts: list[str] = []
    tokens = 0
    for part in content:
        if isinstance(part, Mapping) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
            tokens += text_tokens(texts[-1])
        elif isinstance(part, Mapping) and part.get("type") == "image":
            tokens += IMAGE_TOKENS
        else:
            raise ApiError(f"{path}.content: only text and image blocks are allowed")
    return "\n".join(texts), tokens


def _block(raw: Any, path: str) -> tuple[Block, int, str | None]:
    """The neutral block, its token count and the run it belongs to."""
    if not isinstance(raw, Mapping):
        raise ApiError(f"{path}: Input should be a valid dictionary")
    kind = raw.get("type")
    if kind in ("thinking", "redacted_thinking") and "cache_control" in raw:
        raise ApiError(f"{path}.{kind}.cache_control: Extra inputs are not permitted")
    if kind == "text":
        text = raw.get("text")
        if not isinstance(text, str):
            raise ApiError(f"{path}.text: Field required")
        if "cache_control" in raw and not text:
            raise ApiError(f"{path}.text: cache_control cannot be set for empty text blocks")
        return Block("text", text=text), text_tokens(text), None
    if kind in ("image", "document"):
        return Block("image"), IMAGE_TOKENS, None
    if kind == "tool_use":
        name, call_id, args = raw.get("name"), raw.get("id"), raw.get("input", {})
        if not isinstance(name, str) or not isinstance(call_id, str):
            raise ApiError(f"{path}: tool_use needs string 'id' and 'name'")
        if not isinstance(args, Mapping):
            raise ApiError(f"{path}.input: Input should be a valid dictionary")
        tokens = text_tokens(name) + json_tokens(args)
        return Block("tool_use", id=call_id, name=name, input=dict(args)), tokens, "tool_use"
    if kind == "tool_result":
        answered = raw.get("tool_use_id")
        if not isinstance(answered, str):
            raise ApiError(f"{path}.tool_use_id: Field required")
        text, tokens = _tool_result_text(raw.get("content", ""), path)
        block = Block("tool_result", text=text, id=answered, is_error=bool(raw.get("is_error")))
        return block, tokens, "tool_result"
    if kind == "thinking":
        thinking = str(raw.get("thinking", ""))
        return Block("thinking", text=thinking), text_tokens(thinking), None
    if kind == "redacted_thinking":
        data = str(raw.get("data", ""))
        return Block("redacted_thinking", text=data), text_tokens(data), None
    raise ApiError(f"{path}.type: Input tag {kind!r} does not match any of the expected tags")


def parse_request(body: Any, *, collapse_tool_runs: bool = True) -> ParsedCall:
    """Validate a Messages request and lay out its prompt; raises :class:`ApiError`."""
    if not isinstance(body, Mapping):
        raise ApiError("Request body must be a JSON object")
    model = _require(body, "model", str)
    max_tokens = _require(body, "max_tokens", int)
    if max_tokens < 0:
        raise ApiError("max_tokens: Input should be greater than or equal to 0")
    messages = _require(body, "messages", list)
    if not messages:
        raise ApiError("messages: at least one message is required")
    builder = PromptBuilder(collapse_tool_runs=collapse_tool_runs)
    candidates: list[Candidate] = []

    def marker(raw: Mapping[str, Any], path: str, position: int, eligible: bool) -> None:
        ttl = parse_ttl(raw["cache_control"], path) if "cache_control" in raw else None
        if ttl is not None:
            builder.mark(path, ttl, position)
        if eligible:
            candidates.append(Candidate(path, position, ttl))

    tools: list[ModelTool] = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
            raise ApiError(f"tools.{i}.name: Field required")
        bare = strip_marker(tool)
        tools.append(
            ModelTool(tool["name"], str(tool.get("description", "")), tool.get("input_schema", {}))
        )
        marker(tool, f"tools.{i}", builder.add({"tool": bare}, json_tokens(bare)), True)

    n_tools = builder.count
    system = body.get("system", "")
    system_texts: list[str] = []
    if isinstance(system, str):
        if system:
            builder.add({"system_string": system}, text_tokens(system))
            system_texts.append(system)
    elif isinstance(system, list):
        for i, raw in enumerate(system):
            if not isinstance(raw, Mapping) or raw.get("type") != "text":
                raise ApiError(f"system.{i}.type: Input should be 'text'")
            block, tokens, _ = _block(raw, f"system.{i}")
            system_texts.append(block.text)
            position = builder.add({"system": strip_marker(raw)}, tokens)
            marker(raw, f"system.{i}", position, bool(block.text))
    else:
        raise ApiError("system: Input should be a valid string or list")

    sections = (n_tools, builder.count - n_tools)
    # Thinking and tool_choice changes invalidate the messages but not tools or system
    # (§1.7): they salt the first message position.
    salt: Any = {"thinking": body.get("thinking"), "tool_choice": body.get("tool_choice")}
    turns: list[Turn] = []
    for m, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
            raise ApiError(f"messages.{m}.role: Input should be 'user' or 'assistant'")
        role = message["role"]
        content = message.get("content")
        builder.end_run()
        blocks: list[Block] = []
        if isinstance(content, str):
            blocks.append(Block("text", text=content))
            builder.add({"salt": salt, "role": role, "string": content}, text_tokens(content))
            candidates.append(Candidate(f"messages.{m}.content", builder.count - 1, None))
        elif isinstance(content, list):
            for c, raw in enumerate(content):
                path = f"messages.{m}.content.{c}"
                block, tokens, run = _block(raw, path)
                blocks.append(block)
                key = {"salt": salt, "role": role, "first": c == 0, "block": strip_marker(raw)}
                position = builder.add(key, tokens, run=run)
                eligible = block.kind not in ("thinking", "redacted_thinking") and not (
                    block.kind == "text" and not block.text
                )
                marker(raw, path, position, eligible)
        else:
            raise ApiError(f"messages.{m}.content: Input should be a valid string or list")
        salt = None
        turns.append(Turn(role, tuple(blocks)))

    check_tool_results(turns)
    if "cache_control" in body:
        apply_automatic(builder, candidates, body["cache_control"])
    breakpoints = check_markers(builder.markers)
    thinking = body.get("thinking")
    request = ModelRequest(
        api="anthropic",
        model=model,
        system="\n".join(system_texts),
        turns=tuple(turns),
        tools=tuple(tools),
        max_tokens=max_tokens,
        thinking=isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"),
        output_schema=anthropic_output_schema(body, model),
    )
    extra: dict[str, Any] = {"sections": sections}
    if "diagnostics" in body:
        extra["diagnostics"] = _diagnostics(body["diagnostics"])
    return ParsedCall(
        request, builder.positions(), breakpoints, stream=bool(body.get("stream")), extra=extra
    )


def _diagnostics(value: Any) -> str | None:
    """The ``previous_message_id`` of a ``diagnostics`` request field (§1.10)."""
    if not isinstance(value, Mapping):
        raise ApiError("diagnostics: Input should be a valid dictionary")
    previous = value.get("previous_message_id")
    if previous is not None and not isinstance(previous, str):
        raise ApiError("diagnostics.previous_message_id: Input should be a valid string")
    return previous
