"""agent_loop: the turn loop that drives a model and its tools.

One turn is one model request plus the tools it asks for. The loop repeats
turns until the model answers without tool calls, a turn limit is reached, a
tool asks to end the run, a usage limit (:class:`UsageLimits`) is hit, a tool
call waits for a human's decision (the run pauses, see :class:`~agentkit.Paused`),
or the run is aborted. Everything it does is an
event on the returned :class:`~agentkit.EventStream`; its result is a
:class:`RunResult`. The contract for failures is in ``docs/concepts/loop.md``.

The loop is a deterministic orchestrator over exactly two effects: "call the
model with this context" (:meth:`Provider.stream`) and "run this tool call"
(:meth:`Tool.execute`). The clock and the id source are injectable
(``LoopConfig.clock``, ``LoopConfig.new_id``); see ``docs/concepts/loop.md``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Literal, Protocol, TypeAlias

import attrs
from attrs import define, field
from typing_extensions import TypeVar

from agentkit._abort import AbortSignal
from agentkit._errors import (
    AgentkitError,
    OutputError,
    ProviderError,
    RunError,
    StreamCancelledError,
    UsageLimitExceeded,
)
from agentkit._events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    MessageEnd,
    MessageStart,
    MessageUpdate,
    StreamStart,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
    TurnEnd,
    TurnStart,
)
from agentkit._instrumentation import NULL_CONTEXT, RunInstrumentation, installed
from agentkit._limits import Budget, ExceededLimit, UsageLimits
from agentkit._log import get_logger
from agentkit._messages import (
    AssistantMessage,
    Context,
    Message,
    StopReason,
    TextContent,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from agentkit._output import (
    DEFAULT_OUTPUT_RETRIES,
    NO_OUTPUT,
    TEXT_OUTPUT,
    OutputJudge,
    OutputMode,
    OutputSpec,
    build_output_spec,
)
from agentkit._pause import Approval, Paused, ResumeError, check_decisions, tools_fingerprint
from agentkit._stream import EventStream
from agentkit._tool_execution import (
    AfterToolCall,
    BeforeToolCall,
    ToolCallDecision,
    ToolEnvironment,
    execute_tool_calls,
)
from agentkit._tools import Tool
from agentkit.providers._base import AssistantStream, ModelOptions, Provider
from agentkit.transforms._pipeline import Transform, TransformInfo

# What the loop uses of a provider's AssistantStream (checked, not assumed).
_STREAM_METHODS = ("__aenter__", "__aexit__", "result", "cancel")

__all__ = [
    "AbortSignal",
    "AfterToolCall",
    "BeforeToolCall",
    "ToolCallDecision",
    "EventListener",
    "ExceededLimit",
    "LoopConfig",
    "RunOwner",
    "RunResult",
    "RunStream",
    "UsageLimits",
    "agent_loop",
]

_log = get_logger("agentkit.loop")

EventListener: TypeAlias = Callable[[AgentEvent], Awaitable[None] | None]

#: The type of a run's output; ``str`` (the final text) for a run without an output type.
OutT = TypeVar("OutT", default=str)


def _new_run_id() -> str:
    return uuid.uuid4().hex[:16]


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
    loop and must return (and forget) the messages queued since the last poll;
    the loop polls only when it can still deliver what it gets, and every
    message it took is in the history when the run ends. Hooks run under the
    call's tool timeout. ``limits`` caps what the run may spend (see
    :class:`UsageLimits`). ``clock`` (seconds, for durations and the
    ``seconds`` limit) and ``new_id`` (run ids) are the loop's only sources of
    time and identity. ``output_type`` makes the run end with a value of that
    type, given in ``output_mode`` and sent back at most ``output_retries``
    times when invalid (see ``docs/guides/output.md``); ``output_spec`` is
    what it became.
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
    limits: UsageLimits | None = None
    clock: Callable[[], float] = time.perf_counter
    new_id: Callable[[], str] = _new_run_id
    output_type: Any = None
    output_mode: OutputMode = "tool"
    output_retries: int = DEFAULT_OUTPUT_RETRIES
    output_spec: OutputSpec | None = field(init=False, default=None, repr=False, eq=False)

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
        if self.limits is not None and not isinstance(self.limits, UsageLimits):
            raise TypeError(f"limits must be UsageLimits or None, got {self.limits!r}")
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
        provider, model = self.provider, self.options.model
        spec = build_output_spec(
            self.output_type,
            self.output_mode,
            self.output_retries,
            tool_names=frozenset(names),
            native_supported=lambda: _supports_native_output(provider, model),
            provider_name=provider.name,
            model=model,
        )
        object.__setattr__(self, "output_spec", spec)  # derived once, the config stays frozen


def _supports_native_output(provider: Provider, model: str) -> bool:
    check = getattr(provider, "supports_native_output", None)
    return callable(check) and check(model) is True


@define(frozen=True, slots=True)
class RunResult(Generic[OutT]):
    """What a run produced: its new messages, their summed usage, why it stopped, its output.

    ``limit_exceeded`` says which usage limit ended the run when it stopped
    with ``StopReason.USAGE_LIMIT`` (``UsageLimits(on_exceed="stop")``).
    ``paused`` is the state to resume when it stopped with ``StopReason.PAUSED``.
    """

    messages: tuple[Message, ...]
    usage: Usage
    stop_reason: StopReason
    limit_exceeded: ExceededLimit | None = None
    paused: Paused | None = None
    _output: Any = field(default=TEXT_OUTPUT, alias="output", repr=False)

    @property
    def output(self) -> OutT:
        """The run's output: a value of the output type, or the final text without one.

        Raises :class:`~agentkit.OutputError` when the run stopped (aborted, a
        turn or usage limit, a tool's ``terminate``...) before a valid output.
        """
        value = self._output
        if value is TEXT_OUTPUT:
            return self.text  # type: ignore[return-value]  # OutT is str without an output type
        if value is NO_OUTPUT:
            raise OutputError(
                f"the run stopped ({self.stop_reason.value}) before the model gave its output"
            )
        return value  # type: ignore[no-any-return]

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


class RunOwner(Protocol):
    """Who keeps the conversation a run continues (an :class:`~agentkit.Agent`).

    The loop calls :meth:`run_starting` first thing in its producer, so the
    history is read when the run really starts; :meth:`message_added` once
    for each message committed to the conversation (handed to the listeners
    without error; the consumer gets it unless it has left), in order; :meth:`run_finished`
    last, however the run ends.
    """

    def run_starting(self, run_id: str) -> Sequence[Message]:
        """The conversation to continue; raise to refuse the run."""
        ...

    def message_added(self, message: Message) -> None: ...

    def run_finished(self, error: BaseException | None) -> None: ...


RunStream: TypeAlias = EventStream[AgentEvent, RunResult[Any]]

# A model stop that also ends the run reports itself as the run's reason.
_FINAL_REASONS = frozenset({StopReason.LENGTH, StopReason.REFUSAL})
# Progress that an abort supersedes: dropped rather than delivered after it.
_PROGRESS = (MessageUpdate, ToolExecutionUpdate)

_NO_PARTIAL = object()

NOT_RUN_STOPPED = "Not run: the run stopped before this call had a result."
NOT_RUN_LIMIT = "Not run: the run reached its usage limit ({})."


def agent_loop(
    config: LoopConfig,
    history: Sequence[Message] = (),
    prompt: str | Message | Sequence[Message] = (),
    *,
    run_id: str | None = None,
    owner: RunOwner | None = None,
    paused: Paused | None = None,
    decisions: Mapping[str, Approval] | None = None,
) -> RunStream:
    """Run ``config`` on ``history`` plus ``prompt``; returns the run's not-yet-started stream.

    With no ``prompt`` the loop continues ``history``, which must then end
    with a user message, tool results, or tool calls that have no result (they
    get an error result saying they were not run). With ``owner`` the history
    comes from :meth:`RunOwner.run_starting` instead.

    With ``paused`` the run resumes that state with ``decisions`` (an
    :class:`~agentkit.Approval` per pending call id); its history is
    ``paused.messages`` (an owner's history must equal it). Decisions that do
    not fit raise :class:`~agentkit.ResumeError` here, before anything runs.
    """
    prompts = prompt_messages(prompt)
    if owner is not None and history:
        raise ValueError("give either a history or an owner that keeps it, not both")
    resume: tuple[Paused, dict[str, Approval]] | None = None
    if paused is not None or decisions is not None:
        if paused is None or decisions is None or history or prompts:
            raise ValueError("a resume takes paused and decisions, and no history or prompt")
        resume = (paused, check_decisions(paused, decisions, config.tools))
        history = () if owner is not None else paused.messages
        run_id = run_id or paused.run_id
    if owner is None:
        _check_continuable(history, prompts)
    run = _Run(config, history, prompts, run_id or config.new_id(), owner, resume)
    return EventStream(run.produce, name=f"run:{run.run_id}")


def prompt_messages(prompt: str | Message | Sequence[Message]) -> tuple[Message, ...]:
    """``prompt`` as messages: a string is one user message."""
    if isinstance(prompt, str):
        return (UserMessage(prompt),)
    if isinstance(prompt, UserMessage | AssistantMessage | ToolResultMessage):
        return (prompt,)
    return tuple(prompt)


def unanswered_calls(messages: Sequence[Message]) -> tuple[ToolResultMessage, ...]:
    """Error results for the last answer's calls that have none (its run was stopped)."""
    answered: set[str] = set()
    for message in reversed(messages):
        if isinstance(message, ToolResultMessage):
            answered.add(message.tool_call_id)
        elif isinstance(message, AssistantMessage):
            return tuple(
                ToolResultMessage(call.id, call.name, NOT_RUN_STOPPED, is_error=True)
                for call in message.tool_calls
                if call.id not in answered
            )
        else:
            return ()
    return ()


def _check_continuable(history: Sequence[Message], prompts: tuple[Message, ...]) -> None:
    if prompts:
        return
    if not history:
        raise ValueError("nothing to answer: give a prompt or a history")
    if isinstance(history[-1], AssistantMessage) and not unanswered_calls(history):
        raise ValueError("cannot continue from an assistant message: give a prompt")


class _Emitter:
    """Hands each event to the listener, then to the stream.

    An event whose push was interrupted (the listener has seen it, the
    consumer not yet) is pushed before the next one, so listener and
    consumer see the same events, each once.
    """

    __slots__ = ("commit", "listener", "out", "superseded", "unpushed")

    def __init__(
        self,
        out: RunStream,
        listener: EventListener | None,
        commit: Callable[[Message], None],
    ) -> None:
        self.out = out
        self.listener = listener
        self.commit = commit
        self.unpushed: AgentEvent | None = None
        self.superseded = False  # set by an abort: progress no longer goes out

    async def emit(self, event: AgentEvent) -> None:
        if self.superseded and isinstance(event, _PROGRESS):
            return  # aborted: progress no longer goes out, to listeners or the consumer
        unpushed = self.unpushed
        if unpushed is not None:
            if not (self.superseded and isinstance(unpushed, _PROGRESS)):
                await self.out.push(unpushed)
            self.unpushed = None
        self.unpushed = event
        listener = self.listener
        if listener is not None:
            try:
                pending = listener(event)
                if pending is not None:
                    await pending
            except Exception as exc:
                self.unpushed = None
                raise RunError("on_event", exc) from exc
        if isinstance(event, MessageEnd):
            # The listeners have it: from here on the message is part of the
            # conversation, whether or not a consumer is still reading.
            self.commit(event.message)
        await self.out.push(event)
        self.unpushed = None

    def drop_progress(self) -> None:
        """On abort: progress not yet delivered is superseded by what follows."""
        self.superseded = True
        self.out.discard(lambda event: isinstance(event, _PROGRESS))


class _Run:
    """The state of one run; lives only inside its producer."""

    def __init__(
        self,
        config: LoopConfig,
        history: Sequence[Message],
        prompts: tuple[Message, ...],
        run_id: str,
        owner: RunOwner | None,
        resume: tuple[Paused, dict[str, Approval]] | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.owner = owner
        self.history: list[Message] = list(history)
        self.prompts = prompts
        self.new_messages: list[Message] = []
        self.usage = Usage()
        self.turn = 0
        self.tools = {t.name: t for t in config.tools}
        self.tool_definitions = tuple(t.definition for t in config.tools)
        self.system = config.system_prompt
        self.options = config.options
        spec = config.output_spec
        self.output = OutputJudge(spec) if spec is not None else None
        self.output_value: Any = TEXT_OUTPUT if spec is None else NO_OUTPUT
        if spec is not None and spec.mode == "tool":
            self.tool_definitions = (*self.tool_definitions, spec.definition)
        elif spec is not None and spec.mode == "prompted":
            self.system = (*self.system, spec.instructions())
        elif spec is not None:
            self.options = attrs.evolve(self.options, output_schema=spec.schema)
        self.transform_seen: set[str] = set()
        self.log = _log.bind(run_id=run_id, model=config.options.model)
        self.abort = config.abort or AbortSignal()
        self.emitter: _Emitter | None = None
        self.budget: Budget | None = None
        self.requests = 0
        self.tool_calls_started = 0
        self.exceeded: ExceededLimit | None = None
        # A resumed run continues the paused one's counts: limits hold across the pause.
        self.resume = resume
        self.paused: Paused | None = None
        self.spent_before = Usage()
        self.seconds_before = 0.0
        if resume is not None:
            state = resume[0]
            self.turn, self.requests, self.tool_calls_started = (
                state.turn,
                state.requests,
                state.tool_calls,
            )
            self.spent_before, self.seconds_before = state.usage, state.seconds
        self.started = 0.0
        self.instrumentation: RunInstrumentation | None = None

    # ------------------------------------------------------------------ plumbing

    async def emit(self, event: AgentEvent) -> None:
        assert self.emitter is not None
        await self.emitter.emit(event)

    async def add_message(self, message: Message) -> None:
        await self.emit(MessageStart(message))
        await self.add_finished(message)

    async def add_finished(self, message: Message) -> None:
        await self.emit(MessageEnd(message))  # commits it, once the listeners have it

    def commit(self, message: Message) -> None:
        self.history.append(message)
        self.new_messages.append(message)
        if self.owner is not None:
            self.owner.message_added(message)

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

    def poll_steering(self) -> list[Message]:
        return self.poll(self.config.get_steering_messages, "get_steering_messages")

    # ------------------------------------------------------------------ the run

    async def produce(self, out: RunStream) -> None:
        listener = self.config.on_event
        hook = installed()  # None unless agentkit.otel is on: one call per run
        if hook is not None:
            self.instrumentation = hook.start_run(self.run_id, self.config, self.owner)
        if self.instrumentation is not None:
            listener = self.instrumentation.listener(listener)
        self.emitter = _Emitter(out, listener, self.commit)
        error: BaseException | None = None
        try:
            with NULL_CONTEXT if self.instrumentation is None else self.instrumentation.run():
                await self._produce(out)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if self.owner is not None:
                self.owner.run_finished(error)

    async def _produce(self, out: RunStream) -> None:
        clock = self.config.clock
        started = self.started = clock()
        if self.owner is not None:
            self.history = list(self.owner.run_starting(self.run_id))
            _check_continuable(self.history, self.prompts)
        if self.resume is not None and tuple(self.history) != self.resume[0].messages:
            raise ResumeError("the conversation has changed since the run paused")
        assert self.emitter is not None
        unregister = self.abort.on_abort(self.emitter.drop_progress)
        self.log.info("run.start")
        try:
            if self.config.limits is not None:
                # Before any event or request: a limit that cannot be checked is refused.
                self.budget = Budget(
                    self.config.limits, self.config.options, clock, started - self.seconds_before
                )
            stop = await self.run()
            if self.exceeded is not None and self.exceeded_raises():
                raise UsageLimitExceeded(self.exceeded)
        except AgentkitError as exc:
            exc.messages, exc.usage = tuple(self.new_messages), self.usage
            self.log.warning("run.failed", error=type(exc).__name__, turns=self.turn)
            raise
        except Exception as exc:
            error = RunError("agent_loop", exc)
            error.messages, error.usage = tuple(self.new_messages), self.usage
            self.log.error("run.failed", error=type(exc).__name__, turns=self.turn)
            raise error from exc
        except BaseException:
            self.log.info("run.cancelled", turns=self.turn)
            raise
        finally:
            unregister()
        result: RunResult[Any] = RunResult(
            tuple(self.new_messages),
            self.usage,
            stop,
            self.exceeded,
            self.paused,
            output=self.output_value,
        )
        await self.emit(AgentEnd(result.messages, result.usage, stop, self.paused))
        out.end(result)
        self.log.info(
            "run.end",
            stop_reason=stop.value,
            turns=self.turn,
            seconds=round(clock() - started, 6),
        )

    def exceeded_raises(self) -> bool:
        return self.config.limits is not None and self.config.limits.on_exceed == "raise"

    def over_limit(self, exceeded: ExceededLimit | None) -> bool:
        """Record the first limit the run hit; true when there is one."""
        if exceeded is not None and self.exceeded is None:
            self.exceeded = exceeded
            self.log.info(
                "run.usage_limit",
                limit=exceeded.limit,
                allowed=exceeded.allowed,
                spent=exceeded.spent,
                projected=exceeded.projected,
            )
        return self.exceeded is not None

    def stop_before_turn(self, more: bool) -> StopReason | None:
        """Why the run cannot take another turn, when it would need one (``more``)."""
        if self.aborted():
            return StopReason.ABORTED
        if more and self.config.max_turns is not None and self.turn >= self.config.max_turns:
            return StopReason.MAX_TURNS
        return None

    async def run(self) -> StopReason:
        config = self.config
        await self.emit(AgentStart(self.run_id))
        # Calls left without results by a stopped run come first: the request needs them.
        unanswered = unanswered_calls(self.history) if self.resume is None else ()
        pending = [*unanswered, *self.prompts, *self.poll_steering()]
        while True:
            self.turn += 1
            await self.emit(TurnStart(self.turn))
            if self.resume is not None:
                resumed_stop = await self.finish_paused_batch(*self.resume)
                self.resume = None
                if resumed_stop is not None:
                    for message in pending:  # steering taken is never dropped
                        await self.add_message(message)
                    await self.emit(TurnEnd(self.turn, None))
                    return resumed_stop
            for message in pending:
                await self.add_message(message)
            if self.aborted():
                await self.emit(TurnEnd(self.turn, None))
                return StopReason.ABORTED
            context = self.request_context()
            budget = self.budget
            if budget is not None and self.over_limit(
                budget.before_request(context, self.spent_before + self.usage, self.requests)
            ):
                await self.emit(TurnEnd(self.turn, None))
                return StopReason.USAGE_LIMIT
            traced = self.instrumentation
            with NULL_CONTEXT if traced is None else traced.model_call(context):
                last = await self.ask_model(context)
            if budget is not None and last.stop_reason is not StopReason.ABORTED:
                self.over_limit(
                    budget.after_response(self.spent_before + self.usage, self.requests)
                )
            results: tuple[ToolResultMessage, ...] = ()
            terminate = False
            pending = []
            if last.tool_calls:
                results, terminate, pending = await self.run_tools(last)
            if self.paused is not None:
                await self.emit(TurnEnd(self.turn, last))
                return StopReason.PAUSED
            retry: list[Message] = []
            if self.output is not None:
                accepted, answered, retry = await self.settle_output(last)
                results += answered
                if accepted:
                    return await self.end_with_output(last, results, terminate, pending)
            more = bool(last.tool_calls or pending or retry)
            stop = self.stop_before_turn(more)
            if self.exceeded is not None and stop is not StopReason.ABORTED:
                stop = StopReason.USAGE_LIMIT
            if stop is None and terminate:
                stop = StopReason.TOOL_TERMINATED
            if stop is None and last.stop_reason is StopReason.ABORTED:
                stop = StopReason.ABORTED
            if stop is not None:
                # Steering taken from the queue is never dropped: it joins the history.
                for message in pending:
                    await self.add_message(message)
                await self.emit(TurnEnd(self.turn, last, results))
                return stop
            await self.emit(TurnEnd(self.turn, last, results))
            if more:
                if not pending:
                    pending = self.poll_steering()
                pending = [*retry, *pending]  # the output's feedback, then what was queued
                continue
            # The model is done; only messages queued since can continue the run.
            if self.stop_before_turn(True) is None:
                pending = self.poll_steering() or self.poll(
                    config.get_follow_up_messages, "get_follow_up_messages"
                )
            if not pending:
                if last.stop_reason in _FINAL_REASONS:
                    return last.stop_reason
                return StopReason.STOP

    async def run_tools(
        self, answer: AssistantMessage
    ) -> tuple[tuple[ToolResultMessage, ...], bool, list[Message]]:
        """Run the answer's calls the limits allow; the others get an error result."""
        calls = self.calls_to_run(answer)
        admitted = len(calls)
        if self.exceeded is not None:
            admitted = 0  # the answer itself crossed a limit: nothing more runs
        elif self.budget is not None:
            admitted, exceeded = self.budget.admit_tool_calls(len(calls), self.tool_calls_started)
            self.over_limit(exceeded)
        results: list[ToolResultMessage] = []
        terminate = False
        steering: list[Message] = []
        if admitted:
            self.tool_calls_started += admitted
            env = self.tool_environment()
            if self.exceeded is not None:  # a run that must stop cannot pause
                env = attrs.evolve(env, unpausable=NOT_RUN_LIMIT.format(self.exceeded.limit))
            batch = await execute_tool_calls(env, calls[:admitted])
            if batch.pending:
                # The finished results join the history now: they are kept, pause or not.
                for result in batch.results:
                    await self.add_message(result)
                await self.decline_output_at_pause(answer)
                self.pause(batch.pending, batch.steering, batch.terminate)
                return (), False, []
            results.extend(batch.results)
            terminate, steering = batch.terminate, list(batch.steering)
        if admitted < len(calls):
            assert self.exceeded is not None
            text = NOT_RUN_LIMIT.format(self.exceeded.limit)
            results.extend(
                ToolResultMessage(call.id, call.name, text, is_error=True)
                for call in calls[admitted:]
            )
        for result in results:
            await self.add_message(result)
        return tuple(results), terminate, steering

    # ------------------------------------------------------------------ pause and resume

    def pause(
        self,
        pending: Sequence[ToolCall],
        steering: Sequence[Message],
        terminate: bool,
    ) -> None:
        """Record the run's state: it ends with ``StopReason.PAUSED`` after this turn."""
        self.paused = Paused(
            run_id=self.run_id,
            # An Agent's run names its class (informative; a resume does not need it).
            agent=getattr(self.owner, "agent_name", ""),
            tools=tuple(t.name for t in self.config.tools),
            fingerprint=tools_fingerprint(self.config.tools),
            messages=tuple(self.history),
            pending=tuple(pending),
            steering=tuple(steering),
            usage=self.spent_before + self.usage,
            turn=self.turn,
            requests=self.requests,
            tool_calls=self.tool_calls_started,
            seconds=self.seconds_before + self.config.clock() - self.started,
            terminate=terminate,
        )
        self.log.info("run.paused", pending=[c.id for c in pending])

    async def finish_paused_batch(
        self, paused: Paused, decisions: dict[str, Approval]
    ) -> StopReason | None:
        """Answer the paused calls as decided, add their results in call order.

        Returns why the run stops here, if it does: an abort, the turn limit,
        or a tool that asked to end the run.
        """
        batch = await execute_tool_calls(
            attrs.evolve(self.tool_environment(), decisions=decisions), paused.pending
        )
        assert not batch.pending  # every call has its decision
        for result in batch.results:
            await self.add_message(result)
        for message in (*paused.steering, *batch.steering):
            await self.add_message(message)
        if self.aborted():
            return StopReason.ABORTED
        if self.config.max_turns is not None and self.turn > self.config.max_turns:
            return StopReason.MAX_TURNS
        if paused.terminate or batch.terminate:
            return StopReason.TOOL_TERMINATED
        return None

    def calls_to_run(self, answer: AssistantMessage) -> tuple[ToolCall, ...]:
        """The answer's tool calls, but those of the output tool (:meth:`settle_output`'s)."""
        output = self.output
        if output is None:
            return answer.tool_calls
        return tuple(c for c in answer.tool_calls if not output.spec.claims(c))

    # ------------------------------------------------------------------ the output

    async def settle_output(
        self, answer: AssistantMessage
    ) -> tuple[bool, tuple[ToolResultMessage, ...], list[Message]]:
        """Judge ``answer`` against the output type: (accepted, output-call results, feedback).

        The output tool's calls get their results here, after the other tools;
        used-up retries end the run with :class:`~agentkit.OutputValidationError`.
        """
        assert self.output is not None
        verdict = self.output.judge(answer, aborted=self.aborted())
        for call, result in verdict.answered:
            await self.emit(ToolExecutionStart(call, final_result=True))
            await self.emit(ToolExecutionEnd(call, result, final_result=True))
            await self.add_message(result)
        if verdict.error is not None:
            self.log.info("run.output_invalid", attempts=verdict.error.attempts)
            raise verdict.error
        if verdict.accepted:
            self.output_value = verdict.value
        elif verdict.retry or any(r.is_error for _, r in verdict.answered):
            self.log.info("run.output_retry", failures=self.output.failures)
        return verdict.accepted, tuple(r for _, r in verdict.answered), list(verdict.retry)

    async def decline_output_at_pause(self, answer: AssistantMessage) -> None:
        """Answer the output tool's calls of a batch that pauses, before the pause is taken.

        Calls waiting for approval come first: the model gives its output again
        once they are answered (the attempt does not count against the retries).
        """
        output = self.output
        if output is None:
            return
        declined = [c for c in answer.tool_calls if output.spec.claims(c)]
        for call in declined:
            result = ToolResultMessage(
                call.id,
                call.name,
                "Not accepted yet: the run paused for a human to approve other tool calls "
                "of this answer. Give the final result again once their results are in.",
                is_error=True,
            )
            await self.emit(ToolExecutionStart(call, final_result=True))
            await self.emit(ToolExecutionEnd(call, result, final_result=True))
            await self.add_message(result)

    async def end_with_output(
        self,
        last: AssistantMessage,
        results: tuple[ToolResultMessage, ...],
        terminate: bool,
        pending: list[Message],
    ) -> StopReason:
        """End the turn and the run that has its output; queued follow-ups wait for the next."""
        stop = self.stop_before_turn(False)
        if stop is None and self.exceeded is not None:
            stop = StopReason.USAGE_LIMIT
        if stop is None and terminate:
            stop = StopReason.TOOL_TERMINATED
        for message in pending:  # steering taken from the queue joins the history
            await self.add_message(message)
        await self.emit(TurnEnd(self.turn, last, results))
        return stop or StopReason.STOP

    def tool_environment(self) -> ToolEnvironment:
        config = self.config
        assert self.emitter is not None
        return ToolEnvironment(
            tools=self.tools,
            emit=self.emitter.emit,
            poll_steering=self.poll_steering,
            abort=self.abort,
            log=self.log.bind(turn=self.turn),
            mode=config.tool_execution,
            timeout=config.tool_timeout,
            before_tool_call=config.before_tool_call,
            after_tool_call=config.after_tool_call,
            around_tool=None if self.instrumentation is None else self.instrumentation.tool_call,
        )

    # ------------------------------------------------------------------ the model

    def request_context(self) -> Context:
        context = Context(self.system, tuple(self.history), self.tool_definitions)
        transform = self.config.transform
        if transform is None:
            return context
        info = TransformInfo(
            self.config.options.model,
            self.config.provider.name,
            self.run_id,
            self.turn,
            seen=self.transform_seen,
            max_tokens=self.options.max_tokens,
        )
        try:
            transformed: object = transform(context, info)
        except Exception as exc:
            raise RunError("transform", exc) from exc
        if not isinstance(transformed, Context):
            kind = type(transformed).__name__
            raise RunError("transform", TypeError(f"a transform returned {kind}, not a Context"))
        return transformed

    async def ask_model(self, context: Context) -> AssistantMessage:
        provider = self.config.provider
        clock = self.config.clock
        started = clock()
        log = self.log.bind(turn=self.turn, provider=provider.name)
        log.debug("provider.request", messages=len(context.messages))
        self.requests += 1
        answer_stream = provider.stream(context, self.options)  # the model effect
        # Structural, as the protocol says: any object that behaves as an AssistantStream.
        missing = [
            name for name in _STREAM_METHODS if not callable(getattr(answer_stream, name, None))
        ]
        if missing:
            raise ProviderError(
                f"provider {provider.name!r}: stream() returned {type(answer_stream).__name__}, "
                f"which is not an AssistantStream (no {', '.join(missing)})"
            )
        try:
            return await self._answer(answer_stream, log, started)
        except ProviderError as exc:
            # A request that failed after the service answered was billed for what it
            # had counted: the run's usage (and so the error's) includes it.
            if exc.request_usage is not None:
                self.usage = self.usage + exc.request_usage
            raise

    async def _answer(
        self, answer_stream: AssistantStream, log: Any, started: float
    ) -> AssistantMessage:
        provider = self.config.provider
        clock = self.config.clock
        start: AssistantMessage | None = None
        async with answer_stream as answer:
            with self.abort.scope():
                async for event in answer:
                    if isinstance(event, StreamStart):
                        start = event.message
                        await self.emit(MessageStart(start))
                        continue
                    if start is None:  # a provider that skipped StreamStart
                        start = self._empty_answer()
                        await self.emit(MessageStart(start))
                    await self.emit(MessageUpdate(event))
            if self.aborted():
                # The provider ends with its own partial answer: thinking stays
                # thinking, a half-streamed tool call is dropped.
                answer_stream.cancel()
            answered: object
            try:
                answered = await answer_stream.result()
            except StreamCancelledError:
                if not self.aborted():
                    raise
                answered = _NO_PARTIAL
        if answered is _NO_PARTIAL:  # a provider that keeps no partial answer
            answered = AssistantMessage(
                (),
                StopReason.ABORTED,
                model=(start or self._empty_answer()).model,
                provider=(start or self._empty_answer()).provider,
            )
        if not isinstance(answered, AssistantMessage):
            raise ProviderError(
                f"provider {provider.name!r} ended its stream with "
                f"{type(answered).__name__}, not an AssistantMessage"
            )
        if start is None:
            await self.emit(MessageStart(self._empty_answer()))
        self.usage = self.usage + answered.usage
        if answered.stop_reason is StopReason.ABORTED:
            log.info("provider.aborted")
        else:
            log.debug(
                "provider.response",
                stop_reason=answered.stop_reason.value,
                input=answered.usage.input,
                output=answered.usage.output,
                cache_read=answered.usage.cache_read,
                cache_write=answered.usage.cache_write,
                seconds=round(clock() - started, 6),
            )
        await self.add_finished(answered)
        return answered

    def _empty_answer(self) -> AssistantMessage:
        return AssistantMessage(
            (), model=self.config.options.model, provider=self.config.provider.name
        )
