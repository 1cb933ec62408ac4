"""agent_loop: turns, tools, steering, abort and failures, on asyncio and trio."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from agentkit import (
    AgentEnd,
    AgentEvent,
    MessageEnd,
    MessageUpdate,
    ProviderError,
    RunError,
    StopReason,
    TextDelta,
    ToolCall,
    ToolCallDecision,
    ToolExecutionUpdate,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from agentkit._loop import AbortSignal, LoopConfig, RunResult, agent_loop
from agentkit._tools import Tool, ToolContext, ToolResult, tool
from agentkit.providers._base import ModelOptions
from agentkit.testing import Reply, ScriptedProvider, call
from tests.protocol import check_protocol

pytestmark = pytest.mark.anyio

OPTIONS = ModelOptions(model="scripted-model")


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def echo(text: str) -> str:
    """Repeat the text."""
    return text


def config(provider: ScriptedProvider, *tools: Tool, **changes: Any) -> LoopConfig:
    return LoopConfig(provider=provider, options=OPTIONS, tools=tools, **changes)


async def run_all(cfg: LoopConfig, prompt: str = "hi") -> tuple[list[AgentEvent], RunResult]:
    events: list[AgentEvent] = []
    async with agent_loop(cfg, prompt=prompt) as stream:
        async for event in stream:
            events.append(event)
        result = await stream.result()
    check_protocol(events, complete=True)
    return events, result


def tool_results(provider: ScriptedProvider, request: int) -> list[ToolResultMessage]:
    return [m for m in provider.requests[request].messages if isinstance(m, ToolResultMessage)]


async def test_a_text_answer_is_streamed_and_ends_the_run() -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply("Hello there, friend.", chunk_size=5)])
        events, result = await run_all(config(provider))
        deltas = [
            e.delta.text
            for e in events
            if isinstance(e, MessageUpdate)
            if isinstance(e.delta, TextDelta)
        ]
        assert deltas == ["Hello", " ther", "e, fr", "iend."]
        assert result.text == "Hello there, friend."
        assert result.stop_reason is StopReason.STOP
        assert [type(m).__name__ for m in result.messages] == ["UserMessage", "AssistantMessage"]
        assert [type(e).__name__ for e in events][:4] == [
            "AgentStart",
            "TurnStart",
            "MessageStart",
            "MessageEnd",
        ]


async def test_tool_round_trip_feeds_results_back() -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [
                Reply(tool_calls=[call("add", a=2, b=3)]),
                Reply("The sum is 5."),
            ]
        )
        _, result = await run_all(config(provider, add))
        assert result.text == "The sum is 5."
        sent = tool_results(provider, 1)
        assert [(r.tool_name, r.text, r.is_error) for r in sent] == [("add", "5", False)]
        assert len(provider.requests) == 2
        assert result.usage == sum(
            (m.usage for m in result.messages if hasattr(m, "usage")), start=Usage()
        )


async def test_parallel_results_keep_call_order_whatever_order_they_finish() -> None:
    finished: list[str] = []
    done = {name: anyio.Event() for name in "abc"}
    waits_for = {"a": "b", "b": "c", "c": None}  # c finishes first, then b, then a

    @tool
    async def slow(name: str) -> str:
        """Wait for the next call to finish, then return the name."""
        before = waits_for[name]
        if before is not None:
            await done[before].wait()  # only possible if the calls run concurrently
        finished.append(name)
        done[name].set()
        return name

    with anyio.fail_after(5):
        calls = [call("slow", name=name) for name in "abc"]
        provider = ScriptedProvider([Reply(tool_calls=calls), Reply("done")])
        await run_all(config(provider, slow))
        assert finished == ["c", "b", "a"]
        assert [r.text for r in tool_results(provider, 1)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("mode", "sequential_tool", "expected_peak"),
    [
        ("parallel", False, 3),
        ("sequential", False, 1),
        ("parallel", True, 1),
    ],
)
async def test_sequential_mode_never_overlaps_tools(
    mode: str, sequential_tool: bool, expected_peak: int
) -> None:
    running = 0
    peak = 0
    all_three = anyio.Event()

    async def work(arguments: dict[str, Any], context: ToolContext) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            all_three.set()
        # Concurrent calls meet here at once; a call running alone gives up soon.
        with anyio.move_on_after(0.2):
            await all_three.wait()
        running -= 1
        return "ok"

    step = Tool.from_schema(
        "step", "One step.", {"type": "object", "properties": {}}, work, sequential=sequential_tool
    )
    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [Reply(tool_calls=[call("step"), call("step"), call("step")]), Reply("done")]
        )
        await run_all(config(provider, step, tool_execution=mode))
        assert peak == expected_peak


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        ([call("nope", x=1)], "Unknown tool 'nope'. Available tools: add."),
        ([call("add", a="two", b=3)], "Invalid arguments for 'add'"),
        ([call("add", a=1)], "Invalid arguments for 'add'"),
        ([("add", '{"a": 1, "b": ')], "Invalid arguments for 'add': arguments are not valid JSON"),
    ],
)
async def test_bad_tool_calls_become_error_results(calls: list[Any], expected: str) -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply(tool_calls=calls), Reply("sorry")])
        _, result = await run_all(config(provider, add))
        [sent] = tool_results(provider, 1)
        assert sent.is_error
        assert sent.text.startswith(expected)
        assert result.text == "sorry"


async def test_a_raising_tool_becomes_an_error_result() -> None:
    @tool
    def explode() -> str:
        """Fail."""
        raise RuntimeError("disk on fire")

    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply(tool_calls=[call("explode")]), Reply("noted")])
        await run_all(config(provider, explode))
        [sent] = tool_results(provider, 1)
        assert sent.is_error
        assert sent.text == "Tool 'explode' failed: RuntimeError: disk on fire"


async def test_a_tool_past_its_timeout_becomes_an_error_result() -> None:
    @tool(timeout=0.05)
    async def stall() -> str:
        """Never finish."""
        await anyio.sleep_forever()
        return "unreachable"

    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [Reply(tool_calls=[call("stall"), call("add", a=1, b=1)]), Reply("ok")]
        )
        await run_all(config(provider, stall, add))
        timed_out, added = tool_results(provider, 1)
        assert timed_out.is_error
        assert timed_out.text == "Tool 'stall' timed out after 0.05 s."
        assert (added.text, added.is_error) == ("2", False)


async def test_run_level_tool_timeout_applies_to_sync_tools() -> None:
    release = threading.Event()

    @tool
    def block() -> str:
        """Block a worker thread until released."""
        release.wait(10)
        return "late"

    try:
        with anyio.fail_after(5):
            provider = ScriptedProvider([Reply(tool_calls=[call("block")]), Reply("ok")])
            # The run finishes while the thread still blocks: the timeout did not wait.
            await run_all(config(provider, block, tool_timeout=0.05))
            assert not release.is_set()
            [sent] = tool_results(provider, 1)
            assert sent.text == "Tool 'block' timed out after 0.05 s."
    finally:
        release.set()


async def test_tool_progress_is_reported_as_events() -> None:
    @tool
    async def download(url: str, context: ToolContext) -> str:
        """Fetch a URL."""
        await context.report("50%")
        await context.report("100%")
        return "content"

    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply(tool_calls=[call("download", url="x")]), Reply("ok")])
        events, _ = await run_all(config(provider, download))
        assert [e.progress for e in events if isinstance(e, ToolExecutionUpdate)] == ["50%", "100%"]


async def test_a_tool_can_end_the_run() -> None:
    @tool
    def finish(answer: str) -> ToolResult:
        """Give the final answer."""
        return ToolResult(answer, terminate=True)

    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply(tool_calls=[call("finish", answer="42")])])
        _, result = await run_all(config(provider, finish))
        assert result.stop_reason is StopReason.TOOL_TERMINATED
        assert isinstance(result.messages[-1], ToolResultMessage)
        assert result.messages[-1].text == "42"
        assert len(provider.requests) == 1


async def test_max_turns_stops_the_run() -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider(
            lambda context, options: Reply(tool_calls=[call("add", a=1, b=1)])
        )
        _, result = await run_all(config(provider, add, max_turns=3))
        assert result.stop_reason is StopReason.MAX_TURNS
        assert len(provider.requests) == 3


async def test_steering_skips_calls_not_yet_started_and_is_answered_next() -> None:
    queue: list[Any] = []

    @tool
    def step(n: int) -> str:
        """A step."""
        if n == 1:
            queue.append(UserMessage("stop, do something else"))
        return f"step {n}"

    def steering() -> list[Any]:
        taken = list(queue)
        queue.clear()
        return taken

    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [
                Reply(tool_calls=[call("step", n=1), call("step", n=2), call("step", n=3)]),
                Reply("switching"),
            ]
        )
        cfg = config(provider, step, tool_execution="sequential", get_steering_messages=steering)
        _, result = await run_all(cfg)
        results = tool_results(provider, 1)
        assert [r.text for r in results] == [
            "step 1",
            "Skipped: a new user message arrived before this tool ran.",
            "Skipped: a new user message arrived before this tool ran.",
        ]
        last = provider.requests[1].messages[-1]
        assert isinstance(last, UserMessage)
        assert last.text == "stop, do something else"
        assert result.text == "switching"


async def test_follow_ups_are_answered_when_the_run_would_end() -> None:
    queue = [UserMessage("and another thing")]

    def follow_ups() -> list[Any]:
        taken = list(queue)
        queue.clear()
        return taken

    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply("first"), Reply("second")])
        _, result = await run_all(config(provider, get_follow_up_messages=follow_ups))
        assert [m.text for m in result.messages] == ["hi", "first", "and another thing", "second"]


async def test_abort_while_streaming_ends_with_turn_end_and_agent_end() -> None:
    signal = AbortSignal()
    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [Reply("partial answer then nothing", chunk_size=8, error_after=3, hang=True)]
        )
        events: list[AgentEvent] = []
        async with agent_loop(config(provider, abort=signal), prompt="go") as stream:
            async for event in stream:
                events.append(event)
                match event:
                    case MessageUpdate(delta=TextDelta(text="answer t")):
                        signal.abort()
            result = await stream.result()
        check_protocol(events, complete=True)
        assert result.stop_reason is StopReason.ABORTED
        answer = result.messages[-1]
        assert answer.stop_reason is StopReason.ABORTED
        assert answer.text == "partial answer t"
        assert [type(e).__name__ for e in events[-3:]] == ["MessageEnd", "TurnEnd", "AgentEnd"]


async def test_abort_while_tools_run_cancels_them_and_records_results() -> None:
    signal = AbortSignal()
    cancelled: list[str] = []
    running: list[str] = []
    both_running = anyio.Event()

    @tool
    async def wait(name: str) -> str:
        """Wait forever."""
        running.append(name)
        if len(running) == 2:
            both_running.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(name)
        return "unreachable"

    async def abort_once_both_run() -> None:
        await both_running.wait()
        signal.abort()

    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [
                Reply(tool_calls=[call("wait", name="a"), call("wait", name="b")]),
            ]
        )
        cfg = config(provider, wait, abort=signal, tool_timeout=None)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(abort_once_both_run)
            _, result = await run_all(cfg)
        assert sorted(cancelled) == ["a", "b"]
        assert result.stop_reason is StopReason.ABORTED
        results = [m for m in result.messages if isinstance(m, ToolResultMessage)]
        assert [(r.text, r.is_error) for r in results] == [("Aborted while running.", True)] * 2


@pytest.mark.parametrize("error_after", [0, 1, 4])
async def test_provider_failure_reaches_consumer_after_earlier_events(error_after: int) -> None:
    failure = ProviderError("upstream overloaded", status=529)
    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [
                Reply(tool_calls=[call("add", a=1, b=2)]),
                Reply("this will break", chunk_size=4, error=failure, error_after=error_after),
            ]
        )
        events: list[AgentEvent] = []
        with pytest.raises(ProviderError) as caught:
            async with agent_loop(config(provider, add), prompt="go") as stream:
                async for event in stream:
                    events.append(event)
        assert caught.value is failure
        check_protocol(events, complete=False)
        completed = [e.message for e in events if isinstance(e, MessageEnd)]
        assert list(caught.value.messages) == completed
        assert [type(m).__name__ for m in completed] == [
            "UserMessage",
            "AssistantMessage",
            "ToolResultMessage",
        ]
        assert caught.value.usage == completed[1].usage
        with pytest.raises(ProviderError) as again:
            await stream.result()
        assert again.value is failure


@pytest.mark.parametrize("stage", ["transform", "before_tool_call", "after_tool_call", "on_event"])
async def test_user_code_failures_propagate_as_run_errors(stage: str) -> None:
    class HookFailed(Exception):
        pass

    def fail(*args: Any) -> Any:
        raise HookFailed(stage)

    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply(tool_calls=[call("add", a=1, b=2)]), Reply("done")])
        cfg = config(provider, add, **{stage: fail})
        with pytest.raises(RunError) as caught:
            await agent_loop(cfg, prompt="go").result()
        assert caught.value.stage == stage
        assert isinstance(caught.value.__cause__, HookFailed)
        assert str(caught.value) == f"{stage} raised HookFailed: {stage}"


async def test_before_tool_call_can_block_or_change_arguments() -> None:
    def decide(call_: ToolCall) -> ToolCallDecision | None:
        if call_.arguments.get("a") == 13:
            return ToolCallDecision.deny("unlucky number")
        if call_.arguments.get("a") == 1:
            return ToolCallDecision.replace({"a": 100, "b": call_.arguments["b"]})
        return None

    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [
                Reply(
                    tool_calls=[
                        call("add", a=13, b=1),
                        call("add", a=1, b=1),
                        call("add", a=2, b=2),
                    ]
                ),
                Reply("done"),
            ]
        )
        await run_all(config(provider, add, before_tool_call=decide))
        assert [(r.text, r.is_error) for r in tool_results(provider, 1)] == [
            ("Tool call 'add' was blocked: unlucky number", True),
            ("101", False),
            ("4", False),
        ]


async def test_after_tool_call_can_replace_the_result() -> None:
    async def redact(call_: ToolCall, result: ToolResult) -> ToolResult | None:
        return ToolResult("[redacted]") if call_.name == "echo" else None

    with anyio.fail_after(5):
        provider = ScriptedProvider(
            [Reply(tool_calls=[call("echo", text="secret"), call("add", a=1, b=1)]), Reply("ok")]
        )
        await run_all(config(provider, echo, add, after_tool_call=redact))
        assert [r.text for r in tool_results(provider, 1)] == ["[redacted]", "2"]


async def test_transform_output_is_what_the_provider_receives() -> None:
    def shout(context: Any, info: Any) -> Any:
        return context.evolve(system=(*context.system, *context.system))

    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply("ok")])
        await run_all(config(provider, system_prompt="Be brief.", transform=shout))
        assert [b.text for b in provider.requests[0].system] == ["Be brief.", "Be brief."]


async def test_continue_from_history_and_bad_starts() -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply("answered")])
        result = await agent_loop(config(provider), history=[UserMessage("pending")]).result()
        assert result.text == "answered"
        assert result.messages[0].role == "assistant"
    with pytest.raises(ValueError, match="nothing to answer"):
        agent_loop(config(provider))
    with pytest.raises(ValueError, match="assistant message"):
        agent_loop(config(provider), history=[UserMessage("q"), result.messages[0]])


async def test_breaking_out_early_stops_the_provider_stream() -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply("a" * 400, chunk_size=1, delay=0.001)])
        stream = agent_loop(config(provider), prompt="go")
        count = 0
        async with stream:
            async for _ in stream:
                count += 1
                if count == 10:
                    break
        assert stream.statistics().producer_done


async def test_run_result_reports_last_answer() -> None:
    with anyio.fail_after(5):
        provider = ScriptedProvider([Reply("one")])
        events, result = await run_all(config(provider))
        end = events[-1]
        assert isinstance(end, AgentEnd)
        assert end.messages == result.messages
        assert result.last_assistant is result.messages[-1]


def test_config_rejects_bad_values() -> None:
    provider = ScriptedProvider([])
    with pytest.raises(ValueError, match="max_turns"):
        config(provider, max_turns=0)
    with pytest.raises(ValueError, match="tool_execution"):
        config(provider, tool_execution="sideways")
    with pytest.raises(ValueError, match="duplicate tool names"):
        config(provider, add, add)
