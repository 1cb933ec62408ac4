"""Agent: subclassing, state, hooks, steering, abort and recovery after errors."""

from __future__ import annotations

import gc
from typing import Any

import anyio
import pytest

from agentkit import (
    AgentBusyError,
    AgentEvent,
    AssistantMessage,
    Context,
    MessageUpdate,
    ProviderError,
    StopReason,
    ToolCall,
    ToolCallDecision,
    ToolDefinitionError,
    ToolExecutionStart,
    ToolResultMessage,
    TransformInfo,
    UserMessage,
)
from agentkit._agent import Agent
from agentkit._tools import ToolResult, tool
from agentkit.testing import Reply, ScriptedProvider, call

pytestmark = pytest.mark.anyio


class Calculator(Agent):
    model = "scripted-model"
    system_prompt = "You add numbers."

    @tool
    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @tool
    async def negate(self, x: int) -> int:
        """Negate an integer."""
        return -x


def scripted(*replies: Reply | str) -> ScriptedProvider:
    return ScriptedProvider(list(replies))


async def test_subclass_with_tool_methods_runs_a_tool_turn() -> None:
    with anyio.fail_after(5):
        provider = scripted(Reply(tool_calls=[call("add", a=2, b=3)]), "5")
        agent = Calculator(provider=provider)
        assert [t.name for t in agent.tools] == ["add", "negate"]
        result = await agent.run("2 + 3?")
        assert result.text == "5"
        assert provider.requests[0].system_text == "You add numbers."
        assert [t.name for t in provider.requests[0].tools] == ["add", "negate"]
        assert [m.role for m in agent.messages] == ["user", "assistant", "tool_result", "assistant"]
        assert result.usage.input == sum(
            m.usage.input for m in agent.messages if isinstance(m, AssistantMessage)
        )
        assert not agent.state.is_running


async def test_constructor_arguments_override_class_attributes() -> None:
    with anyio.fail_after(5):
        provider = scripted("ok")
        extra = tool(lambda: "x", name="extra", description="Extra tool.")
        agent = Calculator(
            provider=provider, model="other", system_prompt="Be kind.", tools=[extra], max_turns=3
        )
        await agent.run("hi")
        assert agent.model == "other"
        assert Calculator.model == "scripted-model"
        assert provider.requests[0].system_text == "Be kind."
        assert [t.name for t in provider.requests[0].tools] == ["add", "negate", "extra"]


def test_construction_errors_are_clear() -> None:
    with pytest.raises(TypeError, match="needs a provider"):
        Calculator()
    with pytest.raises(TypeError, match="needs a model"):
        Agent(provider=scripted())
    with pytest.raises(TypeError, match="unknown Agent option"):
        Calculator(provider=scripted(), max_turn=3)
    with pytest.raises(TypeError, match="Provider protocol"):
        Calculator(provider=object())  # type: ignore[arg-type]


async def test_state_tracks_streaming_and_pending_tools() -> None:
    seen: list[tuple[str, bool, Any, frozenset[str]]] = []

    with anyio.fail_after(5):
        agent = Calculator(provider=scripted(Reply(tool_calls=[call("add", a=1, b=1)]), "2"))

        def watch(event: AgentEvent) -> None:
            state = agent.state
            seen.append(
                (event.type, state.is_running, state.streaming_message, state.pending_tool_calls)
            )

        agent.subscribe(watch)
        await agent.run("1+1")
        by_type = {t: (running, streaming, pending) for t, running, streaming, pending in seen}
        assert all(running for _, running, _, _ in seen)
        assert by_type["message_update"][1] is not None
        assert by_type["tool_execution_start"][2] == frozenset({"call_1_1"})
        assert by_type["agent_end"][2] == frozenset()
        assert agent.state.streaming_message is None


async def test_second_prompt_while_running_is_refused() -> None:
    with anyio.fail_after(5):
        agent = Calculator(provider=scripted("one", "two"))
        stream = agent.prompt("first")
        with pytest.raises(AgentBusyError, match="a run is active"):
            agent.prompt("second")
        with pytest.raises(AgentBusyError):
            agent.reset()
        await stream.result()
        assert (await agent.run("second")).text == "two"


async def test_a_stream_dropped_unused_releases_the_agent() -> None:
    with anyio.fail_after(5):
        agent = Calculator(provider=scripted("used"))
        agent.prompt("never consumed")
        gc.collect()
        assert not agent.state.is_running
        assert (await agent.run("again")).text == "used"


async def test_subscribe_and_unsubscribe() -> None:
    with anyio.fail_after(5):
        agent = Calculator(provider=scripted("a", "b"))
        got: list[str] = []

        async def listener(event: AgentEvent) -> None:
            got.append(event.type)

        unsubscribe = agent.subscribe(listener)
        await agent.run("x")
        count = len(got)
        assert got[0] == "agent_start" and got[-1] == "agent_end"
        unsubscribe()
        unsubscribe()  # twice is harmless
        await agent.run("y")
        assert len(got) == count


async def test_provider_error_is_recorded_and_the_agent_stays_usable() -> None:
    failure = ProviderError("rate limited", status=429)
    with anyio.fail_after(5):
        agent = Calculator(
            provider=scripted(
                Reply(tool_calls=[call("add", a=1, b=2)]),
                Reply("partial", error=failure, error_after=2),
                "3, after a retry",
            )
        )
        with pytest.raises(ProviderError):
            await agent.run("1+2")
        state = agent.state
        assert state.error is failure
        assert not state.is_running
        assert [m.role for m in state.messages] == ["user", "assistant", "tool_result"]
        assert failure.messages == state.messages
        result = await agent.prompt().result()
        assert result.text == "3, after a retry"
        assert agent.state.error is None
        roles = [m.role for m in agent.messages]
        assert roles == ["user", "assistant", "tool_result", "assistant"]


async def test_steer_during_a_run_is_injected_after_the_tool_batch() -> None:
    class Steered(Calculator):
        tool_execution = "sequential"

        @tool
        def slow(self, n: int) -> str:
            """A step that lets the user interject."""
            if n == 1:
                self.steer("actually, stop")
            return f"step {n}"

    with anyio.fail_after(5):
        provider = scripted(Reply(tool_calls=[call("slow", n=1), call("slow", n=2)]), "stopping")
        agent = Steered(provider=provider)
        result = await agent.run("go")
        assert result.text == "stopping"
        results = [m for m in agent.messages if isinstance(m, ToolResultMessage)]
        assert [r.text for r in results] == [
            "step 1",
            "Skipped: a new user message arrived before this tool ran.",
        ]
        assert isinstance(provider.requests[1].messages[-1], UserMessage)


async def test_follow_up_runs_when_the_answer_ends() -> None:
    with anyio.fail_after(5):
        agent = Calculator(provider=scripted("first", "second"))
        agent.follow_up("one more")
        result = await agent.run("start")
        assert [m.text for m in result.messages] == ["start", "first", "one more", "second"]


async def test_abort_stops_the_run_and_leaves_no_task() -> None:
    with anyio.fail_after(5):
        agent = Calculator(
            provider=scripted(Reply("thinking about it", error_after=2, hang=True), "after abort")
        )
        stream = agent.prompt("go")
        streaming = anyio.Event()
        async with anyio.create_task_group() as tasks:

            async def consume() -> None:
                async for event in stream:
                    if isinstance(event, MessageUpdate):
                        streaming.set()

            tasks.start_soon(consume)
            await streaming.wait()
            assert agent.state.is_running
            agent.abort()
            await agent.wait_for_idle()
        result = await stream.result()
        assert result.stop_reason is StopReason.ABORTED
        assert stream.statistics().producer_done
        assert (await agent.run("again")).text == "after abort"


async def test_wait_for_idle_returns_at_once_when_idle() -> None:
    with anyio.fail_after(1):
        agent = Calculator(provider=scripted())
        await agent.wait_for_idle()
        agent.abort()  # nothing to abort: harmless


async def test_hooks_block_change_and_observe() -> None:
    class Guarded(Calculator):
        observed: list[str]

        async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
            if call.name == "negate":
                return ToolCallDecision.deny("not allowed")
            return None

        async def after_tool_call(self, call: ToolCall, result: ToolResult) -> ToolResult | None:
            return ToolResult(f"{result.text} (checked)")

        async def on_event(self, event: AgentEvent) -> None:
            if isinstance(event, ToolExecutionStart):
                self.observed.append(event.call.name)

        def transform_context(self, context: Context, info: TransformInfo) -> Context:
            return context.evolve(system=f"{context.system_text} Turn {info.turn}.")

    with anyio.fail_after(5):
        provider = scripted(Reply(tool_calls=[call("add", a=1, b=2), call("negate", x=1)]), "ok")
        agent = Guarded(provider=provider)
        agent.observed = []
        await agent.run("go")
        results = [m for m in agent.messages if isinstance(m, ToolResultMessage)]
        assert [(r.text, r.is_error) for r in results] == [
            ("3 (checked)", False),
            # after_tool_call sees only calls that ran
            ("Tool call 'negate' was blocked: not allowed", True),
        ]
        assert agent.observed == ["add", "negate"]
        assert [r.system_text for r in provider.requests] == [
            "You add numbers. Turn 1.",
            "You add numbers. Turn 2.",
        ]


async def test_reset_and_resume_from_saved_messages() -> None:
    with anyio.fail_after(5):
        agent = Calculator(provider=scripted("hello"))
        await agent.run("hi")
        saved = [m.to_dict() for m in agent.messages]
        agent.reset()
        assert agent.messages == ()
        from agentkit import message_from_dict

        provider = scripted("welcome back")
        resumed = Calculator(provider=provider, messages=[message_from_dict(d) for d in saved])
        await resumed.run("still there?")
        assert [m.text for m in provider.requests[0].messages] == ["hi", "hello", "still there?"]


async def test_events_stream_to_the_caller_while_state_updates() -> None:
    with anyio.fail_after(5):
        agent = Calculator(provider=scripted(Reply("streamed text", chunk_size=4)))
        texts = []
        async with agent.prompt("go") as stream:
            async for event in stream:
                if isinstance(event, MessageUpdate):
                    texts.append(event.delta)
        assert len(texts) > 3
        assert agent.messages[-1].text == "streamed text"


async def test_claude_agents_cache_by_default_and_can_turn_it_off() -> None:
    from agentkit import CacheBreakpoints
    from agentkit.transforms._caching import count_breakpoints

    class Claude(Calculator):
        model = "claude-sonnet-4-5"
        system_prompt = "You add numbers. " * 300

    with anyio.fail_after(5):
        script = [Reply(tool_calls=[call("add", a=i, b=1)]) for i in range(6)] + [Reply("done")]
        provider = ScriptedProvider(script)
        await Claude(provider=provider).run("count up")
        assert len(provider.requests) == 7
        for number, request in enumerate(provider.requests):
            assert 1 <= count_breakpoints(request) <= 4
            assert request.system[-1].cache_control is not None
            if number:  # the tail of the request before is marked again: it is read
                previous = provider.requests[number - 1].messages[-1]
                same = request.messages[len(provider.requests[number - 1].messages) - 1]
                assert same.content[-1].cache_control is not None
                assert previous.content[-1].cache_control is not None

        provider = ScriptedProvider(["plain"])
        await Claude(provider=provider, caching=CacheBreakpoints(mode="off")).run("hi")
        assert count_breakpoints(provider.requests[0]) == 0


async def test_abort_from_a_listener_ends_the_run_as_aborted() -> None:
    with anyio.fail_after(5):
        agent = Calculator(
            provider=scripted(Reply("It is raining", chunk_size=6, hang=True, error_after=2))
        )
        agent.subscribe(lambda event: agent.abort() if isinstance(event, MessageUpdate) else None)
        result = await agent.run("weather?")
        assert result.stop_reason is StopReason.ABORTED
        assert result.text == "It is "
        assert agent.state.error is None


@pytest.mark.parametrize("name", ["run", "prompt", "reset", "abort", "state", "messages"])
def test_a_tool_method_named_like_an_agent_attribute_is_refused(name: str) -> None:
    def body(self: Agent) -> str:
        """Clash."""
        return "x"

    body.__name__ = name
    with pytest.raises(ToolDefinitionError, match=f"would replace Agent.{name}"):
        type("Clashing", (Agent,), {"model": "m", name: tool(body)})


def test_a_tool_keeps_a_clashing_name_for_the_model_under_another_attribute() -> None:
    class Fine(Agent):
        model = "m"

        @tool(name="run")
        def run_command(self) -> str:
            """Run the command."""
            return "ran"

    agent = Fine(provider=scripted())
    assert [t.name for t in agent.tools] == ["run"]


async def test_every_model_option_is_reachable_from_an_agent() -> None:
    from agentkit.providers._base import ModelOptions, ReasoningOptions

    class Options(Agent):
        model = "m"
        stop = ("END",)

    provider = scripted("ok")
    seen: list[ModelOptions] = []
    original = provider.stream

    def recording(context: Context, options: ModelOptions) -> Any:
        seen.append(options)
        return original(context, options)

    provider.stream = recording  # type: ignore[method-assign]
    agent = Options(
        provider=provider,
        max_tokens=64,
        temperature=0.5,
        reasoning=ReasoningOptions(effort="low"),
        extra={"top_k": 3},
    )
    with anyio.fail_after(5):
        await agent.run("go")
    [options] = seen
    assert (options.model, options.max_tokens, options.temperature) == ("m", 64, 0.5)
    assert options.reasoning == ReasoningOptions(effort="low")
    assert (options.stop, options.extra) == (("END",), {"top_k": 3})
