# ruff: noqa: PLC0415  (the peers are optional: imported only when measured)
"""Item 3, loop overhead: a tool-using run with an in-process scripted model, no HTTP.

Every framework runs the same session: on turns 1..N-1 the model calls the
async tool ``add(a, b)``, on turn N it answers. The model records
``perf_counter`` at each call; a turn's framework time is the gap between two
model calls (the model and the tool do next to nothing). The baseline is a
plain asyncio loop doing the same list appends and calls by hand.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from agentkit._agent import Agent
from agentkit._log import Logger
from agentkit._loop import LoopConfig, agent_loop
from agentkit._messages import Context, Usage
from agentkit._tools import Tool
from agentkit.providers._base import ModelOptions
from agentkit.testing._scripted import Reply, ScriptedProvider, call
from bench.common import median, peer_available

__all__ = ["FRAMEWORKS", "run", "run_framework"]

Runner = Callable[[int], Awaitable[list[float]]]
# Every model reports its usage: left to estimate it, the scripted models of
# agentkit and pydantic-ai serialise the whole history on every call.
_USAGE = Usage(input=10, output=5)


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def plain(turns: int) -> list[float]:
    """The floor: a hand-written loop, one dict per message."""
    stamps: list[float] = []
    history: list[dict[str, Any]] = [{"role": "user", "content": "go"}]

    async def model(messages: list[dict[str, Any]]) -> dict[str, Any]:
        stamps.append(time.perf_counter())
        if len(stamps) < turns:
            return {"role": "assistant", "call": ("add", {"a": len(stamps), "b": 1})}
        return {"role": "assistant", "content": "done"}

    while True:
        answer = await model(history)
        history.append(answer)
        if "call" not in answer:
            break
        _, arguments = answer["call"]
        history.append({"role": "tool", "content": str(await add(**arguments))})
    return stamps


def _stamping_model(turns: int, stamps: list[float]) -> ScriptedProvider:
    """The scripted model of every agentkit row: ``add`` on each turn but the last."""

    def policy(context: Context, options: ModelOptions) -> Reply:
        stamps.append(time.perf_counter())
        if len(stamps) < turns:
            return Reply(tool_calls=[call("add", a=len(stamps), b=1)], usage=_USAGE)
        return Reply(text="done", usage=_USAGE)

    return ScriptedProvider(policy)


async def agentkit(turns: int) -> list[float]:
    stamps: list[float] = []
    config = LoopConfig(
        provider=_stamping_model(turns, stamps),
        options=ModelOptions("scripted"),
        tools=[Tool.from_function(add)],
        max_turns=turns + 1,
    )
    result = await agent_loop(config, prompt="go").result()
    if result.text != "done":
        raise RuntimeError(f"agentkit run ended with {result.stop_reason}")
    return stamps


async def agentkit_agent(turns: int) -> list[float]:
    """What users run: ``Agent.run``, with the default caching transform and logging."""
    stamps: list[float] = []
    agent = Agent(
        _stamping_model(turns, stamps),
        model="scripted",
        tools=[Tool.from_function(add)],
        max_turns=turns + 1,
    )
    result = await agent.run("go")
    if result.text != "done":
        raise RuntimeError(f"agentkit Agent run ended with {result.stop_reason}")
    return stamps


async def agentkit_unlogged(turns: int) -> list[float]:
    """``agent_loop`` with every log call made a no-op: the floor for logging's cost."""
    emit = Logger._emit
    Logger._emit = lambda *args, **kwargs: None  # type: ignore[method-assign]
    try:
        return await agentkit(turns)
    finally:
        Logger._emit = emit  # type: ignore[method-assign]


async def agentkit_otel(turns: int) -> list[float]:
    """``Agent.run`` with ``agentkit.otel`` on: the real SDK records everything, exports nothing."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from agentkit import otel

    class Dropping(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Dropping()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        return await agentkit_agent(turns)
    finally:
        otel.uninstrument()


async def pydantic_ai(turns: int) -> list[float]:
    from pydantic_ai import Agent  # type: ignore[import-not-found, unused-ignore]
    from pydantic_ai.messages import (  # type: ignore[import-not-found, unused-ignore]
        ModelMessage,
        ModelResponse,
        TextPart,
        ToolCallPart,
    )
    from pydantic_ai.models.function import (  # type: ignore[import-not-found, unused-ignore]
        AgentInfo,
        FunctionModel,
    )
    from pydantic_ai.usage import (  # type: ignore[import-not-found, unused-ignore]
        RequestUsage,
        UsageLimits,
    )

    stamps: list[float] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        stamps.append(time.perf_counter())
        if len(stamps) < turns:
            parts: list[Any] = [ToolCallPart("add", {"a": len(stamps), "b": 1})]
        else:
            parts = [TextPart("done")]
        return ModelResponse(parts=parts, usage=RequestUsage(input_tokens=10, output_tokens=5))

    agent = Agent(FunctionModel(model), tools=[add])
    result = await agent.run("go", usage_limits=UsageLimits(request_limit=None))
    if result.output != "done":
        raise RuntimeError("pydantic-ai run did not finish")
    return stamps


async def openai_agents(turns: int) -> list[float]:
    import agents  # type: ignore[import-not-found, unused-ignore]
    from agents.items import ModelResponse  # type: ignore[import-not-found, unused-ignore]
    from agents.usage import Usage  # type: ignore[import-not-found, unused-ignore]
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    agents.set_tracing_disabled(True)
    stamps: list[float] = []

    class Scripted(agents.Model):  # type: ignore[misc, unused-ignore]
        async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
            stamps.append(time.perf_counter())
            n = len(stamps)
            if n < turns:
                output: list[Any] = [
                    ResponseFunctionToolCall(
                        arguments=f'{{"a":{n},"b":1}}',
                        call_id=f"call_{n}",
                        name="add",
                        type="function_call",
                        id=f"fc_{n}",
                        status="completed",
                    )
                ]
            else:
                text = ResponseOutputText(annotations=[], text="done", type="output_text")
                output = [
                    ResponseOutputMessage(
                        id="msg",
                        content=[text],
                        role="assistant",
                        status="completed",
                        type="message",
                    )
                ]
            return ModelResponse(output=output, usage=Usage(), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    agent = agents.Agent(name="bench", model=Scripted(), tools=[agents.function_tool(add)])
    result = await agents.Runner.run(agent, "go", max_turns=turns + 1)
    if result.final_output != "done":
        raise RuntimeError("openai-agents run did not finish")
    return stamps


#: (key, label, distribution needed or None, runner).
FRAMEWORKS: tuple[tuple[str, str, str | None, Runner], ...] = (
    ("plain", "plain asyncio loop (floor)", None, plain),
    ("agentkit", "agentkit `agent_loop` + `ScriptedProvider`", None, agentkit),
    ("agentkit_agent", "agentkit `Agent.run` (caching on, default logging)", None, agentkit_agent),
    ("agentkit_unlogged", "agentkit `agent_loop`, log calls removed", None, agentkit_unlogged),
    (
        "agentkit_otel",
        "agentkit `Agent.run`, `agentkit.otel` on (SDK, spans dropped)",
        "opentelemetry-sdk",
        agentkit_otel,
    ),
    ("pydantic_ai", "pydantic-ai `Agent` + `FunctionModel`", "pydantic-ai-slim", pydantic_ai),
    ("openai_agents", "openai-agents `Runner` + custom `Model`", "openai-agents", openai_agents),
)


async def run_framework(runner: Runner, turns: int) -> list[float]:
    """Per-turn seconds of one run: the gaps between consecutive model calls."""
    stamps = await runner(turns)
    if len(stamps) != turns:
        raise RuntimeError(f"expected {turns} model calls, got {len(stamps)}")
    return [b - a for a, b in itertools.pairwise(stamps)]


async def _measure(turns: int, repeats: int) -> dict[str, Any]:
    present = [f for f in FRAMEWORKS if f[2] is None or peer_available(f[2])]
    runs: dict[str, list[list[float]]] = {key: [] for key, *_ in present}
    for repeat in range(repeats + 1):  # the first round warms up and is discarded
        for key, _, _, runner in present:
            gaps = await run_framework(runner, turns)
            if repeat:
                runs[key].append(gaps)
    rows: list[dict[str, Any]] = []
    floor = median([median(g) for g in runs["plain"]])
    for key, label, _, _ in present:
        per_turn = median([median(g) for g in runs[key]])
        curve = [median([g[i] for g in runs[key]]) for i in range(turns - 1)]
        tenth = max(1, len(curve) // 5)
        rows.append(
            {
                "framework": key,
                "label": label,
                "us_per_turn": per_turn * 1e6,
                "ratio_to_plain": per_turn / floor,
                "growth_last_vs_first": median(curve[-tenth:]) / median(curve[:tenth]),
                "curve_us": [c * 1e6 for c in curve],
            }
        )
    by_key = {r["framework"]: r for r in rows}
    if "pydantic_ai" in by_key:
        for r in rows:
            r["ratio_to_pydantic_ai"] = r["us_per_turn"] / by_key["pydantic_ai"]["us_per_turn"]
    return {"turns": turns, "repeats": repeats, "rows": rows}


def run(quick: bool = False) -> dict[str, Any]:
    if quick:
        return {"runs": [anyio.run(_measure, 10, 1)]}
    return {"runs": [anyio.run(_measure, 50, 7), anyio.run(_measure, 200, 3)]}
