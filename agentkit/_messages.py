"""Value types of a conversation: content blocks, messages, usage and the context.

All are frozen attrs classes; change them with :func:`attrs.evolve`. Each has
``to_dict()`` giving plain JSON data and a ``from_dict()`` that rebuilds it
exactly, so a conversation can be saved and resumed. ``from_dict`` raises
:class:`~agentkit.SerializationError` naming the problem for anything else.

Mappings inside values (tool arguments, JSON schemas, provider data) are plain
dicts for speed and JSON fidelity: treat them as read-only.

Text enters a conversation only through these constructors, so they are
where it is made safe to send and save. A lone surrogate (what
``os.fsdecode`` makes of a non-UTF-8 file name, or half of a JSON ``\\u``
pair) cannot be encoded as UTF-8: each one is replaced by U+FFFD, and a
``messages.surrogates_replaced`` warning names the field (``where``) and the
count. A high surrogate directly followed by a low one is joined into the
character the pair encodes (``joined`` counts those). A string field given
something else raises :class:`TypeError`.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypeVar, cast

import attrs
from attrs import define, field

from agentkit._errors import AgentkitError, SerializationError
from agentkit._json import encodable_json, encodable_text

__all__ = [
    "AssistantContent",
    "AssistantMessage",
    "CacheControl",
    "ContentBlock",
    "Context",
    "ImageContent",
    "Message",
    "StopReason",
    "TextContent",
    "ThinkingContent",
    "ToolCall",
    "ToolDefinition",
    "InvalidValueError",
    "ToolResultMessage",
    "Usage",
    "UserContent",
    "UserMessage",
    "content_from_dict",
    "message_from_dict",
]

JSON: TypeAlias = Any
CacheTTL = Literal["5m", "1h"]


# --------------------------------------------------------------------------- helpers


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise SerializationError(f"{where}: expected an object, got {type(data).__name__}")
    if key not in data:
        raise SerializationError(f"{where}: missing key {key!r}")
    value = data[key]
    # bool is an int subclass; never accept it where a number is wanted.
    if isinstance(value, bool) and bool not in _as_tuple(kind):
        raise SerializationError(f"{where}.{key}: expected {_kind_name(kind)}, got bool")
    if not isinstance(value, kind):
        raise SerializationError(
            f"{where}.{key}: expected {_kind_name(kind)}, got {type(value).__name__}"
        )
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if data.get(key) is None:
        return None
    return _get(data, key, kind, where)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _count(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SerializationError(f"{where}.{key}: expected a non-negative integer, got {value!r}")
    return value


def _json_dict(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _get(data, key, dict, where)
    if not all(isinstance(k, str) for k in value):
        raise SerializationError(f"{where}.{key}: object keys must be strings")
    return cast(dict[str, Any], value)


def _check_type(data: Any, expected: str, where: str) -> None:
    got = _get(data, "type", str, where)
    if got != expected:
        raise SerializationError(f"{where}.type: expected {expected!r}, got {got!r}")


def _tuple_of(items: Sequence[Any]) -> tuple[Any, ...]:
    return items if isinstance(items, tuple) else tuple(items)


# --------------------------------------------------------------------------- safe text


def _clean(value: object, owner: str, texts: tuple[str, ...], data: tuple[str, ...] = ()) -> None:
    """Make the string fields ``texts`` and JSON fields ``data`` of a new value encodable.

    Called from ``__attrs_post_init__``: a field is set again only when it changed.
    """
    for name in texts:
        text = getattr(value, name)
        if text is None or (type(text) is str and text.isascii()):
            continue
        if not isinstance(text, str):
            raise TypeError(f"{owner}.{name} must be a str, got {type(text).__name__}")
        cleaned = encodable_text(text, f"{owner}.{name}")
        if cleaned is not text:
            object.__setattr__(value, name, cleaned)
    for name in data:
        mapping = getattr(value, name)
        if mapping is not None:
            cleaned_data = encodable_json(mapping, f"{owner}.{name}")
            if cleaned_data is not mapping:
                object.__setattr__(value, name, cleaned_data)


# --------------------------------------------------------------------------- content


@define(frozen=True, slots=True)
class CacheControl:
    """An Anthropic prompt-caching breakpoint: cache the prefix ending here."""

    ttl: CacheTTL = "5m"

    def __attrs_post_init__(self) -> None:
        if self.ttl not in ("5m", "1h"):
            raise ValueError(f"cache ttl must be '5m' or '1h', got {self.ttl!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ephemeral", "ttl": self.ttl}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CacheControl:
        _check_type(data, "ephemeral", "cache_control")
        ttl = data.get("ttl", "5m")
        if ttl not in ("5m", "1h"):
            raise SerializationError(f"cache_control.ttl: expected '5m' or '1h', got {ttl!r}")
        return cls(ttl=ttl)


def _cache_to(out: dict[str, Any], cache: CacheControl | None) -> dict[str, Any]:
    if cache is not None:
        out["cache_control"] = cache.to_dict()
    return out


def _cache_from(data: Mapping[str, Any], where: str) -> CacheControl | None:
    raw = data.get("cache_control")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SerializationError(f"{where}.cache_control: expected an object")
    return CacheControl.from_dict(raw)


@define(frozen=True, slots=True)
class TextContent:
    """Plain text."""

    text: str
    cache_control: CacheControl | None = None

    def __attrs_post_init__(self) -> None:
        text = self.text
        if type(text) is not str or not text.isascii():  # the common case, inlined
            _clean(self, "TextContent", ("text",))

    def to_dict(self) -> dict[str, Any]:
        return _cache_to({"type": "text", "text": self.text}, self.cache_control)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextContent:
        _check_type(data, "text", "text")
        return cls(_get(data, "text", str, "text"), _cache_from(data, "text"))


@define(frozen=True, slots=True)
class ImageContent:
    """An image, as base64 ``data`` with its ``media_type`` (``image/png``, ...)."""

    data: str
    media_type: str
    cache_control: CacheControl | None = None

    def __attrs_post_init__(self) -> None:
        _clean(self, "ImageContent", ("data", "media_type"))

    def to_dict(self) -> dict[str, Any]:
        out = {"type": "image", "data": self.data, "media_type": self.media_type}
        return _cache_to(out, self.cache_control)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageContent:
        _check_type(data, "image", "image")
        return cls(
            _get(data, "data", str, "image"),
            _get(data, "media_type", str, "image"),
            _cache_from(data, "image"),
        )


@define(frozen=True, slots=True)
class ThinkingContent:
    """Model reasoning. ``signature`` must go back to Anthropic unchanged.

    When ``redacted`` is true, ``thinking`` holds the service's opaque data.
    Thinking can never carry a cache marker: the APIs reject one.
    """

    thinking: str
    signature: str | None = None
    redacted: bool = False

    def __attrs_post_init__(self) -> None:
        _clean(self, "ThinkingContent", ("thinking", "signature"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "thinking", "thinking": self.thinking}
        if self.signature is not None:
            out["signature"] = self.signature
        if self.redacted:
            out["redacted"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThinkingContent:
        _check_type(data, "thinking", "thinking")
        redacted = data.get("redacted", False)
        if not isinstance(redacted, bool):
            raise SerializationError("thinking.redacted: expected a boolean")
        return cls(
            _get(data, "thinking", str, "thinking"),
            _opt(data, "signature", str, "thinking"),
            redacted,
        )


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return frozenset((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@define(frozen=True, slots=True, hash=False)
class ToolCall:
    """A request by the model to run a tool.

    ``arguments_error`` is set when the model's arguments were not valid JSON;
    ``arguments`` is then empty and the loop answers with an error result.
    Hashable although ``arguments`` is a dict: the hash covers its canonical JSON.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(factory=dict)
    arguments_error: str | None = None
    cache_control: CacheControl | None = None

    def __attrs_post_init__(self) -> None:
        _clean(self, "ToolCall", ("id", "name", "arguments_error"), ("arguments",))

    def __hash__(self) -> int:
        # Frozen recursively (not via JSON text): 1 == 1.0 must hash alike, as ``==`` says.
        frozen = _freeze(self.arguments)
        return hash((self.id, self.name, frozen, self.arguments_error, self.cache_control))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "tool_call",
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
        }
        if self.arguments_error is not None:
            out["arguments_error"] = self.arguments_error
        return _cache_to(out, self.cache_control)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        _check_type(data, "tool_call", "tool_call")
        return cls(
            _get(data, "id", str, "tool_call"),
            _get(data, "name", str, "tool_call"),
            _json_dict(data, "arguments", "tool_call"),
            _opt(data, "arguments_error", str, "tool_call"),
            _cache_from(data, "tool_call"),
        )


UserContent: TypeAlias = TextContent | ImageContent
AssistantContent: TypeAlias = TextContent | ThinkingContent | ToolCall
ContentBlock: TypeAlias = TextContent | ImageContent | ThinkingContent | ToolCall

_CONTENT_TYPES: dict[str, type[ContentBlock]] = {
    "text": TextContent,
    "image": ImageContent,
    "thinking": ThinkingContent,
    "tool_call": ToolCall,
}


def content_from_dict(data: Any, allowed: tuple[type, ...] = tuple(_CONTENT_TYPES.values())) -> Any:
    """Rebuild one content block from its ``to_dict`` form."""
    kind = _get(data, "type", str, "content")
    cls = _CONTENT_TYPES.get(kind)
    if cls is None or cls not in allowed:
        names = sorted(k for k, v in _CONTENT_TYPES.items() if v in allowed)
        raise SerializationError(f"content.type: expected one of {names}, got {kind!r}")
    return cls.from_dict(data)


def _content_list(
    data: Mapping[str, Any], where: str, allowed: tuple[type, ...]
) -> tuple[Any, ...]:
    items = _get(data, "content", list, where)
    return tuple(content_from_dict(item, allowed) for item in items)


def _blocks_of(content: Any, allowed: tuple[type, ...], owner: str) -> tuple[Any, ...]:
    if isinstance(content, str | bytes) or not isinstance(content, Sequence):
        raise TypeError(f"{owner}.content must be a sequence of blocks, got {content!r:.80}")
    blocks = _tuple_of(content)
    for i, block in enumerate(blocks):
        if not isinstance(block, allowed):
            names = " or ".join(t.__name__ for t in allowed)
            kind = type(block).__name__
            raise TypeError(f"{owner}.content[{i}] must be {names}, got {kind}")
    return blocks


def _user_content(content: Sequence[Any]) -> tuple[UserContent, ...]:
    if isinstance(content, str):
        return (TextContent(content),)
    return _blocks_of(content, (TextContent, ImageContent), "UserMessage")


def _result_content(content: Sequence[Any]) -> tuple[UserContent, ...]:
    if isinstance(content, str):
        return (TextContent(content),)
    return _blocks_of(content, (TextContent, ImageContent), "ToolResultMessage")


def _assistant_content(content: Sequence[Any]) -> tuple[AssistantContent, ...]:
    return _blocks_of(content, (TextContent, ThinkingContent, ToolCall), "AssistantMessage")


# --------------------------------------------------------------------------- usage


class StopReason(enum.StrEnum):
    """Why a model response, or a whole run, stopped."""

    STOP = "stop"  #: the model finished its answer
    LENGTH = "length"  #: the output token limit was reached
    TOOL_USE = "tool_use"  #: the model asked for tools
    REFUSAL = "refusal"  #: the model or a content filter refused
    ABORTED = "aborted"  #: the run was aborted
    ERROR = "error"  #: the run failed
    MAX_TURNS = "max_turns"  #: the run reached its turn limit
    TOOL_TERMINATED = "tool_terminated"  #: a tool asked to end the run
    USAGE_LIMIT = "usage_limit"  #: the run hit one of its usage limits
    PAUSED = "paused"  #: the run waits for a human's decision on tool calls


class InvalidValueError(AgentkitError, ValueError):
    """A value no API accepts: a tool-call id empty or used twice, a usage count or
    cost that cannot be sent or saved. The message names the field."""


def _cost(value: float | None) -> float | None:
    # NaN and infinity are not JSON: a session holding one could not be saved or loaded.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(
            f"Usage.cost must be a number of dollars, got {type(value).__name__}"
        )
    if not math.isfinite(value):
        raise InvalidValueError(f"Usage.cost must be a finite number of dollars, got {value!r}")
    return float(value)


@define(frozen=True, slots=True)
class Usage:
    """Tokens and cost of one or more requests, in one convention for every provider.

    ``input`` counts only uncached input tokens; ``cache_read`` and
    ``cache_write`` are separate, so the whole prompt is their sum.
    ``cache_write_1h`` is the part of ``cache_write`` written with a 1-hour TTL,
    ``reasoning`` the part of ``output`` spent thinking. ``cost`` is in US
    dollars, a finite number (else :class:`InvalidValueError`), or None when it
    is unknown (no price for the model, nothing reported): unknown is not zero,
    and a sum with an unknown cost has an unknown cost. ``cache_write_derived``
    says ``cache_write`` was computed from the reported cost because the
    service did not report it. ``partial`` says these are the counts of a
    request that did not complete (aborted, failed, stalled): what the service
    had reported when it stopped, at least that much was billed. Sums keep
    both flags.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    reasoning: int = 0
    cost: float | None = field(default=0.0, converter=_cost)
    cache_write_derived: bool = False
    partial: bool = False

    @property
    def total(self) -> int:
        """Every token billed: all input (cached or not) plus output."""
        return self.input + self.cache_read + self.cache_write + self.output

    @property
    def prompt(self) -> int:
        """The whole prompt: uncached input, cache reads and cache writes."""
        return self.input + self.cache_read + self.cache_write

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        cost: float | None = None
        if self.cost is not None and other.cost is not None:
            cost = self.cost + other.cost
            if not math.isfinite(cost):
                raise InvalidValueError(f"Usage.cost: {self.cost!r} + {other.cost!r} overflows")
        return Usage(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
            self.cache_write_1h + other.cache_write_1h,
            self.reasoning + other.reasoning,
            cost,
            self.cache_write_derived or other.cache_write_derived,
            self.partial or other.partial,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "cache_write_1h": self.cache_write_1h,
            "reasoning": self.reasoning,
            "cost": self.cost,
        }
        if self.cache_write_derived:
            out["cache_write_derived"] = True
        if self.partial:
            out["partial"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        if not isinstance(data, Mapping):
            raise SerializationError("usage: expected an object")
        cost = data.get("cost", 0.0)
        if cost is not None and (
            isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost)
        ):
            raise SerializationError(f"usage.cost: expected a finite number or null, got {cost!r}")
        derived = data.get("cache_write_derived", False)
        if not isinstance(derived, bool):
            raise SerializationError("usage.cache_write_derived: expected a boolean")
        partial = data.get("partial", False)
        if not isinstance(partial, bool):
            raise SerializationError("usage.partial: expected a boolean")
        return cls(
            _count(data, "input", "usage"),
            _count(data, "output", "usage"),
            _count(data, "cache_read", "usage"),
            _count(data, "cache_write", "usage"),
            _count(data, "cache_write_1h", "usage"),
            _count(data, "reasoning", "usage"),
            None if cost is None else float(cost),
            derived,
            partial,
        )


# --------------------------------------------------------------------------- messages


@define(frozen=True, slots=True)
class UserMessage:
    """What the user (or the application on the user's behalf) says."""

    content: tuple[UserContent, ...] = field(converter=_user_content)
    role: Literal["user"] = field(default="user", init=False)

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(b.text for b in self.content if isinstance(b, TextContent))

    def to_dict(self) -> dict[str, Any]:
        return {"role": "user", "content": [b.to_dict() for b in self.content]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserMessage:
        return cls(_content_list(data, "user", (TextContent, ImageContent)))


@define(frozen=True, slots=True)
class AssistantMessage:
    """A model's answer, with what the service said about it.

    ``provider_data`` keeps service-specific fields that must go back to the
    same service unchanged (OpenRouter's ``reasoning_details``, for example).
    ``cache_miss_reason`` is the service's own explanation of a prompt-cache miss
    (Anthropic's cache diagnostics, e.g. ``"system_changed"``); None when
    diagnostics are off or nothing diverged.
    Tool-call ids must be non-empty and distinct (else :class:`InvalidValueError`).
    """

    content: tuple[AssistantContent, ...] = field(converter=_assistant_content)
    stop_reason: StopReason = StopReason.STOP
    usage: Usage = field(factory=Usage)
    model: str = ""
    provider: str = ""
    response_id: str | None = None
    error_message: str | None = None
    provider_data: dict[str, Any] | None = None
    cache_miss_reason: str | None = None
    role: Literal["assistant"] = field(default="assistant", init=False)

    def __attrs_post_init__(self) -> None:
        _clean(
            self,
            "AssistantMessage",
            ("model", "provider", "response_id", "error_message", "cache_miss_reason"),
            ("provider_data",),
        )
        seen: set[str] = set()
        for block in self.content:
            if isinstance(block, ToolCall):
                if not block.id:
                    raise InvalidValueError(f"tool call {block.name!r} has an empty id")
                if block.id in seen:
                    raise InvalidValueError(f"tool-call id {block.id!r} is used more than once")
                seen.add(block.id)

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(b.text for b in self.content if isinstance(b, TextContent))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls, in the order the model made them."""
        return tuple(b for b in self.content if isinstance(b, ToolCall))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": "assistant",
            "content": [b.to_dict() for b in self.content],
            "stop_reason": self.stop_reason.value,
            "usage": self.usage.to_dict(),
            "model": self.model,
            "provider": self.provider,
        }
        if self.response_id is not None:
            out["response_id"] = self.response_id
        if self.error_message is not None:
            out["error_message"] = self.error_message
        if self.provider_data is not None:
            out["provider_data"] = self.provider_data
        if self.cache_miss_reason is not None:
            out["cache_miss_reason"] = self.cache_miss_reason
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssistantMessage:
        where = "assistant"
        raw_stop = _get(data, "stop_reason", str, where)
        try:
            stop = StopReason(raw_stop)
        except ValueError:
            raise SerializationError(f"{where}.stop_reason: unknown value {raw_stop!r}") from None
        provider_data = data.get("provider_data")
        if provider_data is not None:
            provider_data = _json_dict(data, "provider_data", where)
        try:
            return cls(
                _content_list(data, where, (TextContent, ThinkingContent, ToolCall)),
                stop,
                Usage.from_dict(_get(data, "usage", dict, where)),
                _get(data, "model", str, where),
                _get(data, "provider", str, where),
                _opt(data, "response_id", str, where),
                _opt(data, "error_message", str, where),
                provider_data,
                _opt(data, "cache_miss_reason", str, where),
            )
        except InvalidValueError as exc:
            raise SerializationError(f"{where}.content: {exc}") from None


@define(frozen=True, slots=True)
class ToolResultMessage:
    """The result of one tool call, sent back to the model."""

    tool_call_id: str
    tool_name: str
    content: tuple[UserContent, ...] = field(converter=_result_content)
    is_error: bool = False
    role: Literal["tool_result"] = field(default="tool_result", init=False)

    @property
    def text(self) -> str:
        """All text blocks joined."""
        return "".join(b.text for b in self.content if isinstance(b, TextContent))

    def __attrs_post_init__(self) -> None:
        _clean(self, "ToolResultMessage", ("tool_call_id", "tool_name"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": "tool_result",
            "tool_call_id": self.tool_call_id,
            "tool_name": self.tool_name,
            "content": [b.to_dict() for b in self.content],
            "is_error": self.is_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolResultMessage:
        where = "tool_result"
        return cls(
            _get(data, "tool_call_id", str, where),
            _get(data, "tool_name", str, where),
            _content_list(data, where, (TextContent, ImageContent)),
            _get(data, "is_error", bool, where),
        )


Message: TypeAlias = UserMessage | AssistantMessage | ToolResultMessage

_MESSAGE_TYPES: dict[str, type[Message]] = {
    "user": UserMessage,
    "assistant": AssistantMessage,
    "tool_result": ToolResultMessage,
}


def message_from_dict(data: Any) -> Message:
    """Rebuild any message from its ``to_dict`` form."""
    role = _get(data, "role", str, "message")
    cls = _MESSAGE_TYPES.get(role)
    if cls is None:
        raise SerializationError(
            f"message.role: expected one of {sorted(_MESSAGE_TYPES)}, got {role!r}"
        )
    return cls.from_dict(data)


# --------------------------------------------------------------------------- context


@define(frozen=True, slots=True)
class ToolDefinition:
    """What the model is told about a tool: its name, description and JSON schema."""

    name: str = field(validator=lambda _, __, name: _check_tool_name(name))
    description: str
    parameters: dict[str, Any] = field(factory=lambda: {"type": "object", "properties": {}})
    cache_control: CacheControl | None = None

    def __attrs_post_init__(self) -> None:
        _clean(self, "ToolDefinition", ("description",), ("parameters",))

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return _cache_to(out, self.cache_control)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolDefinition:
        where = "tool"
        name = _get(data, "name", str, where)
        if not TOOL_NAME.fullmatch(name):
            raise SerializationError(f"{where}.name: {name!r} is not a valid tool name")
        return cls(
            name,
            _get(data, "description", str, where),
            _json_dict(data, "parameters", where),
            _cache_from(data, where),
        )


TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _check_tool_name(name: object) -> None:
    # The rule of both Anthropic's and OpenAI's APIs.
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise ValueError(f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'")


def _coerce_system(system: str | Sequence[TextContent]) -> tuple[TextContent, ...]:
    if isinstance(system, str):
        return (TextContent(system),) if system else ()
    return _tuple_of(system)


_T = TypeVar("_T")


@define(frozen=True, slots=True)
class Context:
    """Everything a provider needs for one request.

    ``system`` is a tuple of text blocks so that cache markers can sit inside
    it; a plain string is accepted and becomes one block.
    """

    system: tuple[TextContent, ...] = field(default=(), converter=_coerce_system)
    messages: tuple[Message, ...] = field(default=(), converter=_tuple_of)
    tools: tuple[ToolDefinition, ...] = field(default=(), converter=_tuple_of)

    @property
    def system_text(self) -> str:
        """The system prompt as one string."""
        return "".join(b.text for b in self.system)

    def evolve(self, **changes: Any) -> Context:
        """A copy with ``changes``; parts not named are shared, not copied."""
        return attrs.evolve(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": [b.to_dict() for b in self.system],
            "messages": [m.to_dict() for m in self.messages],
            "tools": [t.to_dict() for t in self.tools],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Context:
        where = "context"
        system = tuple(TextContent.from_dict(b) for b in _get(data, "system", list, where))
        messages = tuple(message_from_dict(m) for m in _get(data, "messages", list, where))
        tools = tuple(ToolDefinition.from_dict(t) for t in _get(data, "tools", list, where))
        return cls(system, messages, tools)
