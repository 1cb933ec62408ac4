"""After a run fails or its consumer leaves, the agent recovers, and nothing is kept alive."""

from __future__ import annotations

import gc
import weakref

import anyio
import anyio.lowlevel
import pytest

from agentkit import (
    Agent,
    MessageEnd,
    ProviderError,
    StopReason,
    StreamClosedError,
    ToolExecutionStart,
    ToolResultMessage,
    tool,
)
from agentkit._loop import NOT_RUN_STOPPED
from agentkit.testing import Reply, ScriptedProvider, call

pytestmark = pytest.mark.anyio


@tool
async def slow(city: str) -> str:
    """Takes its time."""
    await anyio.sleep(30)
    return "late"


def weather_script() -> ScriptedProvider:
    return ScriptedProvider(
        [
            Reply("Checking.", tool_calls=[call("slow", city="Oslo"), call("slow", city="Rome")]),
            "Answered anyway.",
        ]
    )


@pytest.mark.parametrize("how", ["break", "cancel"])
async def test_calls_left_without_results_are_answered_before_the_next_request(how: str) -> None:
    with anyio.fail_after(5):
        provider = weather_script()
        agent = Agent(provider, model="m", tools=[slow])
        stream = agent.prompt("Weather?")
        if how == "break":
            async for event in stream:
                if isinstance(event, ToolExecutionStart):
                    break
        else:
            with anyio.CancelScope() as scope:
                async with stream:
                    async for event in stream:
                        if isinstance(event, ToolExecutionStart):
                            scope.cancel()
        await agent.wait_for_idle()
        with pytest.raises(StreamClosedError):
            await stream.result()
        assert agent.state.error is None  # leaving is not a failure
        assert [m.role for m in agent.messages] == ["user", "assistant"]

        ended: list[object] = []
        agent.subscribe(lambda e: ended.append(e.message) if isinstance(e, MessageEnd) else None)
        result = await agent.prompt().result()
    assert result.stop_reason is StopReason.STOP
    filled = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert [(m.tool_call_id, m.is_error, m.text) for m in filled] == [
        ("call_1_1", True, NOT_RUN_STOPPED),
        ("call_1_2", True, NOT_RUN_STOPPED),
    ]
    assert list(result.messages) == ended  # they joined with a MessageEnd, in this run
    sent = provider.requests[1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool_result", "tool_result"]


async def test_a_prompt_after_a_cancelled_tool_run_is_a_valid_conversation() -> None:
    with anyio.fail_after(5):
        provider = weather_script()
        agent = Agent(provider, model="m", tools=[slow])
        async for event in agent.prompt("Weather?"):
            if isinstance(event, ToolExecutionStart):
                break
        await agent.wait_for_idle()
        await agent.run("Never mind.")
    sent = provider.requests[1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool_result", "tool_result", "user"]


async def test_a_failed_agent_and_its_stream_are_freed() -> None:
    with anyio.fail_after(5):
        failing = ScriptedProvider([Reply("Hal", error=ProviderError("boom"), error_after=2)])
        agent = Agent(failing, model="m")
        stream = agent.prompt("Hi")
        with pytest.raises(ProviderError):
            await stream.result()
        assert isinstance(agent.state.error, ProviderError)
        refs: list[weakref.ref[object]] = [weakref.ref(agent), weakref.ref(stream)]
        del agent, stream, failing  # the script holds the error, whose traceback holds the run
        gc.collect()  # result() is structured: nothing of the run is left running
    assert [ref() for ref in refs] == [None, None]


async def test_a_stream_dropped_unused_frees_the_agent_and_releases_it() -> None:
    with anyio.fail_after(5):
        agent = Agent(ScriptedProvider(["Hi.", "Again."]), model="m")
        agent.prompt("Hi")  # never consumed
        gc.collect()
        assert not agent.state.is_running
        assert (await agent.run("Hello")).text == "Hi."
        ref = weakref.ref(agent)
        del agent
        gc.collect()  # result() is structured: nothing of the run is left running
    assert ref() is None
