"""The agentkit command line: chat against the emulator, Ctrl-C aborts a reply, not the session."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import anyio
import pytest
from rich.console import Console

from agentkit.cli import main
from agentkit.cli.chat import run_chat
from agentkit.testing.emulator import Emulator, StallFault, demo_policy


def without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


@pytest.mark.anyio
async def test_chat_streams_answers_and_prints_the_cost_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("OPENROUTER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    lines: Iterator[str] = iter(["hello there", "", "and again", "/exit"])
    out = io.StringIO()
    with anyio.fail_after(20):
        status = await run_chat(
            provider="auto",
            model=None,
            base_url=None,
            system="Be brief.",
            console=Console(file=out, width=200, highlight=False),
            reader=lambda prompt: next(lines),
        )
    text = out.getvalue()
    assert status == 0
    assert "via the local emulator" in text
    assert "You said: hello there" in text
    assert "request 2: input" in text
    assert "│ total │" in text


def test_bad_arguments_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--provider", "openai-compatible"]) == 2
    assert "openai-compatible needs --base-url and --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["chat", "--provider", "nowhere"])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_ctrl_c_aborts_the_reply_but_not_the_session() -> None:
    with Emulator(script=demo_policy) as emulator:
        emulator.inject(StallFault(after=3), times=1)  # the first reply stalls mid-stream
        env = {**without_keys(), "OPENROUTER_API_KEY": "emulator-key", "COLUMNS": "200"}
        command = [
            sys.executable,
            "-m",
            "agentkit.cli",
            "chat",
            "--provider",
            "openrouter",
            "--base-url",
            emulator.openrouter_base_url,
        ]
        child = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdin is not None
        child.stdin.write("tell me something\n")
        child.stdin.flush()
        deadline = time.monotonic() + 20
        while len(emulator.requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the reply is now stalled mid-stream
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.stdin.write("second question\n/exit\n")
        child.stdin.flush()
        try:
            stdout, stderr = child.communicate(timeout=20)
        finally:
            child.kill()
    assert child.returncode == 0, stderr
    assert "(aborted)" in stdout
    assert "You said: second question" in stdout
    assert len(emulator.requests) == 2


def test_emulator_command_serves_until_interrupted() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "agentkit.cli", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=without_keys(),
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("Anthropic API:  http://127.0.0.1:")
        assert child.stdout.readline().startswith("OpenRouter API: http://127.0.0.1:")
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 0
    assert "stopping" in rest
