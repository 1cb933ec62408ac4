"""Starting durable runs (the client side) and serving them (the worker side)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agentkit._agent import Agent
from agentkit._errors import AgentkitError, UsageLimitExceeded
from agentkit._events import (
    AgentEnd,
    AgentEvent,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
)
from agentkit._limits import UsageLimits
from agentkit._loop import RunResult, prompt_messages
from agentkit._messages import Message, ToolCall, Usage, UserMessage, message_from_dict
from agentkit._pause import Approval, Paused, ResumeError
from agentkit.temporal._activities import BEAT, make_activities
from agentkit.temporal._codec import (
    DurableRunError,
    decisions_to_dict,
    exceeded_from_dict,
    limits_to_dict,
    rebuild_error,
    result_from_dict,
)
from agentkit.temporal._events import event_from_dict
from agentkit.temporal._payloads import PayloadTooLargeError
from agentkit.temporal._spec import DurableAgent, register
from agentkit.temporal._workflow import WORKFLOW_NAME, AgentWorkflow, quiet_replays

__all__ = ["DurableRun", "DurableRunError", "create_replayer", "create_worker", "start_run"]

# Passed through the workflow sandbox, not re-imported in it: the workflow must
# see the worker's registry of agents (one module state), and re-importing the
# library for every workflow run would cost more than the run. The library's
# own imports are the real modules already; these are the ones it may import lazily.
PASSTHROUGH = (
    "agentkit",
    "anyio",
    "sniffio",
    "attr",
    "attrs",
    "jsonschema",
    "jsonschema_specifications",
    "referencing",
    "rpds",
    "httpx",
    "httpcore",
    "h11",
    "idna",
    "certifi",
)


def _spec(agent: DurableAgent | type[Agent]) -> DurableAgent:
    return agent if isinstance(agent, DurableAgent) else DurableAgent(agent)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandboxed runner with agentkit and its dependencies passed through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def create_worker(
    client: Client,
    task_queue: str,
    agents: Sequence[DurableAgent | type[Agent]],
    **options: Any,
) -> Worker:
    """A Temporal worker that runs ``agents`` (workflows and activities) on ``task_queue``.

    ``options`` go to :class:`temporalio.worker.Worker`; ``workflows`` and
    ``activities`` given there are served alongside the agents'. Heartbeats go
    to the server at most a second apart by default
    (``max_heartbeat_throttle_interval``), so an abort or a tool timeout
    reaches a running call within about a second.
    """
    specs = [_spec(agent) for agent in agents]
    if not specs:
        raise ValueError("create_worker needs at least one agent")
    names = [spec.workflow_name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two agents share a name on {task_queue!r}: {sorted(names)}")
    register(task_queue, specs)
    quiet_replays()
    activities = [fn for spec in specs for fn in make_activities(spec)]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AgentWorkflow, *options.pop("workflows", ())],
        activities=[*activities, *options.pop("activities", ())],
        workflow_runner=options.pop("workflow_runner", workflow_runner()),
        max_heartbeat_throttle_interval=options.pop("max_heartbeat_throttle_interval", BEAT),
        **options,
    )


def create_replayer(
    task_queue: str, agents: Sequence[DurableAgent | type[Agent]], **options: Any
) -> Replayer:
    """A :class:`temporalio.worker.Replayer` for histories of ``agents`` run on ``task_queue``."""
    register(task_queue, [_spec(agent) for agent in agents])
    quiet_replays()
    return Replayer(
        workflows=[AgentWorkflow, *options.pop("workflows", ())],
        workflow_runner=options.pop("workflow_runner", workflow_runner()),
        **options,
    )


def _message(message: str | Message) -> dict[str, Any]:
    return (UserMessage(message) if isinstance(message, str) else message).to_dict()


class DurableRun:
    """A durable run, seen from a client: its result, and the signals that steer it.

    ``output_type`` is the type :meth:`result` rebuilds the run's typed output
    as (:func:`start_run` passes the agent class's ``output_type``); without
    one, ``result().output`` of a typed run is its plain JSON data.
    """

    __slots__ = ("_converter", "_handle", "_output_type")

    def __init__(self, handle: WorkflowHandle[Any, Any], *, output_type: Any = None) -> None:
        self._handle = handle
        self._output_type = output_type
        # Decodes tool progress (heartbeat details); start_run sets the client's own.
        self._converter: DataConverter = DataConverter.default

    def __repr__(self) -> str:
        return f"<DurableRun {self._handle.id!r}>"

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._handle.id

    @property
    def handle(self) -> WorkflowHandle[Any, Any]:
        """The Temporal workflow handle, for anything else (history, describe, terminate)."""
        return self._handle

    async def result(self) -> RunResult:
        """Wait for the run's result; a failed run raises the agentkit error that ended it.

        A usage limit with ``on_exceed="raise"`` raises
        :class:`~agentkit.UsageLimitExceeded`, an oversized payload
        :class:`PayloadTooLargeError`, anything else :class:`DurableRunError`.
        """
        try:
            output = await self._handle.result()
        except WorkflowFailureError as exc:
            raise _error(exc) from exc
        return result_from_dict(output, self._output_type)

    async def steer(self, message: str | Message) -> None:
        """Queue a message for the run, delivered after its running tools."""
        await self._handle.signal("steer", _message(message))

    async def follow_up(self, message: str | Message) -> None:
        """Queue a message to answer when the run would otherwise end."""
        await self._handle.signal("follow_up", _message(message))

    async def abort(self) -> None:
        """Stop the run now: running activities are cancelled, it ends ``ABORTED``."""
        await self._handle.signal("abort")

    async def paused(self) -> Paused | None:
        """The state the run waits in for approval, or None while it is not waiting."""
        raw = await self._handle.query("paused")
        return None if raw is None else Paused.from_dict(raw)

    async def decide(self, decisions: Mapping[str, Approval]) -> None:
        """Resume the run waiting for approval with an :class:`~agentkit.Approval` per pending call.

        Fails closed as :meth:`Agent.resume <agentkit.Agent.resume>` does: a
        missing or extra decision, an unknown call id, replaced arguments the
        schema rejects, or a run that is not waiting raise
        :class:`~agentkit.ResumeError`, and nothing runs. The check runs in
        the workflow (so a worker must be serving the task queue); an accepted
        decision is recorded in the run's history and the run goes on.
        """
        try:
            await self._handle.execute_update("decide", decisions_to_dict(decisions))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == "ResumeError":
                raise ResumeError(cause.message) from None
            raise
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:  # the run has ended (or never was)
                raise ResumeError(f"the run is not waiting for approval: {exc.message}") from None
            raise

    async def events(self, *, poll_interval: float = 0.25) -> AsyncIterator[AgentEvent]:
        """The run's events from the first, as they happen, to its last :class:`~agentkit.AgentEnd`.

        A run that pauses for approval has an ``AgentEnd`` with ``paused``
        set; the iteration goes on past it, through the resumed run's events.
        A running tool's progress (``ToolExecutionUpdate``) is read from its
        activity's latest heartbeat on each poll: the latest report, once.

        Polls the workflow (a query, which adds nothing to its history) every
        ``poll_interval`` seconds while nothing is new, so an event arrives at
        most that long after the workflow task that made it. A run that fails
        ends the iteration without ``AgentEnd``: :meth:`result` raises its error.
        """
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        offset = 0
        running: dict[str, int] = {}  # started, not ended tool calls -> last progress seq
        while True:
            reply = await self._handle.query("events", offset)
            for raw in reply["events"]:
                event = event_from_dict(raw)
                if isinstance(event, ToolExecutionStart):
                    running[event.call.id] = 0
                elif isinstance(event, ToolExecutionEnd):
                    running.pop(event.call.id, None)
                yield event
                if isinstance(event, AgentEnd) and event.paused is None:
                    return
            offset = reply["next"]
            if reply["events"]:
                continue  # maybe more pages
            if reply["finished"]:
                return
            if running:
                for update in await self._progress(running):
                    yield update
            await anyio.sleep(poll_interval)

    async def _progress(self, running: dict[str, int]) -> list[ToolExecutionUpdate]:
        """The latest progress of the running tool calls not yet seen, from their heartbeats."""
        description = await self._handle.describe()
        updates = []
        for pending in description.raw_description.pending_activities:
            payloads = pending.heartbeat_details.payloads
            if not payloads:
                continue
            try:
                (details,) = await self._converter.decode(payloads)
                call, seq = ToolCall.from_dict(details["call"]), int(details["seq"])
                progress = details["progress"]
            except Exception:  # not a progress report (a codec it cannot read, another kind)
                continue
            if call.id in running and seq > running[call.id] and isinstance(progress, str):
                running[call.id] = seq
                updates.append(ToolExecutionUpdate(call, progress))
        return updates

    async def messages(self) -> tuple[Message, ...]:
        """The messages the run has added so far."""
        raw = await self._handle.query("messages")
        return tuple(message_from_dict(item) for item in raw)


def _error(exc: WorkflowFailureError) -> AgentkitError:
    cause = exc.cause
    if not isinstance(cause, ApplicationError):
        return DurableRunError(type(cause).__name__, str(cause))
    details: dict[str, Any] = {}
    if cause.details and isinstance(cause.details[0], dict):
        details = cause.details[0]
    error: AgentkitError
    exceeded = exceeded_from_dict(details.get("exceeded"))
    if cause.type == "UsageLimitExceeded" and exceeded is not None:
        error = UsageLimitExceeded(exceeded)
    elif cause.type == "PayloadTooLargeError" and {"what", "size", "limit"} <= details.keys():
        error = PayloadTooLargeError(details["what"], details["size"], details["limit"])
    else:
        error = rebuild_error(cause.type, cause.message, details)
    error.messages = tuple(message_from_dict(item) for item in details.get("messages", ()))
    error.usage = Usage.from_dict(details["usage"]) if "usage" in details else None
    return error


async def start_run(
    client: Client,
    agent: DurableAgent | type[Agent],
    prompt: str | Message | Sequence[Message] = (),
    *,
    id: str,
    task_queue: str,
    history: Sequence[Message] = (),
    limits: UsageLimits | None = None,
    **options: Any,
) -> DurableRun:
    """Start a durable run of ``agent`` answering ``prompt`` (after ``history``).

    ``id`` is the workflow id (one run at a time per id); ``options`` go to
    :meth:`temporalio.client.Client.start_workflow`. ``limits`` replaces the
    agent's own for this run.
    """
    prompts = prompt_messages(prompt)
    if not prompts and not history:
        raise ValueError("start_run needs a prompt or a history to continue")
    request = {
        "agent": _spec(agent).workflow_name,
        "prompt": [message.to_dict() for message in prompts],
        "history": [message.to_dict() for message in history],
        "limits": limits_to_dict(limits),
        "task_queue": task_queue,
    }
    handle = await client.start_workflow(
        WORKFLOW_NAME, request, id=id, task_queue=task_queue, **options
    )
    run = DurableRun(handle, output_type=_spec(agent).agent.output_type)
    run._converter = client.data_converter
    return run
