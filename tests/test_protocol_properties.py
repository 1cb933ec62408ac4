"""The event protocol holds for any script, failure and abort point (hypothesis)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    AgentEvent,
    MessageEnd,
    ProviderError,
    StopReason,
    ToolExecutionStart,
    ToolResultMessage,
)
from agentkit._loop import AbortSignal, LoopConfig, agent_loop
from agentkit._tools import tool
from agentkit.providers._base import ModelOptions
from agentkit.testing import Reply, ScriptedProvider, call
from tests.protocol import check_protocol

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int) -> int:
    """Add."""
    return a + b


@tool
async def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


@tool(timeout=0.01)
async def stall() -> str:
    """Never returns in time."""
    await anyio.sleep(10)
    return "late"


TOOLS = (add, fail, stall)

tool_calls = st.lists(
    st.sampled_from(
        [
            call("add", a=1, b=2),
            call("add", a="bad", b=2),
            call("fail", reason="nope"),
            call("stall"),
            call("missing"),
            ("add", "{not json"),
        ]
    ),
    max_size=3,
)
replies = st.builds(
    Reply,
    text=st.text(max_size=30),
    thinking=st.sampled_from(["", "let me think"]),
    tool_calls=tool_calls,
    chunk_size=st.integers(1, 8),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(replies, min_size=1, max_size=5),
    fail_at=st.one_of(st.none(), st.integers(0, 4)),
    fail_after_events=st.integers(0, 6),
    abort_after=st.one_of(st.none(), st.integers(1, 60)),
    mode=st.sampled_from(["parallel", "sequential"]),
)
async def test_event_protocol_holds_for_any_run(
    script: list[Reply],
    fail_at: int | None,
    fail_after_events: int,
    abort_after: int | None,
    mode: str,
) -> None:
    script = list(script)
    failure = ProviderError("scripted failure", status=500)
    if fail_at is not None and fail_at < len(script):
        script[fail_at] = Reply(
            "x" * 20, chunk_size=3, error=failure, error_after=fail_after_events
        )
    script.append(Reply("final"))  # a run that keeps calling tools ends at max_turns or here
    signal = AbortSignal()
    cfg = LoopConfig(
        provider=ScriptedProvider(script),
        options=ModelOptions(model="m"),
        tools=TOOLS,
        max_turns=len(script),
        tool_execution=mode,  # type: ignore[arg-type]
        abort=signal,
    )
    events: list[AgentEvent] = []
    error: BaseException | None = None
    with anyio.fail_after(10):
        try:
            async with agent_loop(cfg, prompt="go") as stream:
                async for event in stream:
                    events.append(event)
                    if abort_after is not None and len(events) == abort_after:
                        signal.abort()
                result = await stream.result()
        except ProviderError as exc:
            error = exc
    check_protocol(events, complete=error is None)
    finished = [e.message for e in events if isinstance(e, MessageEnd)]
    if error is not None:
        assert error is failure
        assert list(error.messages) == finished
        return
    assert list(result.messages) == finished
    if signal.aborted:
        assert result.stop_reason in {StopReason.ABORTED, StopReason.STOP, StopReason.MAX_TURNS}
    # Every tool call in the history has exactly one result, in order.
    for i, message in enumerate(result.messages):
        calls = getattr(message, "tool_calls", ())
        if calls:
            following = result.messages[i + 1 : i + 1 + len(calls)]
            assert all(isinstance(m, ToolResultMessage) for m in following)
            assert [m.tool_call_id for m in following] == [c.id for c in calls]


async def _consume(stream: Any, stop_after: int | None, running: anyio.Event) -> None:
    count = 0
    async for event in stream:
        count += 1
        if stop_after is None and isinstance(event, ToolExecutionStart):
            await running.wait()  # the tool is running now
            raise RuntimeError("consumer failed")
        if count == stop_after:
            raise RuntimeError("consumer failed")


@pytest.mark.parametrize("stop_after", [1, 3, None])
async def test_a_failing_consumer_stops_the_run_and_its_tools(stop_after: int) -> None:
    stopped: list[str] = []
    running = anyio.Event()

    @tool
    async def wait() -> str:
        """Wait long."""
        running.set()
        try:
            await anyio.sleep(10)
        finally:
            stopped.append("tool")
        return "done"

    provider = ScriptedProvider([Reply("abc", chunk_size=1, tool_calls=[call("wait")]), Reply("x")])
    cfg = LoopConfig(provider=provider, options=ModelOptions(model="m"), tools=(wait,))
    with anyio.fail_after(5):
        stream = agent_loop(cfg, prompt="go")
        with pytest.raises(RuntimeError, match="consumer failed"):
            async with stream:
                await _consume(stream, stop_after, running)
        assert stream.statistics().producer_done
        if stop_after is None:  # the tool was running: it was cancelled too
            assert stopped == ["tool"]


async def test_a_cancelled_consumer_stops_the_run() -> None:
    provider = ScriptedProvider([Reply("slow " * 50, chunk_size=1, delay=0.005)])
    cfg = LoopConfig(provider=provider, options=ModelOptions(model="m"))
    with anyio.fail_after(5):
        stream = agent_loop(cfg, prompt="go")
        with anyio.CancelScope() as scope:
            async for _ in stream:
                scope.cancel()  # the consumer's own scope, cancelled mid-stream
        assert scope.cancelled_caught
        await stream.aclose()  # plain iteration: wait for the producer the exit cancelled
        assert stream.statistics().producer_done
