# ruff: noqa: PLC0415  (the peers are optional: imported only when measured)
"""Item 3, loop overhead: a tool-using run with an in-process scripted model, no HTTP.

Every framework runs the same session: on turns 1..N-1 the model calls the
async tool ``add(a, b)``, on turn N it answers. Each framework's objects (the
agent, the config, the scripted model) are built before the timed region, as
an application builds them once; the session is timed from the call that starts
the run to the moment its result is back, so the per-turn cost is session wall
/ turns and includes the run's set-up, teardown and final turn. The model also
records ``perf_counter`` at each call: the gaps between two calls give the
curve through the run, from which flatness is read (turns 191-200 against turns
1-10). The baseline is a plain asyncio loop doing the same list appends and
calls by hand. Logging is left in the library's default state (nothing
configured); the "log calls removed" row shows what that costs.
"""

from __future__ import annotations

import asyncio
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
from bench.common import median, peer_available, spread

__all__ = ["FRAMEWORKS", "combine", "run", "run_framework"]

#: Runs one session of ``turns`` turns; returns the model-call stamps and the session's wall.
Runner = Callable[[int], Awaitable[tuple[list[float], float]]]
# Every model reports its usage: left to estimate it, the scripted models of
# agentkit and pydantic-ai serialise the whole history on every call.
_USAGE = Usage(input=10, output=5)


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def plain(turns: int) -> tuple[list[float], float]:
    """The floor: a hand-written loop, one dict per message."""
    stamps: list[float] = []

    async def model(messages: list[dict[str, Any]]) -> dict[str, Any]:
        stamps.append(time.perf_counter())
        if len(stamps) < turns:
            return {"role": "assistant", "call": ("add", {"a": len(stamps), "b": 1})}
        return {"role": "assistant", "content": "done"}

    started = time.perf_counter()
    history: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    while True:
        answer = await model(history)
        history.append(answer)
        if "call" not in answer:
            break
        _, arguments = answer["call"]
        history.append({"role": "tool", "content": str(await add(**arguments))})
    return stamps, time.perf_counter() - started


async def plain_streamed(turns: int) -> tuple[list[float], float]:
    """The floor the targets use: the same loop, each model reply streamed from a task.

    A model call always arrives from elsewhere (a provider reads the network in
    a task of its own): here each call starts an asyncio task that puts its
    reply, then an end marker, on an ``asyncio.Queue`` the loop reads. One task
    and one queue per turn is the least an asynchronous streaming loop can do.
    """
    stamps: list[float] = []

    async def model(messages: list[dict[str, Any]], out: asyncio.Queue[Any]) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) < turns:
            await out.put({"role": "assistant", "call": ("add", {"a": len(stamps), "b": 1})})
        else:
            await out.put({"role": "assistant", "content": "done"})
        await out.put(None)

    started = time.perf_counter()
    history: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    while True:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.create_task(model(history, queue))
        while (event := await queue.get()) is not None:
            answer = event
        await task
        history.append(answer)
        if "call" not in answer:
            break
        _, arguments = answer["call"]
        history.append({"role": "tool", "content": str(await add(**arguments))})
    return stamps, time.perf_counter() - started


def _stamping_model(turns: int, stamps: list[float]) -> ScriptedProvider:
    """The scripted model of every agentkit row: ``add`` on each turn but the last."""

    def policy(context: Context, options: ModelOptions) -> Reply:
        stamps.append(time.perf_counter())
        if len(stamps) < turns:
            return Reply(tool_calls=[call("add", a=len(stamps), b=1)], usage=_USAGE)
        return Reply(text="done", usage=_USAGE)

    return ScriptedProvider(policy)


async def agentkit(turns: int) -> tuple[list[float], float]:
    stamps: list[float] = []
    config = LoopConfig(
        provider=_stamping_model(turns, stamps),
        options=ModelOptions("scripted"),
        tools=[Tool.from_function(add)],
        max_turns=turns + 1,
    )
    started = time.perf_counter()
    result = await agent_loop(config, prompt="go").result()
    wall = time.perf_counter() - started
    if result.text != "done":
        raise RuntimeError(f"agentkit run ended with {result.stop_reason}")
    return stamps, wall


async def _agent_run(turns: int, model: str) -> tuple[list[float], float]:
    stamps: list[float] = []
    agent = Agent(
        _stamping_model(turns, stamps),
        model=model,
        tools=[Tool.from_function(add)],
        max_turns=turns + 1,
    )
    started = time.perf_counter()
    result = await agent.run("go")
    wall = time.perf_counter() - started
    if result.text != "done":
        raise RuntimeError(f"agentkit Agent run ended with {result.stop_reason}")
    return stamps, wall


async def agentkit_agent(turns: int) -> tuple[list[float], float]:
    """``Agent.run`` with a model the caching transform does not mark (no markers placed)."""
    return await _agent_run(turns, "scripted")


async def agentkit_agent_claude(turns: int) -> tuple[list[float], float]:
    """The README's path: ``Agent.run``, a Claude model: the caching transform places markers."""
    return await _agent_run(turns, "claude-sonnet-4-5")


async def agentkit_unlogged(turns: int) -> tuple[list[float], float]:
    """``agent_loop`` with every log call made a no-op: the floor for logging's cost."""
    emit = Logger._emit
    Logger._emit = lambda *args, **kwargs: None  # type: ignore[method-assign]
    try:
        return await agentkit(turns)
    finally:
        Logger._emit = emit  # type: ignore[method-assign]


async def agentkit_otel(turns: int) -> tuple[list[float], float]:
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


async def pydantic_ai(turns: int) -> tuple[list[float], float]:
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
    limits = UsageLimits(request_limit=None)
    started = time.perf_counter()
    result = await agent.run("go", usage_limits=limits)
    wall = time.perf_counter() - started
    if result.output != "done":
        raise RuntimeError("pydantic-ai run did not finish")
    return stamps, wall


async def openai_agents(turns: int) -> tuple[list[float], float]:
    import agents  # type: ignore[import-not-found, unused-ignore]
    from agents.items import ModelResponse  # type: ignore[import-not-found, unused-ignore]
    from agents.usage import Usage  # type: ignore[import-not-found, unused-ignore]
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    # Its tracing (on by default) exports to OpenAI's servers: off, as offline users must.
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
    started = time.perf_counter()
    result = await agents.Runner.run(agent, "go", max_turns=turns + 1)
    wall = time.perf_counter() - started
    if result.final_output != "done":
        raise RuntimeError("openai-agents run did not finish")
    return stamps, wall


#: (key, label, distribution needed or None, runner).
FRAMEWORKS: tuple[tuple[str, str, str | None, Runner], ...] = (
    ("plain", "plain asyncio loop, model called inline", None, plain),
    (
        "plain_streamed",
        "plain asyncio loop, model streamed from a task (floor)",
        None,
        plain_streamed,
    ),
    ("agentkit", "agentkit `agent_loop` + `ScriptedProvider`", None, agentkit),
    (
        "agentkit_agent",
        "agentkit `Agent.run`, non-Claude model (no cache markers)",
        None,
        agentkit_agent,
    ),
    (
        "agentkit_agent_claude",
        "agentkit `Agent.run`, Claude model (caching on)",
        None,
        agentkit_agent_claude,
    ),
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


async def run_framework(runner: Runner, turns: int) -> tuple[list[float], float]:
    """One session: the gaps between consecutive model calls, and the session's wall."""
    stamps, wall = await runner(turns)
    if len(stamps) != turns:
        raise RuntimeError(f"expected {turns} model calls, got {len(stamps)}")
    return [b - a for a, b in itertools.pairwise(stamps)], wall


#: Turns compared for flatness: the first and the last this many (turns 1-10, 191-200).
FLAT_WINDOW = 10


async def _measure(turns: int, repeats: int) -> dict[str, Any]:
    """One run: every framework's session ``repeats`` times, interleaved, after a warm-up."""
    present = [f for f in FRAMEWORKS if f[2] is None or peer_available(f[2])]
    gaps: dict[str, list[list[float]]] = {key: [] for key, *_ in present}
    walls: dict[str, list[float]] = {key: [] for key, *_ in present}
    for repeat in range(repeats + 1):  # the first round warms up and is discarded
        for key, _, _, runner in present:
            session_gaps, wall = await run_framework(runner, turns)
            if repeat:
                gaps[key].append(session_gaps)
                walls[key].append(wall)
    rows: list[dict[str, Any]] = []
    plain_floor = median(walls["plain"]) / turns
    floor = median(walls["plain_streamed"]) / turns
    window = min(FLAT_WINDOW, (turns - 1) // 2)
    for key, label, _, _ in present:
        per_turn = median(walls[key]) / turns
        curve = [median([g[i] for g in gaps[key]]) for i in range(turns - 1)]
        fifth = max(1, len(curve) // 5)
        rows.append(
            {
                "framework": key,
                "label": label,
                "us_per_turn": per_turn * 1e6,
                "ratio_to_floor": per_turn / floor,
                "ratio_to_plain": per_turn / plain_floor,
                "us_per_gap": median([median(g) for g in gaps[key]]) * 1e6,
                "flat_last_vs_first": median(curve[-window:]) / median(curve[:window]),
                "growth_last_vs_first": median(curve[-fifth:]) / median(curve[:fifth]),
                "curve_us": [c * 1e6 for c in curve],
            }
        )
    by_key = {r["framework"]: r for r in rows}
    if "pydantic_ai" in by_key:
        for r in rows:
            r["ratio_to_pydantic_ai"] = r["us_per_turn"] / by_key["pydantic_ai"]["us_per_turn"]
    return {"turns": turns, "repeats": repeats, "flat_window": window, "rows": rows}


#: Figures combined over runs: the median run's value, every run's, and the spread.
FIGURES = (
    "us_per_turn",
    "ratio_to_floor",
    "ratio_to_plain",
    "ratio_to_pydantic_ai",
    "flat_last_vs_first",
    "growth_last_vs_first",
)


def combine(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per framework: each figure's median over runs, with ``<figure>_runs`` listing every run's."""
    out = []
    for i, row in enumerate(runs[0]["rows"]):
        combined: dict[str, Any] = {"framework": row["framework"], "label": row["label"]}
        for figure in FIGURES:
            if figure in row:
                values = [r["rows"][i][figure] for r in runs]
                combined[figure] = median(values)
                combined[f"{figure}_runs"] = values
                combined[f"{figure}_spread"] = spread(values)
        out.append(combined)
    return out


#: Independent runs (each its own event loop); a target is met only when every run meets it.
RUNS = 3


def run(quick: bool = False) -> dict[str, Any]:
    turns, repeats = (24, 1) if quick else (200, 3)
    runs = [anyio.run(_measure, turns, repeats) for _ in range(RUNS)]
    return {"turns": turns, "repeats": repeats, "runs": runs, "rows": combine(runs)}
