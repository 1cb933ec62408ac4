"""Durable runs on a real Temporal server give what the same run gives in-process."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from temporalio.client import Client, WorkflowHandle

from agentkit import (
    Agent,
    AgentEnd,
    AgentEvent,
    AgentStart,
    AnthropicProvider,
    AssistantMessage,
    AuthenticationError,
    MessageEnd,
    MessageStart,
    MessageUpdate,
    RunResult,
    StopReason,
    TextDelta,
    ToolExecutionStart,
    ToolResultMessage,
    UsageLimitExceeded,
    UsageLimits,
    tool,
)
from agentkit.temporal import (
    DurableAgent,
    DurableRun,
    LocalPayloadStore,
    create_replayer,
    create_worker,
    start_run,
)
from agentkit.testing import Reply, ScriptedProvider
from agentkit.testing.emulator import Emulator, ToolUse
from agentkit.testing.emulator import ModelReply as EmulatorReply
from tests.temporal.agents import Calculator, Guarded, Waiter, dump

pytestmark = pytest.mark.anyio

API_KEY = "sk-temporal-SENTINEL-key"
HAIKU = "claude-3-5-haiku-20241022"


def queue() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


async def replay(handle: WorkflowHandle[Any, Any], task_queue: str, agents: Sequence[Any]) -> None:
    """The recorded history replays on the current code without a non-determinism error."""
    history = await handle.fetch_history()
    await create_replayer(task_queue, agents).replay_workflow(history)


async def durable(
    address: str,
    spec: DurableAgent,
    prompt: str,
    *,
    limits: UsageLimits | None = None,
) -> tuple[RunResult | UsageLimitExceeded, DurableRun, str]:
    client = await Client.connect(address)
    task_queue = queue()
    async with create_worker(client, task_queue, [spec]):
        run = await start_run(
            client,
            spec,
            prompt,
            id=f"run-{uuid.uuid4().hex}",
            task_queue=task_queue,
            limits=limits,
            execution_timeout=timedelta(seconds=60),
        )
        outcome: RunResult | UsageLimitExceeded
        try:
            outcome = await run.result()
        except UsageLimitExceeded as exc:
            outcome = exc
    await replay(run.handle, task_queue, [spec])
    return outcome, run, task_queue


async def test_a_tool_using_run_gives_the_in_process_result_with_parallel_tools_in_call_order(
    temporal_address: str,
) -> None:
    with anyio.fail_after(60):
        reference = await Calculator().run("Add 2 and 3, and shout hi.")
        worker_agent = Calculator()
        spec = DurableAgent(Calculator, build=lambda: worker_agent)
        outcome, _, _ = await durable(temporal_address, spec, "Add 2 and 3, and shout hi.")
    assert isinstance(outcome, RunResult)
    assert dump(outcome) == dump(reference)
    assert outcome.usage == reference.usage
    assert outcome.stop_reason is StopReason.STOP
    results = [m for m in outcome.messages if isinstance(m, ToolResultMessage)]
    assert [(r.tool_name, r.text) for r in results] == [("slow_add", "5"), ("shout", "HI")]
    assert outcome.text == "Results: 5 | HI"
    # The sync tool was still running when the async one ran: one batch, concurrently.
    shout = next(entry for entry in worker_agent.log if entry.startswith("shout:"))
    # (the two activities may start in either order; slow_add ends only after shout ran)
    assert sorted(worker_agent.log[:2]) == sorted(["slow_add:start", shout])
    assert worker_agent.log[2:] == ["slow_add:end:True"]
    assert shout == f"shout:{results[1].tool_call_id}", "the call id reaches the tool"


class Reviewer(Agent):
    model = HAIKU
    system_prompt = "You review code. " * 40
    max_tokens = 32

    @tool
    def read_file(self, path: str) -> str:
        """Read a file of the repository."""
        return f"contents of {path}: " + "x = 1\n" * 20


def session(steps: int) -> list[EmulatorReply]:
    replies = [
        EmulatorReply(text=f"Step {n}.", tool_calls=[ToolUse("read_file", {"path": f"m{n}.py"})])
        for n in range(steps - 1)
    ]
    return [*replies, EmulatorReply(text="Done: the patch is fine.")]


async def in_process_review(
    steps: int, limits: UsageLimits | None
) -> RunResult | UsageLimitExceeded:
    async with Emulator(script=session(steps)) as emulator:
        provider = AnthropicProvider(api_key=API_KEY, base_url=emulator.anthropic_base_url)
        async with provider:
            try:
                return await Reviewer(provider=provider).run("Review it.", limits=limits)
            except UsageLimitExceeded as exc:
                return exc


async def durable_review(
    address: str, steps: int, limits: UsageLimits | None
) -> RunResult | UsageLimitExceeded:
    async with Emulator(script=session(steps)) as emulator:
        provider = AnthropicProvider(api_key=API_KEY, base_url=emulator.anthropic_base_url)
        async with provider:
            spec = DurableAgent(Reviewer, build=lambda: Reviewer(provider=provider))
            outcome, _, _ = await durable(address, spec, "Review it.", limits=limits)
            return outcome


def same_outcome(a: RunResult | UsageLimitExceeded, b: RunResult | UsageLimitExceeded) -> None:
    assert type(a) is type(b)
    if isinstance(a, UsageLimitExceeded):
        assert isinstance(b, UsageLimitExceeded)
        assert a.exceeded == b.exceeded
    assert json.dumps([m.to_dict() for m in a.messages]) == json.dumps(
        [m.to_dict() for m in b.messages]
    )
    assert a.usage == b.usage


async def test_an_emulated_run_and_a_cost_budget_stop_exactly_as_in_process(
    temporal_address: str,
) -> None:
    steps = 6
    with anyio.fail_after(80):
        unlimited = await in_process_review(steps, None)
        assert isinstance(unlimited, RunResult)
        answers = [m for m in unlimited.messages if isinstance(m, AssistantMessage)]
        assert len(answers) == steps
        assert all(a.usage.cost > 0 for a in answers)
        same_outcome(unlimited, await durable_review(temporal_address, steps, None))
        # What the first five requests really cost: the budget stops the run before the end.
        limit = sum(a.usage.cost for a in answers[:5])
        for on_exceed in ("raise", "stop"):
            limits = UsageLimits(cost_usd=limit, on_exceed=on_exceed)
            reference = await in_process_review(steps, limits)
            outcome = await durable_review(temporal_address, steps, limits)
            same_outcome(reference, outcome)
            if isinstance(outcome, RunResult):
                assert outcome.stop_reason is StopReason.USAGE_LIMIT
                assert outcome.limit_exceeded is not None
                assert outcome.limit_exceeded.limit == "cost_usd"
            else:
                assert outcome.limit == "cost_usd"
            made = [m for m in outcome.messages if isinstance(m, AssistantMessage)]
            assert 1 <= len(made) < steps
            assert outcome.usage is not None and outcome.usage.cost <= limit


async def waiting_run(address: str, act: str) -> tuple[RunResult, Waiter]:
    client = await Client.connect(address)
    task_queue = queue()
    agent = Waiter()
    spec = DurableAgent(Waiter, build=lambda: agent)
    async with create_worker(client, task_queue, [spec]):
        run = await start_run(
            client,
            spec,
            "Wait for me.",
            id=f"run-{uuid.uuid4().hex}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )
        await agent.started.wait()
        if act == "abort":
            await run.abort()
        elif act == "steer":
            await run.steer("Turn left.")
            agent.release.set()
        else:
            await run.follow_up("And then?")
            agent.release.set()
        result = await run.result()
    await replay(run.handle, task_queue, [spec])
    return result, agent


async def test_abort_cancels_the_running_tool_activity_and_ends_the_run_aborted(
    temporal_address: str,
) -> None:
    # Within seconds: heartbeats go out at most a second apart, so the cancel arrives fast.
    with anyio.fail_after(15):
        result, agent = await waiting_run(temporal_address, "abort")
    assert result.stop_reason is StopReason.ABORTED
    assert agent.cancelled.is_set(), "the cancellation reached the tool in its activity"
    results = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert [(r.text, r.is_error) for r in results] == [("Aborted while running.", True)]
    assert agent.calls == ["w1"]


@pytest.mark.parametrize(("act", "message"), [("steer", "Turn left."), ("follow_up", "And then?")])
async def test_steering_and_follow_ups_reach_the_durable_run(
    temporal_address: str, act: str, message: str
) -> None:
    with anyio.fail_after(40):
        result, agent = await waiting_run(temporal_address, act)
    assert result.stop_reason is StopReason.STOP
    texts = [(m.role, m.text) for m in result.messages]
    if act == "steer":
        # Delivered after the running tool, before the model is asked again.
        assert texts[-4:] == [
            ("assistant", "Waiting."),
            ("tool_result", "released w1"),
            ("user", message),
            ("assistant", f"Heard: {message}"),
        ]
    else:
        # Answered once the model was done.
        assert texts[-4:] == [
            ("tool_result", "released w1"),
            ("assistant", "Done after 1 waits."),
            ("user", message),
            ("assistant", f"Heard: {message}"),
        ]
    assert agent.calls == ["w1"]


BIG = "y" * 300_000  # over the default payload_limit of 256 KiB


class Archivist(Agent):
    model = "scripted-model"

    @tool
    def read_archive(self) -> str:
        """Read the whole archive."""
        return BIG


def archive_policy(context: Any, options: Any) -> Any:
    from agentkit.testing import Reply, call

    results = [m for m in context.messages if isinstance(m, ToolResultMessage)]
    if not results:
        return Reply(text="Reading.", tool_calls=[call("read_archive")])
    return Reply(text=f"The archive holds {len(results[0].text)} characters.", usage=None)


async def test_a_large_tool_result_goes_to_the_store_and_the_model_still_sees_all_of_it(
    temporal_address: str, tmp_path: Path
) -> None:
    from agentkit.testing import ScriptedProvider

    provider = ScriptedProvider(archive_policy)
    store = LocalPayloadStore(tmp_path / "payloads")
    spec = DurableAgent(Archivist, build=lambda: Archivist(provider=provider), payload_store=store)
    with anyio.fail_after(40):
        outcome, run, _ = await durable(temporal_address, spec, "How big is it?")
        history = await run.handle.fetch_history()
    assert isinstance(outcome, RunResult)
    assert outcome.text == f"The archive holds {len(BIG)} characters."
    # The provider got the whole result back; the history only a placeholder naming it.
    assert provider.requests[-1].messages[-1].text == BIG
    assert len(history.to_json()) < 100_000
    stored = list((tmp_path / "payloads").iterdir())
    assert len(stored) == 1 and BIG in stored[0].read_text()


async def test_a_large_tool_result_without_a_store_is_a_typed_error_not_a_retried_task(
    temporal_address: str,
) -> None:
    from agentkit.testing import ScriptedProvider

    provider = ScriptedProvider(archive_policy)
    spec = DurableAgent(Archivist, build=lambda: Archivist(provider=provider))
    with anyio.fail_after(40):
        outcome, _, _ = await durable(temporal_address, spec, "How big is it?")
    assert isinstance(outcome, RunResult)
    result = next(m for m in outcome.messages if isinstance(m, ToolResultMessage))
    assert result.is_error
    assert "PayloadTooLargeError" in result.text
    size = len(json.dumps({"type": "text", "text": BIG}, separators=(",", ":")))
    assert f"is {size} bytes, over the durable payload limit of {256 * 1024} bytes" in result.text
    assert provider.requests[-1].messages[-1] == result, "the model was told, once"


def test_importing_agentkit_does_not_import_temporalio() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, agentkit, agentkit.testing, agentkit.providers; "
            "print('temporalio' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"


async def test_hooks_and_transforms_run_in_the_workflow_as_they_do_in_process(
    temporal_address: str,
) -> None:
    with anyio.fail_after(40):
        local = Guarded()
        reference = await local.run("Add and shout.")
        worker_agent = Guarded()
        spec = DurableAgent(Guarded, build=lambda: worker_agent)
        outcome, _, _ = await durable(temporal_address, spec, "Add and shout.")
    assert isinstance(outcome, RunResult)
    assert dump(outcome) == dump(reference)
    assert outcome.text == (
        "Got: sum=30 (False) | Tool call 'shout' was blocked: no shouting here (True)"
    )
    provider = worker_agent.provider
    assert isinstance(provider, ScriptedProvider)
    assert [r.system_text for r in provider.requests] == ["Turn 1.", "Turn 2."]
    # on_event ran in the workflow for every event (and replay() ran them all once more);
    # the model's deltas come one per block there, as the answer arrives whole.
    expected = [name for name in local.events if name != "MessageUpdate"]
    assert [name for name in worker_agent.events if name != "MessageUpdate"] == expected * 2
    # text (delta, end), two calls (start, arguments, end each), then text: twice
    assert worker_agent.events.count("MessageUpdate") == 2 * (2 + 3 + 3 + 2)


async def test_a_provider_error_fails_the_durable_run_with_the_same_typed_error(
    temporal_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(context: Any, options: Any) -> Reply:
        return Reply(error=AuthenticationError("the key was refused", status=401))

    with anyio.fail_after(40):
        with pytest.raises(AuthenticationError) as local:
            await Guarded(provider=ScriptedProvider(failing)).run("Hello?")
        spec = DurableAgent(Guarded, build=lambda: Guarded(provider=ScriptedProvider(failing)))
        client = await Client.connect(temporal_address)
        task_queue = queue()
        async with create_worker(client, task_queue, [spec]):
            run = await start_run(
                client, spec, "Hello?", id=f"run-{uuid.uuid4().hex}", task_queue=task_queue
            )
            with pytest.raises(AuthenticationError) as durable_error:
                await run.result()
    assert str(durable_error.value) == str(local.value)
    assert durable_error.value.status == 401
    assert [m.to_dict() for m in durable_error.value.messages] == [
        m.to_dict() for m in local.value.messages
    ]
    history = await run.handle.fetch_history()
    started = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert len(started) == 1, "a non-retryable provider error is not retried"
    await replay(run.handle, task_queue, [spec])
    failed = [r for r in caplog.records if r.getMessage().startswith("run.failed")]
    assert len(failed) == 2, "logged in-process and by the durable run, not again on replay"


def without_deltas(events: Sequence[AgentEvent]) -> list[dict[str, Any]]:
    from agentkit.temporal._events import event_to_dict

    # A durable run's id is its workflow id; the rest must match.
    return [
        {**event_to_dict(e), "run_id": "-"} if isinstance(e, AgentStart) else event_to_dict(e)
        for e in events
        if not isinstance(e, MessageUpdate)
    ]


def streamed_text(events: Sequence[AgentEvent]) -> list[str]:
    """The text of each assistant message, as its deltas built it."""
    texts: list[str] = []
    for event in events:
        if isinstance(event, MessageStart) and isinstance(event.message, AssistantMessage):
            texts.append("")
        elif isinstance(event, MessageUpdate) and isinstance(event.delta, TextDelta):
            texts[-1] += event.delta.text
    return texts


async def test_a_client_follows_the_events_live_and_gets_those_of_the_in_process_run(
    temporal_address: str,
) -> None:
    local = Waiter()
    local.release.set()
    reference: list[AgentEvent] = []
    local.subscribe(reference.append)
    with anyio.fail_after(40):
        await local.run("Wait for me.")
        client = await Client.connect(temporal_address)
        task_queue = queue()
        agent = Waiter()
        spec = DurableAgent(Waiter, build=lambda: agent)
        seen: list[AgentEvent] = []
        tool_running = anyio.Event()
        async with create_worker(client, task_queue, [spec]):
            run = await start_run(
                client, spec, "Wait for me.", id=f"run-{uuid.uuid4().hex}", task_queue=task_queue
            )

            async def follow() -> None:
                async for event in run.events(poll_interval=0.05):
                    seen.append(event)
                    if isinstance(event, ToolExecutionStart):
                        tool_running.set()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(follow)
                # Live: the client saw the tool start while the tool is still held.
                await tool_running.wait()
                assert not agent.release.is_set()
                agent.release.set()
            result = await run.result()
    assert isinstance(seen[0], AgentStart) and seen[0].run_id == run.id
    assert isinstance(seen[-1], AgentEnd)
    assert seen[-1].messages == result.messages
    assert without_deltas(seen) == without_deltas(reference)
    assert streamed_text(seen) == streamed_text(reference) == ["Waiting.", "Done after 1 waits."]


async def test_every_event_survives_its_json_form() -> None:
    from agentkit.temporal._events import answer_deltas, event_from_dict, event_to_dict

    agent = Guarded()
    events: list[AgentEvent] = []
    agent.subscribe(events.append)
    with anyio.fail_after(10):
        await agent.run("Add and shout.")
    assert len({type(e) for e in events}) >= 9
    for event in events:
        assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event
    answers = [e.message for e in events if isinstance(e, MessageEnd)]
    for answer in answers:
        if isinstance(answer, AssistantMessage):
            for delta in answer_deltas(answer):
                again = event_from_dict(event_to_dict(MessageUpdate(delta)))
                assert again == MessageUpdate(delta)


async def test_a_tool_timeout_is_a_durable_timer_that_cancels_the_tool_activity(
    temporal_address: str,
) -> None:
    with anyio.fail_after(40):
        reference = await Waiter(tool_timeout=0.5).run("Wait for me.")
        agent = Waiter(tool_timeout=0.5)
        spec = DurableAgent(Waiter, build=lambda: agent)
        outcome, run, _ = await durable(temporal_address, spec, "Wait for me.")
        history = await run.handle.fetch_history()
    assert isinstance(outcome, RunResult)
    assert dump(outcome) == dump(reference)
    result = next(m for m in outcome.messages if isinstance(m, ToolResultMessage))
    assert (result.text, result.is_error) == ("Tool 'wait_here' timed out after 0.5 s.", True)
    assert agent.cancelled.is_set(), "the timeout cancelled the tool in its activity"
    timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
    assert len(timers) == 1, "the timeout is a Temporal timer, which survives a worker restart"


async def test_abort_during_the_model_call_cancels_the_model_activity(
    temporal_address: str,
) -> None:
    asked = anyio.Event()

    def hang(context: Any, options: Any) -> Reply:
        asked.set()
        return Reply(text="never", hang=True)

    spec = DurableAgent(Guarded, build=lambda: Guarded(provider=ScriptedProvider(hang)))
    client = await Client.connect(temporal_address)
    task_queue = queue()
    with anyio.fail_after(15):
        async with create_worker(client, task_queue, [spec]):
            run = await start_run(
                client, spec, "Hello?", id=f"run-{uuid.uuid4().hex}", task_queue=task_queue
            )
            await asked.wait()
            await run.abort()
            result = await run.result()
        history = await run.handle.fetch_history()
    assert result.stop_reason is StopReason.ABORTED
    answer = result.messages[-1]
    assert isinstance(answer, AssistantMessage)
    assert (answer.stop_reason, answer.content) == (StopReason.ABORTED, ())
    # The activity heard the cancellation and stopped: Temporal recorded it as cancelled.
    assert any(e.HasField("activity_task_canceled_event_attributes") for e in history.events)
    await replay(run.handle, task_queue, [spec])
