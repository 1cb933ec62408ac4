# ruff: noqa: PLC0415  (the peers are optional: imported only when measured)
"""Item 2, streaming overhead: readers of one long SSE stream over loopback, against the floor.

The floor is httpx's line iterator plus ``json.loads`` of every ``data:`` line.
Every reader's client (an ``httpx.AsyncClient`` for the floor, a provider over
one for agentkit, the SDK's own client object for the SDKs) is built once,
before the timed region, as an application would; its connection is warmed by a
discarded first round. Each reader runs once per repetition, interleaved with
the others, on the same body from the same in-process server; CPU
(``process_time``) and wall (``perf_counter``) medians are reported as ratios
to the floor's. A case is measured in several independent runs (each its own
event loop and server); the page reports the median run and the spread, and a
target is met only when every run meets it.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx

from agentkit._events import MessageUpdate, TextDelta, ToolCallDelta
from agentkit._loop import LoopConfig, agent_loop
from agentkit._messages import Context, UserMessage
from agentkit._tools import Tool
from agentkit.providers import AnthropicProvider, OpenRouterProvider
from agentkit.providers._base import ModelOptions, Provider
from bench.common import median, peer_available, spread, timed
from bench.loopback import serve
from bench.streams import anthropic_body, arguments_fragments, openrouter_body

__all__ = ["READERS", "combine", "run", "run_case"]

#: Reads the whole stream once with a client built beforehand; returns the deltas seen.
Reader = Callable[[str, str, Any], Awaitable[int]]
#: Builds a reader's client (outside the timed region): ``(format, base URL)``.
ClientFactory = Callable[[str, str], AbstractAsyncContextManager[Any]]
_DELTA_KINDS = (TextDelta, ToolCallDelta)


def _write_file(path: str, content: str) -> str:
    """Write a file."""
    return "ok"


_TOOL = Tool.from_function(_write_file, name="write_file")


def httpx_client(fmt: str, url: str) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return httpx.AsyncClient()


async def floor(fmt: str, url: str, client: httpx.AsyncClient) -> int:
    count = 0
    path = "/chat/completions" if fmt == "openrouter" else "/v1/messages"
    async with client.stream("POST", url + path, content=b"{}") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                event = json.loads(line[6:])
                if fmt == "anthropic":
                    count += event["type"] == "content_block_delta"
                else:
                    delta = event["choices"][0]["delta"]
                    calls = delta.get("tool_calls") or ()
                    count += bool(
                        delta.get("content") or any(c["function"]["arguments"] for c in calls)
                    )
    return count


def _provider(fmt: str, url: str, client: httpx.AsyncClient) -> Provider:
    if fmt == "openrouter":
        return OpenRouterProvider(api_key="k", base_url=url, client=client)
    return AnthropicProvider(api_key="k", base_url=url, client=client)


def _model(fmt: str) -> str:
    return "anthropic/claude-sonnet-4.5" if fmt == "openrouter" else "claude-sonnet-4-5"


@asynccontextmanager
async def agentkit_client(fmt: str, url: str) -> AsyncIterator[Provider]:
    """The provider over one ``httpx.AsyncClient``, both built once."""
    async with httpx.AsyncClient() as client:
        yield _provider(fmt, url, client)


async def agentkit_provider(fmt: str, url: str, provider: Provider) -> int:
    count = 0
    context = Context(messages=(UserMessage("hi"),), tools=(_TOOL.definition,))
    async with provider.stream(context, ModelOptions(_model(fmt))) as answer:
        async for event in answer:
            count += isinstance(event, _DELTA_KINDS)
        await answer.result()
    return count


async def agentkit_loop(fmt: str, url: str, provider: Provider) -> int:
    count = 0
    config = LoopConfig(
        provider=provider, options=ModelOptions(_model(fmt)), tools=[_TOOL], max_turns=1
    )
    async with agent_loop(config, prompt="hi") as run:
        async for event in run:
            count += isinstance(event, MessageUpdate) and isinstance(event.delta, _DELTA_KINDS)
        await run.result()
    return count


def openai_client(fmt: str, url: str) -> AbstractAsyncContextManager[Any]:
    import openai

    return openai.AsyncOpenAI(api_key="k", base_url=url, max_retries=0)


def anthropic_client(fmt: str, url: str) -> AbstractAsyncContextManager[Any]:
    import anthropic

    # This SDK brings its own HTTP client (recent versions refuse an httpx one).
    return anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)


async def openai_create(fmt: str, url: str, client: Any) -> int:
    count = 0
    stream = await client.chat.completions.create(
        model=_model(fmt), messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            calls = delta.tool_calls or ()
            count += bool(delta.content or any(c.function and c.function.arguments for c in calls))
    return count


async def openai_stream_helper(fmt: str, url: str, client: Any) -> int:
    count = 0
    async with client.chat.completions.stream(
        model=_model(fmt), messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        async for event in stream:
            if event.type == "content.delta":
                count += bool(event.delta)
            elif event.type == "tool_calls.function.arguments.delta":
                count += bool(event.arguments_delta)
        await stream.get_final_completion()
    return count


async def anthropic_message_stream(fmt: str, url: str, client: Any) -> int:
    with warnings.catch_warnings():
        # The SDK warns that the model name is deprecated; the bench does not care.
        warnings.simplefilter("ignore", DeprecationWarning)
        return await _anthropic_message_stream(client, fmt)


async def _anthropic_message_stream(client: Any, fmt: str) -> int:
    count = 0
    async with client.messages.stream(
        model=_model(fmt), max_tokens=4096, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        async for event in stream:
            count += event.type == "content_block_delta"
        await stream.get_final_message()
    return count


#: (key, label, formats it reads, distribution it needs or None, client factory, reader).
READERS: tuple[tuple[str, str, tuple[str, ...], str | None, ClientFactory, Reader], ...] = (
    (
        "floor",
        "httpx lines + json.loads (floor)",
        ("openrouter", "anthropic"),
        None,
        httpx_client,
        floor,
    ),
    (
        "agentkit_provider",
        "agentkit provider stream",
        ("openrouter", "anthropic"),
        None,
        agentkit_client,
        agentkit_provider,
    ),
    (
        "agentkit_loop",
        "agentkit agent_loop",
        ("openrouter", "anthropic"),
        None,
        agentkit_client,
        agentkit_loop,
    ),
    (
        "openai_create",
        "openai SDK create(stream=True)",
        ("openrouter",),
        "openai",
        openai_client,
        openai_create,
    ),
    (
        "openai_stream",
        "openai SDK stream() helper",
        ("openrouter",),
        "openai",
        openai_client,
        openai_stream_helper,
    ),
    (
        "anthropic_stream",
        "anthropic SDK messages.stream()",
        ("anthropic",),
        "anthropic",
        anthropic_client,
        anthropic_message_stream,
    ),
)


def _expected(kind: str, count: int) -> int:
    return count if kind == "text" else len(arguments_fragments(count))


async def run_case(fmt: str, kind: str, count: int, repeats: int) -> dict[str, Any]:
    """One run of one format and workload: every available reader, interleaved.

    Each reader's client is built before anything is timed; the first round
    (which also opens each client's connection) is discarded.
    """
    body = openrouter_body(kind, count) if fmt == "openrouter" else anthropic_body(kind, count)
    readers = [
        (key, label, make, fn)
        for key, label, formats, needs, make, fn in READERS
        if fmt in formats and (needs is None or peer_available(needs))
    ]
    wall: dict[str, list[float]] = {key: [] for key, *_ in readers}
    cpu: dict[str, list[float]] = {key: [] for key, *_ in readers}
    expected = _expected(kind, count)
    async with serve(body) as url, AsyncExitStack() as stack:
        clients = {
            key: await stack.enter_async_context(make(fmt, url)) for key, _, make, _ in readers
        }
        for repeat in range(repeats + 1):
            for key, _, _, fn in readers:
                sample, seen = await timed(functools.partial(fn, fmt, url, clients[key]))
                if seen != expected:
                    raise RuntimeError(f"{key} saw {seen} deltas of {expected} ({fmt}, {kind})")
                if repeat:
                    wall[key].append(sample.wall)
                    cpu[key].append(sample.cpu)
    base_cpu, base_wall = median(cpu["floor"]), median(wall["floor"])
    rows = [
        {
            "reader": key,
            "label": label,
            "cpu_ratio": median(cpu[key]) / base_cpu,
            "wall_ratio": median(wall[key]) / base_wall,
            "cpu_us_per_delta": median(cpu[key]) / expected * 1e6,
        }
        for key, label, _, _ in readers
    ]
    return {"format": fmt, "kind": kind, "deltas": expected, "repeats": repeats, "rows": rows}


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Independent runs of one case: each figure's median run, with every run's value kept.

    ``cpu_ratio`` and the others are the median over runs; ``cpu_ratio_runs``
    (and ``wall_ratio_runs``) list each run's, and ``cpu_ratio_spread`` its
    lowest and highest, so a target can be checked against every run.
    """
    first = runs[0]
    rows = []
    for i, row in enumerate(first["rows"]):
        per_run = [r["rows"][i] for r in runs]
        out: dict[str, Any] = {"reader": row["reader"], "label": row["label"]}
        for figure in ("cpu_ratio", "wall_ratio", "cpu_us_per_delta"):
            values = [r[figure] for r in per_run]
            out[figure] = median(values)
            out[f"{figure}_runs"] = values
        out["cpu_ratio_spread"] = spread(out["cpu_ratio_runs"])
        rows.append(out)
    return {
        **{k: first[k] for k in ("format", "kind", "deltas", "repeats")},
        "runs": len(runs),
        "rows": rows,
    }


#: Independent runs of every case (each its own event loop, server and clients).
RUNS = 3


def run(quick: bool = False) -> dict[str, Any]:
    text, tool, repeats = (2_000, 200, 2) if quick else (20_000, 2_000, 4)
    cases = []
    for fmt in ("openrouter", "anthropic"):
        for kind, count in (("text", text), ("tool", tool)):
            runs = [anyio.run(run_case, fmt, kind, count, repeats) for _ in range(RUNS)]
            cases.append(combine(runs))
    return {"runs": RUNS, "cases": cases}
