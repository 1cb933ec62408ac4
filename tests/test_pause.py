"""Pause and resume as data: Paused, Approval, the resume gate, and runs that pause."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

from agentkit import (
    AbortSignal,
    Agent,
    AgentEnd,
    AgentEvent,
    Approval,
    AssistantMessage,
    LoopConfig,
    Message,
    ModelOptions,
    Paused,
    ResumeError,
    SerializationError,
    StopReason,
    ToolCall,
    ToolCallDecision,
    ToolDefinitionError,
    ToolExecutionStart,
    ToolResultMessage,
    Usage,
    UsageLimits,
    UserMessage,
    agent_loop,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call
from tests.protocol import check_protocol

pytestmark = pytest.mark.anyio


class Ops(Agent):
    """Two tools: ``look`` runs freely, ``delete`` needs a human's approval."""

    model = "m"

    def __init__(self, *args: Any, log: list[tuple[str, str]] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.log = log if log is not None else []

    @tool
    def look(self, what: str) -> str:
        """Look at something."""
        self.log.append(("look", what))
        return f"saw {what}"

    @tool(requires_approval=True)
    def delete(self, path: str) -> str:
        """Delete a file."""
        self.log.append(("delete", path))
        return f"deleted {path}"


class Hooked(Ops):
    """Defers ``look("secret")`` from before_tool_call; counts the hook's calls."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.hooked: list[str] = []

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        self.hooked.append(call.id)
        if call.name == "look" and call.arguments.get("what") == "secret":
            return ToolCallDecision.defer()
        return None


def batch(*calls: tuple[str, dict[str, Any]], turn: int = 1) -> Reply:
    """A reply whose calls have ids of their own (``t{turn}-{n}``), stable across processes."""
    return Reply(
        tool_calls=[ToolCall(f"t{turn}-{n}", name, args) for n, (name, args) in enumerate(calls)]
    )


def answered_once(messages: Sequence[Message]) -> None:
    """Every call of the history has exactly one result, before the next non-result message."""
    for i, message in enumerate(messages):
        if isinstance(message, AssistantMessage) and message.tool_calls:
            following = []
            for later in messages[i + 1 :]:
                if not isinstance(later, ToolResultMessage):
                    break
                following.append(later.tool_call_id)
            assert sorted(following) == sorted(c.id for c in message.tool_calls), message
    results = [m.tool_call_id for m in messages if isinstance(m, ToolResultMessage)]
    assert len(results) == len(set(results)), "no call is answered twice"


async def collect(stream: Any) -> tuple[list[AgentEvent], Any]:
    events: list[AgentEvent] = []
    async with stream:
        async for event in stream:
            events.append(event)
        return events, await stream.result()


def result_of(messages: Sequence[Message], call_id: str) -> ToolResultMessage:
    (found,) = [
        m for m in messages if isinstance(m, ToolResultMessage) and m.tool_call_id == call_id
    ]
    return found


# --------------------------------------------------------------------------- values


def test_approval_constructors_and_bad_values() -> None:
    assert Approval.approve() == Approval("approve")
    assert Approval.deny("too risky").reason == "too risky"
    assert Approval.replace({"path": "x"}).arguments == {"path": "x"}
    with pytest.raises(ValueError, match="kind"):
        Approval("maybe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reason"):
        Approval.deny(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="arguments"):
        Approval("replace")


async def test_a_paused_run_round_trips_through_json(anyio_backend: str) -> None:
    with anyio.fail_after(10):
        agent = Ops(provider=ScriptedProvider([batch(("delete", {"path": "a"}))]))
        result = await agent.run("clean up")
    paused = result.paused
    assert paused is not None
    text = paused.to_json()
    data = json.loads(text)
    assert data["version"] == 1 and data["type"] == "agentkit.paused"
    again = Paused.from_json(text)
    assert again == paused
    assert again.to_json() == text


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(type="other"), "type"),
        (lambda d: d.update(extra=1), "unknown keys"),
        (lambda d: d.pop("usage"), "missing keys"),
        (lambda d: d.update(turn=-1), "turn"),
        (lambda d: d.update(seconds=-1.0), "seconds"),
        (lambda d: d.update(pending=[]), "no pending calls"),
        (lambda d: d["pending"].append(d["pending"][0]), "answer"),
        (lambda d: d["messages"].pop(), "messages must end"),
        (lambda d: d.update(messages="x"), "messages"),
    ],
)
def test_bad_paused_json_is_a_serialization_error(mutate: Any, problem: str) -> None:
    answer = AssistantMessage((ToolCall("c1", "delete", {"path": "a"}),), StopReason.TOOL_USE)
    paused = Paused(
        run_id="r",
        agent="A",
        tools=("delete",),
        fingerprint="f",
        messages=(UserMessage("go"), answer),
        pending=answer.tool_calls,
    )
    data = json.loads(paused.to_json())
    mutate(data)
    with pytest.raises(SerializationError, match=problem):
        Paused.from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["", "{", "[]", "null", b"\xff"])
def test_malformed_json_is_a_serialization_error(text: str | bytes) -> None:
    with pytest.raises(SerializationError):
        Paused.from_json(text)


# --------------------------------------------------------------------------- pausing


async def test_a_call_needing_approval_pauses_after_its_siblings_ran(anyio_backend: str) -> None:
    script = [
        batch(("look", {"what": "disk"}), ("delete", {"path": "a"}), ("delete", {"path": "b"}))
    ]
    agent = Ops(provider=ScriptedProvider(script))
    with anyio.fail_after(10):
        events, result = await collect(agent.prompt("clean up"))
    check_protocol(events, complete=True)
    assert result.stop_reason is StopReason.PAUSED
    paused = result.paused
    assert paused is not None and events[-1] == AgentEnd(
        result.messages, result.usage, StopReason.PAUSED, paused
    )
    assert [c.id for c in paused.pending] == ["t1-1", "t1-2"]  # distinct ids: the call ids
    assert agent.log == [("look", "disk")]  # only the call that needed no approval ran
    # The finished result is in the conversation already, and in the paused state.
    assert result_of(agent.messages, "t1-0").text == "saw disk"
    assert paused.messages == agent.messages
    assert paused.finished == {"t1-0"}
    assert paused.agent.endswith("Ops") and paused.tools == ("look", "delete")
    assert paused.usage == result.usage and paused.requests == 1 and paused.turn == 1
    assert not agent.state.is_running


async def test_resume_approves_denies_and_replaces(anyio_backend: str) -> None:
    script = [
        batch(("look", {"what": "disk"}), ("delete", {"path": "a"}), ("delete", {"path": "b"})),
        batch(("delete", {"path": "c"}), turn=2),
        "done",
    ]
    provider = ScriptedProvider(script)
    agent = Ops(provider=provider)
    with anyio.fail_after(10):
        first = await agent.run("clean up")
        assert first.paused is not None
        events, second = await collect(
            agent.resume_stream(
                first.paused, {"t1-1": Approval.approve(), "t1-2": Approval.deny("keep b")}
            )
        )
        check_protocol(events, complete=True, first_turn=2)
        # A later turn asks again: the resumed run pauses too (nested).
        assert second.stop_reason is StopReason.PAUSED and second.paused is not None
        assert [c.id for c in second.paused.pending] == ["t2-0"]
        third = await agent.resume(second.paused, {"t2-0": Approval.replace({"path": "c.bak"})})
    assert third.stop_reason is StopReason.STOP and third.text == "done"
    assert agent.log == [("look", "disk"), ("delete", "a"), ("delete", "c.bak")]
    assert result_of(agent.messages, "t1-2").text == "Tool call 'delete' was denied: keep b"
    assert result_of(agent.messages, "t1-2").is_error
    assert result_of(agent.messages, "t2-0").text == "deleted c.bak"
    answered_once(agent.messages)
    # Every request the model saw was valid: each call answered before the next request.
    answered_once(provider.requests[-1].messages)
    # Limits state counts on across the pauses.
    assert second.paused.requests == 2 and second.paused.turn == 2
    assert second.paused.usage == first.usage + second.usage
    # The resumed run's tool events: Start and End for each decided call.
    starts = [e.call.id for e in events if isinstance(e, ToolExecutionStart)]
    assert starts == ["t1-1", "t1-2", "t2-0"]


async def test_a_deferring_hook_pauses_and_is_not_asked_again(anyio_backend: str) -> None:
    script = [batch(("look", {"what": "secret"}), ("look", {"what": "disk"})), "ok"]
    agent = Hooked(provider=ScriptedProvider(script))
    with anyio.fail_after(10):
        first = await agent.run("look around")
        assert first.paused is not None
        assert [c.id for c in first.paused.pending] == ["t1-0"]
        assert agent.log == [("look", "disk")]
        second = await agent.resume(first.paused, {"t1-0": Approval.approve()})
    assert second.text == "ok"
    assert agent.log == [("look", "disk"), ("look", "secret")]
    assert agent.hooked == ["t1-0", "t1-1"]  # the human's decision replaced the hook
    answered_once(agent.messages)


async def test_a_new_agent_of_a_renamed_class_resumes_from_json(anyio_backend: str) -> None:
    class Renamed(Ops):
        pass

    log: list[tuple[str, str]] = []
    script = [batch(("delete", {"path": "a"})), "done"]
    with anyio.fail_after(10):
        first = await Ops(provider=ScriptedProvider(script), log=log).run("go")
        assert first.paused is not None
        text = first.paused.to_json()
        fresh = Renamed(provider=ScriptedProvider(script[1:]), log=log)
        result = await fresh.resume(Paused.from_json(text), {"t1-0": Approval.approve()})
    assert result.text == "done" and log == [("delete", "a")]
    assert fresh.messages[: len(first.paused.messages)] == first.paused.messages
    answered_once(fresh.messages)


# --------------------------------------------------------------------------- failing closed


async def paused_ops(log: list[tuple[str, str]]) -> Paused:
    script = [
        batch(("look", {"what": "disk"}), ("delete", {"path": "a"}), ("delete", {"path": "b"}))
    ]
    result = await Ops(provider=ScriptedProvider(script), log=log).run("go")
    assert result.paused is not None
    return result.paused


@pytest.mark.parametrize(
    ("decisions", "problem"),
    [
        ({"t1-1": Approval.approve()}, r"no decision for tool call\(s\) \['t1-2'\]"),
        (
            {"t1-1": Approval.approve(), "t1-2": Approval.approve(), "zz": Approval.approve()},
            "unknown tool call id 'zz'",
        ),
        (
            {"t1-0": Approval.approve(), "t1-1": Approval.approve(), "t1-2": Approval.approve()},
            "'t1-0' needed no approval",
        ),
        ({"t1-1": True, "t1-2": Approval.approve()}, "must be an Approval"),
        (
            {"t1-1": Approval.replace({"path": 3}), "t1-2": Approval.approve()},
            "replaced arguments for 'delete'",
        ),
        ([], "mapping"),
    ],
)
async def test_decisions_that_do_not_fit_fail_before_anything_runs(
    anyio_backend: str, decisions: Any, problem: str
) -> None:
    log: list[tuple[str, str]] = []
    with anyio.fail_after(10):
        paused = await paused_ops(log)
        provider = ScriptedProvider(["never"])
        agent = Ops(provider=provider, log=log)
        with pytest.raises(ResumeError, match=problem):
            agent.resume_stream(paused, decisions)
    assert log == [("look", "disk")] and provider.requests == [] and agent.messages == ()


class OtherSchema(Agent):
    model = "m"

    @tool
    def look(self, what: str) -> str:
        """Look."""
        return what

    @tool(requires_approval=True)
    def delete(self, path: str, force: bool = False) -> str:
        """Delete."""
        return path


class NoApprovalFlag(Agent):
    model = "m"

    @tool
    def look(self, what: str) -> str:
        """Look."""
        return what

    @tool
    def delete(self, path: str) -> str:
        """Delete."""
        return path


class Renamed(Agent):
    model = "m"

    @tool
    def look(self, what: str) -> str:
        """Look."""
        return what

    @tool(name="remove", requires_approval=True)
    def delete(self, path: str) -> str:
        """Delete."""
        return path


@pytest.mark.parametrize(
    ("cls", "problem"),
    [
        (OtherSchema, "same names, but a parameter schema"),
        (NoApprovalFlag, "an approval flag changed"),
        (Renamed, r"missing \['delete'\], added \['remove'\]"),
    ],
)
async def test_a_different_tool_set_fails_closed(
    anyio_backend: str, cls: type[Agent], problem: str
) -> None:
    with anyio.fail_after(10):
        paused = await paused_ops([])
    agent = cls(provider=ScriptedProvider(["never"]))
    decisions = {"t1-1": Approval.approve(), "t1-2": Approval.approve()}
    with pytest.raises(ResumeError, match=problem):
        agent.resume_stream(paused, decisions)


async def test_an_agent_that_moved_on_cannot_resume(anyio_backend: str) -> None:
    log: list[tuple[str, str]] = []
    script = [batch(("delete", {"path": "a"})), "fine"]
    agent = Ops(provider=ScriptedProvider(script), log=log)
    with anyio.fail_after(10):
        first = await agent.run("go")
        assert first.paused is not None
        await agent.run("never mind")  # the pending call gets a "not run" result
        with pytest.raises(ResumeError, match="conversation"):
            agent.resume_stream(first.paused, {"t1-0": Approval.approve()})
    assert log == []
    answered_once(agent.messages)
    with pytest.raises(ResumeError, match="Paused"):
        agent.resume_stream("state", {})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- with the others


async def test_an_abort_during_a_batch_wins_over_the_pause(anyio_backend: str) -> None:
    signal = AbortSignal()

    @tool
    def stop_now() -> str:
        """Abort the run."""
        signal.abort()
        return "stopping"

    @tool(requires_approval=True)
    def guarded() -> str:
        """Never runs."""
        raise AssertionError("ran")

    config = LoopConfig(
        provider=ScriptedProvider([Reply(tool_calls=[call("guarded"), call("stop_now")])]),
        options=ModelOptions(model="m"),
        tools=(guarded, stop_now),
        abort=signal,
    )
    with anyio.fail_after(10):
        events, result = await collect(agent_loop(config, prompt="go"))
    check_protocol(events, complete=True)
    assert result.stop_reason is StopReason.ABORTED and result.paused is None
    (guard,) = [
        m for m in result.messages if isinstance(m, ToolResultMessage) and m.tool_name == "guarded"
    ]
    assert guard.text == "Not run: the run was aborted." and guard.is_error
    answered_once(result.messages)


async def test_agent_loop_resumes_steering_terminate_and_limits(anyio_backend: str) -> None:
    queued: list[Message] = []

    @tool
    def finish() -> Any:
        """End the run once the batch is done; a message arrives meanwhile."""
        queued.append(UserMessage("by the way"))
        from agentkit import ToolResult

        return ToolResult("finishing", terminate=True)

    @tool(requires_approval=True)
    def guarded(n: int) -> str:
        """Guarded."""
        return f"guarded {n}"

    def take() -> list[Message]:
        taken = list(queued)
        queued.clear()
        return taken

    provider = ScriptedProvider([Reply(tool_calls=[call("guarded", n=1), call("finish")])])
    config = LoopConfig(
        provider=provider,
        options=ModelOptions(model="m", max_tokens=100),
        tools=(guarded, finish),
        get_steering_messages=take,
        limits=UsageLimits(tool_calls=2, requests=1),
    )
    with anyio.fail_after(10):
        first = await collect(agent_loop(config, prompt="go"))
        paused = first[1].paused
        assert paused is not None and paused.terminate and paused.tool_calls == 2
        assert paused.steering == (UserMessage("by the way"),)  # kept for after the results
        # Through JSON, as another process would; agent_loop takes the history from it.
        restored = Paused.from_json(paused.to_json())
        events, result = await collect(
            agent_loop(
                config, paused=restored, decisions={paused.pending[0].id: Approval.approve()}
            )
        )
    check_protocol(events, complete=True, first_turn=2)
    assert result.stop_reason is StopReason.TOOL_TERMINATED  # the finished call asked for it
    assert [type(m).__name__ for m in result.messages] == ["ToolResultMessage", "UserMessage"]
    assert result.messages[0].text == "guarded 1"  # type: ignore[union-attr]
    assert len(provider.requests) == 1  # the run ended without asking the model again
    history = [*restored.messages, *result.messages]
    answered_once(history)
    with pytest.raises(ValueError, match="no history or prompt"):
        agent_loop(config, prompt="x", paused=restored, decisions={})


async def test_a_limit_crossed_by_the_answer_answers_pending_calls(anyio_backend: str) -> None:
    @tool(requires_approval=True)
    def guarded(n: int) -> str:
        """Guarded."""
        return "never"

    config = LoopConfig(
        provider=ScriptedProvider([Reply(tool_calls=[call("guarded", n=1), call("guarded", n=2)])]),
        options=ModelOptions(model="m"),
        tools=(guarded,),
        limits=UsageLimits(tool_calls=1, on_exceed="stop"),
    )
    with anyio.fail_after(10):
        events, result = await collect(agent_loop(config, prompt="go"))
    check_protocol(events, complete=True)
    assert result.stop_reason is StopReason.USAGE_LIMIT and result.paused is None
    texts = [m.text for m in result.messages if isinstance(m, ToolResultMessage)]
    assert texts == ["Not run: the run reached its usage limit (tool_calls)."] * 2
    answered_once(result.messages)


async def test_the_turn_limit_holds_across_a_pause(anyio_backend: str) -> None:
    provider = ScriptedProvider([batch(("delete", {"path": "a"})), "never asked"])
    agent = Ops(provider=provider, max_turns=1)
    with anyio.fail_after(10):
        first = await agent.run("go")
        assert first.paused is not None
        second = await agent.resume(first.paused, {"t1-0": Approval.approve()})
    assert second.stop_reason is StopReason.MAX_TURNS
    assert len(provider.requests) == 1 and agent.log == [("delete", "a")]
    answered_once(agent.messages)


def test_paused_usage_is_kept_exactly() -> None:
    answer = AssistantMessage((ToolCall("c1", "x"),), StopReason.TOOL_USE)
    paused = Paused(
        run_id="r",
        agent="",
        tools=("x",),
        fingerprint="f",
        messages=(answer,),
        pending=answer.tool_calls,
        usage=Usage(input=3, output=4, cost=0.1 + 0.2),
        seconds=1.5,
    )
    assert Paused.from_json(paused.to_json()) == paused
    assert attrs.evolve(paused, seconds=2.0) != paused


async def test_request_and_cost_limits_count_the_paused_spend(anyio_backend: str) -> None:
    provider = ScriptedProvider([batch(("delete", {"path": "a"})), "never asked"])
    agent = Ops(provider=provider, limits=UsageLimits(requests=1, on_exceed="stop"))
    with anyio.fail_after(10):
        first = await agent.run("go")
        assert first.paused is not None
        second = await agent.resume(first.paused, {"t1-0": Approval.approve()})
    # The paused run made the one request allowed: the resumed run may not make another.
    assert second.stop_reason is StopReason.USAGE_LIMIT
    assert second.limit_exceeded is not None and second.limit_exceeded.spent == 1
    assert len(provider.requests) == 1 and agent.log == [("delete", "a")]
    answered_once(agent.messages)


async def test_output_tokens_spent_before_the_pause_count(anyio_backend: str) -> None:
    spent = Usage(input=10, output=90)
    provider = ScriptedProvider(
        [Reply(tool_calls=[ToolCall("t1-0", "delete", {"path": "a"})], usage=spent), "x"]
    )
    limits = UsageLimits(output_tokens=100, on_exceed="stop")
    agent = Ops(provider=provider, limits=limits, max_tokens=20)
    with anyio.fail_after(10):
        first = await agent.run("go")
        assert first.paused is not None and first.paused.usage == spent
        second = await agent.resume(
            Paused.from_json(first.paused.to_json()), {"t1-0": Approval.approve()}
        )
    # 90 spent before the pause + up to 20 more would cross 100: not asked.
    assert second.stop_reason is StopReason.USAGE_LIMIT
    assert second.limit_exceeded is not None
    assert (second.limit_exceeded.spent, second.limit_exceeded.projected) == (90, 110)
    assert len(provider.requests) == 1


async def test_in_process_approval_prompts_never_overlap_and_come_in_call_order(
    anyio_backend: str,
) -> None:
    asked: list[str] = []
    open_prompts = 0
    most = 0

    class Asking(Ops):
        async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
            nonlocal open_prompts, most
            open_prompts += 1
            most = max(most, open_prompts)
            asked.append(call.id)
            for _ in range(5):  # a human takes a while; other tasks get every chance to run
                await anyio.lowlevel.checkpoint()
            open_prompts -= 1
            return None

    calls = [("look", {"what": str(n)}) for n in range(4)]
    agent = Asking(provider=ScriptedProvider([batch(*calls), "done"]))
    with anyio.fail_after(10):
        await agent.run("look at everything")
    assert most == 1
    assert asked == ["t1-0", "t1-1", "t1-2", "t1-3"]
    assert sorted(agent.log) == [("look", str(n)) for n in range(4)]


def test_requires_approval_must_be_a_bool() -> None:
    def f() -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match="requires_approval must be True or False"):
        tool(requires_approval="yes")(f)  # type: ignore[arg-type]
    assert tool(requires_approval=True)(f).requires_approval
    assert not tool(f).requires_approval
