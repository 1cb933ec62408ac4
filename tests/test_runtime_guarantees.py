"""Regression tests for the runtime's promises (issue 11), each on asyncio and trio.

Each test reproduces a finding of the December 2026 review on the code before
the restructuring and holds the promise now: a run that cannot hang, loses
nothing and stops the moment it is told to. They wait on events, never on
sleeps; every test has a deadline.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from agentkit import (
    AbortSignal,
    AgentEvent,
    AssistantMessage,
    LoopConfig,
    MessageEnd,
    MessageUpdate,
    RunError,
    StopReason,
    StreamClosedError,
    TextContent,
    TextDelta,
    ThinkingContent,
    ThinkingDelta,
    ToolCall,
    ToolCallDecision,
    ToolContext,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolResult,
    ToolResultMessage,
    UserMessage,
    agent_loop,
    tool,
)
from agentkit._agent import Agent
from agentkit.providers._base import ModelOptions
from agentkit.testing import Reply, ScriptedProvider, call

pytestmark = pytest.mark.anyio


def make_agent(*replies: Reply | str, tools: tuple[Any, ...] = (), **options: Any) -> Agent:
    return Agent(ScriptedProvider(list(replies)), model="m", tools=list(tools), **options)


class Gate:
    """A tool that says when it started and then waits until released."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.cleaned_up = False

    def tool(self) -> Any:
        gate = self

        @tool
        async def wait() -> str:
            """Wait until released."""
            gate.started.set()
            try:
                await gate.release.wait()
            finally:
                gate.cleaned_up = True
            return "released"

        return wait


# ---------------------------------------------------------------------- structured runs


async def test_a_cancelled_run_returns_only_after_its_work_has_stopped() -> None:
    gate = Gate()
    agent = make_agent(Reply(tool_calls=[call("wait")]), "again", tools=(gate.tool(),))
    seen_after: dict[str, Any] = {}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            scope = anyio.CancelScope()

            async def run() -> None:
                with scope:
                    await agent.run("go")
                # Back in the caller: the tool's cleanup ran and the agent is idle.
                seen_after["cleaned_up"] = gate.cleaned_up
                seen_after["running"] = agent.state.is_running

            tasks.start_soon(run)
            await gate.started.wait()
            scope.cancel()
        assert seen_after == {"cleaned_up": True, "running": False}
        # The next prompt is accepted at once; the unanswered call got a result.
        assert (await agent.run("next")).text == "again"
        results = [m for m in agent.messages if isinstance(m, ToolResultMessage)]
        assert [(r.tool_call_id, r.is_error) for r in results] == [("call_1_1", True)]


async def test_result_with_a_timeout_in_one_task_leaves_another_tasks_iteration() -> None:
    provider = ScriptedProvider([Reply("one two three four", chunk_size=1)])
    cfg = LoopConfig(provider=provider, options=ModelOptions(model="m"))
    with anyio.fail_after(5):
        stream = agent_loop(cfg, prompt="go")
        first = anyio.Event()
        events: list[AgentEvent] = []
        waiter_scope = anyio.CancelScope()

        async def iterate() -> None:
            async for event in stream:
                events.append(event)
                first.set()

        async def wait_result() -> None:
            with waiter_scope:
                await stream.result()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(iterate)
            await first.wait()
            tasks.start_soon(wait_result)
            await anyio.lowlevel.checkpoint()
            waiter_scope.cancel()  # this task gives up waiting, the stream goes on
        result = await stream.result()
        assert result.text == "one two three four"
        # The iterating task read on to the end: the other task's timeout closed nothing.
        assert events[-1].type == "agent_end"


@pytest.mark.parametrize("how", ["run", "iterate"])
async def test_system_exit_from_a_tool_surfaces_unchanged(how: str) -> None:
    @tool
    def leave() -> str:
        """Exit the program."""
        sys.exit(3)

    agent = make_agent(Reply(tool_calls=[call("leave")]), tools=(leave,))
    with anyio.fail_after(5), pytest.raises(SystemExit) as caught:
        if how == "run":
            await agent.run("go")
        else:
            async for _ in agent.prompt("go"):
                pass
    assert caught.value.code == 3


async def test_prompting_right_after_breaking_out_is_accepted() -> None:
    agent = make_agent(Reply("a long answer " * 20, chunk_size=2), "second")
    with anyio.fail_after(5):
        async for event in agent.prompt("first"):
            if isinstance(event, MessageUpdate):
                break
        assert not agent.state.is_running
        assert (await agent.run("again")).text == "second"
        await agent.wait_for_idle()


# ---------------------------------------------------------------------- abort


async def test_abort_is_immediate_even_with_a_full_buffer() -> None:
    text = [f"w{i} " for i in range(400)]
    agent = make_agent(Reply(text))
    listener_after: list[AgentEvent] = []
    aborted = False

    def listen(event: AgentEvent) -> None:
        if aborted:
            listener_after.append(event)

    agent.subscribe(listen)
    with anyio.fail_after(5):
        consumer_after: list[AgentEvent] = []
        async with agent.prompt("go") as stream:
            async for event in stream:
                if aborted:
                    consumer_after.append(event)
                elif isinstance(event, MessageUpdate):
                    # Let the run fill the buffer while this consumer is slow.
                    while stream.statistics().buffered < 200:
                        await anyio.lowlevel.checkpoint()
                    agent.abort()
                    aborted = True
            result = await stream.result()
    assert result.stop_reason is StopReason.ABORTED
    assert not [e for e in consumer_after if isinstance(e, MessageUpdate)]
    assert not [e for e in listener_after if isinstance(e, MessageUpdate)]
    assert [e.type for e in consumer_after] == ["message_end", "turn_end", "agent_end"]
    # The aborted answer holds what the model had streamed: a prefix of the script.
    answer = result.messages[-1]
    assert isinstance(answer, AssistantMessage)
    assert "".join(text).startswith(answer.text)
    assert len(answer.text) >= len("w0 ")


async def test_abort_while_thinking_keeps_thinking_private() -> None:
    # The model hangs after two thinking deltas: the abort comes mid-thought.
    agent = make_agent(
        Reply(text="visible", thinking=["hmm ", "secret ", "plan"], hang=True, error_after=3)
    )
    with anyio.fail_after(5):
        async with agent.prompt("go") as stream:
            async for event in stream:
                if isinstance(event, MessageUpdate) and isinstance(event.delta, ThinkingDelta):
                    agent.abort()
            result = await stream.result()
    answer = result.messages[-1]
    assert isinstance(answer, AssistantMessage)
    assert answer.stop_reason is StopReason.ABORTED
    assert answer.text == ""  # no thinking leaked into the visible text
    thinking = [b for b in answer.content if isinstance(b, ThinkingContent)]
    assert [t.thinking for t in thinking] == ["hmm secret "]
    assert not [b for b in answer.content if isinstance(b, TextContent)]


async def test_abort_mid_tool_call_keeps_no_half_call() -> None:
    # start, 7 text deltas, the block's end, the call's start, two argument deltas.
    agent = make_agent(
        Reply(text="calling", tool_calls=[call("x", a=1)], chunk_size=1, hang=True, error_after=12)
    )
    with anyio.fail_after(5):
        async with agent.prompt("go") as stream:
            async for event in stream:
                if isinstance(event, MessageUpdate) and event.delta.type == "tool_call_delta":
                    agent.abort()
            result = await stream.result()
    answer = result.messages[-1]
    assert isinstance(answer, AssistantMessage)
    assert answer.text == "calling"
    assert answer.tool_calls == ()


# ---------------------------------------------------------------------- nothing lost


def _user_texts(agent: Agent) -> list[str]:
    return [m.text for m in agent.messages if isinstance(m, UserMessage)]


@pytest.mark.parametrize("ending", ["max_turns", "terminate", "abort"])
async def test_steering_is_never_dropped(ending: str) -> None:
    holder: list[Agent] = []

    @tool
    async def work() -> ToolResult:
        """Work, and steer the run meanwhile."""
        agent = holder[0]
        agent.steer("also this")
        if ending == "abort":
            agent.abort()
        return ToolResult("done", terminate=ending == "terminate")

    options: dict[str, Any] = {"max_turns": 1} if ending == "max_turns" else {}
    agent = make_agent(
        Reply(tool_calls=[call("work")]), "answered", "next", tools=(work,), **options
    )
    holder.append(agent)
    with anyio.fail_after(5):
        result = await agent.run("go")
        expected = {
            "max_turns": StopReason.MAX_TURNS,
            "terminate": StopReason.TOOL_TERMINATED,
            "abort": StopReason.ABORTED,
        }
        assert result.stop_reason is expected[ending]
        # Delivered into the history, or still queued for the next run: never both,
        # never neither.
        await agent.run("then")
    assert sorted(_user_texts(agent)) == ["also this", "go", "then"]


async def test_steering_sent_at_the_last_turn_stays_queued() -> None:
    agent = make_agent("first", "second", max_turns=1)

    def steer_once(event: AgentEvent) -> None:
        if isinstance(event, MessageEnd) and isinstance(event.message, AssistantMessage):
            agent.steer("later")

    unsubscribe = agent.subscribe(steer_once)
    with anyio.fail_after(5):
        result = await agent.run("go")
        unsubscribe()
        assert result.stop_reason is StopReason.STOP
        assert _user_texts(agent) == ["go"]
        # Still queued: the next run takes it first.
        assert (await agent.prompt().result()).text == "second"


async def test_a_listener_failing_during_tool_progress_ends_the_run() -> None:
    @tool
    async def slow(context: ToolContext) -> str:
        """Report progress."""
        await context.report("half way")
        return "finished"

    agent = make_agent(Reply(tool_calls=[call("slow")]), "never", tools=(slow,))

    def broken(event: AgentEvent) -> None:
        if event.type == "tool_execution_update":
            raise ValueError("listener broke")

    agent.subscribe(broken)
    with anyio.fail_after(5), pytest.raises(RunError) as caught:
        await agent.run("go")
    assert caught.value.stage == "on_event"
    assert isinstance(caught.value.__cause__, ValueError)
    # The model was never told the tool failed: no tool result reached the history.
    assert not [m for m in agent.messages if isinstance(m, ToolResultMessage)]


async def test_a_listener_failing_on_message_end_keeps_the_message_out() -> None:
    agent = make_agent("the answer")

    def broken(event: AgentEvent) -> None:
        if isinstance(event, MessageEnd) and isinstance(event.message, AssistantMessage):
            raise ValueError("listener broke")

    agent.subscribe(broken)
    with anyio.fail_after(5):
        events: list[AgentEvent] = []
        with pytest.raises(RunError, match="on_event"):
            async with agent.prompt("go") as stream:
                async for event in stream:
                    events.append(event)
    ended = [e.message for e in events if isinstance(e, MessageEnd)]
    assert list(agent.messages) == ended
    assert [m.role for m in agent.messages] == ["user"]


async def test_listener_and_consumer_see_the_same_events_once() -> None:
    # An interrupted push (abort while the buffer is full) is completed, not repeated.
    gate = Gate()
    agent = make_agent(
        Reply(tool_calls=[call("wait"), call("wait")], chunk_size=1), tools=(gate.tool(),)
    )
    heard: list[AgentEvent] = []
    agent.subscribe(heard.append)
    with anyio.fail_after(5):
        seen: list[AgentEvent] = []
        async with agent.prompt("go") as stream:
            async for event in stream:
                seen.append(event)
                if isinstance(event, ToolExecutionStart):
                    await gate.started.wait()
                    agent.abort()
    progress = (MessageUpdate,)
    assert [e for e in heard if not isinstance(e, progress)] == [
        e for e in seen if not isinstance(e, progress)
    ]
    ends = [e.call.id for e in heard if isinstance(e, ToolExecutionEnd)]
    assert len(ends) == len(set(ends)) == 2


# ---------------------------------------------------------------------- hooks


class Approving(Agent):
    model = "m"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[str] = []
        self.both_running = anyio.Event()
        self.running = 0

    @tool
    async def act(self, name: str) -> str:
        """Act; both calls must run at once."""
        self.running += 1
        if self.running == 2:
            self.both_running.set()
        await self.both_running.wait()
        return name

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        self.log.append(f"ask {call.arguments['name']}")
        await anyio.lowlevel.checkpoint()  # a human would take longer
        self.log.append(f"answer {call.arguments['name']}")
        return None


async def test_parallel_approvals_are_asked_one_at_a_time_and_tools_still_overlap() -> None:
    agent = Approving(
        ScriptedProvider([Reply(tool_calls=[call("act", name="a"), call("act", name="b")]), "ok"])
    )
    with anyio.fail_after(5):
        result = await agent.run("go")
    assert result.text == "ok"
    assert agent.log == ["ask a", "answer a", "ask b", "answer b"]


class Stuck(Agent):
    model = "m"
    tool_timeout = 0.05

    @tool
    def noop(self) -> str:
        """Do nothing."""
        return "ok"

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        await anyio.sleep_forever()
        return None


async def test_a_hook_that_never_returns_is_bounded_by_the_tool_timeout() -> None:
    agent = Stuck(ScriptedProvider([Reply(tool_calls=[call("noop")])]))
    with anyio.fail_after(5), pytest.raises(RunError) as caught:
        await agent.run("go")
    assert caught.value.stage == "before_tool_call"
    assert isinstance(caught.value.__cause__, TimeoutError)


class WrongType(Agent):
    model = "m"

    @tool
    def noop(self) -> str:
        """Do nothing."""
        return "ok"

    async def before_tool_call(self, call: ToolCall) -> Any:
        return False  # not a ToolCallDecision: must not be ignored


async def test_a_hook_returning_the_wrong_type_is_a_run_error() -> None:
    agent = WrongType(ScriptedProvider([Reply(tool_calls=[call("noop")])]))
    with anyio.fail_after(5), pytest.raises(RunError, match="must return ToolCallDecision"):
        await agent.run("go")


async def test_plain_iteration_of_a_loop_stream_is_released_by_break() -> None:
    signal = AbortSignal()
    provider = ScriptedProvider([Reply("x" * 300, chunk_size=1)])
    cfg = LoopConfig(provider=provider, options=ModelOptions(model="m"), abort=signal)
    with anyio.fail_after(5):
        stream = agent_loop(cfg, prompt="go")
        async for event in stream:
            if isinstance(event, MessageUpdate) and isinstance(event.delta, TextDelta):
                break
        await stream.aclose()  # waits for the producer the release cancelled
        assert stream.statistics().producer_done
        with pytest.raises(StreamClosedError):
            await stream.result()


def test_an_abort_callback_unregistered_is_not_called() -> None:
    signal = AbortSignal()
    called: list[str] = []
    unregister = signal.on_abort(lambda: called.append("first"))
    signal.on_abort(lambda: called.append("second"))
    unregister()  # a finished run leaves nothing behind on a shared signal
    signal.abort()
    signal.abort()  # once only
    assert called == ["second"]
    signal.on_abort(lambda: called.append("late"))  # after the abort: called at once
    assert called == ["second", "late"]


async def test_runs_sharing_an_abort_signal_each_end_normally() -> None:
    signal = AbortSignal()
    provider = ScriptedProvider(["one", "two", "three"])
    cfg = LoopConfig(provider=provider, options=ModelOptions(model="m"), abort=signal)
    with anyio.fail_after(5):
        texts = [(await agent_loop(cfg, prompt="go").result()).text for _ in range(3)]
    assert texts == ["one", "two", "three"]


async def test_after_an_abort_no_tool_runs_even_one_that_never_awaits() -> None:
    ran: list[str] = []

    @tool
    async def instant() -> str:
        """Return at once, without awaiting."""
        ran.append("instant")
        return "ran"

    agent = make_agent(Reply(text="calling", tool_calls=[call("instant")]), tools=(instant,))

    def abort_on_answer(event: AgentEvent) -> None:
        if isinstance(event, MessageEnd) and isinstance(event.message, AssistantMessage):
            agent.abort()  # the answer is complete; its call must not run now

    agent.subscribe(abort_on_answer)
    with anyio.fail_after(5):
        result = await agent.run("go")
    assert result.stop_reason is StopReason.ABORTED
    assert ran == []
    [answer] = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert (answer.text, answer.is_error) == ("Not run: the run was aborted.", True)
