"""agent_loop: the turn loop that drives a model and its tools.

One turn is one model request plus the tools it asks for. The loop repeats
turns until the model answers without tool calls, a turn limit is reached, a
tool asks to end the run, or the run is aborted. Everything it does is an
event on the returned :class:`~agentkit.EventStream`; its result is a
:class:`RunResult`. The contract for failures is in ``docs/api/agent_loop.md``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeAlias

import anyio
import structlog
from attrs import define, field

from agentkit.errors import AgentkitError, ProviderError, RunError
from agentkit.events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    AssistantEvent,
    BlockEnd,
    MessageEnd,
    MessageStart,
    MessageUpdate,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    TurnEnd,
    TurnStart,
)
from agentkit.messages import (
    AssistantContent,
    AssistantMessage,
    Context,
    Message,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from agentkit.providers.base import ModelOptions, Provider
from agentkit.stream import EventStream
from agentkit.tool_execution import AfterToolCall, BeforeToolCall, execute_tool_calls
from agentkit.tools import Tool
from agentkit.transforms.pipeline import Transform, TransformInfo

__all__ = [
    "AbortSignal",
    "EventListener",
    "LoopConfig",
    "RunResult",
    "RunStream",
    "agent_loop",
]

_log = structlog.get_logger("agentkit.loop")

EventListener: TypeAlias = Callable[[AgentEvent], Awaitable[None] | None]


class AbortSignal:
    """Aborts a run: cancels its provider stream and running tools at once.

    Call :meth:`abort` from the same event loop as the run (a task, a callback).
    """

    __slots__ = ("_aborted", "_scopes")

    def __init__(self) -> None:
        self._aborted = False
        self._scopes: set[anyio.CancelScope] = set()

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort(self) -> None:
        self._aborted = True
        for scope in self._scopes:
            scope.cancel()

    def _scope(self) -> anyio.CancelScope:
        scope = anyio.CancelScope()
        if self._aborted:
            scope.cancel()
        self._scopes.add(scope)
        return scope


def _system(value: str | Sequence[TextContent]) -> tuple[TextContent, ...]:
    if isinstance(value, str):
        return (TextContent(value),) if value else ()
    return tuple(value)


def _tools(value: Sequence[Tool]) -> tuple[Tool, ...]:
    return tuple(value)


@define(frozen=True, slots=True)
class LoopConfig:
    """How to run: the model, its tools, the hooks, and the limits.

    ``get_steering_messages`` and ``get_follow_up_messages`` are polled by the
    loop and must return (and forget) the messages queued since the last poll.
    """

    provider: Provider
    options: ModelOptions
    system_prompt: tuple[TextContent, ...] = field(default=(), converter=_system)
    tools: tuple[Tool, ...] = field(default=(), converter=_tools)
    transform: Transform | None = None
    before_tool_call: BeforeToolCall | None = None
    after_tool_call: AfterToolCall | None = None
    on_event: EventListener | None = None
    get_steering_messages: Callable[[], Sequence[Message]] | None = None
    get_follow_up_messages: Callable[[], Sequence[Message]] | None = None
    max_turns: int | None = 100
    tool_execution: Literal["parallel", "sequential"] = "parallel"
    tool_timeout: float | None = 300.0
    abort: AbortSignal | None = None

    def __attrs_post_init__(self) -> None:
        if self.max_turns is not None and (
            isinstance(self.max_turns, bool) or not isinstance(self.max_turns, int)
        ):
            raise TypeError(f"max_turns must be an int or None, got {self.max_turns!r}")
        timeout = self.tool_timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
        ):
            raise TypeError(f"tool_timeout must be a positive number or None, got {timeout!r}")
        strays = [t for t in self.tools if not isinstance(t, Tool)]
        if strays:
            raise TypeError(f"tools must be Tool values (use @tool), got {strays[0]!r}")
        if self.max_turns is not None and self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.tool_execution not in ("parallel", "sequential"):
            raise ValueError(
                f"tool_execution must be 'parallel' or 'sequential', got {self.tool_execution!r}"
            )
        names = [t.name for t in self.tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate tool names: {duplicates}")


@define(frozen=True, slots=True)
class RunResult:
    """What a run produced: its new messages, their summed usage and why it stopped."""

    messages: tuple[Message, ...]
    usage: Usage
    stop_reason: StopReason

    @property
    def last_assistant(self) -> AssistantMessage | None:
        """The last answer of the model in this run."""
        for message in reversed(self.messages):
            if isinstance(message, AssistantMessage):
                return message
        return None

    @property
    def text(self) -> str:
        """The text of the model's last answer."""
        last = self.last_assistant
        return last.text if last is not None else ""


RunStream: TypeAlias = EventStream[AgentEvent, RunResult]

# A model stop that also ends the run reports itself as the run's reason.
_FINAL_REASONS = frozenset({StopReason.LENGTH, StopReason.REFUSAL})


def agent_loop(
    config: LoopConfig,
    history: Sequence[Message] = (),
    prompt: str | Message | Sequence[Message] = (),
    *,
    run_id: str | None = None,
) -> RunStream:
    """Run ``config`` on ``history`` plus ``prompt``; returns the run's not-yet-started stream.

    With no ``prompt`` the loop continues ``history``, which must then end
    with a user message or tool results.
    """
    prompts = _prompt_messages(prompt)
    if not prompts:
        if not history:
            raise ValueError("nothing to answer: give a prompt or a history")
        if isinstance(history[-1], AssistantMessage):
            raise ValueError("cannot continue from an assistant message: give a prompt")
    run = _Run(config, history, prompts, run_id or uuid.uuid4().hex[:16])
    return EventStream(run.produce, name=f"run:{run.run_id}")


def _prompt_messages(prompt: str | Message | Sequence[Message]) -> tuple[Message, ...]:
    if isinstance(prompt, str):
        return (UserMessage(prompt),)
    if isinstance(prompt, UserMessage | AssistantMessage | ToolResultMessage):
        return (prompt,)
    return tuple(prompt)


class _Partial:
    """The streamed answer so far, kept only to record an aborted answer."""

    __slots__ = ("blocks", "start")

    def __init__(self) -> None:
        self.start: AssistantMessage | None = None
        self.blocks: dict[int, list[str] | AssistantContent] = {}

    def feed(self, event: AssistantEvent) -> None:
        if isinstance(event, TextDelta | ThinkingDelta):
            parts = self.blocks.setdefault(event.index, [])
            if isinstance(parts, list):
                parts.append(event.text if isinstance(event, TextDelta) else event.thinking)
        elif isinstance(event, BlockEnd):
            self.blocks[event.index] = event.block

    def aborted(self, model: str, provider: str) -> AssistantMessage:
        content: list[AssistantContent] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if isinstance(block, list):
                text = "".join(block)
                if text:
                    content.append(TextContent(text))
            elif not isinstance(block, ThinkingContent) or block.signature:
                content.append(block)
        if self.start is not None:
            model, provider = self.start.model, self.start.provider
        return AssistantMessage(
            tuple(c for c in content if not _is_call(c)),
            StopReason.ABORTED,
            model=model,
            provider=provider,
        )


def _is_call(block: AssistantContent) -> bool:
    # A call without its result would make the next request invalid.
    return not isinstance(block, TextContent | ThinkingContent)


class _Run:
    """The state of one run; lives only inside its producer."""

    def __init__(
        self,
        config: LoopConfig,
        history: Sequence[Message],
        prompts: tuple[Message, ...],
        run_id: str,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.history: list[Message] = list(history)
        self.prompts = prompts
        self.new_messages: list[Message] = []
        self.usage = Usage()
        self.turn = 0
        self.tools = {t.name: t for t in config.tools}
        self.tool_definitions = tuple(t.definition for t in config.tools)
        self.transform_seen: set[str] = set()
        self.log = _log.bind(run_id=run_id, model=config.options.model)
        self.out: RunStream | None = None
        self.abort = config.abort or AbortSignal()

    # ------------------------------------------------------------------ plumbing

    async def emit(self, event: AgentEvent) -> None:
        listener = self.config.on_event
        if listener is not None:
            try:
                pending = listener(event)
                if pending is not None:
                    await pending
            except Exception as exc:
                raise RunError("on_event", exc) from exc
        assert self.out is not None
        await self.out.push(event)

    async def add_message(self, message: Message) -> None:
        await self.emit(MessageStart(message))
        await self.add_finished(message)

    async def add_finished(self, message: Message) -> None:
        self.history.append(message)
        self.new_messages.append(message)
        await self.emit(MessageEnd(message))

    def aborted(self) -> bool:
        # A method, not the property: the answer changes across awaits.
        return self.abort.aborted

    def poll(self, source: Callable[[], Sequence[Message]] | None, stage: str) -> list[Message]:
        if source is None:
            return []
        try:
            return list(source())
        except Exception as exc:
            raise RunError(stage, exc) from exc

    # ------------------------------------------------------------------ the run

    async def produce(self, out: RunStream) -> None:
        self.out = out
        started = time.perf_counter()
        self.log.info("run.start")
        try:
            stop = await self.run()
        except AgentkitError as exc:
            exc._attach_partial(tuple(self.new_messages), self.usage)
            self.log.warning("run.failed", error=type(exc).__name__, turns=self.turn)
            raise
        except anyio.get_cancelled_exc_class():
            self.log.info("run.cancelled", turns=self.turn)
            raise
        except Exception as exc:
            error = RunError("agent_loop", exc)
            error._attach_partial(tuple(self.new_messages), self.usage)
            self.log.error("run.failed", error=type(exc).__name__, turns=self.turn)
            raise error from exc
        result = RunResult(tuple(self.new_messages), self.usage, stop)
        await self.emit(AgentEnd(result.messages, result.usage, stop))
        out.end(result)
        self.log.info(
            "run.end",
            stop_reason=stop.value,
            turns=self.turn,
            seconds=round(time.perf_counter() - started, 6),
        )

    async def run(self) -> StopReason:
        config = self.config
        await self.emit(AgentStart(self.run_id))
        # The prompt belongs to the first turn, like steering messages to theirs.
        pending = [*self.prompts, *self.poll(config.get_steering_messages, "get_steering_messages")]
        last: AssistantMessage | None = None
        while True:
            more_tools = True
            while more_tools or pending:
                if self.aborted():
                    return StopReason.ABORTED
                if config.max_turns is not None and self.turn >= config.max_turns:
                    return StopReason.MAX_TURNS
                self.turn += 1
                await self.emit(TurnStart(self.turn))
                for message in pending:
                    await self.add_message(message)
                last = await self.ask_model()
                if last.stop_reason is StopReason.ABORTED:
                    await self.emit(TurnEnd(self.turn, last))
                    return StopReason.ABORTED
                results: tuple[ToolResultMessage, ...] = ()
                terminate = False
                pending = []
                if last.tool_calls:
                    results, terminate, pending = await execute_tool_calls(self, last)
                await self.emit(TurnEnd(self.turn, last, results))
                if self.aborted():
                    return StopReason.ABORTED
                if terminate:
                    return StopReason.TOOL_TERMINATED
                more_tools = bool(last.tool_calls)
                if not pending:
                    pending = self.poll(config.get_steering_messages, "get_steering_messages")
            pending = self.poll(config.get_follow_up_messages, "get_follow_up_messages")
            if not pending:
                if last is not None and last.stop_reason in _FINAL_REASONS:
                    return last.stop_reason
                return StopReason.STOP

    # ------------------------------------------------------------------ the model

    def request_context(self) -> Context:
        context = Context(self.config.system_prompt, tuple(self.history), self.tool_definitions)
        transform = self.config.transform
        if transform is None:
            return context
        info = TransformInfo(
            self.config.options.model,
            self.config.provider.name,
            self.run_id,
            self.turn,
            seen=self.transform_seen,
        )
        try:
            transformed: object = transform(context, info)
        except Exception as exc:
            raise RunError("transform", exc) from exc
        if not isinstance(transformed, Context):
            kind = type(transformed).__name__
            raise RunError("transform", TypeError(f"a transform returned {kind}, not a Context"))
        return transformed

    async def ask_model(self) -> AssistantMessage:
        context = self.request_context()
        provider = self.config.provider
        partial = _Partial()
        started = time.perf_counter()
        log = self.log.bind(turn=self.turn, provider=provider.name)
        log.debug("provider.request", messages=len(context.messages))
        message: AssistantMessage | None = None
        with self.abort._scope() as scope:
            try:
                answer_stream = provider.stream(context, self.config.options)
                if not isinstance(answer_stream, EventStream):
                    raise ProviderError(
                        f"provider {provider.name!r}: stream() returned "
                        f"{type(answer_stream).__name__}, not an EventStream"
                    )
                async with answer_stream as answer:
                    async for event in answer:
                        if isinstance(event, StreamStart):
                            partial.start = event.message
                            await self.emit(MessageStart(event.message))
                            continue
                        if partial.start is None:  # a provider that skipped StreamStart
                            partial.start = self._empty_answer()
                            await self.emit(MessageStart(partial.start))
                        partial.feed(event)
                        await self.emit(MessageUpdate(event))
                    answered = await answer.result()
                    if not isinstance(answered, AssistantMessage):
                        raise ProviderError(
                            f"provider {provider.name!r} ended its stream with "
                            f"{type(answered).__name__}, not an AssistantMessage"
                        )
                    message = answered
            finally:
                self.abort._scopes.discard(scope)
        if message is None:  # aborted while streaming
            message = partial.aborted(self.config.options.model, provider.name)
            if partial.start is None:
                await self.emit(MessageStart(self._empty_answer()))
            log.info("provider.aborted")
        else:
            if partial.start is None:
                await self.emit(MessageStart(self._empty_answer()))
            self.usage = self.usage + message.usage
            log.debug(
                "provider.response",
                stop_reason=message.stop_reason.value,
                input=message.usage.input,
                output=message.usage.output,
                cache_read=message.usage.cache_read,
                cache_write=message.usage.cache_write,
                seconds=round(time.perf_counter() - started, 6),
            )
        await self.add_finished(message)
        return message

    def _empty_answer(self) -> AssistantMessage:
        return AssistantMessage(
            (), model=self.config.options.model, provider=self.config.provider.name
        )
