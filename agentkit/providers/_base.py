"""The provider protocol, request options, and the message builder providers share.

A provider turns a :class:`~agentkit.Context` into a stream of
:data:`~agentkit._events.AssistantEvent` whose result is the final
:class:`~agentkit.AssistantMessage`::

    class MyProvider:
        name = "mine"

        def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
            async def produce(out: EventStream[AssistantEvent, AssistantMessage]) -> None:
                builder = AssistantMessageBuilder(model=options.model, provider=self.name)
                await out.push(builder.start())
                await out.push(builder.text(0, "Hello"))
                for event in builder.close_blocks():
                    await out.push(event)
                out.end(builder.build(StopReason.STOP, Usage(input=3, output=1)))

            return EventStream(produce, name="mine")

Failures are raised from the producer (they reach the consumer after every
event pushed before them); raise a :class:`~agentkit.ProviderError` subclass.

Both protocols are structural: a provider need not subclass anything, and its
stream need not be an :class:`~agentkit.EventStream`, only behave as
:class:`AssistantStream` says.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterable, Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

import anyio
import attrs
from attrs import define, field

from agentkit._events import (
    AssistantEvent,
    BlockEnd,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
)
from agentkit._log import get_logger
from agentkit._messages import (
    AssistantContent,
    AssistantMessage,
    Context,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    Usage,
)
from agentkit._stream import EventStream

__all__ = [
    "AssistantMessageBuilder",
    "AssistantStream",
    "ModelOptions",
    "Provider",
    "ReasoningOptions",
]

_log = get_logger("agentkit.providers")

# What the providers of this package push to (a concrete EventStream).
AnswerOut: TypeAlias = EventStream[AssistantEvent, AssistantMessage]


class AssistantStream(Protocol):
    """What :meth:`Provider.stream` returns: one model answer, not yet started.

    The loop enters it with ``async with`` (which starts the request), iterates
    the :data:`~agentkit.AssistantEvent` values, then awaits :meth:`result`.
    An :class:`~agentkit.EventStream` of assistant events is one.
    """

    async def __aenter__(self) -> AsyncIterable[AssistantEvent]:
        """Start the request; return its events, to iterate once."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Stop the request if still running; never leave a task behind."""
        ...

    async def result(self) -> AssistantMessage:
        """The final message, or the producer's exception."""
        ...

    def cancel(self) -> None:
        """Abort: stop the request and end with the partial answer if one is kept.

        :meth:`result` then returns that partial message (stop reason
        ``ABORTED``) or raises :class:`~agentkit.StreamCancelledError`.
        """
        ...


@define(frozen=True, slots=True)
class ReasoningOptions:
    """Ask the model to think first: by ``effort`` or a token ``budget``."""

    effort: Literal["minimal", "low", "medium", "high", "max"] | None = None
    budget_tokens: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.effort is not None and self.effort not in _EFFORTS:
            raise ValueError(
                f"ReasoningOptions.effort must be one of {', '.join(_EFFORTS)}, got {self.effort!r}"
            )
        _check_count("ReasoningOptions.budget_tokens", self.budget_tokens)


@define(frozen=True, slots=True)
class ModelOptions:
    """What to ask of the model for one request.

    ``extra`` holds provider-specific request fields, merged into the body last.
    ``output_schema`` asks for native structured output: the answer's text must
    be JSON matching this object schema (its ``title`` names it); the loop sets
    it for ``output_mode="native"``, and only for a provider whose
    ``supports_native_output(model)`` is true.
    """

    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    reasoning: ReasoningOptions | None = None
    stop: tuple[str, ...] = ()
    extra: dict[str, Any] = field(factory=dict)
    output_schema: dict[str, Any] | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"ModelOptions.model must be a non-empty str, got {self.model!r}")
        _check_count("ModelOptions.max_tokens", self.max_tokens)
        temperature = self.temperature
        if temperature is not None and (
            isinstance(temperature, bool)
            or not isinstance(temperature, int | float)
            or not math.isfinite(temperature)
        ):
            raise TypeError(f"ModelOptions.temperature must be a number, got {temperature!r}")
        if self.reasoning is not None and not isinstance(self.reasoning, ReasoningOptions):
            raise TypeError(
                f"ModelOptions.reasoning must be ReasoningOptions, got {self.reasoning!r}"
            )
        if not isinstance(self.stop, tuple | list) or not all(
            isinstance(s, str) for s in self.stop
        ):
            raise TypeError(f"ModelOptions.stop must be a tuple of str, got {self.stop!r}")
        if not isinstance(self.extra, Mapping):
            raise TypeError(f"ModelOptions.extra must be a dict, got {self.extra!r}")
        if self.output_schema is not None and not isinstance(self.output_schema, Mapping):
            raise TypeError(
                f"ModelOptions.output_schema must be a dict, got {self.output_schema!r}"
            )


_EFFORTS = ("minimal", "low", "medium", "high", "max")


def _check_count(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise TypeError(f"{name} must be a non-negative int or None, got {value!r}")


@runtime_checkable
class Provider(Protocol):
    """Anything that streams a model's answer to a context."""

    @property
    def name(self) -> str:
        """Short name, recorded on every message it produces."""
        ...

    def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
        """Return a not-yet-started stream of the model's answer."""
        ...


class _Block:
    __slots__ = ("content_index", "id", "kind", "name", "parts", "signature")

    def __init__(self, kind: str, content_index: int, id: str = "", name: str = "") -> None:
        self.kind = kind
        self.content_index = content_index
        self.id = id
        self.name = name
        self.parts: list[str] = []
        self.signature: str | None = None


class AssistantMessageBuilder:
    """Accumulates a streamed answer and makes its events.

    Blocks are addressed by a provider-chosen ``key`` (Anthropic's block index,
    ``("tool", i)`` for OpenAI tool-call indexes...); content indexes are given
    in order of first appearance. Text is joined once per block, never
    re-concatenated per delta.
    """

    def __init__(self, *, model: str, provider: str, response_id: str | None = None) -> None:
        self.model = model
        self.provider = provider
        self.response_id = response_id
        self.cache_miss_reason: str | None = None
        self.provider_data: dict[str, Any] | None = None
        self._open: dict[Hashable, _Block] = {}
        self._content: list[AssistantContent | None] = []

    def start(self) -> StreamStart:
        """The first event: an empty message naming model and provider."""
        return StreamStart(self._message((), StopReason.STOP, Usage()))

    def _block(self, key: Hashable, kind: str, id: str = "", name: str = "") -> _Block:
        block = self._open.get(key)
        if block is None or block.kind != kind:
            if block is not None:
                self._close(key)
            block = _Block(kind, len(self._content), id, name)
            self._content.append(None)
            self._open[key] = block
        return block

    def text(self, key: Hashable, text: str) -> TextDelta:
        block = self._block(key, "text")
        block.parts.append(text)
        return TextDelta(block.content_index, text)

    def thinking(self, key: Hashable, thinking: str) -> ThinkingDelta:
        block = self._block(key, "thinking")
        block.parts.append(thinking)
        return ThinkingDelta(block.content_index, thinking)

    def signature(self, key: Hashable, signature: str) -> None:
        """Attach (or extend) the signature of the thinking block ``key``."""
        block = self._block(key, "thinking")
        block.signature = (block.signature or "") + signature

    def redacted_thinking(self, key: Hashable, data: str) -> BlockEnd:
        """A redacted thinking block, complete on arrival."""
        index = len(self._content)
        content = ThinkingContent(data, redacted=True)
        self._content.append(content)
        return BlockEnd(index, content)

    def tool_call_start(self, key: Hashable, id: str, name: str) -> ToolCallStart:
        block = self._block(key, "tool", id, name)
        block.id, block.name = id or block.id, name or block.name
        return ToolCallStart(block.content_index, block.id, block.name)

    def tool_call_arguments(self, key: Hashable, fragment: str) -> ToolCallDelta:
        block = self._open.get(key)
        if block is None or block.kind != "tool":
            block = self._block(key, "tool")
        block.parts.append(fragment)
        return ToolCallDelta(block.content_index, fragment)

    def has_block(self, key: Hashable) -> bool:
        return key in self._open

    def end_block(self, key: Hashable) -> BlockEnd | None:
        """Complete the block ``key``; None if it is not open."""
        if key not in self._open:
            return None
        return self._close(key)

    def close_blocks(self) -> list[BlockEnd]:
        """Complete every open block, in content order."""
        keys = sorted(self._open, key=lambda k: self._open[k].content_index)
        return [self._close(k) for k in keys]

    def _close(self, key: Hashable) -> BlockEnd:
        block = self._open.pop(key)
        text = "".join(block.parts)
        content: AssistantContent
        if block.kind == "text":
            content = TextContent(text)
        elif block.kind == "thinking":
            content = ThinkingContent(text, block.signature)
        else:
            content = _parse_tool_call(block.id, block.name, text)
        self._content[block.content_index] = content
        return BlockEnd(block.content_index, content)

    def partial(self, stop_reason: StopReason, usage: Usage | None = None) -> AssistantMessage:
        """What has arrived so far, for an interrupted answer.

        Open text and thinking are kept; tool calls still open are dropped,
        since a call without complete arguments cannot be answered.
        """
        content: list[AssistantContent | None] = list(self._content)
        for block in self._open.values():
            text = "".join(block.parts)
            if block.kind == "text":
                content[block.content_index] = TextContent(text)
            elif block.kind == "thinking" and text:
                content[block.content_index] = ThinkingContent(text, block.signature)
        kept = _repair_call_ids(tuple(c for c in content if c is not None), self.provider)
        return self._message(kept, stop_reason, usage or Usage())

    @contextmanager
    def partial_on_cancel(
        self,
        out: EventStream[Any, AssistantMessage],
        usage: Callable[[], Usage] | None = None,
    ) -> Iterator[None]:
        """Inside, a cancellation ends ``out`` with :meth:`partial` (``StopReason.ABORTED``).

        So a consumer that cancels the stream (an aborted run) gets the answer as
        far as it came, built here, where the events were made. ``usage`` gives
        what the service had counted so far (mark it ``partial``); it becomes the
        partial message's usage, and the ``request_usage`` of a
        :class:`~agentkit.ProviderError` raised inside (a mid-stream error, a
        stall), so no counted token is lost on any path.
        """
        try:
            yield
        except anyio.get_cancelled_exc_class():
            if not out.done:
                out.end(self.partial(StopReason.ABORTED, _so_far(usage)))
            raise
        except Exception as exc:
            if usage is not None and getattr(exc, "request_usage", None) is None:
                # On any exception: a transport error is made a ProviderError later,
                # by code that copies this across (see HTTPProviderBase).
                exc.request_usage = _so_far(usage)  # type: ignore[attr-defined]
            raise

    def build(self, stop_reason: StopReason, usage: Usage) -> AssistantMessage:
        """The final message; call after :meth:`close_blocks`."""
        if self._open:
            raise RuntimeError("build() with open blocks; call close_blocks() first")
        content = _repair_call_ids(tuple(c for c in self._content if c is not None), self.provider)
        return self._message(content, stop_reason, usage)

    def _message(
        self, content: tuple[AssistantContent, ...], stop: StopReason, usage: Usage
    ) -> AssistantMessage:
        return AssistantMessage(
            content,
            stop,
            usage,
            model=self.model,
            provider=self.provider,
            response_id=self.response_id,
            provider_data=self.provider_data,
            cache_miss_reason=self.cache_miss_reason,
        )


def _so_far(usage: Callable[[], Usage] | None) -> Usage | None:
    return None if usage is None else usage()


def _repair_call_ids(
    content: tuple[AssistantContent, ...], provider: str
) -> tuple[AssistantContent, ...]:
    """Tool calls with an empty or repeated id get a new one, deterministically.

    The next request must pair every result with its call by id, which an
    empty or duplicate id makes impossible (the service would reject it). The
    n-th call (from 1) with an empty id becomes ``call_<n>``; a repeated id
    becomes ``<id>_<n>``; suffixes grow until the id is unique. Each repair is
    logged as ``provider.tool_call_id_repaired``.
    """
    calls = [c for c in content if isinstance(c, ToolCall)]
    ids = [c.id for c in calls]
    if all(ids) and len(set(ids)) == len(ids):
        return content
    taken: set[str] = set()
    fixed: dict[int, ToolCall] = {}
    for number, call in enumerate(calls, 1):
        new = call.id
        if not new or new in taken:
            base = f"{call.id}_{number}" if call.id else f"call_{number}"
            new, extra = base, 1
            while new in taken or new in ids:
                extra += 1
                new = f"{base}_{extra}"
            _log.warning(
                "provider.tool_call_id_repaired",
                provider=provider,
                reason="empty" if not call.id else "duplicate",
                tool=call.name,
                new_id=new,
            )
            fixed[id(call)] = attrs.evolve(call, id=new)
        taken.add(new)
    return tuple(fixed.get(id(c), c) for c in content)


def _parse_tool_call(id: str, name: str, raw: str) -> ToolCall:
    if not raw.strip():
        return ToolCall(id, name, {})
    try:
        arguments = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        return ToolCall(id, name, {}, f"arguments are not valid JSON ({exc}): {raw[:200]!r}")
    if not isinstance(arguments, dict):
        kind = type(arguments).__name__
        return ToolCall(id, name, {}, f"arguments must be a JSON object, got {kind}: {raw[:200]!r}")
    return ToolCall(id, name, arguments)
