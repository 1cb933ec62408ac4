"""Spans and metrics for runs, from their events and the loop's one seam.

One :class:`_RunTrace` per run, living in the run's own tasks:

* ``invoke_agent {agent}`` (INTERNAL) spans the whole run; it is the current
  span in the run's producer, so everything below is its child, and it is a
  child of whatever span was current where the run was started;
* ``chat {model}`` (CLIENT) spans one model request, from ``Provider.stream``
  to the answer's ``MessageEnd``, and is current during it;
* ``execute_tool {name}`` (INTERNAL) spans one tool call from
  ``ToolExecutionStart`` to ``ToolExecutionEnd`` and is current in the task
  that runs the tool, so parallel tools are siblings under the run.

Handling an event never fails a run: a failure there is logged and the run goes on.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import anyio
from attrs import define
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

import agentkit.otel._names as n

# From the package's public surface: the implementation modules are free to move.
from agentkit import (
    Agent,
    AgentEnd,
    AgentEvent,
    AssistantMessage,
    Context,
    LoopConfig,
    MessageEnd,
    MessageUpdate,
    ToolCall,
    ToolExecutionEnd,
    ToolExecutionStart,
    TurnStart,
    Usage,
    UsageLimitExceeded,
)
from agentkit._log import get_logger
from agentkit.otel._content import bounded_text, messages_json, parts_text, system_json

__all__ = ["Settings", "Tracing"]

EventListener = Callable[[AgentEvent], Awaitable[None] | None]

_log = get_logger("agentkit.otel")

# Error messages and stack traces are diagnostics, not content: always kept, but bounded.
_MESSAGE_LIMIT = 1024
_STACK_LIMIT = 8192


@define(frozen=True, slots=True)
class Settings:
    """What :func:`agentkit.otel.instrument` chose."""

    tracer: Tracer
    meter: Meter
    capture_content: bool
    max_content_length: int


class _Metrics:
    __slots__ = ("duration", "first_chunk", "tokens")

    def __init__(self, meter: Meter) -> None:
        self.tokens: Histogram = meter.create_histogram(
            n.TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(n.TOKEN_BUCKETS),
        )
        self.duration: Histogram = meter.create_histogram(
            n.OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(n.DURATION_BUCKETS),
        )
        self.first_chunk: Histogram = meter.create_histogram(
            n.TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed answer.",
            explicit_bucket_boundaries_advisory=list(n.DURATION_BUCKETS),
        )


class Tracing:
    """The installed instrumentation (:class:`agentkit._instrumentation.Instrumentation`)."""

    __slots__ = ("metrics", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = _Metrics(settings.meter)

    def start_run(self, run_id: str, config: LoopConfig, owner: object | None) -> _RunTrace:
        return _RunTrace(self, run_id, config, _agent_name(owner))


def _agent_name(owner: object | None) -> str:
    """An Agent's class name; ``agent_loop`` for a run without one."""
    agent = getattr(owner, "agent", None)  # an Agent's run keeps its agent here
    if isinstance(agent, Agent):
        return type(agent).__name__
    return "agent_loop"


def error_type(exc: BaseException) -> str:
    """The low-cardinality name of an error: its class name."""
    return type(exc).__qualname__


def _record_error(
    span: Span, exc: BaseException, kind: str | None = None, *, status: bool = True
) -> None:
    kind = kind or error_type(exc)
    message = bounded_text(str(exc), _MESSAGE_LIMIT)
    if status:
        span.set_attribute(n.ERROR_TYPE, kind)
        span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}" if message else kind))
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    span.add_event(
        "exception",
        {
            "exception.type": kind,
            "exception.message": message,
            "exception.stacktrace": bounded_text(stack, _STACK_LIMIT),
        },
    )


def _usage_attributes(usage: Usage) -> dict[str, Any]:
    # The conventions' input tokens are the whole prompt; agentkit's Usage.input
    # counts only the uncached part (cache reads and writes are separate).
    attributes: dict[str, Any] = {
        n.USAGE_INPUT_TOKENS: usage.prompt,
        n.USAGE_OUTPUT_TOKENS: usage.output,
        n.USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read,
        n.USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write,
        n.USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning,
    }
    if usage.cost is not None:  # unknown is left out, never reported as 0
        attributes[n.USAGE_COST] = usage.cost
    return attributes


class _Chat:
    """One model request in flight."""

    __slots__ = ("answer", "first_chunk", "span", "started")

    def __init__(self, span: Span, started: float) -> None:
        self.span = span
        self.started = started
        self.first_chunk: float | None = None
        self.answer: AssistantMessage | None = None


class _Tool:
    __slots__ = ("call", "error", "span")

    def __init__(self, call: ToolCall, span: Span) -> None:
        self.call = call  # kept alive: the key is its id()
        self.span = span
        self.error: str | None = None


class _RunTrace:
    """One run's spans (:class:`agentkit._instrumentation.RunInstrumentation`)."""

    def __init__(self, tracing: Tracing, run_id: str, config: LoopConfig, agent: str) -> None:
        self.settings = tracing.settings
        self.metrics = tracing.metrics
        self.run_id = run_id
        self.config = config
        self.agent = agent
        self.clock = config.clock
        self.turn = 0
        self.span: Span | None = None
        self.chat: _Chat | None = None
        self.tools: dict[int, _Tool] = {}
        self.descriptions = {t.name: t.definition.description for t in config.tools}
        options = config.options
        self.common: dict[str, Any] = {
            n.PROVIDER_NAME: config.provider.name,
            n.REQUEST_MODEL: options.model,
        }

    # ------------------------------------------------------------------ the run

    def run(self) -> AbstractContextManager[None]:
        return self._run()

    @contextmanager
    def _run(self) -> Iterator[None]:
        settings = self.settings
        attributes: dict[str, Any] = {
            n.OPERATION_NAME: n.INVOKE_AGENT,
            n.AGENT_NAME: self.agent,
            **self.common,
            n.RUN_ID: self.run_id,
        }
        if settings.capture_content and self.config.system_prompt:
            attributes[n.SYSTEM_INSTRUCTIONS] = system_json(
                self.config.system_prompt, settings.max_content_length
            )
        span = settings.tracer.start_span(
            f"{n.INVOKE_AGENT} {self.agent}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        self.span = span
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        except Exception as exc:
            if isinstance(exc, UsageLimitExceeded):
                span.set_attribute(n.STOP_REASON, "usage_limit")
                span.set_attribute(n.USAGE_LIMIT, exc.exceeded.limit)
            _record_error(span, exc)
            raise
        except BaseException:
            span.set_attribute(n.CANCELLED, True)
            raise
        finally:
            otel_context.detach(token)
            # Tool calls a failed or cancelled run left without an end.
            for left in self.tools.values():
                _end_tool(left.span, left.error or n.ERROR_CANCELLED)
            self.tools.clear()
            span.set_attribute(n.TURNS, self.turn)
            span.end()

    # ------------------------------------------------------------------ events

    def listener(self, inner: EventListener | None) -> EventListener:
        handle = self._handle
        if inner is None:
            return handle

        def both(event: AgentEvent) -> Any:
            handle(event)
            return inner(event)

        return both

    def _handle(self, event: AgentEvent) -> None:
        try:
            if isinstance(event, MessageUpdate):
                chat = self.chat
                if chat is not None and chat.first_chunk is None:
                    self._first_chunk(chat)
            elif isinstance(event, MessageEnd):
                chat = self.chat
                if chat is not None and isinstance(event.message, AssistantMessage):
                    self._answered(chat, event.message)
            elif isinstance(event, ToolExecutionStart):
                self._tool_started(event.call)
            elif isinstance(event, ToolExecutionEnd):
                self._tool_ended(event)
            elif isinstance(event, TurnStart):
                self.turn = event.turn
            elif isinstance(event, AgentEnd):
                self._ended(event)
        except Exception as exc:  # recording must never fail the run
            _log.warning("otel.record_failed", event_type=event.type, error=error_type(exc))

    def _ended(self, event: AgentEnd) -> None:
        span = self.span
        if span is None:
            return
        span.set_attribute(n.STOP_REASON, event.stop_reason.value)
        span.set_attributes(_usage_attributes(event.usage))

    # ------------------------------------------------------------------ the model

    def model_call(self, context: Context) -> AbstractContextManager[None]:
        return self._model_call(context)

    @contextmanager
    def _model_call(self, context: Context) -> Iterator[None]:
        settings = self.settings
        options = self.config.options
        attributes: dict[str, Any] = {
            n.OPERATION_NAME: n.CHAT,
            **self.common,
            n.REQUEST_STREAM: True,
            n.TURN: self.turn,
        }
        if options.max_tokens is not None:
            attributes[n.REQUEST_MAX_TOKENS] = options.max_tokens
        if options.temperature is not None:
            attributes[n.REQUEST_TEMPERATURE] = float(options.temperature)
        if options.stop:
            attributes[n.REQUEST_STOP_SEQUENCES] = list(options.stop)
        if settings.capture_content:
            limit = settings.max_content_length
            attributes[n.INPUT_MESSAGES] = messages_json(context.messages, limit)
            if context.system:
                attributes[n.SYSTEM_INSTRUCTIONS] = system_json(context.system, limit)
        span = settings.tracer.start_span(
            f"{n.CHAT} {options.model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        chat = _Chat(span, self.clock())
        self.chat = chat
        token = otel_context.attach(trace.set_span_in_context(span))
        failure: str | None = None
        try:
            yield
        except Exception as exc:
            failure = error_type(exc)
            _record_error(span, exc, failure)
            raise
        except BaseException:
            failure = n.ERROR_CANCELLED
            span.set_attribute(n.CANCELLED, True)
            raise
        finally:
            otel_context.detach(token)
            self.chat = None
            try:
                self._model_metrics(chat, failure)
            finally:
                span.end()

    def _first_chunk(self, chat: _Chat) -> None:
        seconds = max(self.clock() - chat.started, 0.0)
        chat.first_chunk = seconds
        chat.span.set_attribute(n.RESPONSE_TIME_TO_FIRST_CHUNK, seconds)

    def _answered(self, chat: _Chat, answer: AssistantMessage) -> None:
        chat.answer = answer
        span = chat.span
        attributes: dict[str, Any] = {
            n.RESPONSE_FINISH_REASONS: [answer.stop_reason.value],
            **_usage_attributes(answer.usage),
        }
        if answer.model:
            attributes[n.RESPONSE_MODEL] = answer.model
        if answer.response_id:
            attributes[n.RESPONSE_ID] = answer.response_id
        if self.settings.capture_content:
            limit = self.settings.max_content_length
            attributes[n.OUTPUT_MESSAGES] = messages_json([answer], limit)
        span.set_attributes(attributes)

    def _model_metrics(self, chat: _Chat, failure: str | None) -> None:
        metrics = self.metrics
        attributes: dict[str, Any] = {n.OPERATION_NAME: n.CHAT, **self.common}
        answer = chat.answer
        if answer is not None and answer.model:
            attributes[n.RESPONSE_MODEL] = answer.model
        if chat.first_chunk is not None:
            metrics.first_chunk.record(chat.first_chunk, attributes)
        if answer is not None and answer.usage.total:
            usage = answer.usage
            metrics.tokens.record(usage.prompt, {**attributes, n.TOKEN_TYPE: "input"})
            metrics.tokens.record(usage.output, {**attributes, n.TOKEN_TYPE: "output"})
        if failure is not None:
            attributes[n.ERROR_TYPE] = failure
        metrics.duration.record(max(self.clock() - chat.started, 0.0), attributes)

    # ------------------------------------------------------------------ tools

    def _tool_started(self, call: ToolCall) -> None:
        # Started in the run's producer: the run's span is current, so it is the parent.
        attributes: dict[str, Any] = {
            n.OPERATION_NAME: n.EXECUTE_TOOL,
            n.TOOL_NAME: call.name,
            n.TOOL_CALL_ID: call.id,
            n.TOOL_TYPE: "function",
            n.PROVIDER_NAME: self.config.provider.name,
            n.TURN: self.turn,
        }
        description = self.descriptions.get(call.name)
        if description:
            attributes[n.TOOL_DESCRIPTION] = bounded_text(description, 1024)
        if self.settings.capture_content:
            arguments = _json_text(call.arguments)
            limit = self.settings.max_content_length
            attributes[n.TOOL_CALL_ARGUMENTS] = bounded_text(arguments, limit)
        span = self.settings.tracer.start_span(
            f"{n.EXECUTE_TOOL} {call.name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        self.tools[id(call)] = _Tool(call, span)

    def _tool_ended(self, event: ToolExecutionEnd) -> None:
        entry = self.tools.pop(id(event.call), None)
        if entry is None:
            return
        span, result = entry.span, event.result
        if self.settings.capture_content:
            limit = self.settings.max_content_length
            span.set_attribute(n.TOOL_CALL_RESULT, bounded_text(parts_text(result.content), limit))
        _end_tool(span, (entry.error or n.TOOL_ERROR) if result.is_error else None)

    def tool_call(self, call: ToolCall) -> AbstractContextManager[None]:
        return self._tool_call(call)

    @contextmanager
    def _tool_call(self, call: ToolCall) -> Iterator[None]:
        entry = self.tools.get(id(call))
        if entry is None:  # not seen starting (cannot happen): run it untraced
            yield
            return
        token = otel_context.attach(trace.set_span_in_context(entry.span))
        try:
            yield
        except anyio.get_cancelled_exc_class():
            entry.error = n.ERROR_CANCELLED
            raise
        except BaseException as exc:
            # The status comes with ToolExecutionEnd: the result is what the model saw.
            entry.error = error_type(exc)
            _record_error(entry.span, exc, entry.error, status=False)
            raise
        finally:
            otel_context.detach(token)


def _end_tool(span: Span, error: str | None) -> None:
    if error is not None:
        span.set_attribute(n.ERROR_TYPE, error)
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()


def _json_text(value: object) -> str:
    import json  # noqa: PLC0415 - only with content capture on

    return json.dumps(value, ensure_ascii=False, default=str)
