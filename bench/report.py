# ruff: noqa: RUF001  (the page is typeset: multiplication and minus signs are meant)
# ruff: noqa: PLC0415  (matplotlib is optional)
"""Renders ``docs/benchmarks.md`` (and its plots) from a results dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["check_targets", "render", "write_page"]

LOOP_PLOT = "benchmarks-loop.png"
TRANSFORMS_PLOT = "benchmarks-transforms.png"


def _x(value: float) -> str:
    if value < 0.01:
        return f"{value:.4f}×"
    if value < 0.1:
        return f"{value:.3f}×"
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _config(block: dict[str, Any]) -> str:
    counting = "tool runs collapsed" if block["collapse_tool_runs"] else "a position per block"
    return f"minimum {block['minimum']:,} tokens, {counting}"


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: what was measured and whether it is met."""
    out: list[dict[str, Any]] = []
    if "caching" in results:
        for block in results["caching"]["configs"]:
            row = next(r for r in block["rows"] if r["strategy"] == "agentkit")
            out.append(
                {
                    "target": f"caching ({_config(block)}): 100 % of the ideal "
                    "saving, no rejected request",
                    "measured": f"{_pct(row['share_of_ideal_saving'])}, {row['rejected']} rejected",
                    "met": row["share_of_ideal_saving"] >= 0.999 and row["rejected"] == 0,
                }
            )
    if "streaming" in results:
        for key, limit, label in (
            ("agentkit_provider", 1.2, "provider stream"),
            ("agentkit_loop", 1.5, "full `agent_loop`"),
        ):
            worst = max(
                (max(_per_run(next(r for r in c["rows"] if r["reader"] == key), "cpu_ratio")), c)
                for c in results["streaming"]["cases"]
            )
            ratio, case = worst
            out.append(
                {
                    "target": f"{label} at most {limit}× the bare reader (CPU), every run",
                    "measured": f"worst {_x(ratio)} ({case['format']}, {case['kind']})",
                    "met": ratio <= limit,
                }
            )
    if "loop" in results:
        out += _loop_targets(results)
    history = results.get("transforms", {}).get("per_turn_rows")
    if history:
        # The incremental-requests benchmark (bench/transforms.py) times one turn's
        # request at each history size: rows of {"messages", "us_per_turn"}.
        small, large = history[0], history[-1]
        ratio = large["us_per_turn"] / small["us_per_turn"]
        out.append(
            {
                "target": f"per-turn request cost flat in history size "
                f"({small['messages']:,} to {large['messages']:,} messages, within 1.1×)",
                "measured": _x(ratio),
                "met": ratio <= 1.1,
            }
        )
    if "transforms" in results:
        at = [r for r in results["transforms"]["rows"] if r["messages"] >= 1_000]
        if at:
            out.append(
                {
                    "target": "default transforms under 1 ms at 1,000 messages",
                    "measured": f"{at[0]['us_per_call']:.0f} µs at {at[0]['messages']:,}",
                    "met": at[0]["us_per_call"] < 1_000,
                }
            )
    if "scale" in results:
        for block in results["scale"]["by_pool"]:
            out.append(
                {
                    "target": f"{block['runs']:,} concurrent runs (pool {block['pool']}): all "
                    "complete, 0 events lost",
                    "measured": f"{block['completed']:,} complete, {block['events_lost']} lost",
                    "met": block["completed"] == block["runs"] and block["events_lost"] == 0,
                }
            )
    if "concurrency" in results:
        data = results["concurrency"]
        rows = {r["kind"]: r for r in data["rows"]}
        mine = rows["agentkit"]
        worst = max(mine["bytes_per_run_runs"])
        out.append(
            {
                "target": f"memory per concurrent `agent_loop` run at most 16 KiB "
                f"({data['concurrent']:,} concurrent runs), every run",
                "measured": f"worst {worst / 1024:.1f} KiB",
                "met": worst <= 16 * 1024,
            }
        )
        incomplete = sum(data["concurrent"] - c for r in data["rows"] for c in r["completed_runs"])
        out.append(
            {
                "target": f"{data['concurrent']:,} concurrent runs: all complete",
                "measured": f"{incomplete} incomplete",
                "met": incomplete == 0,
            }
        )
    return out


def _per_run(row: dict[str, Any], figure: str) -> list[float]:
    """Every run's value of ``figure`` (a single value when the results hold one run)."""
    values: list[float] = row.get(f"{figure}_runs", [row[figure]])
    return values


def _spread(row: dict[str, Any], figure: str, fmt: Any = None) -> str:
    """The median run's value and the range over runs, as the page shows them."""
    fmt = fmt or _x
    values = _per_run(row, figure)
    if len(values) == 1:
        return str(fmt(values[0]))
    return f"{fmt(row[figure])} ({fmt(min(values))}–{fmt(max(values))})"


def _loop_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    data = results["loop"]
    turns = data.get("turns", data["runs"][0]["turns"])
    rows = {r["framework"]: r for r in data.get("rows", data["runs"][0]["rows"])}
    runs = [{r["framework"]: r for r in run["rows"]} for run in data["runs"]]
    window = data["runs"][0].get("flat_window", 10)
    out: list[dict[str, Any]] = []
    for key, limit, label in (
        ("agentkit", 10, "`agent_loop`"),
        ("agentkit_agent_claude", 12, "`Agent.run` with a Claude model (caching on)"),
    ):
        if key not in rows:
            continue
        worst = max(_per_run(rows[key], "ratio_to_floor"))
        out.append(
            {
                "target": f"{label} per turn at most {limit}× the plain asyncio floor, every run",
                "measured": f"worst {_x(worst)} ({turns} turns, session wall / turns)",
                "met": worst <= limit,
            }
        )
    for key, label in (("agentkit", "`agent_loop`"), ("agentkit_agent_claude", "`Agent.run`")):
        if key in rows and "flat_last_vs_first" in rows[key]:
            worst = max(_per_run(rows[key], "flat_last_vs_first"))
            first, last = f"1-{window}", f"{turns - window + 1}-{turns}"
            out.append(
                {
                    "target": f"{label} flat: turns {last} within 1.1× of turns {first}, every run",
                    "measured": f"worst {_x(worst)}",
                    "met": worst <= 1.1,
                }
            )
    mine = rows["agentkit"]
    if "ratio_to_pydantic_ai" in mine:
        worst = max(_per_run(mine, "ratio_to_pydantic_ai"))
        out.append(
            {
                "target": "loop overhead per turn at most 0.1× pydantic-ai's, every run",
                "measured": f"worst {worst:.3f}× ({turns} turns)",
                "met": worst <= 0.1,
            }
        )
    if "agentkit_otel" in rows:
        cost = max(
            run["agentkit_otel"]["us_per_turn"] / run["agentkit_agent"]["us_per_turn"]
            for run in runs
        )
        out.append(
            {
                "target": "OpenTelemetry on: at most 1.15× `Agent.run` per turn, every run",
                "measured": f"worst {_x(cost)} ({turns} turns)",
                "met": cost <= 1.15,
            }
        )
    growth = max(run["agentkit"]["growth_last_vs_first"] for run in runs)
    out.append(
        {
            "target": "loop overhead flat as the history grows (last fifth ≤ 1.25× first)",
            "measured": f"{_x(growth)} (worst run)",
            "met": growth <= 1.25,
        }
    )
    return out


def _header(results: dict[str, Any]) -> str:
    m, v = results["machine"], results["versions"]
    memory = f"{m['memory_bytes'] / 2**30:.0f} GiB" if m.get("memory_bytes") else "unknown"
    peers = ", ".join(f"{k} {v[k] or 'not installed'}" for k in v if k not in ("python",))
    quick = (
        "\n!!! warning\n    This page was generated by a `--quick` run: tiny sizes, few "
        "repetitions. Run `make bench` for the real figures.\n"
        if results.get("quick")
        else ""
    )
    return f"""# Benchmarks

agentkit against what users would pick instead, measured side by side in one
run on the same work. The machines are shared and noisy, so every figure is a
ratio to a baseline measured in the same run (interleaved where practical), a
median over several repetitions, never a lone absolute time. The streaming,
loop and concurrency figures are each measured in three independent runs: the
tables show the median run with the range over runs in brackets, and a target
is "met" only when every run meets it. Every client (`httpx.AsyncClient`, the
providers, the SDKs' client objects) and every agent object is built before the
timed region, as an application builds them once; logging is left in the
library's default state.
{quick}
## Reproduce

```sh
make bench                 # installs bench/requirements.txt into bench/.venv, runs everything
python -m bench --quick    # a fast sanity run (minutes less, figures rougher)
python -m bench --only streaming loop
```

Every figure below, with the machine and versions, is in `bench/results.json`;
this page is regenerated from it by `bench/report.py`. The peers are
benchmark-only dependencies (`bench/requirements.txt`), never agentkit's.

**This run:** {results["generated"]}, {results.get("wall_seconds", 0):.0f} s in all.
**Machine:** {m["cpu"]}, {m["cores"]} cores, {memory}, {m["os"]},
{m["implementation"]} {m["python"]}.
**Versions:** {peers}.
"""


def _targets(results: dict[str, Any]) -> str:
    rows = [
        [t["target"], t["measured"], "met" if t["met"] else "**missed**"]
        for t in check_targets(results)
    ]
    return "## Targets\n\n" + _table(["target", "measured", ""], rows) + "\n"


def _caching(results: dict[str, Any]) -> str:
    data = results["caching"]
    s = data["session"]
    labels = data["labels"]
    truncated = (
        f" (This `--quick` run played only the first {s['user_turns']} turns.)"
        if s["user_turns"] < s["all_turns"]
        else ""
    )
    parts = [
        f"""## 1. Cache savings

A coding-agent session against the emulator (`bench/session.py`): a two-block
system prompt of about 3,000 tokens, {s["tools"]} tools, {s["all_turns"]} user turns,
{s["planned_requests"]} requests, parallel tool calls (up to twelve at once), a chain of
13 sequential tool calls, and a pause of {s["pause_seconds"] / 60:.0f} minutes on the
emulator's clock before turn {s["pause_before_turn"]}.{truncated} The model's replies are a
policy of the conversation's position, so every strategy plays the same session
through the same `agent_loop` and `AnthropicProvider`; each strategy is a transform
placing `cache_control` markers (`bench/strategies.py`). A request the emulator
rejects (400) is counted and sent again without markers, so later requests stay
identical.

Costs are input-side (the output is the same for all), from the emulator's
cache report and the model's list prices: read ×0.1, 5-minute write ×1.25, 1-hour
write ×2. **The ideal**: each request reads the whole previous prompt and writes
only what is new, except where nothing can: after a gap longer than 5 minutes
every 5-minute entry has expired (the ideal writes the whole prompt again), and
a prompt below the minimum cacheable length is not cached. The share of the ideal
saving is (uncached cost − cost) / (uncached cost − ideal cost).

The emulator counts cache positions as newer Anthropic documentation does (a
run of consecutive `tool_use` or `tool_result` blocks is one position) and,
in a third table, as older documentation did (each block is one position),
which makes the 20-position lookback bite after a wide parallel fan-out.
"""
    ]
    for block in data["configs"]:
        rows = [
            [
                labels[r["strategy"]],
                str(r["rejected"]),
                f"{r['hits']}/{r['requests']}",
                _x(r["cost_vs_none"]),
                _pct(r["share_of_ideal_saving"]),
            ]
            for r in block["rows"]
        ]
        rows.append(["ideal", "0", "", _x(block["ideal"]["cost_vs_none"]), "100 %"])
        parts.append(
            f"### {_config(block).capitalize()}\n\n"
            f"{block['model']}, {block['prompt_tokens']:,} prompt tokens over the session "
            f"(the last prompt {block['last_prompt_tokens']:,}).\n\n"
            + _table(
                [
                    "strategy",
                    "rejected",
                    "requests reading",
                    "input cost vs none",
                    "share of ideal saving",
                ],
                rows,
            )
            + "\n"
        )
        example = next(
            (r["rejection_example"] for r in block["rows"] if r["rejection_example"]), None
        )
        if example:
            parts.append(f"A rejection, as the emulator words it: `{example[:160]}`\n")
    return "\n".join(parts)


def _streaming(results: dict[str, Any]) -> str:
    data = results["streaming"]
    parts = [
        """## 2. Streaming overhead

One long response served over loopback by an in-process server
(`bench/loopback.py`) in writes of 4 to 16 KiB (a fixed cycle of sizes, as real
services send small writes), in OpenRouter's and in Anthropic's SSE format
(`bench/streams.py`). The floor is httpx's `aiter_lines()` plus `json.loads` of
each `data:` line. Each reader's client is built once, before anything is timed
(an `httpx.AsyncClient` for the floor, the provider over one for agentkit, the
SDK's client object for the SDKs), and a discarded first round opens its
connection; a sample is one request read to the end. Ratios are CPU time
(`process_time`) and wall time to the floor's, medians over the repetitions of a
run, readers interleaved; each case is run three times (a fresh event loop,
server and clients each time). Each reader verifies it saw every delta.
"""
    ]
    for case in data["cases"]:
        rows = [
            [
                r["label"],
                _spread(r, "cpu_ratio"),
                _spread(r, "wall_ratio"),
                f"{r['cpu_us_per_delta']:.1f}",
            ]
            for r in case["rows"]
        ]
        what = "text deltas" if case["kind"] == "text" else "tool-argument deltas"
        parts.append(
            f"### {case['format'].capitalize()}: {case['deltas']:,} {what}\n\n"
            + _table(["reader", "CPU vs floor", "wall vs floor", "CPU µs per delta"], rows)
            + f"\n\nMedians of {case['repeats']} repetitions in each of "
            f"{case.get('runs', 1)} runs (the median run, the range in brackets).\n"
        )
    return "\n".join(parts)


def _loop(results: dict[str, Any], plot: bool) -> str:
    data = results["loop"]
    parts = [
        """## 3. Loop overhead

A tool-using run with an in-process scripted model, no HTTP: on every turn but
the last the model calls an async tool `add(a, b)`, then it answers. Each
framework's objects (agent, config, scripted model) are built before the timed
region; a session is timed from the call that starts the run until its result
is back, and the cost per turn is that wall time / turns, so it includes the
run's set-up, teardown and final turn. Every model reports its usage (left to
estimate it, the scripted models of agentkit and pydantic-ai serialise the
whole history on each call). The floor is a hand-written asyncio loop doing the
same appends and calls, with each model reply streamed to it from a task of its
own over an `asyncio.Queue` (one task and one queue per turn: the least a loop
over a streaming provider does); the same loop calling the model inline, which
never yields to the event loop, is shown as "vs inline loop". Flatness
compares the median framework time (the gap between two model calls) of the
last ten turns with the first ten; growth, the last fifth with the first
fifth. `Agent.run` is measured twice: with a Claude model, the README's path,
where the default caching transform places markers, and with a model it leaves
alone. "Log calls removed" replaces every logging
call with a no-op (logging is otherwise in the library's default state: nothing
configured), so its difference to `agent_loop` is what logging costs when
nobody listens. "`agentkit.otel` on" is `Agent.run` (the non-Claude row) with
the instrumentation on and OpenTelemetry's SDK recording every span and metric
(spans go to an exporter that drops them); off is that `Agent.run` row, since
instrumentation is off unless `agentkit.otel.instrument()` is called. openai-agents
runs with its tracing off (on by default, it exports to OpenAI's servers).
"""
    ]
    turns = data.get("turns", data["runs"][0]["turns"])
    combined = data.get("rows", data["runs"][0]["rows"])
    rows = []
    for r in combined:
        vs = _spread(r, "ratio_to_pydantic_ai") if "ratio_to_pydantic_ai" in r else "n/a"
        rows.append(
            [
                r["label"],
                _spread(r, "us_per_turn", _us),
                _spread(r, "ratio_to_floor"),
                _spread(r, "ratio_to_plain"),
                vs,
                _spread(r, "flat_last_vs_first") if "flat_last_vs_first" in r else "n/a",
                _spread(r, "growth_last_vs_first"),
            ]
        )
    repeats = data.get("repeats", data["runs"][0]["repeats"])
    parts.append(
        f"### {turns} turns, {len(data['runs'])} runs of {repeats} sessions each\n\n"
        + _table(
            [
                "framework",
                "µs per turn",
                "vs floor",
                "vs inline loop",
                "vs pydantic-ai",
                "flat (last 10 / first 10)",
                "growth (fifths)",
            ],
            rows,
        )
        + "\n\nEach run's figure is the median of its sessions; the table shows the "
        "median run and, in brackets, the range over runs.\n"
    )
    if plot:
        parts.append(f"![Framework time per turn through a run]({LOOP_PLOT})\n")
    return "\n".join(parts)


def _us(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _transforms(results: dict[str, Any], plot: bool) -> str:
    data = results["transforms"]
    rows = [[f"{r['messages']:,}", f"{r['us_per_call']:.0f}"] for r in data["rows"]]
    first, last = data["rows"][0]["messages"], data["rows"][-1]["messages"]
    text = f"""## 4. Transforms

The default pipeline (`Pipeline((CacheBreakpoints(),))`, what an `Agent` runs when
the user adds nothing) on contexts of a coding session's mix of messages, for a
Claude model through the Anthropic provider, with a fresh `TransformInfo` per
call as the loop gives each turn. Medians of 7 samples of many calls.

{_table(["messages", "µs per call"], rows)}

Growth: time ∝ size^{data["growth_exponent"]:.2f} from {first:,} to {last:,} messages,
size^{data.get("tail_exponent", data["growth_exponent"]):.2f} over the last tenfold.
"""
    if plot:
        text += f"\n![Time per call of the default pipeline]({TRANSFORMS_PLOT})\n"
    return text


def _scale(results: dict[str, Any]) -> str:
    data = results["scale"]
    rows = [
        [
            str(b["pool"]),
            f"{b['completed']:,}/{b['runs']:,}",
            str(b["errors"]),
            f"{b['events_consumed']:,}/{b['events_produced']:,}",
            str(b["events_lost"]),
            f"{b['wall_seconds']:.1f}",
            f"{b['cpu_seconds'] / b['runs'] * 1e3:.1f}",
            f"{b['emulator_cpu_seconds']:.1f}",
            f"{b['rss_peak_bytes'] / 2**20:.0f}",
            f"{b['bytes_per_run'] / 1024:.0f}",
        ]
        for b in data["by_pool"]
    ]
    return f"""## 5. Scale

Concurrent `agent_loop` runs in one process, all sharing one `AnthropicProvider`
and one `httpx.AsyncClient`, against the emulator running as a child process
(`python -m agentkit.testing.emulator`), so this process's CPU and memory are
the runs' alone. Each run asks the emulator's demo model to add two numbers:
a tool call, its result, an answer (two requests). Each event is counted by the
run's `on_event` listener (called by the producer as it emits) and by the
consumer iterating the stream. Memory is the process's resident set, sampled
every 20 ms; per run is (peak − before) / runs.

{
        _table(
            [
                "pool",
                "completed",
                "errors",
                "events seen/emitted",
                "lost",
                "wall s",
                "CPU ms per run",
                "emulator CPU s",
                "peak RSS MiB",
                "KiB per run",
            ],
            rows,
        )
    }
"""


def _temporal(results: dict[str, Any]) -> str:
    over, through = results["temporal"]["overhead"], results["temporal"]["throughput"]
    return f"""## Durable runs on Temporal

`bench/temporal_durable.py`: a local `temporal server start-dev`, the same
agent on the same scripted model, {over["turns"]} turns of one async tool call
each, in-process and durably (median of five runs each); then
{through["runs"]} durable runs of {through["turns_per_run"]} turns started at
once, served by {through["workers"]} worker processes. Server, workers and
client share the machine.

{
        _table(
            ["in-process ms/turn", "durable ms/turn", "overhead ms/turn"],
            [
                [
                    f"{over['in_process_ms_per_turn']:.2f}",
                    f"{over['durable_ms_per_turn']:.1f}",
                    f"{over['overhead_ms_per_turn']:.1f}",
                ]
            ],
        )
    }

{
        _table(
            ["runs", "workers", "wall s", "runs/s", "p50 latency s", "p95 latency s"],
            [
                [
                    str(through["runs"]),
                    str(through["workers"]),
                    f"{through['seconds']:.1f}",
                    f"{through['runs_per_second']:.1f}",
                    f"{through['latency_p50_s']:.1f}",
                    f"{through['latency_p95_s']:.1f}",
                ]
            ],
        )
    }
"""


def _concurrency(results: dict[str, Any]) -> str:
    data = results["concurrency"]
    rows = [
        [
            r["label"],
            f"{sum(r['completed_runs']):,}/{r['runs'] * len(r['completed_runs']):,}",
            _spread(r, "bytes_per_run", lambda v: f"{v / 1024:.1f}"),
            f"{r['cpu_ms_per_run']:.2f}",
            f"{r['rss_parked_bytes'] / 2**20:.0f}",
        ]
        for r in data["rows"]
    ]
    return f"""## 6. Memory per concurrent run

{data["concurrent"]:,} runs alive at once in one process, no HTTP
(`bench/concurrency.py`): each is a tool session with an in-process scripted
model whose tool call waits on one shared gate. When every run is parked in its
tool call (history, pending call and streams alive), the resident set is read;
then the gate opens and every run must answer. Per run is (parked − before) /
runs, "before" read after the shared objects (config, provider, tool) are built
and a few warm-up runs have finished; `Agent.run` builds one `Agent` per run (an
agent holds one conversation). Each configuration runs {data["runs"]} times, each
in a fresh process; the floor is a plain asyncio task per run doing the same.

{
        _table(
            ["framework", "completed", "KiB per run", "CPU ms per run", "parked RSS MiB"],
            rows,
        )
    }
"""


def _keep_warm(results: dict[str, Any]) -> str:
    data = results["keep_warm"]
    rows = []
    for row in data["rows"]:
        cur, one, warm = row["current"], row["1h"], row["keep_warm"]
        warm_total = warm["turn_cost"] + warm["keep_warm_cost"]
        rows.append(
            [
                str(row["minutes"]),
                _pct(cur["kept"]),
                _pct(one["kept"]),
                _pct(row["auto"]["kept"]) if "auto" in row else "-",
                _pct(warm["kept"]),
                str(warm["refreshes"]),
                f"${cur['turn_cost']:.4f}",
                f"${one['turn_cost']:.4f}",
                f"${warm_total:.4f} (${warm['keep_warm_cost']:.4f})",
            ]
        )
    pre = data["prewarm"]
    table = _table(
        [
            "pause (min)",
            "kept: current",
            "kept: 1h",
            "kept: auto",
            "kept: keep-warm",
            "refreshes",
            "cost: current",
            "cost: 1h",
            "cost: keep-warm (of it, refreshes)",
        ],
        rows,
    )
    return f"""## Keep-warm across user pauses

`bench/keep_warm.py`: {data["turns_before_pause"]} turns with `{data["model"]}`, a pause,
then one more turn; "kept" is the share of the 5-minute ideal ({data["ideal_read"]:,}
tokens read with no pause) that the turn after the pause read. Keep-warm refreshes
every {data["interval_seconds"]:.0f} s, capped at {data["cap_requests"]} requests.
Costs: the turn after the pause, plus keep-warm's refreshes.

{table}

Pre-warm: the first request read {pre["first_read_cold"]:,} tokens cold and
{pre["first_read_prewarmed"]:,} after a pre-warm costing ${pre["prewarm_cost"]:.4f}.
"""


def _notes(results: dict[str, Any]) -> str:
    missed = [t for t in check_targets(results) if not t["met"]]
    lines = ["## Where agentkit is behind, and why\n"]
    if missed:
        lines.append(
            "Missed in this run: "
            + "; ".join(f"{t['target']} ({t['measured']})" for t in missed)
            + ".\n"
        )
    else:
        lines.append("Every target was met in this run. What is still far from its floor:\n")
    lines.append(
        """- **Caching.** Every strategy that marks the newest message reaches the ideal
  while one request appends fewer positions than the 20-position lookback reaches.
  When it appends more (the twelve-file parallel read counted a position per
  block), a strategy that marks only the newest message (pi-mono, pydantic-ai)
  finds nothing within reach and pays that request in full; agentkit also marks the
  previous request's tail (and a bridge), so it reads. The predecessor's marker on
  every user message is rejected from the fifth user turn on. No 5-minute
  placement can read across the 6-minute pause: the ideal accounts for it, and the
  1-hour prefix mode (`CacheBreakpoints(mode='1h')`) is the only way to keep the
  stable prefix warm across it, for a 2× write.
- **Loop overhead.** agentkit's turn costs tens of times the floor (a hand-written loop
  over a streamed model), hundreds of times one calling the model inline:
  each turn runs an `EventStream` for the provider and one for the run, a task
  group for the tools, and `jsonschema` validation of the arguments, and emits
  about a dozen events. It is a small fraction of the peers' cost and flat,
  because nothing in a turn rescans the history.
- **Transforms.** Time grows linearly past about 1,000 messages: the caching
  transform scans every block of every message for markers the caller placed
  (`agentkit/transforms/_breakpoints.py`, `existing_markers`), most of the cost at
  10,000 messages. Remembering per message object whether it carries a marker
  (messages are immutable) would make a turn cost proportional to what is new.
- **Scale.** At 1,000 concurrent runs most of this process's CPU is httpx's
  connection pool, not agentkit: httpcore reassigns queued requests by rescanning
  every pooled connection (checking each socket) on every request event
  (`httpcore/_async/connection_pool.py`, `_assign_requests_to_connections`), so a
  run's CPU grows with the concurrency and with the pool size (compare the two
  pools above). Bounding the requests in flight does not help while the pool is
  large; a smaller pool does. Memory per run includes the connection buffers.
- **Memory per concurrent run.** Traced with `tracemalloc` on 2,000 parked
  `agent_loop` runs (bench/concurrency.py's configuration, December 2026): about
  24 KiB a run, of which about 6.8 KiB is anyio's asyncio backend (tasks, task
  groups, cancel scopes), 3.7 KiB the loop's own state (`agentkit/_loop.py`),
  3.2 KiB the tool execution (`agentkit/_tool_execution.py`), 2.5 KiB the two
  event streams (`agentkit/_stream.py`) and 2.4 KiB asyncio `Event`s; the
  messages themselves are a small part. Fewer structured-concurrency objects per
  turn (issue 20, item 1) is what would bring it under 16 KiB.
- **Streaming.** The provider stream's cost above the floor, on a text delta, is
  Python per event: agentkit's own SSE decoder (`agentkit/providers/_sse.py`,
  `_feed_text`) where the floor uses httpx's line iterator, the dispatch
  (`AnthropicProvider`'s `handle`, the message builder's `text` and `_block`), a
  frozen attrs `TextDelta` (about 0.6 µs to build, a tuple 0.04 µs), and one
  consumer `__anext__` per delta; the `json.loads` is the floor's own. The events
  of one network read are already queued as one batch (`EventStream.push_many`,
  one consumer wake-up per read), which brought the text cases from about 1.5×
  to 1.3–1.4×. What would take more off: delta events built without the
  frozen-attrs `__setattr__` path (a change to the public event classes). The loop
  adds a `MessageUpdate` per delta, the listener hand-off and a second stream
  hop (the partial answer of an abort is the provider's own, kept by its
  builder). The SDKs build a pydantic model per event (the `stream()` helpers
  also a snapshot), which is where their multiple comes from.
"""
    )
    if "streaming" in results:
        lines.append(_streaming_range(results["streaming"]))
    return "\n".join(lines)


def _streaming_range(data: dict[str, Any]) -> str:
    ratios, noisy = [], []
    for case in data["cases"]:
        rows = {r["reader"]: r["cpu_ratio"] for r in case["rows"]}
        ratios.append(rows["agentkit_provider"])
        if rows["agentkit_provider"] > rows["agentkit_loop"]:
            noisy.append(f"{case['format']} {case['kind']}")
    text = (
        f"In this run the provider stream measured {_x(min(ratios))} to {_x(max(ratios))} "
        "the floor across the four cases."
    )
    if noisy:
        text += (
            " Where it measured above the full loop that consumes it ("
            + ", ".join(noisy)
            + "), the gap is noise: the loop does strictly more work on the same stream."
        )
    return text + "\n"


def _plots(results: dict[str, Any], docs: Path) -> tuple[bool, bool]:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False, False
    loop_done = transforms_done = False
    if "loop" in results:
        run = results["loop"]["runs"][-1]
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in run["rows"]:
            ax.plot(
                range(2, len(r["curve_us"]) + 2), r["curve_us"], label=r["label"].replace("`", "")
            )
        ax.set_yscale("log")
        ax.set_xlabel("turn")
        ax.set_ylabel("framework µs per turn (log)")
        ax.set_title(f"{run['turns']}-turn tool loop, medians of {run['repeats']} runs")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(docs / LOOP_PLOT, dpi=100)
        plt.close(fig)
        loop_done = True
    if "transforms" in results:
        rows = results["transforms"]["rows"]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([r["messages"] for r in rows], [r["us_per_call"] for r in rows], marker="o")
        ax.axhline(1_000, linestyle="--", color="grey", label="target at 1,000 messages: 1 ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("messages in the context (log)")
        ax.set_ylabel("µs per call (log)")
        ax.set_title("Default transform pipeline")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(docs / TRANSFORMS_PLOT, dpi=100)
        plt.close(fig)
        transforms_done = True
    return loop_done, transforms_done


def render(
    results: dict[str, Any], *, loop_plot: bool = False, transforms_plot: bool = False
) -> str:
    """The page's Markdown."""
    sections = [_header(results), _targets(results)]
    for key, fn in (
        ("caching", _caching),
        ("streaming", _streaming),
    ):
        if key in results:
            sections.append(fn(results))
    if "loop" in results:
        sections.append(_loop(results, loop_plot))
    if "transforms" in results:
        sections.append(_transforms(results, transforms_plot))
    if "scale" in results:
        sections.append(_scale(results))
    if "concurrency" in results:
        sections.append(_concurrency(results))
    if "temporal" in results:
        sections.append(_temporal(results))
    if "keep_warm" in results:
        sections.append(_keep_warm(results))
    sections.append(_notes(results))
    return "\n".join(sections)


def write_page(results: dict[str, Any], page: Path) -> None:
    """Writes the page and its plots (when matplotlib is installed) next to it."""
    page.parent.mkdir(parents=True, exist_ok=True)
    loop_plot, transforms_plot = _plots(results, page.parent)
    page.write_text(
        render(results, loop_plot=loop_plot, transforms_plot=transforms_plot), encoding="utf-8"
    )
