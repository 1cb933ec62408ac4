"""AgentWorkflow: agentkit's own loop, run as Temporal workflow code.

:func:`~agentkit.agent_loop` is a deterministic orchestrator over two effects,
"call the model" and "run this tool call". Here both effects are activities
(``_activities.py``); everything else (transforms, hooks, budgets, steering,
the order of results) is the unchanged loop, running on Temporal's workflow
event loop. The loop's only sources of time and identity are fed from
Temporal (``workflow.time()``, ``workflow.uuid4()``).

anyio runs as is on that event loop (it is an asyncio loop), with one
exception this module solves: anyio delivers a cancellation by retrying,
once per loop iteration, until the cancelled task has left its scope. A task
waiting on an activity does not leave until Temporal resolves the activity,
which needs the workflow task to finish, which never happens while anyio keeps
scheduling retries: a livelock (Temporal reports "Potential deadlock").
:meth:`_Activities.run` therefore waits on a *shield* of the activity: a
cancellation (an abort, a tool timeout) ends the wait at once, the activity is
asked to cancel, and the run awaits every such activity after the loop ends,
outside any cancel scope.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    # anyio imports its asyncio backend on first use: done here, outside the
    # sandbox, or the sandbox would re-import it under its restrictions.
    import anyio._backends._asyncio  # noqa: F401
    import attrs

    from agentkit._abort import AbortSignal
    from agentkit._agent import Agent
    from agentkit._errors import AgentkitError, ProviderError, UsageLimitExceeded
    from agentkit._events import AgentEvent, MessageEnd, StreamStart
    from agentkit._limits import UsageLimits
    from agentkit._loop import LoopConfig, RunResult, agent_loop
    from agentkit._messages import (
        AssistantMessage,
        Context,
        Message,
        StopReason,
        Usage,
        message_from_dict,
    )
    from agentkit._pause import Approval, Paused, ResumeError, check_decisions
    from agentkit._stream import EventStream
    from agentkit._tools import Tool, ToolContext, ToolResult
    from agentkit.providers._base import AnswerOut, AssistantStream, ModelOptions
    from agentkit.temporal._activities import tool_result_from_dict
    from agentkit.temporal._codec import (
        decisions_from_dict,
        error_details,
        exceeded_to_dict,
        limits_from_dict,
        rebuild_error,
        result_to_dict,
    )
    from agentkit.temporal._events import answer_deltas, event_to_dict
    from agentkit.temporal._payloads import PayloadTooLargeError, json_size
    from agentkit.temporal._spec import DurableAgent, activity_name, lookup

__all__ = [
    "HISTORY_PAYLOAD_LIMIT",
    "INTERRUPTED",
    "WORKFLOW_NAME",
    "AgentWorkflow",
    "quiet_replays",
]

WORKFLOW_NAME = "agentkit.AgentRun"

#: Temporal's default limit on one payload is 2 MiB; a little is kept for the envelope.
HISTORY_PAYLOAD_LIMIT = 2 * 1024 * 1024 - 16 * 1024

INTERRUPTED = (
    "Interrupted: the worker running tool {name!r} was lost before it finished. The tool "
    "is not idempotent, so it was not run again; it may or may not have taken effect."
)
FAILED = "Tool {name!r} could not be run: {cause}."

EVENTS_PAGE = 256  # events per query reply: a reply stays far below the payload limit

_NO_TIMEOUT = timedelta(days=1)  # Temporal needs a bound; a tool without one gets a day
_MARGIN = timedelta(seconds=30)  # the loop's own timer fires first, with its usual result


class _ReplayFilter(logging.Filter):
    """Drops the library's log records while a workflow replays: they were logged the first time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (workflow.in_workflow() and workflow.unsafe.is_replaying())


_REPLAY_FILTER = _ReplayFilter()
# The loggers of the code that runs in the workflow (the stdlib path of agentkit._log).
_WORKFLOW_LOGGERS = (
    "agentkit.loop",
    "agentkit.stream",
    "agentkit.tools",
    "agentkit.transforms",
    "agentkit.messages",
)


def quiet_replays() -> None:
    """Keep replays out of the logs (idempotent; called when a worker or replayer is made)."""
    for name in _WORKFLOW_LOGGERS:
        logger = logging.getLogger(name)
        if _REPLAY_FILTER not in logger.filters:
            logger.addFilter(_REPLAY_FILTER)


class _Activities:
    """Starts the run's activities and keeps the ones that may still be running."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Task[Any]] = set()

    async def run(self, handle: asyncio.Task[Any]) -> Any:
        self.pending.add(handle)
        handle.add_done_callback(self.pending.discard)
        try:
            return await asyncio.shield(handle)
        except asyncio.CancelledError:
            handle.cancel()  # a request to the server: the activity hears it at its heartbeat
            raise

    async def settle(self) -> None:
        """Wait until every cancelled activity has stopped (or its worker is known lost)."""
        while self.pending:
            await asyncio.wait(set(self.pending))


def _check_size(what: str, value: Any) -> None:
    size = json_size(value)
    if size > HISTORY_PAYLOAD_LIMIT:
        raise PayloadTooLargeError(what, size, HISTORY_PAYLOAD_LIMIT)


def _cause(exc: ActivityError) -> BaseException | None:
    return exc.cause


class _ActivityModel:
    """The workflow's provider: each request is one model activity."""

    def __init__(self, spec: DurableAgent, provider: Any, activities: _Activities) -> None:
        self._spec = spec
        self._name: str = provider.name
        self._provider = provider  # the worker's: asked only what it supports, never to call
        self._activities = activities

    def supports_native_output(self, model: str) -> bool:
        """What the worker's provider says: "native" typed output needs it."""
        check = getattr(self._provider, "supports_native_output", None)
        return callable(check) and check(model) is True

    @property
    def name(self) -> str:
        return self._name  # the worker's provider name: transforms see what they would in-process

    def stream(self, context: Context, options: ModelOptions) -> AssistantStream:
        spec = self._spec

        async def produce(out: AnswerOut) -> None:
            request: dict[str, Any] = {"context": context.to_dict()}
            if options.output_schema is not None:  # "native" typed output: the service needs it
                request["output_schema"] = options.output_schema
            _check_size("the model request", request)
            handle = workflow.start_activity(
                activity_name(spec.workflow_name),
                request,
                start_to_close_timeout=spec.model_timeout,
                heartbeat_timeout=spec.heartbeat_timeout,
                retry_policy=RetryPolicy(maximum_attempts=spec.model_attempts),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            try:
                reply = await self._activities.run(handle)
            except ActivityError as exc:
                raise _model_error(exc) from None
            answer = AssistantMessage.from_dict(reply["answer"])
            start = AssistantMessage(
                (), model=answer.model, provider=answer.provider, response_id=answer.response_id
            )
            await out.push(StreamStart(start))
            for delta in answer_deltas(answer):  # the answer arrived whole: one delta per block
                await out.push(delta)
            out.end(answer)

        return EventStream(produce, name=f"{spec.workflow_name}.model")


def _model_error(exc: ActivityError) -> AgentkitError:
    cause = _cause(exc)
    if isinstance(cause, ApplicationError) and cause.type == "PayloadTooLargeError":
        what, size, limit = cause.details
        return PayloadTooLargeError(str(what), int(size), int(limit))
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        error = rebuild_error(cause.type, cause.message, details)
        if isinstance(error, ProviderError):
            return error
        return ProviderError(f"{cause.type}: {cause.message}")
    # Attempts used up by lost workers or timeouts: retrying the run may help.
    return ProviderError(f"the model activity failed: {cause or exc}", retryable=True)


def _durable_tool(
    spec: DurableAgent, tool: Tool, default_timeout: float | None, activities: _Activities
) -> Tool:
    """``tool`` with the same name, schema and options, run as an activity."""
    idempotent = tool.name not in spec.not_idempotent
    timeout = tool.timeout if tool.timeout is not None else default_timeout
    start_to_close = _NO_TIMEOUT if timeout is None else timedelta(seconds=timeout) + _MARGIN

    async def run(arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        request = {"id": context.call.id, "name": tool.name, "arguments": arguments}
        _check_size(f"the arguments of tool {tool.name!r}", request)
        handle = workflow.start_activity(
            activity_name(spec.workflow_name, tool.name),
            request,
            start_to_close_timeout=start_to_close,
            heartbeat_timeout=spec.heartbeat_timeout,
            retry_policy=RetryPolicy(maximum_attempts=spec.tool_attempts if idempotent else 1),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        try:
            reply = await activities.run(handle)
        except ActivityError as exc:
            cause = _cause(exc)
            if isinstance(cause, ApplicationError) and cause.type == "PayloadTooLargeError":
                what, size, limit = cause.details
                raise PayloadTooLargeError(str(what), int(size), int(limit)) from None
            if not idempotent and isinstance(cause, TimeoutError):
                return ToolResult(INTERRUPTED.format(name=tool.name), is_error=True)
            return ToolResult(FAILED.format(name=tool.name, cause=cause or exc), is_error=True)
        return tool_result_from_dict(reply)

    return attrs.evolve(
        tool, fn=run, raw=True, is_async=True, context_param=None, converters=(), unbound=False
    )


def _messages(raw: Sequence[Any]) -> tuple[Message, ...]:
    return tuple(message_from_dict(item) for item in raw)


@workflow.defn(name=WORKFLOW_NAME)
class AgentWorkflow:
    """One run of a durable agent: ``agent_loop`` as workflow code.

    Its input names the agent (``DurableAgent.workflow_name``) and carries the
    prompt, the history to continue and the run's limits; its result is the
    :class:`~agentkit.RunResult` as a dict. Signals ``steer``, ``follow_up``
    (a message dict each) and ``abort`` act as :meth:`Agent.steer`,
    :meth:`Agent.follow_up` and :meth:`Agent.abort` do; queries ``messages``,
    ``usage`` and ``events`` (from an offset) read the run so far. A run that
    pauses for approval waits (a workflow condition: no activity, no timer)
    until the update ``decide`` brings decisions that pass
    :func:`~agentkit._pause.check_decisions` (its validator rejects the others
    before they reach the history), then resumes; the query ``paused`` reads
    the state it waits in. Use :func:`start_run` rather than starting it by hand.
    """

    @workflow.init
    def __init__(self, request: dict[str, Any]) -> None:
        self._abort = AbortSignal()
        self._steering: list[Message] = []
        self._follow_ups: list[Message] = []
        self._messages: list[Message] = []
        self._usage = Usage()
        self._activities = _Activities()
        self._events: list[dict[str, Any]] = []
        self._finished = False
        self._tools: tuple[Tool, ...] = ()
        self._paused: Paused | None = None
        self._decisions: dict[str, Approval] | None = None

    @workflow.signal(name="steer")
    def steer(self, message: dict[str, Any]) -> None:
        self._steering.append(message_from_dict(message))

    @workflow.signal(name="follow_up")
    def follow_up(self, message: dict[str, Any]) -> None:
        self._follow_ups.append(message_from_dict(message))

    @workflow.signal(name="abort")
    def abort(self) -> None:
        self._abort.abort()

    @workflow.update(name="decide")
    def decide(self, decisions: dict[str, Any]) -> list[str]:
        """Resume the paused run with ``decisions``; returns the ids of the calls decided."""
        paused = self._paused
        assert paused is not None  # the validator let it through
        self._decisions = decisions_from_dict(decisions)
        self._paused = None  # a second update for this pause is refused
        return [call.id for call in paused.pending]

    @decide.validator
    def _check_decide(self, decisions: dict[str, Any]) -> None:
        # Runs before the update is accepted: a refused one leaves no trace in the history.
        try:
            if self._paused is None:
                raise ResumeError("the run is not waiting for approval")
            check_decisions(self._paused, decisions_from_dict(decisions), self._tools)
        except ResumeError as exc:
            raise ApplicationError(str(exc), type="ResumeError", non_retryable=True) from None

    @workflow.query(name="paused")
    def paused(self) -> dict[str, Any] | None:
        return None if self._paused is None else self._paused.to_dict()

    @workflow.query(name="messages")
    def messages(self) -> list[dict[str, Any]]:
        return [message.to_dict() for message in self._messages]

    @workflow.query(name="events")
    def events(self, offset: int) -> dict[str, Any]:
        """The run's events from ``offset`` on (at most a page), and whether it has finished."""
        page = self._events[offset : offset + EVENTS_PAGE]
        return {"events": page, "next": offset + len(page), "finished": self._finished}

    @workflow.query(name="usage")
    def usage(self) -> dict[str, Any]:
        return self._usage.to_dict()

    def _take_steering(self) -> list[Message]:
        taken, self._steering = self._steering, []
        return taken

    def _take_follow_ups(self) -> list[Message]:
        taken, self._follow_ups = self._follow_ups, []
        return taken

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        info = workflow.info()
        # The queue the run was started on, not info.task_queue: a Replayer has its own.
        task_queue = request.get("task_queue") or info.task_queue
        spec = lookup(task_queue, request["agent"])
        if spec is None:
            raise ApplicationError(
                f"agent {request['agent']!r} is not registered on task queue {task_queue!r}",
                type="UnknownAgent",
                non_retryable=True,
            )
        try:
            return await self._run(spec, request)
        finally:
            self._finished = True

    async def _run(self, spec: DurableAgent, request: dict[str, Any]) -> dict[str, Any]:
        info = workflow.info()
        try:
            config = self._config(spec, limits_from_dict(request.get("limits")))
            stream = agent_loop(
                config,
                _messages(request.get("history", ())),
                _messages(request.get("prompt", ())),
                run_id=request.get("run_id") or info.workflow_id,
            )
            try:
                result = await stream.result()
                while result.paused is not None and not self._abort.aborted:
                    result = _joined(result, await self._resume(config, result.paused))
            finally:
                await self._activities.settle()
            output = result_to_dict(result)
            _check_size("the run's result", output)
        except UsageLimitExceeded as exc:
            raise _failure(exc, exceeded=exceeded_to_dict(exc.exceeded)) from None
        except AgentkitError as exc:
            raise _failure(exc) from None
        except (ValueError, TypeError) as exc:  # a bad request: no retry can mend it
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        return output

    async def _resume(self, config: LoopConfig, paused: Paused) -> RunResult:
        """Wait durably for decisions on ``paused``, then run on; an abort ends the wait."""
        self._paused = paused
        await workflow.wait_condition(lambda: self._decisions is not None or self._abort.aborted)
        decisions, self._decisions, self._paused = self._decisions, None, None
        if decisions is None:  # aborted while waiting: the run ends paused, resumable elsewhere
            return RunResult((), Usage(), StopReason.PAUSED, None, paused)
        return await agent_loop(config, paused=paused, decisions=decisions).result()

    def _config(self, spec: DurableAgent, limits: UsageLimits | None) -> LoopConfig:
        agent = spec.instance()
        _see_module_of(agent.output_type)
        base = agent._loop_config(self._abort, limits)
        provider = agent.provider
        assert provider is not None
        activities = self._activities
        user_on_event = agent.on_event if type(agent).on_event is not Agent.on_event else None

        async def on_event(event: AgentEvent) -> None:
            self._events.append(event_to_dict(event))
            if isinstance(event, MessageEnd):
                self._messages.append(event.message)
                if isinstance(event.message, AssistantMessage):
                    self._usage = self._usage + event.message.usage
            if user_on_event is not None:
                await user_on_event(event)

        self._tools = tuple(
            _durable_tool(spec, t, base.tool_timeout, activities) for t in base.tools
        )
        return attrs.evolve(
            base,
            provider=_ActivityModel(spec, provider, activities),
            tools=self._tools,
            on_event=on_event,
            get_steering_messages=self._take_steering,
            get_follow_up_messages=self._take_follow_ups,
            clock=workflow.time,
            new_id=lambda: workflow.uuid4().hex[:16],
        )


def _see_module_of(output_type: Any) -> None:
    """Let the sandbox see the module of the output type, to resolve its annotations.

    The worker imported it already; in the sandbox only the passed-through
    modules are, and ``from __future__ import annotations`` needs the module.
    """
    module = getattr(output_type, "__module__", None)
    if isinstance(module, str) and module not in sys.modules:
        with workflow.unsafe.imports_passed_through():
            __import__(module)  # the sandbox's import hook: importlib would bypass it


def _joined(first: RunResult, then: RunResult) -> RunResult:
    """One result for a run and its resumption: both runs' messages and usage, the last's end."""
    return attrs.evolve(
        then, messages=first.messages + then.messages, usage=first.usage + then.usage
    )


def _failure(exc: AgentkitError, **extra: Any) -> ApplicationError:
    details = {
        "messages": [message.to_dict() for message in exc.messages],
        "usage": (exc.usage or Usage()).to_dict(),
        **error_details(exc),
        **extra,
    }
    return ApplicationError(str(exc), details, type=type(exc).__name__, non_retryable=True)
