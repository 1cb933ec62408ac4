"""The span tree and its attributes, field by field, for runs on the scripted provider."""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

import agentkit.otel
from agentkit import (
    Agent,
    AgentEnd,
    LoopConfig,
    MessageUpdate,
    ModelOptions,
    StopReason,
    Usage,
    UsageLimitExceeded,
    UsageLimits,
    agent_loop,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider, call

from .conftest import Telemetry

pytestmark = pytest.mark.anyio

FIRST = Usage(input=100, output=20, cache_read=50, cache_write=10, reasoning=5, cost=0.0125)
SECOND = Usage(input=30, output=7, cache_read=160, cost=0.002)


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


class Weather(Agent):
    model = "scripted-model"
    system_prompt = "You report the weather."
    max_tokens = 512
    temperature = 0.25
    stop = ("END",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: dict[str, int] = {}
        self.arrived = {"forecast": anyio.Event(), "humidity": anyio.Event()}

    async def _meet(self, me: str, other: str) -> None:
        # Each waits for the other: they can only finish if they overlap.
        self.seen[me] = trace.get_current_span().get_span_context().span_id
        self.arrived[me].set()
        await self.arrived[other].wait()

    @tool
    async def forecast(self, city: str) -> str:
        """The forecast for a city."""
        await self._meet("forecast", "humidity")
        return f"Sunny in {city}."

    @tool
    async def humidity(self, city: str) -> str:
        """The humidity in a city."""
        await self._meet("humidity", "forecast")
        return "40%"


def weather_script() -> ScriptedProvider:
    return ScriptedProvider(
        [
            Reply(
                tool_calls=[call("forecast", city="Paris"), call("humidity", city="Paris")],
                usage=FIRST,
            ),
            Reply("Sunny, 40% humidity.", usage=SECOND),
        ]
    )


async def test_a_tool_using_run_is_one_tree_under_the_callers_span(telemetry: Telemetry) -> None:
    agent = Weather(provider=weather_script())
    caller = telemetry.tracer_provider.get_tracer("app")
    with anyio.fail_after(10):
        with caller.start_as_current_span("request") as request:
            result = await agent.run("Weather in Paris?")
    assert result.stop_reason is StopReason.STOP
    run = telemetry.one("invoke_agent")
    chats = sorted(telemetry.named("chat "), key=lambda s: s.start_time or 0)
    tools = {s.attributes["gen_ai.tool.name"]: s for s in telemetry.named("execute_tool")}  # type: ignore[index]
    assert len(telemetry.spans()) == 1 + 1 + 2 + 2  # the caller's, the run, 2 chats, 2 tools

    # The run joins the caller's trace; everything else is the run's child.
    assert run.name == "invoke_agent Weather"
    assert parent_id(run) == request.get_span_context().span_id
    assert {s.context.trace_id for s in telemetry.spans()} == {  # type: ignore[union-attr]
        request.get_span_context().trace_id
    }
    for span in [*chats, *tools.values()]:
        assert parent_id(span) == span_id(run), span.name
    # Parallel tools are siblings, and each was current in its own tool's code.
    assert set(tools) == {"forecast", "humidity"}
    assert agent.seen == {name: span_id(span) for name, span in tools.items()}

    assert run.kind is SpanKind.INTERNAL
    assert dict(run.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "Weather",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "scripted-model",
        "agentkit.run.id": run.attributes["agentkit.run.id"],  # type: ignore[index]
        "agentkit.stop_reason": "stop",
        "gen_ai.usage.input_tokens": 160 + 190,
        "gen_ai.usage.output_tokens": 27,
        "gen_ai.usage.cache_read.input_tokens": 210,
        "gen_ai.usage.cache_creation.input_tokens": 10,
        "gen_ai.usage.reasoning.output_tokens": 5,
        "agentkit.usage.cost": pytest.approx(0.0145),
        "agentkit.turns": 2,
    }
    assert run.status.status_code is StatusCode.UNSET

    first, second = chats
    assert [c.name for c in chats] == ["chat scripted-model"] * 2
    assert first.kind is SpanKind.CLIENT
    first_attributes = dict(first.attributes or {})
    assert first_attributes.pop("gen_ai.response.time_to_first_chunk") >= 0  # type: ignore[operator]
    assert first_attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "scripted-model",
        "gen_ai.request.stream": True,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.request.temperature": 0.25,
        "gen_ai.request.stop_sequences": ("END",),
        "agentkit.turn": 1,
        "gen_ai.response.model": "scripted-model",
        "gen_ai.response.id": "scripted-1",
        "gen_ai.response.finish_reasons": ("tool_use",),
        "gen_ai.usage.input_tokens": 160,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 50,
        "gen_ai.usage.cache_creation.input_tokens": 10,
        "gen_ai.usage.reasoning.output_tokens": 5,
        "agentkit.usage.cost": 0.0125,
    }
    assert second.attributes["gen_ai.response.id"] == "scripted-2"  # type: ignore[index]
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)  # type: ignore[index]
    assert second.attributes["agentkit.turn"] == 2  # type: ignore[index]
    # The tools ran between the two requests.
    assert first.end_time <= min(t.start_time for t in tools.values())  # type: ignore[operator, type-var]
    assert second.start_time >= max(t.end_time for t in tools.values())  # type: ignore[operator, type-var]

    forecast = tools["forecast"]
    assert forecast.name == "execute_tool forecast"
    assert forecast.kind is SpanKind.INTERNAL
    assert dict(forecast.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "forecast",
        "gen_ai.tool.call.id": "call_1_1",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "The forecast for a city.",
        "gen_ai.provider.name": "scripted",
        "agentkit.turn": 1,
    }
    assert forecast.status.status_code is StatusCode.UNSET


async def test_a_tools_own_spans_nest_under_it_also_in_a_thread(telemetry: Telemetry) -> None:
    app = telemetry.tracer_provider.get_tracer("app")

    @tool
    def lookup(key: str) -> str:
        """Look a key up (a sync tool: it runs in a worker thread)."""
        with app.start_as_current_span("db.query"):
            return key.upper()

    config = LoopConfig(
        provider=ScriptedProvider([Reply(tool_calls=[call("lookup", key="k")]), Reply("K")]),
        options=ModelOptions(model="m"),
        tools=[lookup],
    )
    with anyio.fail_after(10):
        result = await agent_loop(config, prompt="Look k up.").result()
    assert result.text == "K"
    run = telemetry.one("invoke_agent")
    assert run.name == "invoke_agent agent_loop"
    executed = telemetry.one("execute_tool lookup")
    query = telemetry.one("db.query")
    assert parent_id(query) == span_id(executed)
    assert parent_id(executed) == span_id(run)


async def test_steering_and_follow_ups_stay_in_the_runs_span(telemetry: Telemetry) -> None:
    class Steered(Agent):
        model = "m"

        @tool
        async def slow(self) -> str:
            """A tool during which the user steers."""
            self.steer("Also check Rome.")
            self.follow_up("And Oslo?")
            return "done"

    provider = ScriptedProvider([Reply(tool_calls=[call("slow")]), "Rome too.", "Oslo too."])
    with anyio.fail_after(10):
        await Steered(provider=provider).run("Check Paris.")
    run = telemetry.one("invoke_agent")
    chats = telemetry.named("chat ")
    assert len(chats) == 3
    assert [parent_id(c) for c in chats] == [span_id(run)] * 3
    assert sorted(c.attributes["agentkit.turn"] for c in chats) == [1, 2, 3]  # type: ignore[index]
    assert run.attributes["agentkit.turns"] == 3  # type: ignore[index]


async def test_a_failing_tool_and_an_unknown_tool_are_errors(telemetry: Telemetry) -> None:
    @tool
    def explode() -> str:
        """Always fails."""
        raise ValueError("no luck")

    config = LoopConfig(
        provider=ScriptedProvider(
            [Reply(tool_calls=[call("explode"), call("missing")]), Reply("Sorry.")]
        ),
        options=ModelOptions(model="m"),
        tools=[explode],
    )
    with anyio.fail_after(10):
        await agent_loop(config, prompt="Go.").result()
    exploded = telemetry.one("execute_tool explode")
    assert exploded.attributes["error.type"] == "ValueError"  # type: ignore[index]
    assert exploded.status.status_code is StatusCode.ERROR
    (event,) = exploded.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"  # type: ignore[index]
    assert event.attributes["exception.message"] == "no luck"  # type: ignore[index]
    missing = telemetry.one("execute_tool missing")
    assert missing.attributes["error.type"] == "tool_error"  # type: ignore[index]
    assert missing.status.status_code is StatusCode.ERROR
    # Tool failures are results for the model, not failures of the run.
    assert telemetry.one("invoke_agent").status.status_code is StatusCode.UNSET


async def test_a_provider_error_fails_the_chat_and_the_run(telemetry: Telemetry) -> None:
    from agentkit import ProviderError

    config = LoopConfig(
        provider=ScriptedProvider([Reply("Hel", error=ProviderError("boom"), error_after=2)]),
        options=ModelOptions(model="m"),
    )
    with anyio.fail_after(10), pytest.raises(ProviderError):
        await agent_loop(config, prompt="Hi").result()
    chat = telemetry.one("chat m")
    run = telemetry.one("invoke_agent")
    for span in (chat, run):
        assert span.attributes["error.type"] == "ProviderError"  # type: ignore[index]
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ProviderError: boom"
    assert "agentkit.stop_reason" not in run.attributes  # type: ignore[operator]
    durations = telemetry.histograms()["gen_ai.client.operation.duration"]
    assert [attributes["error.type"] for attributes, _, _ in durations] == ["ProviderError"]


async def test_an_abort_during_a_tool_is_marked(telemetry: Telemetry) -> None:
    class Stoppable(Agent):
        model = "m"

        @tool
        async def wait(self) -> str:
            """Waits until aborted."""
            self.abort()
            await anyio.sleep_forever()
            return "never"

    provider = ScriptedProvider([Reply(tool_calls=[call("wait")]), "unused"])
    with anyio.fail_after(10):
        result = await Stoppable(provider=provider).run("Wait.")
    assert result.stop_reason is StopReason.ABORTED
    run = telemetry.one("invoke_agent")
    assert run.attributes["agentkit.stop_reason"] == "aborted"  # type: ignore[index]
    assert run.status.status_code is StatusCode.UNSET  # an abort is asked for, not a failure
    waited = telemetry.one("execute_tool wait")
    assert waited.attributes["error.type"] == "cancelled"  # type: ignore[index]
    assert len(telemetry.named("chat ")) == 1


async def test_an_abort_while_streaming_marks_the_chat(telemetry: Telemetry) -> None:
    # The answer hangs after its first events: only the abort ends it.
    provider = ScriptedProvider([Reply("abc", chunk_size=1, hang=True, error_after=2)])
    agent = Weather(provider=provider)
    agent.subscribe(lambda event: agent.abort() if isinstance(event, MessageUpdate) else None)
    with anyio.fail_after(10):
        result = await agent.run("Go.")
    assert result.stop_reason is StopReason.ABORTED
    chat = telemetry.one("chat ")
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("aborted",)  # type: ignore[index]
    assert telemetry.one("invoke_agent").attributes["agentkit.stop_reason"] == "aborted"  # type: ignore[index]


@pytest.mark.parametrize("on_exceed", ["stop", "raise"])
async def test_a_budget_stop_is_marked(telemetry: Telemetry, on_exceed: str) -> None:
    config = LoopConfig(
        provider=ScriptedProvider([Reply(tool_calls=[call("t1"), call("t2")], usage=FIRST)]),
        options=ModelOptions(model="m"),
        limits=UsageLimits(tool_calls=1, on_exceed=on_exceed),  # type: ignore[arg-type]
    )
    with anyio.fail_after(10):
        if on_exceed == "stop":
            result = await agent_loop(config, prompt="Go.").result()
            assert result.stop_reason is StopReason.USAGE_LIMIT
        else:
            with pytest.raises(UsageLimitExceeded):
                await agent_loop(config, prompt="Go.").result()
    run = telemetry.one("invoke_agent")
    assert run.attributes["agentkit.stop_reason"] == "usage_limit"  # type: ignore[index]
    if on_exceed == "raise":
        assert run.attributes["error.type"] == "UsageLimitExceeded"  # type: ignore[index]
        assert run.attributes["agentkit.usage_limit"] == "tool_calls"  # type: ignore[index]
        assert run.status.status_code is StatusCode.ERROR
    # One call was admitted (and is unknown: an error result); the other never started.
    assert len(telemetry.named("execute_tool")) == 1


async def test_metrics_follow_the_conventions(telemetry: Telemetry) -> None:
    with anyio.fail_after(10):
        await Weather(provider=weather_script()).run("Weather?")
    found = telemetry.histograms()
    common = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "scripted",
        "gen_ai.request.model": "scripted-model",
        "gen_ai.response.model": "scripted-model",
    }
    tokens = {
        attributes["gen_ai.token.type"]: (count, total)
        for attributes, count, total in found["gen_ai.client.token.usage"]
    }
    assert tokens == {"input": (2, 160 + 190), "output": (2, 27)}
    for attributes, _, _ in found["gen_ai.client.token.usage"]:
        assert {k: v for k, v in attributes.items() if k != "gen_ai.token.type"} == common
    ((attributes, count, total),) = found["gen_ai.client.operation.duration"]
    assert (attributes, count) == (common, 2) and total >= 0
    ((attributes, count, _),) = found["gen_ai.client.operation.time_to_first_chunk"]
    assert (attributes, count) == (common, 2)


async def test_a_listener_after_the_instrumentation_sees_every_event(telemetry: Telemetry) -> None:
    seen: list[str] = []
    config = LoopConfig(
        provider=ScriptedProvider(["Hi."]),
        options=ModelOptions(model="m"),
        on_event=lambda event: seen.append(event.type),
    )
    with anyio.fail_after(10):
        await agent_loop(config, prompt="Hello").result()
    assert seen[0] == "agent_start" and seen[-1] == AgentEnd.type
    assert len(telemetry.spans()) == 2


async def test_off_no_span_is_created(telemetry: Telemetry) -> None:
    agentkit.otel.uninstrument()
    with anyio.fail_after(10):
        await Weather(provider=weather_script()).run("Weather?")
    assert telemetry.spans() == []
    assert telemetry.histograms() == {}


def test_importing_agentkit_never_imports_opentelemetry() -> None:
    code = (
        "import sys, agentkit, agentkit.testing\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_bad_settings_are_refused() -> None:
    with pytest.raises(TypeError, match="capture_content"):
        agentkit.otel.instrument(capture_content="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_content_length"):
        agentkit.otel.instrument(max_content_length=10)
    with pytest.raises(TypeError, match="max_content_length"):
        agentkit.otel.instrument(max_content_length=True)


async def test_concurrent_runs_keep_their_own_trees(telemetry: Telemetry) -> None:
    agents = [Weather(provider=weather_script()), Weather(provider=weather_script())]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            for agent in agents:
                tasks.start_soon(agent.run, "Weather?")
    runs = telemetry.named("invoke_agent")
    assert len(runs) == 2
    assert len({s.context.trace_id for s in runs}) == 2  # type: ignore[union-attr]
    for run in runs:
        children = [s for s in telemetry.spans() if parent_id(s) == span_id(run)]
        assert sorted(s.name for s in children) == [
            "chat scripted-model",
            "chat scripted-model",
            "execute_tool forecast",
            "execute_tool humidity",
        ]
        assert {s.context.trace_id for s in children} == {run.context.trace_id}  # type: ignore[union-attr]
    for agent in agents:
        ids = set(agent.seen.values())
        owner = [
            r
            for r in runs
            if any(parent_id(s) == span_id(r) and span_id(s) in ids for s in telemetry.spans())
        ]
        assert len(owner) == 1


async def test_a_failure_while_recording_is_logged_and_the_run_goes_on(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agentkit.otel import _tracing

    def broken(*args: object) -> None:
        raise KeyError("recording")

    monkeypatch.setattr(_tracing._RunTrace, "_answered", broken)
    with anyio.fail_after(10):
        result = await Weather(provider=weather_script()).run("Weather?")
    assert result.stop_reason is StopReason.STOP
    failed = [r for r in caplog.records if r.name == "agentkit.otel"]
    assert [r.getMessage() for r in failed] == [
        "otel.record_failed event_type='message_end' error='KeyError'"
    ] * 2
    assert len(telemetry.named("chat ")) == 2


async def test_a_tool_that_times_out_is_cancelled(telemetry: Telemetry) -> None:
    @tool(timeout=0.05)
    async def stuck() -> str:
        """Never returns."""
        await anyio.sleep_forever()
        return "never"

    config = LoopConfig(
        provider=ScriptedProvider([Reply(tool_calls=[call("stuck")]), "It timed out."]),
        options=ModelOptions(model="m"),
        tools=[stuck],
    )
    with anyio.fail_after(10):
        result = await agent_loop(config, prompt="Go.").result()
    assert result.text == "It timed out."
    span = telemetry.one("execute_tool stuck")
    assert span.attributes["error.type"] == "cancelled"  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR
