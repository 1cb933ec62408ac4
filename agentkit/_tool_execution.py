"""Running a turn's tool calls: prepare in order, execute concurrently, finalize in order.

A failing tool never fails the run: an unknown tool, invalid arguments, a
blocked call, an exception or a timeout each becomes an error result that
tells the model what went wrong. Hook failures (user code around the tools:
raising, returning the wrong type, or outliving the timeout) and listener
failures end the run as :class:`~agentkit.RunError`.

Calls run in groups: in ``"parallel"`` mode consecutive calls share a group,
a ``sequential`` tool gets a group of its own; in ``"sequential"`` mode every
call is its own group. Within a group:

1. prepare, one call after another in call order: ``ToolExecutionStart``,
   look-up, argument validation, ``before_tool_call`` (so two approval prompts
   are never open at once);
2. execute the prepared calls concurrently, each under its timeout;
3. finalize in call order: ``after_tool_call``, then ``ToolExecutionEnd``.

A call that needs a human's decision (a ``requires_approval`` tool, or
``ToolCallDecision.defer()``) is left pending: it is started but not run, and
the batch reports it in ``ToolBatch.pending`` (the run then pauses; see
``agentkit/_pause.py``). On resume, ``ToolEnvironment.decisions`` answers such
calls: approved ones skip ``before_tool_call``, denied ones are not run.

Steering messages are polled after each group; later groups are then
skipped. Results always come back in call order. The only effect here is
``Tool.execute``: everything else is deterministic given its results.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeAlias

import anyio
from attrs import define, field

from agentkit._abort import AbortSignal
from agentkit._errors import RunError
from agentkit._events import AgentEvent, ToolExecutionEnd, ToolExecutionStart, ToolExecutionUpdate
from agentkit._instrumentation import NULL_CONTEXT
from agentkit._log import Logger
from agentkit._messages import Message, ToolCall, ToolResultMessage
from agentkit._pause import Approval
from agentkit._tools import Tool, ToolContext, ToolResult

__all__ = [
    "AfterToolCall",
    "BeforeToolCall",
    "ToolBatch",
    "ToolCallDecision",
    "ToolEnvironment",
    "execute_tool_calls",
]


@define(frozen=True, slots=True)
class ToolCallDecision:
    """What a ``before_tool_call`` hook decides: block, change the arguments, or defer the call."""

    block: bool = False
    reason: str = ""
    arguments: dict[str, Any] | None = None
    deferred: bool = False

    @classmethod
    def deny(cls, reason: str) -> ToolCallDecision:
        """Do not run the tool; the model gets ``reason`` as an error result."""
        return cls(block=True, reason=reason)

    @classmethod
    def replace(cls, arguments: dict[str, Any]) -> ToolCallDecision:
        """Run the tool with ``arguments`` instead (they are validated again)."""
        return cls(arguments=arguments)

    @classmethod
    def defer(cls) -> ToolCallDecision:
        """Leave the call to a human: the run pauses with it pending (:class:`~agentkit.Paused`)."""
        return cls(deferred=True)


BeforeToolCall: TypeAlias = Callable[
    [ToolCall], "Awaitable[ToolCallDecision | None] | ToolCallDecision | None"
]
AfterToolCall: TypeAlias = Callable[
    [ToolCall, ToolResult], "Awaitable[ToolResult | None] | ToolResult | None"
]
Emit: TypeAlias = Callable[[AgentEvent], Awaitable[None]]

SKIPPED = "Skipped: a new user message arrived before this tool ran."
NOT_RUN_ABORTED = "Not run: the run was aborted."
ABORTED = "Aborted while running."


@define(frozen=True, slots=True)
class ToolEnvironment:
    """What tool execution may use of its run: nothing else of the loop."""

    tools: Mapping[str, Tool]
    emit: Emit
    poll_steering: Callable[[], list[Message]]
    abort: AbortSignal
    log: Logger
    mode: Literal["parallel", "sequential"] = "parallel"
    timeout: float | None = None
    before_tool_call: BeforeToolCall | None = None
    after_tool_call: AfterToolCall | None = None
    decisions: Mapping[str, Approval] = field(factory=dict)  # of a resumed run, by call id
    # When set, a call needing approval gets this error result instead of pausing the run.
    unpausable: str | None = None
    # Entered around each Tool.execute, in its task (agentkit._instrumentation).
    around_tool: Callable[[ToolCall], AbstractContextManager[None]] | None = None


@define(frozen=True, slots=True)
class ToolBatch:
    """What became of one answer's tool calls: a result for each, but the ``pending`` ones."""

    results: tuple[ToolResultMessage, ...]
    terminate: bool
    steering: tuple[Message, ...]
    pending: tuple[ToolCall, ...] = ()


def _error(call: ToolCall, text: str) -> ToolResultMessage:
    return ToolResultMessage(call.id, call.name, text, is_error=True)


def _groups(calls: Sequence[ToolCall], tools: Mapping[str, Tool], mode: str) -> list[list[int]]:
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


@define(slots=True)
class _Prepared:
    tool: Tool
    arguments: dict[str, Any]
    timeout: float | None
    result: ToolResult | None = None


class _Pending:
    """prepare's outcome for a call that waits for a human."""


_PENDING = _Pending()


class _Batch:
    """The tool calls of one answer, and what became of each."""

    def __init__(self, env: ToolEnvironment, calls: tuple[ToolCall, ...]) -> None:
        self.env = env
        self.calls = calls
        self.results: list[ToolResultMessage | None] = [None] * len(calls)
        self.started: set[int] = set()
        self.ended: set[int] = set()  # ToolExecutionEnd handed to emit (never emitted twice)
        self.pending: set[int] = set()  # waiting for a human: started, not run, no result
        self.terminate = False
        self.failure: BaseException | None = None

    # ------------------------------------------------------------------ one group

    async def run_group(self, group: list[int]) -> None:
        prepared: dict[int, _Prepared] = {}
        for index in group:
            call = self.calls[index]
            # Marked before the emit: an interrupted emit still delivers the event.
            self.started.add(index)
            await self.env.emit(ToolExecutionStart(call))
            outcome = await self.prepare(call)
            if isinstance(outcome, _Pending):
                self.pending.add(index)
            elif isinstance(outcome, ToolResultMessage):
                self.results[index] = outcome
            else:
                prepared[index] = outcome
        if len(prepared) == 1:  # the common case needs no task group
            ((index, item),) = prepared.items()
            await self.execute(index, item, None)
        elif prepared:
            async with anyio.create_task_group() as tasks:
                for index, item in prepared.items():
                    tasks.start_soon(self.execute, index, item, tasks.cancel_scope)
        if self.failure is not None:
            raise self.failure
        for index in group:
            done = prepared.get(index)
            if done is not None:
                self.results[index] = await self.finalize(self.calls[index], done)
            if index not in self.pending:
                await self.end(index)

    async def end(self, index: int) -> None:
        result = self.results[index]
        assert result is not None
        self.ended.add(index)
        await self.env.emit(ToolExecutionEnd(self.calls[index], result))

    # ------------------------------------------------------------------ the three steps

    async def prepare(self, call: ToolCall) -> ToolResultMessage | _Prepared | _Pending:
        env = self.env
        decided = env.decisions.get(call.id)
        if decided is not None and decided.kind == "deny":
            reason = decided.reason or "denied by a human"
            return _error(call, f"Tool call {call.name!r} was denied: {reason}")
        if decided is not None and decided.arguments is not None:
            call = ToolCall(call.id, call.name, decided.arguments)
        tool = env.tools.get(call.name)
        if tool is None:
            available = ", ".join(sorted(env.tools)) or "none"
            return _error(call, f"Unknown tool {call.name!r}. Available tools: {available}.")
        if call.arguments_error is not None:
            return _error(call, f"Invalid arguments for {call.name!r}: {call.arguments_error}")
        problem = tool.validate(call.arguments)
        if problem is not None:
            return _error(call, f"Invalid arguments for {call.name!r}: {problem}")
        timeout = tool.timeout if tool.timeout is not None else env.timeout
        arguments: dict[str, Any] = call.arguments
        if decided is not None:  # a human's decision replaces before_tool_call
            return _Prepared(tool, arguments, timeout)
        if tool.requires_approval:
            return _PENDING
        if env.before_tool_call is not None:
            before = env.before_tool_call
            decision = await _hook(
                "before_tool_call", lambda: before(call), timeout, ToolCallDecision
            )
            if isinstance(decision, ToolCallDecision):
                if decision.deferred:
                    return _PENDING
                if decision.block:
                    reason = decision.reason or "blocked by the application"
                    return _error(call, f"Tool call {call.name!r} was blocked: {reason}")
                if decision.arguments is not None:
                    problem = tool.validate(decision.arguments)
                    if problem is not None:
                        text = f"Invalid arguments for {call.name!r} (set by before_tool_call): "
                        return _error(call, text + problem)
                    arguments = decision.arguments
        return _Prepared(tool, arguments, timeout)

    async def execute(
        self, index: int, item: _Prepared, group_scope: anyio.CancelScope | None
    ) -> None:
        try:
            item.result = await self.invoke(self.calls[index], item)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:
            # RunError from a listener, or SystemExit and the like from the tool: kept
            # out of the task group so it reaches the consumer as itself.
            self.failure = self.failure or exc
            if group_scope is not None:
                group_scope.cancel()

    async def invoke(self, call: ToolCall, item: _Prepared) -> ToolResult:
        failures: list[RunError] = []

        async def report(progress: str) -> None:
            try:
                await self.env.emit(ToolExecutionUpdate(call, progress))
            except RunError as exc:
                failures.append(exc)  # a broken listener ends the run, whatever the tool does
                raise

        timeout = item.timeout
        log = self.env.log.bind(tool=call.name, tool_call_id=call.id)
        log.debug("tool.start")
        try:
            around = self.env.around_tool
            with (
                anyio.move_on_after(math.inf if timeout is None else timeout) as deadline,
                NULL_CONTEXT if around is None else around(call),
            ):
                result = await item.tool.execute(item.arguments, ToolContext(call, reporter=report))
        except Exception as exc:
            if failures:
                raise failures[0]  # noqa: B904 - it keeps its own cause, the listener's error
            log.info("tool.failed", error=type(exc).__name__)
            text = f"Tool {call.name!r} failed: {type(exc).__name__}: {exc}"
            return ToolResult(text, is_error=True)
        if failures:
            raise failures[0]
        if deadline.cancelled_caught:
            log.info("tool.timeout", seconds=timeout)
            return ToolResult(f"Tool {call.name!r} timed out after {timeout} s.", is_error=True)
        log.debug("tool.end", is_error=result.is_error)
        return result

    async def finalize(self, call: ToolCall, item: _Prepared) -> ToolResultMessage:
        result = item.result
        assert result is not None
        after = self.env.after_tool_call
        if after is not None:
            ran = result
            changed = await _hook(
                "after_tool_call", lambda: after(call, ran), item.timeout, ToolResult
            )
            if isinstance(changed, ToolResult):
                result = changed
        self.terminate = self.terminate or result.terminate
        return ToolResultMessage(call.id, call.name, result.content, result.is_error)


async def _hook(stage: str, call: Callable[[], Any], seconds: float | None, expected: type) -> Any:
    """Run a hook under ``seconds``; a raise, a wrong type or a timeout is RunError."""
    try:
        with anyio.fail_after(math.inf if seconds is None else seconds):
            returned = call()
            if isinstance(returned, Awaitable):
                returned = await returned
    except TimeoutError as exc:
        raise RunError(stage, TimeoutError(f"{stage} took longer than {seconds} s")) from exc
    except Exception as exc:
        raise RunError(stage, exc) from exc
    if returned is not None and not isinstance(returned, expected):
        problem = TypeError(
            f"{stage} must return {expected.__name__} or None, got {type(returned).__name__}"
        )
        raise RunError(stage, problem)
    return returned


async def execute_tool_calls(env: ToolEnvironment, calls: tuple[ToolCall, ...]) -> ToolBatch:
    """Run ``calls`` group by group; every call gets a result, in call order."""
    batch = _Batch(env, calls)
    steering: list[Message] = []
    with env.abort.scope() as scope:
        for group in _groups(calls, env.tools, env.mode):
            if steering or env.abort.aborted:  # a tool that never awaits must not run either
                break
            await batch.run_group(group)
            steering = env.poll_steering()
    aborted = scope.cancelled_caught or env.abort.aborted
    results: list[ToolResultMessage] = []
    pending: list[ToolCall] = []
    for index, call in enumerate(calls):
        if index in batch.pending and not aborted and env.unpausable is None:
            pending.append(call)  # answered on resume
            continue
        result = batch.results[index]
        if result is None or (index in batch.started and index not in batch.ended):
            if result is None:
                if index in batch.pending:
                    result = _error(call, NOT_RUN_ABORTED if aborted else env.unpausable or "")
                elif index in batch.started:
                    result = _error(call, ABORTED)
                else:
                    result = _error(call, NOT_RUN_ABORTED if aborted else SKIPPED)
                batch.results[index] = result
            if index in batch.started:
                await batch.end(index)
        results.append(result)
    return ToolBatch(tuple(results), batch.terminate, tuple(steering), tuple(pending))
