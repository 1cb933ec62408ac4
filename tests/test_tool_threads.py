"""Sync tools' threads: a limiter of their own, abandoned threads counted, logged and capped.

Every stuck thread here blocks on a ``threading.Event`` that the test sets at
the end, and each test waits until no abandoned thread is left, so nothing
leaks into later tests.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest
from structlog.testing import capture_logs

from agentkit import Agent, ToolResultMessage
from agentkit._messages import ToolCall
from agentkit._tools import (
    Tool,
    ToolContext,
    ToolThreadLimitError,
    ToolThreadLimits,
    abandoned_tool_threads,
    configure_tool_threads,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call

pytestmark = pytest.mark.anyio


async def no_reports(_: str) -> None:
    pass


def context(call_id: str = "c1", name: str = "stuck") -> ToolContext:
    return ToolContext(ToolCall(call_id, name), reporter=no_reports)


async def until_no_abandoned_threads() -> None:
    # Worker threads are pooled and never exit, so there is nothing to join: the
    # count is what says the released threads have finished.
    while abandoned_tool_threads():  # noqa: ASYNC110 - no event says "a pooled thread finished"
        await anyio.sleep(0.005)


class StuckTool:
    """A sync tool that blocks until released, and tells the loop when it is running."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.started = 0
        self.finished = 0
        self.all_started = anyio.Event()
        self.expected = 0
        self.tool = Tool.from_function(self.stuck, name="stuck")

    def stuck(self) -> str:
        """Block until released."""
        with self.lock:
            self.started += 1
            everyone = self.started == self.expected
        if everyone:
            anyio.from_thread.run_sync(self.all_started.set)
        self.release.wait()
        with self.lock:
            self.finished += 1
        return "released"


@pytest.fixture
async def stuck() -> AsyncIterator[StuckTool]:
    before = configure_tool_threads()
    holder = StuckTool()
    try:
        yield holder
    finally:
        holder.release.set()
        with anyio.fail_after(10):
            await until_no_abandoned_threads()
        configure_tool_threads(max_running=before.max_running, max_abandoned=before.max_abandoned)


@pytest.fixture
def limits() -> Iterator[None]:
    before = configure_tool_threads()
    yield
    configure_tool_threads(max_running=before.max_running, max_abandoned=before.max_abandoned)


async def abandon(holder: StuckTool, count: int) -> None:
    """Start ``count`` stuck calls, wait until every one is running, then cancel them all."""
    holder.expected = holder.started + count
    holder.all_started = anyio.Event()
    async with anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(holder.tool.execute, {}, context(f"c{n}"))
        await holder.all_started.wait()
        group.cancel_scope.cancel()


async def test_45_stuck_sync_tools_starve_neither_dns_nor_to_thread_and_new_calls_fail_fast(
    stuck: StuckTool,
) -> None:
    with anyio.fail_after(20), capture_logs() as logs:
        # 45 calls at once: 40 get a thread (the default limit), 5 wait for a slot.
        holder = stuck
        holder.expected = 40
        async with anyio.create_task_group() as group:
            for n in range(45):
                group.start_soon(holder.tool.execute, {}, context(f"c{n}"))
            await holder.all_started.wait()
            group.cancel_scope.cancel()  # what a timeout or an abort does
        assert abandoned_tool_threads() == 40

        # anyio's own thread users and DNS resolution still get threads.
        assert await anyio.to_thread.run_sync(lambda: 6 * 7) == 42
        addresses = await anyio.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert addresses

        # Over the cap, a sync tool is refused at once, without a thread.
        with pytest.raises(ToolThreadLimitError) as refused:
            await holder.tool.execute({}, context("late"))
        assert "40 sync tool threads abandoned" in str(refused.value)
        assert "the cap is 20" in str(refused.value)

        holder.release.set()
        await until_no_abandoned_threads()

    # The 5 that never got a slot never ran, after their caller had gone.
    assert (holder.started, holder.finished) == (40, 40)
    abandoned = [e for e in logs if e["event"] == "tool.thread_abandoned"]
    assert sorted(e["abandoned"] for e in abandoned) == list(range(1, 41))
    assert {(e["tool"], e["cap"], e["log_level"]) for e in abandoned} == {("stuck", 20, "warning")}
    finished = [e for e in logs if e["event"] == "tool.abandoned_thread_finished"]
    assert sorted(e["abandoned"] for e in finished) == list(range(40))


async def test_sync_tools_run_again_once_abandoned_threads_finish(stuck: StuckTool) -> None:
    configure_tool_threads(max_abandoned=2)
    with anyio.fail_after(20):
        await abandon(stuck, 2)
        assert abandoned_tool_threads() == 2
        with pytest.raises(ToolThreadLimitError):
            await stuck.tool.execute({}, context("refused"))
        assert stuck.started == 2, "a refused call does not run"
        stuck.release.set()
        await until_no_abandoned_threads()
        result = await stuck.tool.execute({}, context("after"))
        assert result.text == "released"
        assert stuck.started == 3


async def test_below_the_cap_sync_tools_still_run(stuck: StuckTool) -> None:
    configure_tool_threads(max_abandoned=3)

    @tool
    def double(x: int) -> int:
        """Double a number."""
        return 2 * x

    with anyio.fail_after(20):
        await abandon(stuck, 2)
        assert abandoned_tool_threads() == 2
        assert (await double.execute({"x": 21}, context(name="double"))).text == "42"


async def test_a_call_that_finished_is_not_counted_and_the_limit_is_its_own(
    limits: None,
) -> None:
    configure_tool_threads(max_running=1)
    inside = threading.Event()
    release = threading.Event()

    @tool
    def hold() -> str:
        """Hold the only tool thread."""
        inside.set()
        release.wait()
        return "held"

    @tool
    def quick() -> str:
        """Return at once."""
        return "quick"

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(hold.execute, {}, context(name="hold"))
            await anyio.to_thread.run_sync(inside.wait)  # anyio's own limiter: not the tools'
            waiting = anyio.Event()

            async def second() -> None:
                waiting.set()
                result = await quick.execute({}, context(name="quick"))
                assert result.text == "quick"

            group.start_soon(second)
            await waiting.wait()
            release.set()  # the one slot frees, and the waiting call runs
        assert abandoned_tool_threads() == 0


async def test_an_agent_tells_the_model_the_cap_is_reached(stuck: StuckTool) -> None:
    configure_tool_threads(max_abandoned=1)
    stuck.expected = 1
    provider = ScriptedProvider(
        [Reply(tool_calls=[call("stuck")]), Reply(tool_calls=[call("stuck")]), Reply("done")]
    )
    with anyio.fail_after(20):
        agent = Agent(provider=provider, model="scripted-model", tools=[stuck.tool])
        async with anyio.create_task_group() as group:
            group.start_soon(agent.run, "go")
            await stuck.all_started.wait()
            agent.abort()  # the first call's thread is running: it is abandoned
        assert abandoned_tool_threads() == 1
        await agent.run("again")
    sent = [m for m in provider.requests[-1].messages if isinstance(m, ToolResultMessage)]
    assert sent[-1].is_error
    assert "ToolThreadLimitError" in sent[-1].text
    assert "the cap is 1" in sent[-1].text
    assert stuck.started == 1, "the refused call never ran"


def test_limits_are_validated(limits: None) -> None:
    for bad in (0, -1, True, 1.5, "4"):
        with pytest.raises(ValueError, match="max_running must be a positive integer"):
            configure_tool_threads(max_running=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_abandoned must be a positive integer"):
            configure_tool_threads(max_abandoned=bad)  # type: ignore[arg-type]
    assert configure_tool_threads(max_running=3) == ToolThreadLimits(3, 20)
    assert configure_tool_threads(max_abandoned=5) == ToolThreadLimits(3, 5)
