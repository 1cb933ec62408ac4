"""ScriptedProvider: a provider that answers from a script, for tests and examples.

Each request takes the next :class:`Reply` of the script (or asks a policy
function for one) and streams it exactly as a real provider would: a start
event, text, thinking and tool-call argument deltas, block ends, and the final
message. Replies can wait between events, fail after some events, or hang, to
test what a run does when its provider misbehaves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import anyio
from attrs import define, field

from agentkit._errors import ProviderError
from agentkit._json import canonical_json
from agentkit._messages import Context, StopReason, ToolCall, Usage
from agentkit._stream import EventStream
from agentkit.providers._base import (
    AnswerOut,
    AssistantMessageBuilder,
    AssistantStream,
    ModelOptions,
)

__all__ = ["Reply", "ScriptExhaustedError", "ScriptedProvider", "call"]

CHARS_PER_TOKEN = 4


class ScriptExhaustedError(ProviderError):
    """The provider was asked for more replies than its script holds."""


def call(name: str, /, **arguments: Any) -> tuple[str, dict[str, Any]]:
    """A tool call for a :class:`Reply`: ``call("add", a=1, b=2)``."""
    return (name, arguments)


def _chunks(value: str | Sequence[str], size: int) -> tuple[str, ...]:
    if not isinstance(value, str):
        return tuple(value)
    return tuple(value[i : i + size] for i in range(0, len(value), size))


ScriptedCall: TypeAlias = tuple[str, dict[str, Any] | str] | ToolCall


def _calls(calls: Sequence[ScriptedCall]) -> tuple[ScriptedCall, ...]:
    return tuple(calls)


@define(frozen=True, slots=True)
class Reply:
    """One scripted answer.

    ``text`` and ``thinking`` given as a string are streamed in chunks of
    ``chunk_size`` characters; given as a sequence, each item is one delta.
    ``tool_calls`` are ``call(name, **arguments)`` pairs or ready ``ToolCall``
    values; raw strings are sent as unparsed argument JSON (to test invalid
    arguments). ``delay`` is waited before every event. ``error`` is raised
    after ``error_after`` events; ``hang`` waits forever after them instead.
    Without ``usage``, tokens are estimated at four characters per token of
    the request's JSON, which serialises the whole context on every request:
    give ``usage`` when timing a run.
    """

    text: str | Sequence[str] = ""
    thinking: str | Sequence[str] = ""
    signature: str | None = None
    tool_calls: tuple[ScriptedCall, ...] = field(default=(), converter=_calls)
    stop_reason: StopReason | None = None
    usage: Usage | None = None
    delay: float = 0.0
    error: BaseException | None = None
    error_after: int = 0
    hang: bool = False
    chunk_size: int = 16


ScriptItem: TypeAlias = Reply | str
Policy: TypeAlias = Callable[[Context, ModelOptions], ScriptItem]


class ScriptedProvider:
    """Answers each request with the next reply of ``script``, or from a policy function.

    ``requests`` records the context of every request, as the provider got it
    (after the transforms), so tests can check what a real service would see;
    ``options`` the options of each. It accepts native structured output
    (``ModelOptions.output_schema``) for any model, without enforcing it: the
    script says what the model answers.
    """

    def __init__(self, script: Sequence[ScriptItem] | Policy, *, name: str = "scripted") -> None:
        self._name = name
        self._script: tuple[ScriptItem, ...] | None = None
        self._policy: Policy | None = None
        if callable(script):
            self._policy = script
        else:
            self._script = tuple(script)
        self._next = 0
        self.requests: list[Context] = []
        self.options: list[ModelOptions] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def remaining(self) -> int:
        """Replies not yet used (0 for a policy)."""
        return 0 if self._script is None else len(self._script) - self._next

    def __repr__(self) -> str:
        return f"<ScriptedProvider {self._name!r}, {len(self.requests)} requests>"

    def supports_native_output(self, model: str) -> bool:
        """True: a script can play any model's natively structured answer."""
        return True

    def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
        number = len(self.requests) + 1
        self.requests.append(context)
        self.options.append(options)
        reply = self._take(context, options)

        async def produce(out: AnswerOut) -> None:
            await _play(reply, context, options, self._name, number, out)

        return EventStream(produce, name=f"{self._name}#{number}")

    def _take(self, context: Context, options: ModelOptions) -> Reply | ScriptExhaustedError:
        if self._policy is not None:
            item = self._policy(context, options)
        elif self._script is not None and self._next < len(self._script):
            item = self._script[self._next]
            self._next += 1
        else:
            size = 0 if self._script is None else len(self._script)
            return ScriptExhaustedError(f"script of {size} replies exhausted at request {size + 1}")
        return Reply(item) if isinstance(item, str) else item


async def _play(
    reply: Reply | ScriptExhaustedError,
    context: Context,
    options: ModelOptions,
    provider: str,
    number: int,
    out: AnswerOut,
) -> None:
    if isinstance(reply, ScriptExhaustedError):
        raise reply
    builder = AssistantMessageBuilder(
        model=options.model, provider=provider, response_id=f"scripted-{number}"
    )
    sent = 0

    async def fail() -> None:
        if reply.error is not None:
            raise reply.error
        if reply.hang:
            await anyio.sleep_forever()

    async def send(make: Callable[..., Any], *args: Any) -> None:
        # The event is made only when it is sent: a scripted failure or hang comes
        # before the builder has it, as it would before its bytes arrived.
        nonlocal sent
        if sent == reply.error_after:
            await fail()
        if reply.delay:
            await anyio.sleep(reply.delay)
        await out.push(make(*args))
        sent += 1

    with builder.partial_on_cancel(out):
        await send(builder.start)
        key = 0
        if reply.thinking:
            for chunk in _chunks(reply.thinking, reply.chunk_size):
                await send(builder.thinking, key, chunk)
            builder.signature(key, reply.signature or f"scripted-signature-{number}")
            await send(builder.end_block, key)
            key += 1
        if reply.text:
            for chunk in _chunks(reply.text, reply.chunk_size):
                await send(builder.text, key, chunk)
            await send(builder.end_block, key)
            key += 1
        for position, item in enumerate(reply.tool_calls, start=1):
            if isinstance(item, ToolCall):
                call_id, name, raw = item.id, item.name, canonical_json(item.arguments)
            else:
                name, arguments = item
                call_id = f"call_{number}_{position}"
                raw = arguments if isinstance(arguments, str) else canonical_json(arguments)
            await send(builder.tool_call_start, key, call_id, name)
            for chunk in _chunks(raw, reply.chunk_size):
                await send(builder.tool_call_arguments, key, chunk)
            await send(builder.end_block, key)
            key += 1
        if sent <= reply.error_after:
            await fail()  # a failure scripted after the last event
    stop = reply.stop_reason or (StopReason.TOOL_USE if reply.tool_calls else StopReason.STOP)
    usage = reply.usage
    if usage is None:
        usage = _estimate_usage(context, builder.build(stop, Usage()).to_dict())
    out.end(builder.build(stop, usage))


def _estimate_usage(context: Context, answer: dict[str, Any]) -> Usage:
    prompt = math.ceil(len(canonical_json(context.to_dict())) / CHARS_PER_TOKEN)
    output = math.ceil(len(canonical_json(answer["content"])) / CHARS_PER_TOKEN)
    return Usage(input=prompt, output=output)
