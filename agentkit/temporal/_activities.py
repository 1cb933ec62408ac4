"""The two activity kinds of a durable agent: one model call, and one tool call.

Both run on a worker's own event loop (asyncio), with the worker's agent
instance (:meth:`DurableAgent.instance`): its provider and its tools. Each
heartbeats while it works, so a lost worker is noticed within the heartbeat
timeout and a cancelled run reaches the running call at its next heartbeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import attrs
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentkit._errors import ProviderError
from agentkit._events import AgentEvent
from agentkit._log import get_logger
from agentkit._messages import AssistantMessage, Context, ToolCall, content_from_dict
from agentkit._stream import EventStream
from agentkit._tools import ToolContext, ToolResult
from agentkit.temporal._codec import error_details
from agentkit.temporal._payloads import PayloadTooLargeError, offload_blocks, restore_context
from agentkit.temporal._spec import DurableAgent, activity_name

__all__ = ["BEAT", "beat_interval", "make_activities"]

_log = get_logger("agentkit.temporal")

T = TypeVar("T")


async def _heartbeating(
    work: Callable[[], Awaitable[T]],
    every: timedelta,
    details: Callable[[], tuple[Any, ...]] = tuple,
) -> T:
    """Run ``work`` while heartbeating every ``every``: a silent stretch is not a lost worker.

    The beat is a plain asyncio task (activities run on asyncio), not a task
    group: ``work``'s exception must come out as itself, never in a group.
    """

    async def beat() -> None:
        while True:
            activity.heartbeat(*details())  # the latest details: a beat must not erase them
            await asyncio.sleep(every.total_seconds())

    beating = asyncio.get_running_loop().create_task(beat())
    try:
        return await work()
    finally:
        beating.cancel()
        await asyncio.wait([beating])


#: How often a running call heartbeats at most: a cancellation (abort, tool timeout)
#: reaches it within about this long, when the worker sends heartbeats as often.
BEAT = timedelta(seconds=1)


def beat_interval(spec: DurableAgent) -> timedelta:
    return min(spec.heartbeat_timeout / 3, BEAT)


def _too_large(exc: PayloadTooLargeError) -> ApplicationError:
    return ApplicationError(
        str(exc), exc.what, exc.size, exc.limit, type="PayloadTooLargeError", non_retryable=True
    )


def make_activities(spec: DurableAgent) -> list[Callable[..., Any]]:
    """The model activity and one activity per tool of ``spec``'s agent."""
    agent = spec.instance()
    name = spec.workflow_name
    every = beat_interval(spec)
    options = agent._model_options()

    @activity.defn(name=activity_name(name))
    async def model_call(request: dict[str, Any]) -> dict[str, Any]:
        context = await restore_context(Context.from_dict(request["context"]), spec.payload_store)
        provider = agent.provider
        assert provider is not None
        schema = request.get("output_schema")  # set by the loop for "native" typed output
        call_options = options if schema is None else attrs.evolve(options, output_schema=schema)

        async def consume() -> AssistantMessage:
            stream: EventStream[AgentEvent, AssistantMessage] = provider.stream(  # type: ignore[assignment]
                context, call_options
            )
            async with stream:
                async for _ in stream:
                    activity.heartbeat()  # throttled by the SDK: cheap per event
                return await stream.result()

        try:
            answer = await _heartbeating(consume, every)
        except ProviderError as exc:
            _log.info("temporal.model_failed", agent=name, error=type(exc).__name__)
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(
                str(exc),
                error_details(exc),
                type=type(exc).__name__,
                non_retryable=not exc.retryable,
                next_retry_delay=delay,
            ) from None
        return {"answer": answer.to_dict()}

    activities: list[Callable[..., Any]] = [model_call]
    for tool in agent.tools:
        activities.append(_tool_activity(spec, tool.name, every))
    return activities


def _tool_activity(spec: DurableAgent, tool_name: str, every: timedelta) -> Callable[..., Any]:
    agent_name = spec.workflow_name

    @activity.defn(name=activity_name(agent_name, tool_name))
    async def tool_call(request: dict[str, Any]) -> dict[str, Any]:
        tool = {t.name: t for t in spec.tools()}[tool_name]
        call = ToolCall(request["id"], tool_name, request["arguments"])

        latest: list[dict[str, Any]] = []

        async def report(progress: str) -> None:
            # The latest report rides on every heartbeat; DurableRun.events() reads it
            # from the pending activity (describe), so progress adds nothing to the history.
            seq = latest[0]["seq"] + 1 if latest else 1
            latest[:] = [{"call": call.to_dict(), "progress": progress, "seq": seq}]
            activity.heartbeat(*latest)

        # The call id is the idempotency key a tool can hand to the services it calls.
        context = ToolContext(call, reporter=report)
        try:
            result = await _heartbeating(
                lambda: tool.execute(call.arguments, context), every, lambda: tuple(latest)
            )
        except Exception as exc:
            # As in-process: a failing tool is an error result for the model, not a retry.
            _log.info("temporal.tool_failed", agent=agent_name, tool=tool_name)
            result = ToolResult(f"Tool {tool_name!r} failed: {type(exc).__name__}: {exc}", True)
        try:
            blocks = await offload_blocks(
                [block.to_dict() for block in result.content],
                spec.payload_limit,
                spec.payload_store,
                f"a result block of tool {tool_name!r}",
            )
        except PayloadTooLargeError as exc:
            raise _too_large(exc) from None
        return {"content": blocks, "is_error": result.is_error, "terminate": result.terminate}

    return tool_call


def tool_result_from_dict(data: dict[str, Any]) -> ToolResult:
    """The :class:`ToolResult` a tool activity returned."""
    return ToolResult(
        tuple(content_from_dict(block) for block in data["content"]),
        is_error=bool(data["is_error"]),
        terminate=bool(data["terminate"]),
    )
