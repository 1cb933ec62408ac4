"""The agentkit command line: chat against the emulator, Ctrl-C aborts a reply, not the session."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from agentkit.cli import main
from agentkit.cli.chat import run_chat
from agentkit.cli.providers import live_requested, open_session, resolve
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
    assert "`input` is the input NOT from the prompt cache" in text
    # "Be brief." is far below Claude Sonnet's minimum: the chat says why nothing is cached.
    found = re.search(r"Nothing was cached: the prompt is (\d+) tokens, below .*minimum", text)
    assert found is not None, text
    assert 0 < int(found.group(1)) < 1024
    assert text.count("Nothing was cached") == 1


@pytest.mark.anyio
async def test_the_default_system_prompt_is_cached_from_the_second_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("OPENROUTER_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    lines: Iterator[str] = iter(["hello there", "and again", "/exit"])
    out = io.StringIO()
    with anyio.fail_after(20):
        status = await run_chat(
            provider="auto",
            model=None,
            base_url=None,
            console=Console(file=out, width=200, highlight=False),
            reader=lambda prompt: next(lines),
        )
    text = out.getvalue()
    assert status == 0
    usage = [
        tuple(int(n.replace(",", "")) for n in found)
        for found in re.findall(r"cache read ([\d,]+) · cache write ([\d,]+)", text)
    ]
    assert len(usage) == 2, text
    (read1, write1), (read2, _) = usage
    assert read1 == 0 and write1 >= 1024, "the first request writes the long system prompt"
    assert read2 == write1, "the second reads what the first wrote"
    assert "Nothing was cached" not in text
    assert re.search(r"Caching saved \$[\d.]+", text)


def test_the_default_system_prompt_is_above_the_default_models_minimum() -> None:
    from agentkit import find_model
    from agentkit.cli._prompt import DEFAULT_SYSTEM_PROMPT
    from agentkit.cli.providers import DEFAULT_MODELS

    for model in DEFAULT_MODELS.values():
        info = find_model(model)
        assert info is not None and info.explicit_cache_breakpoints
        # Four characters a token (the emulator's estimate) with a 20 % margin for
        # a real tokenizer, which counts English prose at about that rate.
        assert len(DEFAULT_SYSTEM_PROMPT) / 4 > 1.2 * info.min_cacheable_tokens, model


def test_bad_arguments_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--provider", "openai-compatible"]) == 2
    assert "openai-compatible needs --base-url and --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["chat", "--provider", "nowhere"])


class OutputWatch:
    """Collects a child's output from a thread; ``wait_for`` blocks until a text appears."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._data = b""
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while chunk := os.read(self._stream.fileno(), 4096):
            with self._changed:
                self._data += chunk
                self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return self._data.decode("utf-8", errors="replace")

    def wait_for(self, text: str, timeout: float = 20) -> None:
        with self._changed:
            seen = self._changed.wait_for(lambda: text.encode() in self._data, timeout)
        assert seen, f"{text!r} never appeared in {self.text!r}"

    def finish(self, timeout: float = 20) -> str:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the child's output never ended"
        return self.text


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_ctrl_c_aborts_the_reply_but_not_the_session(tmp_path: Path) -> None:
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
        with (tmp_path / "stderr").open("wb") as stderr_file:
            child = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file, env=env
            )
        try:
            assert child.stdin is not None and child.stdout is not None
            output = OutputWatch(child.stdout)
            child.stdin.write(b"tell me something\n")
            child.stdin.flush()
            # The first words arrived, and the stall (an hour) holds the rest back.
            output.wait_for("> You said")
            child.send_signal(signal.SIGINT)
            output.wait_for("(aborted)")
            child.stdin.write(b"second question\n/exit\n")
            child.stdin.close()
            stdout = output.finish()
            status = child.wait(timeout=20)
        finally:
            child.kill()
            child.wait(timeout=20)
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()
    stderr = (tmp_path / "stderr").read_text(encoding="utf-8")
    assert status == 0, stderr
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


# --- Without the extras: `agentkit --help` works, a command says which extra to install.

ROOT = Path(__file__).resolve().parent.parent
HINT = "pip install 'agentkit-loop[cli]'"


def run_cli(
    *arguments: str, blocked: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``agentkit ARGUMENTS`` in a child python where the ``blocked`` packages cannot import."""
    program = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None  # import raises ModuleNotFoundError, find_spec is None\n"
        "from agentkit.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('agentkit.testing'))\n"
        "print('test support loaded:', loaded, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or without_keys(),
        check=False,
    )


def problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("test support loaded:")]


def test_help_needs_no_extra_and_names_the_extra() -> None:
    done = run_cli("--help", blocked=("rich", "uvicorn"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: agentkit ")
    assert HINT in done.stdout
    assert "chat" in done.stdout and "emulator" in done.stdout


@pytest.mark.parametrize(
    ("arguments", "blocked", "missing"),
    [
        (("chat",), ("rich",), "rich"),
        (("chat",), ("uvicorn",), "uvicorn"),  # offline, the chat runs on the emulator
        (("emulator", "--port", "0"), ("uvicorn",), "uvicorn"),
    ],
)
def test_a_command_without_its_extra_says_so_in_one_line(
    arguments: tuple[str, ...], blocked: tuple[str, ...], missing: str
) -> None:
    done = run_cli(*arguments, blocked=blocked)
    assert done.returncode == 2, done.stderr
    problems = problem_lines(done.stderr)
    assert len(problems) == 1, done.stderr
    assert missing in problems[0] and HINT in problems[0], problems[0]
    assert "Traceback" not in done.stderr


def test_a_live_chat_needs_rich_but_not_uvicorn() -> None:
    env = {**without_keys(), "OPENROUTER_API_KEY": "sk-or-unused"}
    # No rich: refused before any request is made (no network is touched).
    done = run_cli("chat", "--live", blocked=("rich", "uvicorn"), env=env)
    assert done.returncode == 2
    assert problem_lines(done.stderr) == [f"agentkit chat needs rich (the 'cli' extra): {HINT}"]


def test_emulator_help_is_named_after_the_command() -> None:
    done = run_cli("emulator", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: agentkit emulator ")
    assert "python -m" not in done.stdout


def test_the_command_line_imports_test_support_only_for_the_emulator() -> None:
    program = (
        "import sys\n"
        "import agentkit.cli, agentkit.cli.chat, agentkit.cli.display, agentkit.cli.providers\n"
        "from agentkit.cli import main\n"
        "try:\n"
        "    main(['chat', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('agentkit.testing')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        env=without_keys(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    # The emulator command does load it: the check above can see an import.
    served = run_cli("emulator", "--providers", "0")
    assert "'agentkit.testing.emulator'" in served.stderr, served.stderr


# --- Slash commands are the chat's own: never sent to the model.


def last_user_text(body: dict[str, Any]) -> str:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content if part.get("type") == "text")


@pytest.mark.anyio
async def test_slash_commands_are_handled_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "emulator-key")
    lines = iter(["/help", "hello", "/usage", "/bogus thing", "//literal", "/reset", "/exit"])
    out = io.StringIO()
    with Emulator(script=demo_policy) as emulator, anyio.fail_after(20):
        status = await run_chat(
            provider="openrouter",
            model=None,
            base_url=emulator.openrouter_base_url,
            system="Be brief.",
            console=Console(file=out, width=200, highlight=False),
            reader=lambda prompt: next(lines),
        )
        sent = [last_user_text(record.body) for record in emulator.requests]
    text = out.getvalue()
    assert status == 0
    assert sent == ["hello", "/literal"]
    assert "/usage  the requests so far" in text  # /help's list
    assert "Unknown command /bogus; /help lists the commands." in text
    assert "You said: /help" not in text
    assert "The conversation is forgotten" in text
    assert text.count("│ total │") == 2  # /usage, then the summary at the end


# --- No surprise spending: offline unless asked, whatever keys are exported.

SENTINEL = "sk-SENTINEL-must-not-leave-this-machine"
SENTINEL_KEYS = {"OPENROUTER_API_KEY": SENTINEL, "ANTHROPIC_API_KEY": SENTINEL}

# Runs a program (argv[1], a path, or `-m module`) with the network fenced to loopback:
# a lookup of, or a connection to, any other address fails and is reported on stderr.
LOOPBACK_FENCE = r"""
import ipaddress, runpy, socket, sys

def loopback(host):
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False

def refuse(what):
    sys.stderr.write(f"FENCE: {what}\n")
    sys.stderr.flush()
    raise OSError(f"fenced: {what}")

real_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if host is not None and not loopback(host):
        refuse(f"lookup of {host.decode() if isinstance(host, bytes) else host!r}")
    return real_getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo

for name in ("connect", "connect_ex"):
    real = getattr(socket.socket, name)
    def fenced(self, address, _real=real):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            refuse(f"connection to {address!r}")
        return _real(self, address)
    setattr(socket.socket, name, fenced)

target = sys.argv[1]
if target == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(target, run_name="__main__")
"""


def run_fenced(
    *arguments: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LOOPBACK_FENCE, *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "200"},
        cwd=ROOT,
        check=False,
    )


def test_the_fence_catches_a_connection_to_a_real_service() -> None:
    # The check below means something only if this one fails as it should.
    done = run_fenced(
        "-m",
        "agentkit.cli",
        "chat",
        "--live",
        env={**without_keys(), **SENTINEL_KEYS},
        stdin="hello\n/exit\n",
    )
    assert "FENCE: lookup of 'openrouter.ai'" in done.stderr, done.stderr
    assert "LIVE" in done.stdout.splitlines()[0]
    assert "OpenRouter (live, billed to OPENROUTER_API_KEY)" in done.stdout.splitlines()[0]
    assert SENTINEL not in done.stdout + done.stderr


@pytest.mark.parametrize("live", [None, "0", ""])
def test_chat_with_keys_exported_stays_on_the_emulator(live: str | None) -> None:
    env = {**without_keys(), **SENTINEL_KEYS}
    if live is not None:
        env["AGENTKIT_LIVE"] = live
    done = run_fenced("-m", "agentkit.cli", "chat", env=env, stdin="hello\n/exit\n")
    assert done.returncode == 0, done.stderr
    assert "FENCE" not in done.stderr
    header = done.stdout.splitlines()[0]
    assert "offline" in header and "via the local emulator at http://127.0.0.1:" in header
    assert "You said: hello" in done.stdout
    assert SENTINEL not in done.stdout + done.stderr


def test_the_demo_with_keys_exported_stays_on_the_emulator() -> None:
    done = run_fenced("examples/quickstart.py", env={**without_keys(), **SENTINEL_KEYS})
    assert done.returncode == 0, done.stderr
    assert "FENCE" not in done.stderr
    assert "via the local emulator at http://127.0.0.1:" in done.stdout.splitlines()[0]
    assert SENTINEL not in done.stdout + done.stderr


@pytest.mark.anyio
async def test_the_offline_provider_points_at_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in SENTINEL_KEYS.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AGENTKIT_LIVE", raising=False)
    with anyio.fail_after(20):
        async with open_session() as session:
            assert not session.live
            base_url = getattr(session.provider, "base_url", "")
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", base_url), base_url
            assert SENTINEL not in repr(session.provider)


keys = st.fixed_dictionaries(
    {},
    optional={
        "OPENROUTER_API_KEY": st.text(min_size=1, max_size=20),
        "ANTHROPIC_API_KEY": st.text(min_size=1, max_size=20),
    },
)


@given(environ=keys, off=st.sampled_from(["", "0", "false", "No", " off "]), unset=st.booleans())
def test_auto_is_offline_unless_asked_whatever_keys_are_set(
    environ: dict[str, str], off: str, unset: bool
) -> None:
    if not unset:
        environ = {**environ, "AGENTKIT_LIVE": off}
    assert resolve("auto", environ=environ) == "emulator"
    assert resolve("auto", live=False, environ={**environ, "AGENTKIT_LIVE": "1"}) == "emulator"


@given(environ=keys, on=st.sampled_from(["1", "true", "YES", " on"]), flag=st.booleans())
def test_live_picks_the_service_whose_key_is_set(
    environ: dict[str, str], on: str, flag: bool
) -> None:
    asked = {**environ} if flag else {**environ, "AGENTKIT_LIVE": on}
    live = True if flag else None
    if "OPENROUTER_API_KEY" in environ:
        assert resolve("auto", live=live, environ=asked) == "openrouter"
    elif "ANTHROPIC_API_KEY" in environ:
        assert resolve("auto", live=live, environ=asked) == "anthropic"
    else:
        with pytest.raises(ValueError, match="a live session needs OPENROUTER_API_KEY"):
            resolve("auto", live=live, environ=asked)


def test_a_named_service_is_an_explicit_choice() -> None:
    for choice in ("openrouter", "anthropic", "openai-compatible", "emulator"):
        assert resolve(choice, environ={}) == choice
    with pytest.raises(ValueError, match="unknown provider 'nowhere'"):
        resolve("nowhere", environ={})


def test_an_unclear_live_variable_is_refused() -> None:
    with pytest.raises(ValueError, match=r"AGENTKIT_LIVE='maybe' is neither on nor off"):
        live_requested({"AGENTKIT_LIVE": "maybe"})
    env = {**without_keys(), "AGENTKIT_LIVE": "maybe"}
    done = run_cli("chat", env=env)
    assert done.returncode == 2
    assert problem_lines(done.stderr) == [
        "agentkit chat: AGENTKIT_LIVE='maybe' is neither on nor off: set it to 1 for a real "
        "service, or to 0 (or unset it) for the local emulator"
    ]


def test_live_without_a_key_exits_with_status_2() -> None:
    done = run_cli("chat", "--live")
    assert done.returncode == 2
    assert "a live session needs OPENROUTER_API_KEY or ANTHROPIC_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
