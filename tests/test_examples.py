"""Every example runs, so none can rot."""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Every file in examples/ must be named here, and have a test below that runs it.
TESTED = {
    "custom_provider.py",
    "custom_transform.py",
    "human_approval.py",
    "mcp_time.py",
    "otel_console.py",
    "quickstart.py",
    "steering_and_abort.py",
    "streaming.py",
    "trio_agent.py",
}


def run_example(
    name: str, *args: str, env: dict[str, str] | None = None, stdin: int = subprocess.DEVNULL
) -> str:
    # By default stdin is not a terminal, so no example may wait for input.
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        stdin=stdin,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quickstart_streams_tools_and_every_request_reads_the_one_before() -> None:
    # No key: the demo must run on the local emulator, offline.
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    out = run_example("quickstart.py", env={**env, "COLUMNS": "200"})
    assert "via the local emulator" in out
    assert "tool get_weather(city='Paris')" in out
    assert "→ add: 60.5" in out
    usage = [
        tuple(int(n.replace(",", "")) for n in found)
        for found in re.findall(
            r"request \d+: input ([\d,]+) · cache read ([\d,]+) · cache write ([\d,]+)", out
        )
    ]
    assert len(usage) == 6, out
    assert usage[0][1] == 0 and usage[0][2] > 1024, "the long system prompt is written once"
    for before, after in itertools.pairwise(usage):
        # The ideal: each request reads everything the one before had cached or wrote.
        assert after[1] == before[1] + before[2]
    assert re.search(r"Caching saved \$[\d.]+ \((\d+)%\)", out)
    # It teaches: what is cached, what `input` means, and the saving in dollars.
    assert "What is cached: every request starts with the same prefix, the tool" in out
    assert "`input` is the UNCACHED input" in out
    saved = re.search(r"Caching saved \$([\d.]+) .*: \$([\d.]+) instead of \$([\d.]+)", out)
    assert saved is not None
    assert abs(float(saved.group(3)) - float(saved.group(2)) - float(saved.group(1))) < 2e-6
    assert "↳ wrote the prefix and the conversation to the cache" in out
    assert out.count("↳ read ") == 5


PUBLIC_MODULES = {
    "agentkit",
    "agentkit.providers",
    "agentkit.transforms",
    "agentkit.testing",
    "agentkit.testing.emulator",
    "agentkit.mcp",
    "agentkit.otel",
}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_use_only_the_public_modules(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agentkit")
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("agentkit")
    }
    assert used <= PUBLIC_MODULES, used - PUBLIC_MODULES


def test_mcp_time_calls_the_time_server_and_every_request_reads_the_one_before() -> None:
    lines = run_example("mcp_time.py").splitlines()
    assert lines[0] == "tools: meeting_length, convert_time, get_current_time"
    assert lines[1].startswith('get_current_time -> { "timezone": "Asia/Tokyo", "datetime": ')
    assert '"target": { "timezone": "Europe/Paris", "datetime": "' in lines[2]
    assert '"time_difference": "-8.0h"' in lines[2]
    assert lines[3] == "meeting_length -> 30 minutes"
    assert lines[4] == "answer: A 30-minute call at 09:00 in Tokyo is 01:00 in Paris."
    usage = [tuple(int(n) for n in re.findall(r"\d+", line)[1:]) for line in lines[5:]]
    assert len(usage) == 3 and usage[0][0] == 0 and usage[0][1] > 1024
    for before, after in itertools.pairwise(usage):
        assert after[0] == before[0] + before[1]


def test_streaming_shows_every_kind_of_event() -> None:
    lines = run_example("streaming.py").splitlines()
    assert lines[:2] == [
        "--- turn 1 ---",
        "[thinking] The user wants the docs indexed; three pages is enough.",
    ]
    # The argument fragments printed one after another make the whole JSON.
    assert '[call] index_pages {"pages":3,"site":"docs.example.com"}' in lines
    progress = [line for line in lines if line.startswith("[progress]")]
    assert progress == [f"[progress] index_pages: page {n}/3" for n in (1, 2, 3)]
    assert lines.index(progress[-1]) < lines.index(
        "[result] index_pages -> indexed 3 pages of docs.example.com"
    )
    assert "Done: indexed 3 pages of docs.example.com." in lines
    usage = [line for line in lines if line.startswith("[usage]")]
    assert [line.split(":")[0] for line in usage] == ["[usage] turn 1", "[usage] turn 2"]
    assert all(re.fullmatch(r"\[usage\] turn \d: [1-9]\d* in, [1-9]\d* out", u) for u in usage)
    assert lines[-1].startswith("stop: stop;")


def test_steering_skips_the_calls_not_started_and_abort_stops_the_stream() -> None:
    lines = run_example("steering_and_abort.py").splitlines()
    skipped = "[result] forecast: Skipped: a new user message arrived before this tool ran."
    assert lines[:6] == [
        "[tool] forecast(Paris)",
        "[user] steer: Never mind Rome and Oslo, just Paris.",
        "[result] forecast: Paris: sunny all week",
        skipped,
        skipped,
        "[answer] As you asked, only Paris. Paris: sunny all week.",
    ]
    assert "[user] abort" in lines
    found = re.fullmatch(r"stop: aborted; kept (\d+) characters of the poem", lines[-1])
    assert found is not None, lines[-1]
    full = len("Sunny all week in Paris, the river slow and bright; " * 20)
    assert 0 < int(found.group(1)) < full


def test_custom_transform_trims_requests_but_not_history() -> None:
    out = run_example("custom_transform.py")
    assert out.startswith("answer: All three parts are lorem ipsum.\n")
    last_request = out.split("request 4:\n")[1].splitlines()
    trimmed = "  [output of read_file trimmed: 1811 characters]  (46 characters)"
    assert last_request[:2] == [trimmed, trimmed]
    assert last_request[2].startswith("  part3.txt: lorem ipsum")
    assert last_request[2].endswith("(1811 characters)")
    assert out.count("trimmed") == 3  # one in request 3, two in request 4
    assert "history keeps every output in full: [1811, 1811, 1811] characters" in out


def test_custom_provider_calls_the_tool_and_echoes() -> None:
    out = run_example("custom_provider.py")
    assert "[tool] calculate({'a': 12.0, 'op': '*', 'b': 7.0}) -> 84" in out
    assert "The answer is 84.\n" in out
    assert "You said: Hello there\n" in out
    assert out.endswith("6 messages; answers by ['rules']\n")


def approval_env(setting: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "APPROVE_TOOL_CALLS"}
    if setting is not None:
        env["APPROVE_TOOL_CALLS"] = setting
    return env


@pytest.mark.parametrize(
    ("args", "setting"),
    [(["--approve"], None), ([], "yes"), (["--approve"], "no")],
)
def test_human_approval_approved(args: list[str], setting: str | None) -> None:
    out = run_example("human_approval.py", *args, env=approval_env(setting))
    assert out == "I deleted old.log, which took 5 MB.\nfiles left: ['report.pdf']\n"


@pytest.mark.parametrize(
    ("args", "setting"),
    [(["--deny"], None), ([], "no"), (["--deny"], "yes")],
)
def test_human_approval_denied(args: list[str], setting: str | None) -> None:
    out = run_example("human_approval.py", *args, env=approval_env(setting))
    assert out == (
        "I left old.log in place (Tool call 'delete_file' was blocked: the user declined).\n"
        "files left: ['old.log', 'report.pdf']\n"
    )


def test_human_approval_denies_when_nobody_can_answer() -> None:
    out = run_example("human_approval.py", env=approval_env(None))
    assert (
        out.splitlines()[0]
        == "Allow delete_file({'path': 'old.log'})? -> no answer available, denied"
    )
    assert out.count("Allow ") == 1  # list_files needs no approval
    assert "files left: ['old.log', 'report.pdf']" in out


def pause_in_one_process(state: Path) -> str:
    """Run the example until it pauses; the id of the call waiting for a decision."""
    out = run_example("human_approval.py", "pause", str(state))
    first, *waiting = out.splitlines()
    assert first == f"paused; the state is in {state}; waiting for a decision on:"
    (line,) = waiting  # list_files needed no approval: it ran, it does not wait
    call_id, what = line.strip().split(": ", 1)
    assert what == "delete_file({'path': 'old.log'})"
    assert json.loads(state.read_text())["pending"][0]["id"] == call_id
    return call_id


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        ("approve", "I deleted old.log, which took 5 MB.\nfiles left: ['report.pdf']\n"),
        (
            "deny",
            "I left old.log in place (Tool call 'delete_file' was denied: the user declined).\n"
            "files left: ['old.log', 'report.pdf']\n",
        ),
    ],
)
def test_human_approval_pauses_in_one_process_and_resumes_in_another(
    tmp_path: Path, verb: str, expected: str
) -> None:
    state = tmp_path / "state.json"
    call_id = pause_in_one_process(state)
    assert run_example("human_approval.py", "resume", str(state), verb, call_id) == expected


@pytest.mark.parametrize("decisions", [[], ["approve", "call_9_9"]])
def test_human_approval_resume_fails_closed(tmp_path: Path, decisions: list[str]) -> None:
    state = tmp_path / "state.json"
    call_id = pause_in_one_process(state)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "human_approval.py"), "resume", str(state), *decisions],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("not resumed: ")
    assert call_id in done.stderr or "call_9_9" in done.stderr


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (os.openpty)")
@pytest.mark.parametrize(
    ("typed", "left"), [(b"y\n", "['report.pdf']"), (b"\n", "['old.log', 'report.pdf']")]
)
def test_human_approval_asks_on_a_terminal(typed: bytes, left: str) -> None:
    terminal, stdin = os.openpty()
    try:
        os.write(terminal, typed)  # typed ahead; the terminal holds it until input() reads
        out = run_example("human_approval.py", env=approval_env(None), stdin=stdin)
    finally:
        os.close(stdin)
        os.close(terminal)
    assert out.startswith("Allow delete_file({'path': 'old.log'})? [y/N] ")
    assert out.endswith(f"files left: {left}\n")


def test_otel_console_prints_one_span_tree_and_the_metrics() -> None:
    lines = run_example("otel_console.py").splitlines()
    spans = {}
    for line in lines:
        found = re.match(r"span ([0-9a-f]{16}) parent ([0-9a-f]{16}|-{16}) (\S+(?: \S+)?)", line)
        if found:
            spans[found.group(3)] = (found.group(1), found.group(2), line)
    assert sorted(spans) == [
        "chat scripted-model",  # two of them: the later line wins here
        "execute_tool forecast",
        "execute_tool humidity",
        "handle_request",
        "humidity.lookup",
        "invoke_agent Weather",
    ]
    run, request = spans["invoke_agent Weather"], spans["handle_request"]
    assert run[1] == request[0]
    for name in ("chat scripted-model", "execute_tool forecast", "execute_tool humidity"):
        assert spans[name][1] == run[0], name
    assert spans["humidity.lookup"][1] == spans["execute_tool humidity"][0]
    assert sum(line.startswith("span ") for line in lines) == 7
    assert "gen_ai.usage.cache_read.input_tokens=2048" in spans["chat scripted-model"][2]
    assert "agentkit.stop_reason='stop'" in run[2]
    assert "answer: Sunny in Paris, 40% humidity." in lines
    assert "metric gen_ai.client.token.usage (input): count=2 sum=4276" in lines
    assert "metric gen_ai.client.token.usage (output): count=2 sum=42" in lines
    assert any(
        re.fullmatch(r"metric gen_ai.client.operation.duration: count=2 sum=\S+", x) for x in lines
    )


def test_trio_agents_run_concurrently() -> None:
    *events, summary = run_example("trio_agent.py").splitlines()
    lines = [line.split("s ", 1)[1] for line in events]  # without the timestamps
    # Each search waits until the other has started: run one after the other, the
    # program would never finish (run_example's timeout). The printing tasks may
    # interleave in any order; each agent's own lines keep theirs.
    assert len(lines) == 6
    for name, topic in (("alice", "trio"), ("bob", "anyio")):
        assert [line for line in lines if line.startswith(f"[{name}]")] == [
            f"[{name}] search_catalogue started",
            f"[{name}] search_catalogue finished",
            f"[{name}] I found 3 books on {topic}.",
        ]
    assert re.fullmatch(r"both answered in \d+\.\ds on trio", summary)


@pytest.mark.parametrize("path", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_is_tested(path: str) -> None:
    assert path in TESTED, f"examples/{path} has no test in tests/test_examples.py"
