"""Running a turn's tool calls: validation, hooks, timeouts, parallelism, steering.

A failing tool never fails the run: an unknown tool, invalid arguments, a
blocked call, an exception or a timeout each becomes an error result that
tells the model what went wrong. Only hook failures (user code around the
tools) end the run, as :class:`~agentkit.RunError`.

Calls run in groups: in ``"parallel"`` mode consecutive calls share a group
and run concurrently, a ``sequential`` tool gets a group of its own; in
``"sequential"`` mode every call is its own group. Steering messages are
polled after each group; calls in later groups are then skipped. Results are
always appended in call order.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
from attrs import define

from agentkit.errors import RunError
from agentkit.events import ToolExecutionEnd, ToolExecutionStart, ToolExecutionUpdate
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolResultMessage
from agentkit.tools import Tool, ToolContext, ToolResult

if TYPE_CHECKING:
    from agentkit.loop import _Run

__all__ = ["AfterToolCall", "BeforeToolCall", "ToolCallDecision", "execute_tool_calls"]


@define(frozen=True, slots=True)
class ToolCallDecision:
    """What a ``before_tool_call`` hook decides: block the call, or change its arguments."""

    block: bool = False
    reason: str = ""
    arguments: dict[str, Any] | None = None

    @classmethod
    def deny(cls, reason: str) -> ToolCallDecision:
        """Do not run the tool; the model gets ``reason`` as an error result."""
        return cls(block=True, reason=reason)

    @classmethod
    def replace(cls, arguments: dict[str, Any]) -> ToolCallDecision:
        """Run the tool with ``arguments`` instead (they are validated again)."""
        return cls(arguments=arguments)


BeforeToolCall: TypeAlias = Callable[
    [ToolCall], "Awaitable[ToolCallDecision | None] | ToolCallDecision | None"
]
AfterToolCall: TypeAlias = Callable[
    [ToolCall, ToolResult], "Awaitable[ToolResult | None] | ToolResult | None"
]

SKIPPED = "Skipped: a new user message arrived before this tool ran."
NOT_RUN_ABORTED = "Not run: the run was aborted."
ABORTED = "Aborted while running."


def _error(call: ToolCall, text: str) -> ToolResultMessage:
    return ToolResultMessage(call.id, call.name, text, is_error=True)


def _groups(calls: Sequence[ToolCall], tools: dict[str, Tool], mode: str) -> list[list[int]]:
    groups: list[list[int]] = []
    shared = False  # whether the last group may take more calls
    for index, call in enumerate(calls):
        tool = tools.get(call.name)
        alone = mode == "sequential" or (tool is not None and tool.sequential)
        if shared and not alone:
            groups[-1].append(index)
        else:
            groups.append([index])
        shared = not alone
    return groups


async def _maybe_await(value: Any) -> Any:
    if isinstance(value, Awaitable):
        return await value
    return value


class _Batch:
    """The tool calls of one assistant message, and what became of each."""

    def __init__(self, run: _Run, answer: AssistantMessage) -> None:
        self.run = run
        self.calls = answer.tool_calls
        self.results: list[ToolResultMessage | None] = [None] * len(self.calls)
        self.started: set[int] = set()
        self.ended: set[int] = set()
        self.terminate = False
        self.failure: BaseException | None = None

    async def run_group(self, group: list[int]) -> None:
        # Starts are announced in call order, whatever order the tasks get scheduled in.
        for index in group:
            await self.run.emit(ToolExecutionStart(self.calls[index]))
            self.started.add(index)
        if len(group) == 1:  # the common case needs no task group
            with anyio.CancelScope() as scope:
                await self.run_one(group[0], scope)
        else:
            async with anyio.create_task_group() as tasks:
                for index in group:
                    tasks.start_soon(self.run_one, index, tasks.cancel_scope)
        if self.failure is not None:
            raise self.failure

    async def run_one(self, index: int, group_scope: anyio.CancelScope) -> None:
        call = self.calls[index]
        try:
            result, terminate = await self.execute(call)
        except RunError as exc:
            # Kept out of the task group so it reaches the consumer as itself.
            self.failure = self.failure or exc
            group_scope.cancel()
            return
        self.results[index] = result
        self.terminate = self.terminate or terminate
        await self.run.emit(ToolExecutionEnd(call, result))
        self.ended.add(index)

    async def execute(self, call: ToolCall) -> tuple[ToolResultMessage, bool]:
        run = self.run
        tool = run.tools.get(call.name)
        if tool is None:
            available = ", ".join(sorted(run.tools)) or "none"
            return _error(call, f"Unknown tool {call.name!r}. Available tools: {available}."), False
        if call.arguments_error is not None:
            return _error(
                call, f"Invalid arguments for {call.name!r}: {call.arguments_error}"
            ), False
        problem = tool.validate(call.arguments)
        if problem is not None:
            return _error(call, f"Invalid arguments for {call.name!r}: {problem}"), False
        arguments: dict[str, Any] = call.arguments
        before = run.config.before_tool_call
        if before is not None:
            try:
                decision = await _maybe_await(before(call))
            except Exception as exc:
                raise RunError("before_tool_call", exc) from exc
            if isinstance(decision, ToolCallDecision):
                if decision.block:
                    reason = decision.reason or "blocked by the application"
                    return _error(call, f"Tool call {call.name!r} was blocked: {reason}"), False
                if decision.arguments is not None:
                    problem = tool.validate(decision.arguments)
                    if problem is not None:
                        text = f"Invalid arguments for {call.name!r} (set by before_tool_call): "
                        return _error(call, text + problem), False
                    arguments = decision.arguments
        result = await self.invoke(tool, call, arguments)
        after = run.config.after_tool_call
        if after is not None:
            try:
                changed = await _maybe_await(after(call, result))
            except Exception as exc:
                raise RunError("after_tool_call", exc) from exc
            if isinstance(changed, ToolResult):
                result = changed
        message = ToolResultMessage(call.id, call.name, result.content, result.is_error)
        return message, result.terminate

    async def invoke(self, tool: Tool, call: ToolCall, arguments: dict[str, Any]) -> ToolResult:
        run = self.run

        async def report(progress: str) -> None:
            await run.emit(ToolExecutionUpdate(call, progress))

        timeout = tool.timeout if tool.timeout is not None else run.config.tool_timeout
        log = run.log.bind(turn=run.turn, tool=call.name, tool_call_id=call.id)
        log.debug("tool.start")
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout) as deadline:
                result = await tool.execute(arguments, ToolContext(call, reporter=report))
        except Exception as exc:
            log.info("tool.failed", error=type(exc).__name__)
            text = f"Tool {call.name!r} failed: {type(exc).__name__}: {exc}"
            return ToolResult(text, is_error=True)
        if deadline.cancelled_caught:
            log.info("tool.timeout", seconds=timeout)
            return ToolResult(f"Tool {call.name!r} timed out after {timeout} s.", is_error=True)
        log.debug("tool.end", is_error=result.is_error)
        return result


async def execute_tool_calls(
    run: _Run, answer: AssistantMessage
) -> tuple[tuple[ToolResultMessage, ...], bool, list[Message]]:
    """Run the calls of ``answer``; returns results, whether to end the run, and steering."""
    batch = _Batch(run, answer)
    steering: list[Message] = []
    config = run.config
    with run.abort._scope() as scope:
        try:
            for group in _groups(batch.calls, run.tools, config.tool_execution):
                if steering:
                    break
                await batch.run_group(group)
                steering = run.poll(config.get_steering_messages, "get_steering_messages")
        finally:
            run.abort._scopes.discard(scope)
    aborted = scope.cancelled_caught or run.abort.aborted
    results: list[ToolResultMessage] = []
    for index, call in enumerate(batch.calls):
        result = batch.results[index]
        if result is None:
            if index in batch.started:
                result = _error(call, ABORTED)
            else:
                result = _error(call, NOT_RUN_ABORTED if aborted else SKIPPED)
        if index in batch.started and index not in batch.ended:
            await run.emit(ToolExecutionEnd(call, result))
        results.append(result)
    for result in results:
        await run.add_message(result)
    return tuple(results), batch.terminate, steering
