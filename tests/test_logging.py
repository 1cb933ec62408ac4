"""The library is silent unless the application turns logging on, and then says everything."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from agentkit._agent import Agent
from agentkit._tools import tool
from agentkit.testing import Reply, ScriptedProvider, call

ROOT = Path(__file__).resolve().parent.parent


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agent() -> Agent:
    replies = [Reply(tool_calls=[call("add", a=2, b=3)]), "5"]
    return Agent(ScriptedProvider(replies), model="m", tools=[add])


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_example_prints_only_its_own_output() -> None:
    # The README example, exactly as a user runs it: on the emulator, with no key.
    source = readme_example()
    assert "Emulator()" in source
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["Here is what the tools returned. add: 5."], done.stdout  # nothing else
    # Not even a warning on stderr: the library is silent until logging is configured.
    assert done.stderr == ""


@pytest.mark.anyio
async def test_a_run_writes_nothing_when_logging_is_not_configured(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)  # what an unconfigured program has
    structlog.reset_defaults()
    with anyio.fail_after(5):
        assert (await agent().run("2 + 3?")).text == "5"
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert caplog.records == []


@pytest.mark.anyio
async def test_stdlib_logging_gets_every_event_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentkit")
    with anyio.fail_after(5):
        await agent().run("2 + 3?")
    events = [(r.name, r.levelname, r.event) for r in caplog.records]  # type: ignore[attr-defined]
    assert ("agentkit.loop", "INFO", "run.start") in events
    assert ("agentkit.loop", "DEBUG", "provider.request") in events
    assert ("agentkit.loop", "DEBUG", "tool.start") in events
    assert ("agentkit.loop", "INFO", "run.end") in events
    end = next(r for r in caplog.records if r.event == "run.end")  # type: ignore[attr-defined]
    assert end.fields["stop_reason"] == "stop"  # type: ignore[attr-defined]
    assert end.fields["turns"] == 2  # type: ignore[attr-defined]
    assert re.fullmatch(r"[0-9a-f]{16}", end.fields["run_id"])  # type: ignore[attr-defined]
    assert "run.end" in end.getMessage() and "turns=2" in end.getMessage()


@pytest.mark.anyio
async def test_an_application_that_configured_structlog_gets_the_events() -> None:
    with capture_logs() as logs, anyio.fail_after(5):
        await agent().run("2 + 3?")
    names = [entry["event"] for entry in logs]
    assert names.count("run.start") == 1
    assert names.count("tool.start") == 1
    start = next(entry for entry in logs if entry["event"] == "run.start")
    assert start["log_level"] == "info"
    assert start["model"] == "m"


def test_only_the_logging_module_talks_to_structlog() -> None:
    # structlog.get_logger() elsewhere would print to stdout when unconfigured.
    allowed = {"_log.py", "_logging.py"}  # _logging: the programs' own set-up
    users = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "agentkit").rglob("*.py")
        if path.name not in allowed and "structlog" in path.read_text(encoding="utf-8")
    )
    assert users == []


def test_an_unconfigured_program_shows_no_warning_and_a_configured_one_does() -> None:
    source = (
        "import logging, sys\n"
        "from agentkit._log import get_logger\n"
        "get_logger('agentkit.transforms').warning('cache.prefix_below_minimum', minimum=1)\n"
        "if sys.argv[1] == 'configured':\n"
        "    logging.basicConfig()\n"
        "    get_logger('agentkit.transforms').warning('cache.prefix_below_minimum', minimum=2)\n"
    )
    quiet, loud = (
        subprocess.run(
            [sys.executable, "-c", source, mode],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for mode in ("unconfigured", "configured")
    )
    assert (quiet.stdout, quiet.stderr) == ("", "")
    assert loud.stdout == ""
    assert "cache.prefix_below_minimum minimum=2" in loud.stderr
    assert "minimum=1" not in loud.stderr
