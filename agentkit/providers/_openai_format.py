"""Chat Completions: request messages from a Context, and stream chunks to events.

Shared by :class:`~agentkit.OpenRouterProvider` (cache markers kept on text
parts) and :class:`~agentkit.OpenAICompatibleProvider` (markers stripped).

Cache-marker rule for OpenRouter, which accepts ``cache_control`` only on
``{"type": "text"}`` parts: a marker on a text part stays there; a marker on
an image or tool call moves to the nearest text part of the same message
(the next one, else the previous one) and is logged as ``cache.marker_moved``;
with no text part in the message it is dropped and logged as
``cache.marker_dropped``. Markers on tool definitions are dropped the same
way (put one on the system prompt, which follows the tools in the prefix).
Content is always an array of parts, so a message never flips between a
string and an array from one turn to the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from agentkit._events import AssistantEvent
from agentkit._log import get_logger
from agentkit._messages import (
    AssistantMessage,
    CacheControl,
    Context,
    ImageContent,
    StopReason,
    TextContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserContent,
    UserMessage,
)
from agentkit.providers._base import AssistantMessageBuilder
from agentkit.providers._errors import ResponseFormatError, midstream_error, redact
from agentkit.providers._sse import loads_data

__all__ = [
    "CacheMode",
    "ChunkState",
    "as_text",
    "build_messages",
    "build_tools",
    "response_format",
    "strict_schema",
]

CacheMode = Literal["text_parts", "strip"]

_log = get_logger("agentkit.providers")

_FINISH = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "content_filter": StopReason.REFUSAL,
}


def _cache(cache: CacheControl | None) -> dict[str, Any]:
    return {"type": "ephemeral", "ttl": cache.ttl} if cache else {}


def _parts(
    blocks: tuple[UserContent | ToolCall, ...], mode: CacheMode, where: str
) -> list[dict[str, Any]]:
    """Text and image parts; markers placed by the module's rule."""
    parts: list[dict[str, Any]] = []
    text_at: list[int] = []  # positions in ``parts`` of text parts
    stray: list[tuple[int, CacheControl]] = []  # (position, marker) on non-text blocks
    for block in blocks:
        if isinstance(block, TextContent):
            part: dict[str, Any] = {"type": "text", "text": block.text}
            if block.cache_control and mode == "text_parts":
                part["cache_control"] = _cache(block.cache_control)
            text_at.append(len(parts))
            parts.append(part)
        elif isinstance(block, ImageContent):
            url = f"data:{block.media_type};base64,{block.data}"
            if block.cache_control and mode == "text_parts":
                stray.append((len(parts), block.cache_control))
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif block.cache_control and mode == "text_parts":
            stray.append((len(parts), block.cache_control))
    for position, marker in stray:
        after = [i for i in text_at if i >= position]
        target = after[0] if after else (text_at[-1] if text_at else None)
        if target is None:
            _log.info("cache.marker_dropped", where=where, reason="no text part in the message")
        elif "cache_control" not in parts[target]:
            parts[target]["cache_control"] = _cache(marker)
            _log.info("cache.marker_moved", where=where, to_part=target)
    return parts


def _assistant(
    message: AssistantMessage, mode: CacheMode, where: str, pass_reasoning: bool
) -> dict[str, Any] | None:
    texts = tuple(b for b in message.content if isinstance(b, TextContent) and b.text)
    calls = message.tool_calls
    if not texts and not calls:
        return None
    ordered: tuple[TextContent | ToolCall, ...] = texts + calls
    parts = _parts(ordered, mode, where)
    out: dict[str, Any] = {"role": "assistant", "content": parts or None}
    if calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _canonical(call.arguments)},
            }
            for call in calls
        ]
        details = (message.provider_data or {}).get("reasoning_details")
        if pass_reasoning and details:
            out["reasoning_details"] = details
    blocks = (message.provider_data or {}).get("thinking_blocks")
    if blocks:
        out["thinking_blocks"] = blocks  # LiteLLM rebuilds Claude's signed thinking from these
    return out


def _canonical(value: Any) -> str:
    from agentkit._json import canonical_json  # noqa: PLC0415 - tiny module, avoids a cycle

    return canonical_json(value)


def build_messages(context: Context, mode: CacheMode, *, pass_reasoning: bool) -> list[Any]:
    """The ``messages`` array for ``context``."""
    out: list[Any] = []
    if context.system:
        out.append({"role": "system", "content": _parts(context.system, mode, "system")})
    pending_images: list[dict[str, Any]] = []
    for number, message in enumerate(context.messages):
        where = f"messages[{number}]"
        if not isinstance(message, ToolResultMessage) and pending_images:
            out.append(_images_message(pending_images))
            pending_images = []
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": _parts(message.content, mode, where)})
        elif isinstance(message, AssistantMessage):
            if message.stop_reason is StopReason.ERROR:
                continue
            built = _assistant(message, mode, where, pass_reasoning)
            if built is not None:
                out.append(built)
        else:
            parts = _parts(message.content, mode, where)
            texts = [p for p in parts if p["type"] == "text"]
            images = [p for p in parts if p["type"] != "text"]
            if images:
                # A tool message holds text only; its images follow in a user message.
                pending_images.append(
                    {
                        "type": "text",
                        "text": f"Images returned by tool call {message.tool_call_id}:",
                    }
                )
                pending_images.extend(images)
                texts = texts or [{"type": "text", "text": "(images follow)"}]
            if not texts:
                texts = [{"type": "text", "text": ""}]
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": texts})
    if pending_images:
        out.append(_images_message(pending_images))
    return out


def _images_message(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


def build_tools(tools: tuple[ToolDefinition, ...], mode: CacheMode) -> list[dict[str, Any]]:
    """The ``tools`` array; markers on tools are dropped (see the module docstring)."""
    out = []
    for tool in tools:
        if tool.cache_control and mode == "text_parts":
            _log.info("cache.marker_dropped", where=f"tools[{tool.name}]", reason="tool entry")
        out.append(
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
        )
    return out


class ChunkState:
    """Turns ``chat.completion.chunk`` objects into builder events, one chunk at a time.

    Tool calls are keyed by their ``index`` (which may start at 1 or skip).
    ``reasoning_details`` fragments are merged by their ``index`` and kept for
    ``provider_data``. Usage, served model, upstream provider and generation id
    are remembered for the final message.
    """

    __slots__ = (
        "builder",
        "details",
        "done",
        "finish",
        "native_finish",
        "progressed",
        "provider",
        "secrets",
        "started",
        "thinking_blocks",
        "tools",
        "upstream",
        "usage",
    )

    def __init__(
        self, builder: AssistantMessageBuilder, provider: str, secrets: tuple[str, ...] = ()
    ) -> None:
        self.builder = builder
        self.provider = provider
        self.secrets = secrets  # chunks arrive redacted already; kept for direct callers
        self.started = False
        self.done = False
        self.progressed = False  # usage, a finish reason or [DONE] in the batch being handled
        self.thinking_blocks: list[dict[str, Any]] = []
        self.finish: str | None = None
        self.native_finish: str | None = None
        self.upstream: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.details: dict[Any, dict[str, Any]] = {}
        self.tools: dict[Any, tuple[str, str]] = {}  # index -> (id, name) seen so far

    def feed(self, data: str, out: list[AssistantEvent]) -> None:
        """Handle one SSE ``data`` field, appending events to ``out``."""
        if data == "[DONE]":
            self.done = True
            self.progressed = True
            return
        try:
            chunk = loads_data(data)
        except RecursionError:
            raise self._format_error(f"chunk nests too deeply: {data[:200]!r}") from None
        except ValueError:
            if "\n" not in data:
                raise self._format_error(f"chunk is not JSON: {data[:200]!r}") from None
            # Some servers omit the blank line between events: one JSON document per line.
            for line in data.split("\n"):
                if line.strip():
                    self.feed(line, out)
            return
        if not isinstance(chunk, dict):
            raise self._format_error(f"chunk is not an object: {data[:200]!r}")
        self.chunk(chunk, out)

    def _format_error(self, message: str) -> ResponseFormatError:
        # The message quotes the service's data, which might echo the key.
        return ResponseFormatError(redact(f"{self.provider}: {message}", self.secrets))

    def chunk(self, chunk: dict[str, Any], out: list[AssistantEvent]) -> None:
        builder = self.builder
        if not self.started:
            self.started = True
            if isinstance(chunk.get("id"), str):
                builder.response_id = chunk["id"]
            if isinstance(chunk.get("model"), str) and chunk["model"]:
                builder.model = chunk["model"]
            if isinstance(chunk.get("provider"), str):
                self.upstream = chunk["provider"]
                builder.provider_data = {"upstream_provider": chunk["provider"]}
            out.append(builder.start())
        error = chunk.get("error")
        if error:
            raise midstream_error(
                error, provider=self.provider, request_id=builder.response_id, secrets=self.secrets
            )
        usage = chunk.get("usage")
        if usage:
            if not isinstance(usage, dict):
                raise TypeError("usage is not an object")
            self.usage = usage
            self.progressed = True
        choices = chunk.get("choices")
        if not choices:
            return
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            # Thinking before text: a whole answer's one delta carries both, thinking first.
            # OpenRouter says ``reasoning``; DeepSeek, xAI and vLLM say ``reasoning_content``.
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
            details = delta.get("reasoning_details")
            if reasoning:
                out.append(builder.thinking("reasoning", as_text(reasoning)))
            if details:
                self._details(details, out, emit=not reasoning)
            blocks = delta.get("thinking_blocks")
            if blocks:
                self._thinking_blocks(blocks, out, emit=not reasoning and not details)
            content = delta.get("content")
            if content:
                out.append(builder.text("text", as_text(content)))
            calls = delta.get("tool_calls")
            if calls:
                self._tool_calls(calls, out)
        finish = choice.get("finish_reason")
        if finish:
            self.progressed = True
            self.finish = as_text(finish)
            native = choice.get("native_finish_reason")
            if isinstance(native, str):
                self.native_finish = native

    def _tool_calls(self, calls: list[Any], out: list[AssistantEvent]) -> None:
        builder = self.builder
        for call in calls:
            index = call.get("index", 0)
            key = ("tool", index)
            function = call.get("function") or {}
            call_id = as_text(call.get("id") or "")
            name = as_text(function.get("name") or "")
            seen = self.tools.get(index)
            if seen is None or (call_id and not seen[0]) or (name and not seen[1]):
                # New call, or an id/name that arrives after the first fragment.
                self.tools[index] = (
                    call_id or (seen[0] if seen else ""),
                    name or (seen[1] if seen else ""),
                )
                out.append(builder.tool_call_start(key, call_id, name))
            arguments = function.get("arguments")
            if arguments:
                out.append(builder.tool_call_arguments(key, as_text(arguments)))

    def _details(self, details: list[Any], out: list[AssistantEvent], *, emit: bool) -> None:
        for item in details:
            if not isinstance(item, dict):
                continue
            index = item.get("index", len(self.details))
            merged = self.details.get(index)
            if merged is None:
                self.details[index] = dict(item)
            else:
                for name, value in item.items():
                    if name in ("text", "summary", "data") and isinstance(value, str):
                        merged[name] = merged.get(name, "") + value
                    elif value is not None:
                        merged[name] = value
            text = item.get("text") or item.get("summary")
            if emit and text and isinstance(text, str):
                out.append(self.builder.thinking("reasoning", text))

    def _thinking_blocks(self, blocks: list[Any], out: list[AssistantEvent], *, emit: bool) -> None:
        """LiteLLM's ``thinking_blocks`` (Claude on the chat-completions route), kept whole.

        Fragments of one ``thinking`` block join until its ``signature``
        arrives; ``redacted_thinking`` blocks are complete on arrival. They go
        back unchanged on the assistant message, so thinking plus tools can go on.
        """
        kept = self.thinking_blocks
        for item in blocks:
            if not isinstance(item, dict):
                raise TypeError("a thinking_blocks entry is not an object")
            kind = item.get("type")
            if kind == "thinking":
                text = as_text(item.get("thinking") or "")
                signature = as_text(item.get("signature") or "")
                last = kept[-1] if kept else None
                if last is None or last["type"] != "thinking" or last.get("signature"):
                    last = {"type": "thinking", "thinking": ""}
                    kept.append(last)
                last["thinking"] += text
                if signature:
                    last["signature"] = signature
                    self.builder.signature("reasoning", signature)
                if emit and text:
                    out.append(self.builder.thinking("reasoning", text))
            elif kind == "redacted_thinking":
                kept.append({"type": "redacted_thinking", "data": as_text(item.get("data") or "")})

    def stop_reason(self) -> StopReason:
        """The stop reason; a message with tool calls stops for them whatever the service said."""
        reason = _FINISH.get(self.finish or "stop", StopReason.STOP)
        if reason is StopReason.STOP and self.tools:
            return StopReason.TOOL_USE
        return reason

    def reasoning_details(self) -> list[dict[str, Any]]:
        return [self.details[k] for k in self.details]


def as_text(value: Any) -> str:
    """``value`` if it is a string; a TypeError (reported as a format error) if not."""
    if value.__class__ is str:
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` asking for JSON matching ``schema`` (named by its ``title``).

    ``strict`` is set when the schema meets OpenAI's strict-mode rules (every
    object closed, every property required); otherwise the schema is a
    guide the service need not enforce, and the loop still validates.
    """
    title = schema.get("title")
    name = title if isinstance(title, str) and _SCHEMA_NAME.fullmatch(title) else "output"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict_schema(schema)},
    }


_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def strict_schema(schema: Any) -> bool:
    """Whether ``schema`` meets strict mode: each object has ``additionalProperties: false``
    and lists every property in ``required``."""
    if not isinstance(schema, dict):
        return True
    properties = schema.get("properties")
    if schema.get("type") == "object" or properties is not None:
        if schema.get("additionalProperties") is not False or not isinstance(properties, dict):
            return False
        if set(schema.get("required", ())) != set(properties):
            return False
    children: list[Any] = list((properties or {}).values())
    for key in ("items", "additionalProperties", "not"):
        children.append(schema.get(key))
    for key in ("prefixItems", "anyOf", "allOf", "oneOf"):
        children.extend(schema.get(key) or ())
    children.extend((schema.get("$defs") or {}).values())
    return all(strict_schema(child) for child in children)
