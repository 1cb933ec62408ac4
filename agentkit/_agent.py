"""Agent: the stateful class users subclass.

An agent holds a conversation and runs :func:`~agentkit.agent_loop` on it::

    class Helper(Agent):
        model = "anthropic/claude-sonnet-4.5"
        system_prompt = "You are terse."

        @tool
        def add(self, a: int, b: int) -> int:
            "Add two numbers."
            return a + b

    helper = Helper(provider=OpenRouterProvider())
    result = await helper.run("What is 2 + 3?")

Class attributes give defaults; constructor arguments override them per
instance. Hooks are methods to override; the ones left alone cost nothing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin, overload

import anyio
import attrs
from attrs import define

from agentkit._abort import AbortSignal
from agentkit._errors import AgentBusyError, ToolDefinitionError, UnsupportedOutputError
from agentkit._events import (
    AgentEnd,
    AgentEvent,
    MessageEnd,
    MessageStart,
    ToolExecutionEnd,
    ToolExecutionStart,
)
from agentkit._limits import UsageLimits
from agentkit._loop import (
    EventListener,
    LoopConfig,
    OutT,
    RunResult,
    RunStream,
    agent_loop,
    prompt_messages,
    unanswered_calls,
)
from agentkit._messages import (
    AssistantMessage,
    Context,
    Message,
    TextContent,
    ToolCall,
    UserMessage,
)
from agentkit._output import DEFAULT_OUTPUT_RETRIES, OutputMode
from agentkit._pause import Approval, Paused, ResumeError
from agentkit._stream import EventStream
from agentkit._tool_execution import ToolCallDecision
from agentkit._tool_sources import ToolSource, merge_tools
from agentkit._tools import Tool, ToolResult, collect_tools
from agentkit.providers._base import ModelOptions, Provider, ReasoningOptions
from agentkit.transforms._caching import CacheBreakpoints, cache_breakpoints
from agentkit.transforms._pipeline import Pipeline, Transform, TransformInfo

__all__ = ["Agent", "AgentState"]


@define(frozen=True, slots=True)
class AgentState:
    """A snapshot of an agent: its conversation and what it is doing."""

    messages: tuple[Message, ...]
    is_running: bool
    streaming_message: AssistantMessage | None
    pending_tool_calls: frozenset[str]
    error: BaseException | None


def _as_message(message: str | Message) -> Message:
    return UserMessage(message) if isinstance(message, str) else message


class Agent(Generic[OutT]):
    """A conversation with a model and its tools. Subclass it, or configure an instance.

    Set ``model``, ``system_prompt`` and the options as class attributes;
    define tools as ``@tool`` methods. Override the hooks
    :meth:`transform_context`, :meth:`before_tool_call`,
    :meth:`after_tool_call` and :meth:`on_event` to change behaviour.

    ``Agent[T]`` is an agent whose runs end with a value of type ``T``
    (``result.output``): subclass ``Agent[T]`` (``output_type`` is then
    ``T``), or pass ``output_type=T``. Without one, the output is the text.
    """

    provider: ClassVar[Provider | None] = None
    model: ClassVar[str] = ""
    system_prompt: ClassVar[str | Sequence[TextContent]] = ""
    max_tokens: ClassVar[int | None] = None
    temperature: ClassVar[float | None] = None
    reasoning: ClassVar[ReasoningOptions | None] = None
    stop: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    max_turns: ClassVar[int | None] = 100
    tool_execution: ClassVar[Literal["parallel", "sequential"]] = "parallel"
    tool_timeout: ClassVar[float | None] = 300.0
    limits: ClassVar[UsageLimits | None] = None
    caching: ClassVar[CacheBreakpoints] = cache_breakpoints
    transforms: ClassVar[Sequence[Transform]] = ()
    output_type: ClassVar[Any] = None
    output_mode: ClassVar[OutputMode] = "tool"
    output_retries: ClassVar[int] = DEFAULT_OUTPUT_RETRIES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _output_type_from_base(cls)
        # A tool method named like an Agent attribute would silently replace it.
        for attr, value in vars(cls).items():
            if isinstance(value, Tool) and hasattr(Agent, attr):
                raise ToolDefinitionError(
                    f"{cls.__qualname__}: the tool method {attr!r} would replace "
                    f"Agent.{attr}; give it another name (@tool(name={attr!r}) keeps "
                    "the name the model sees)"
                )

    @overload
    def __init__(
        self: Agent[OutT],
        provider: Provider | None = None,
        *,
        output_type: type[OutT],
        model: str | None = None,
        system_prompt: str | Sequence[TextContent] | None = None,
        tools: Sequence[Tool] = (),
        messages: Sequence[Message] = (),
        **options: Any,
    ) -> None: ...

    @overload
    def __init__(
        self,
        provider: Provider | None = None,
        *,
        model: str | None = None,
        system_prompt: str | Sequence[TextContent] | None = None,
        tools: Sequence[Tool] = (),
        messages: Sequence[Message] = (),
        **options: Any,
    ) -> None: ...

    def __init__(
        self,
        provider: Provider | None = None,
        *,
        model: str | None = None,
        system_prompt: str | Sequence[TextContent] | None = None,
        tools: Sequence[Tool] = (),
        mcp_servers: Sequence[ToolSource] = (),
        messages: Sequence[Message] = (),
        **options: Any,
    ) -> None:
        """``output_type`` (like every option) overrides the class attribute for this agent.

        A type that is not a class (a ``Literal``, a union) cannot set ``T``
        by inference: annotate, ``agent: Agent[Color] = Agent(..., output_type=Color)``.
        """
        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            raise TypeError(f"unknown Agent option(s): {', '.join(unknown)}")
        chosen = provider or type(self).provider
        if chosen is None:
            raise TypeError(f"{type(self).__name__} needs a provider: pass provider=...")
        if not isinstance(chosen, Provider):
            raise TypeError(f"provider must implement the Provider protocol, got {chosen!r}")
        # Instance attributes shadow the class defaults.
        self._provider: Provider = chosen
        self.provider = chosen  # type: ignore[misc]
        if model is not None:
            self.model = model  # type: ignore[misc]
        if system_prompt is not None:
            self.system_prompt = system_prompt  # type: ignore[misc]
        for name, value in options.items():
            setattr(self, name, value)
        if not self.model:
            raise TypeError(f"{type(self).__name__} needs a model: set model=...")
        self._tools: tuple[Tool, ...] = (*collect_tools(self), *tools)
        # Servers lend their current tools to each run (see agentkit.mcp).
        self._mcp_servers = tuple(mcp_servers)
        self._messages: list[Message] = list(messages)
        self._steering: list[Message] = []
        self._follow_ups: list[Message] = []
        self._listeners: list[EventListener] = []
        self._error: BaseException | None = None
        self._active: _AgentRun | None = None  # the run whose producer is running
        # The last stream prompt() returned, until it starts; held weakly, so a
        # stream dropped unused frees the agent without any finalizer.
        self._pending: weakref.ref[RunStream] | None = None
        self._streaming: AssistantMessage | None = None
        self._pending_calls: set[str] = set()
        self._idle_waiters: list[anyio.Event] = []
        self._loop_config(AbortSignal())  # bad options fail here, naming the problem

    def __repr__(self) -> str:
        state = "running" if self._busy() else "idle"
        return (
            f"<{type(self).__name__} model={self.model!r} provider={self._provider.name!r} "
            f"{len(self._messages)} messages, {state}>"
        )

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> AgentState:
        """A read-only snapshot of the conversation and the run in progress."""
        return AgentState(
            tuple(self._messages),
            self._busy(),
            self._streaming,
            frozenset(self._pending_calls),
            self._error,
        )

    @property
    def messages(self) -> tuple[Message, ...]:
        """The conversation so far."""
        return tuple(self._messages)

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The tools the model may call: its own, then its MCP servers' current ones."""
        return merge_tools(self._tools, self._mcp_servers) if self._mcp_servers else self._tools

    def reset(self) -> None:
        """Forget the conversation, queued messages and the last error."""
        self._check_idle("reset")
        self._messages.clear()
        self._steering.clear()
        self._follow_ups.clear()
        self._error = None

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` with every event of every run; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # ------------------------------------------------------------------ running

    def prompt(
        self,
        message: str | Message | Sequence[Message] | None = None,
        *,
        limits: UsageLimits | None = None,
    ) -> EventStream[AgentEvent, RunResult[OutT]]:
        """Start a run answering ``message``; returns its event stream (started on first use).

        With no ``message`` the run continues the conversation as it is: after
        an error or an abort, or to answer queued steering and follow-ups.
        ``limits`` replaces the agent's ``limits`` for this run.
        """
        if message is None:
            return self._continue(limits)
        prompts = prompt_messages(message)
        if not prompts:
            raise ValueError("prompt() needs at least one message, or None to continue")
        return self._start(prompts, limits)

    def _continue(self, limits: UsageLimits | None) -> EventStream[AgentEvent, RunResult[OutT]]:
        if not self._messages:
            raise ValueError("there is no conversation to continue: pass a message")
        if isinstance(self._messages[-1], AssistantMessage) and not unanswered_calls(
            self._messages
        ):
            queued = self._steering or self._follow_ups
            if not queued:
                raise ValueError(
                    "the conversation ends with an answer and nothing is queued: pass a message"
                )
            message = queued.pop(0)
            return self._start((message,), limits)
        return self._start((), limits)

    async def run(
        self,
        message: str | Message | Sequence[Message] | None = None,
        *,
        limits: UsageLimits | None = None,
    ) -> RunResult[OutT]:
        """Run to the end and return the result (events go to listeners only).

        ``message`` is as for :meth:`prompt` (None continues); ``limits``
        replaces the agent's ``limits`` for this run. It returns, raises or is
        cancelled only once the run's work has stopped: tools' cleanup has run,
        the HTTP response is closed, the agent is idle. ``result.output`` is
        the typed output (the text without an ``output_type``).
        """
        async with self.prompt(message, limits=limits) as stream:
            return await stream.result()

    def resume_stream(
        self,
        paused: Paused,
        decisions: Mapping[str, Approval],
        *,
        limits: UsageLimits | None = None,
    ) -> EventStream[AgentEvent, RunResult[OutT]]:
        """Continue a paused run with an :class:`~agentkit.Approval` per pending call id.

        Returns the run's event stream, like :meth:`prompt`. The agent's
        conversation must be empty (a new agent, another process: it takes
        ``paused.messages``) or the one that paused. Decisions that do not fit
        the pending calls, or tools that differ from the paused run's, raise
        :class:`~agentkit.ResumeError` before anything runs.
        """
        self._check_idle("resume")
        if not isinstance(paused, Paused):
            raise ResumeError(f"resume needs a Paused value, got {type(paused).__name__}")
        if self._messages and tuple(self._messages) != paused.messages:
            raise ResumeError("this agent's conversation is not the one that paused")
        run = _AgentRun(self, AbortSignal(), adopt=paused.messages)
        config = self._loop_config(run.abort, limits)
        run.stream = agent_loop(config, owner=run, paused=paused, decisions=decisions)
        self._pending = weakref.ref(run.stream)
        return run.stream

    async def resume(
        self,
        paused: Paused,
        decisions: Mapping[str, Approval],
        *,
        limits: UsageLimits | None = None,
    ) -> RunResult[OutT]:
        """Continue a paused run to its end (see :meth:`resume_stream`), like :meth:`run`."""
        async with self.resume_stream(paused, decisions, limits=limits) as stream:
            return await stream.result()

    def steer(self, message: str | Message) -> None:
        """Queue a message for the current run, delivered after the running tools."""
        self._steering.append(_as_message(message))

    def follow_up(self, message: str | Message) -> None:
        """Queue a message to answer when the current run would otherwise end."""
        self._follow_ups.append(_as_message(message))

    def abort(self) -> None:
        """Stop the current run now; it ends with ``StopReason.ABORTED``."""
        if self._active is not None:
            self._active.abort.abort()

    async def wait_for_idle(self) -> None:
        """Return once no run is active and the last one's work has stopped."""
        while self._active is not None:
            waiter = anyio.Event()
            self._idle_waiters.append(waiter)
            await waiter.wait()

    def _busy(self) -> bool:
        # A run whose consumer has left (``break``) is only winding down: it can no
        # longer add to the conversation, so it does not hold the agent.
        active = self._active
        if active is not None and not active.stream.consumer_closed:
            return True
        pending = self._pending() if self._pending is not None else None
        return pending is not None and not pending.done

    def _check_idle(self, action: str) -> None:
        if self._busy():
            raise AgentBusyError(
                f"cannot {action}: a run is active; await it, steer() it, or abort() it"
            )

    def _start(self, prompts: tuple[Message, ...], limits: UsageLimits | None) -> RunStream:
        self._check_idle("start a run")
        run = _AgentRun(self, AbortSignal())
        config = self._loop_config(run.abort, limits, self.tools)
        run.stream = agent_loop(config, prompt=prompts, owner=run)
        self._pending = weakref.ref(run.stream)
        return run.stream

    def _run_started(self, run: _AgentRun) -> Sequence[Message]:
        if self._pending is not None and self._pending() is run.stream:
            self._pending = None
        if self._busy():
            raise AgentBusyError("cannot start a run: another run of this agent is active")
        self._active, self._error = run, None
        return tuple(self._messages)

    def _run_finished(self, run: _AgentRun, error: BaseException | None) -> None:
        if self._active is not run:
            return
        # A consumer that left (or was cancelled) is not a failure of the run.
        if isinstance(error, Exception) and not run.stream.consumer_closed:
            self._error = error
        self._active = None
        self._streaming = None
        self._pending_calls.clear()
        for waiter in self._idle_waiters:
            waiter.set()
        self._idle_waiters.clear()

    def _loop_config(
        self,
        abort: AbortSignal,
        limits: UsageLimits | None = None,
        tools: tuple[Tool, ...] | None = None,
    ) -> LoopConfig:
        cls = type(self)
        options = {name: getattr(self, name) for name in _LOOP_OPTIONS}
        if limits is not None:
            options["limits"] = limits
        return LoopConfig(
            provider=self._provider,
            options=self._model_options(),
            system_prompt=self.system_prompt,
            tools=self._tools if tools is None else tools,
            transform=self._build_transform_context(),
            before_tool_call=(
                self.before_tool_call if _overrides(cls, "before_tool_call") else None
            ),
            after_tool_call=self.after_tool_call if _overrides(cls, "after_tool_call") else None,
            on_event=self._handle_event,
            get_steering_messages=self._take_steering,
            get_follow_up_messages=self._take_follow_ups,
            abort=abort,
            **options,
        )

    def _model_options(self) -> ModelOptions:
        chosen = {name: getattr(self, name) for name in _MODEL_OPTIONS}
        chosen["extra"] = dict(chosen["extra"])  # the class default is read-only
        return ModelOptions(model=self.model, **chosen)

    def _build_transform_context(self) -> Pipeline:
        """The pipeline run before each provider call: defaults, ``transforms``, then the hook."""
        # Caching first: a later transform that appends volatile text then lands after
        # the last marker instead of under it (see docs/concepts/transforms.md).
        steps: list[Transform] = [self.caching, *self.transforms]
        if _overrides(type(self), "transform_context"):
            steps.append(self.transform_context)
        return Pipeline(tuple(steps))

    def _take_steering(self) -> list[Message]:
        taken, self._steering = self._steering, []
        return taken

    def _take_follow_ups(self) -> list[Message]:
        taken, self._follow_ups = self._follow_ups, []
        return taken

    async def _handle_event(self, event: AgentEvent) -> None:
        if isinstance(event, MessageStart):
            if isinstance(event.message, AssistantMessage):
                self._streaming = event.message
        elif isinstance(event, MessageEnd):
            if isinstance(event.message, AssistantMessage):
                self._streaming = None
        elif isinstance(event, ToolExecutionStart):
            self._pending_calls.add(event.call.id)
        elif isinstance(event, ToolExecutionEnd):
            self._pending_calls.discard(event.call.id)
        elif isinstance(event, AgentEnd):
            self._streaming = None
        for listener in tuple(self._listeners):
            pending = listener(event)
            if pending is not None:
                await pending
        if _overrides(type(self), "on_event"):
            await self.on_event(event)

    # ------------------------------------------------------------------ hooks

    def transform_context(self, context: Context, info: TransformInfo) -> Context:
        """Rewrite the context before a provider call; runs after the default transforms."""
        return context

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        """Decide on a tool call before it runs: None to run it, or a :class:`ToolCallDecision`."""
        return None

    async def after_tool_call(self, call: ToolCall, result: ToolResult) -> ToolResult | None:
        """See a tool's result before the model does; return a new result to replace it."""
        return None

    async def on_event(self, event: AgentEvent) -> None:
        """Called with every event of every run, after the agent's state is updated."""


# Every ModelOptions field but the model, and the LoopConfig limits, are Agent
# options of the same name: derived from the fields, so none can be forgotten.
# ``output_schema`` is set by the loop, from the output type.
_MODEL_OPTIONS = tuple(
    f.name for f in attrs.fields(ModelOptions) if f.name not in ("model", "output_schema")
)
_LOOP_OPTIONS = (
    "max_turns",
    "tool_execution",
    "tool_timeout",
    "limits",
    "output_type",
    "output_mode",
    "output_retries",
)
_OPTION_NAMES = frozenset({*_MODEL_OPTIONS, *_LOOP_OPTIONS, "transforms", "caching"})


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(Agent, name)


def _output_type_from_base(cls: type) -> None:
    """``class X(Agent[T])`` sets ``output_type = T``; a different ``output_type`` is refused."""
    for base in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, Agent)):
            continue
        (argument,) = get_args(base) or (None,)
        if argument is None or isinstance(argument, TypeVar) or argument is Any:
            continue
        declared = vars(cls).get("output_type")
        if declared is None:
            setattr(cls, "output_type", None if argument is str else argument)  # noqa: B010
        elif declared != argument:
            raise UnsupportedOutputError(
                f"{cls.__qualname__}: output_type {declared!r} differs from the type parameter "
                f"of {base!r}"
            )


class _AgentRun:
    """One run of an agent: the agent's side of :class:`~agentkit._loop.RunOwner`."""

    __slots__ = ("abort", "adopt", "agent", "stream")

    def __init__(
        self, agent: Agent[Any], abort: AbortSignal, adopt: tuple[Message, ...] | None = None
    ) -> None:
        self.agent = agent
        self.abort = abort
        self.adopt = adopt  # a resume's conversation, taken by an agent that has none
        self.stream: RunStream

    @property
    def agent_name(self) -> str:
        """The agent's class, for :attr:`Paused.agent`."""
        cls = type(self.agent)
        return f"{cls.__module__}.{cls.__qualname__}"

    def run_starting(self, run_id: str) -> Sequence[Message]:
        history = self.agent._run_started(self)
        if self.adopt is not None and not history:
            self.agent._messages[:] = self.adopt
            return self.adopt
        return history

    def message_added(self, message: Message) -> None:
        # A run winding down after its consumer left never writes over a newer run.
        if self.agent._active is self:
            self.agent._messages.append(message)

    def run_finished(self, error: BaseException | None) -> None:
        self.agent._run_finished(self, error)
