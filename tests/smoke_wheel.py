"""Smoke test of an installed wheel, run by ``scripts/smoke_wheel.sh`` in a fresh venv.

Not collected by pytest: it must run with the fresh environment's python, where
only agentkit's runtime dependencies are installed. A module importing a
package that is not a declared runtime dependency fails here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import anyio
import structlog

import agentkit
from agentkit import Agent, StopReason, ToolResultMessage, tool
from agentkit.testing import Reply, ScriptedProvider, call

DISTRIBUTION = "agentkit-loop"  # the name on the package index; the import name is agentkit
CLI_HINT = f"pip install '{DISTRIBUTION}[cli]'"


def check_installed_copy() -> None:
    here = Path(agentkit.__file__).resolve()
    prefix = Path(sys.prefix).resolve()
    assert prefix in here.parents, f"agentkit imported from {here}, not from the venv {prefix}"
    assert (here.parent / "py.typed").is_file(), "the wheel lacks agentkit/py.typed"
    version = importlib.metadata.version(DISTRIBUTION)
    assert agentkit.__version__ == version, (agentkit.__version__, version)


def check_license() -> None:
    metadata = importlib.metadata.metadata(DISTRIBUTION)
    assert metadata["License"] == "MIT", metadata["License"]
    files = importlib.metadata.files(DISTRIBUTION) or []
    licenses = [f for f in files if f.name == "LICENSE"]
    assert licenses, "the wheel lacks the LICENSE file"
    text = licenses[0].read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the agentkit developers" in text, text[:80]


def check_exports() -> None:
    missing = [name for name in agentkit.__all__ if not hasattr(agentkit, name)]
    assert not missing, f"agentkit.__all__ names that do not resolve: {missing}"


def optional_packages() -> set[str]:
    """Import names of the packages that only an extra installs (dist name, normalised)."""
    names = set()
    for requirement in importlib.metadata.requires(DISTRIBUTION) or ():
        if "extra ==" in requirement:
            name = re.match(r"[A-Za-z0-9._-]+", requirement)
            assert name is not None, requirement
            names.add(name.group(0).lower().replace("-", "_"))
    # Distributions imported under another name (opentelemetry-api: `opentelemetry`).
    return names | {IMPORT_NAMES[n] for n in names if n in IMPORT_NAMES}


IMPORT_NAMES = {"opentelemetry_api": "opentelemetry"}


def check_every_module_imports() -> list[str]:
    """Import every module; only a missing package of an optional extra is allowed."""
    optional = optional_packages()
    needs_extra = []
    for module in pkgutil.walk_packages(agentkit.__path__, "agentkit."):
        if module.name.endswith("__main__"):
            continue  # runs a program when imported
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top.lower() not in optional:
                raise AssertionError(
                    f"{module.name} needs {exc.name!r}, which is not a runtime dependency"
                ) from exc
            needs_extra.append(f"{module.name} (needs {top})")
    return needs_extra


def check_emulator_needs_its_extra() -> None:
    from agentkit.testing.emulator import Emulator, EmulatorUnavailableError

    message = ""
    try:
        with Emulator():
            pass
    except EmulatorUnavailableError as exc:
        message = str(exc)
    # The library's own message (agentkit/testing/emulator/_server.py) names the extra.
    assert "pip install 'agentkit-loop[emulator]'" in message, (
        f"without uvicorn the emulator said {message!r}"
    )


def check_otel_needs_its_extra() -> None:
    message = ""
    try:
        import agentkit.otel  # noqa: F401
    except ModuleNotFoundError as exc:
        message = str(exc)
    assert "pip install 'agentkit-loop[otel]'" in message, (
        f"without opentelemetry-api, importing agentkit.otel said {message!r}"
    )


def run_script(*arguments: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.prefix) / "bin" / "agentkit"
    assert script.is_file(), f"the wheel installed no console script at {script}"
    # Offline, whatever the caller exported: no key, no live switch.
    env = {k: v for k, v in os.environ.items() if k != "AGENTKIT_LIVE" and "API_KEY" not in k}
    return subprocess.run(
        [str(script), *arguments], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def check_console_script() -> None:
    """``agentkit --help`` works without extras; each command names the extra it needs."""
    shown = run_script("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: agentkit "), shown
    assert CLI_HINT in shown.stdout, shown.stdout
    emulator_help = run_script("emulator", "--help")
    assert emulator_help.returncode == 0, emulator_help
    assert emulator_help.stdout.startswith("usage: agentkit emulator "), emulator_help.stdout
    for command, missing in ((("chat",), "rich, uvicorn"), (("emulator",), "uvicorn")):
        done = run_script(*command)
        lines = done.stderr.splitlines()
        assert done.returncode == 2, (command, done)
        assert len(lines) == 1 and "Traceback" not in done.stderr, (command, done.stderr)
        assert missing in lines[0] and CLI_HINT in lines[0], (command, lines[0])
        print(f"smoke: without extras, agentkit {command[0]} says: {lines[0]}")


class Calculator(Agent):
    model = "scripted-model"
    system_prompt = "You add numbers."

    @tool
    def add(self, a: int, b: int) -> int:
        """Add two integers."""
        return a + b


async def scripted_run() -> None:
    provider = ScriptedProvider([Reply(tool_calls=[call("add", a=2, b=3)]), Reply("2 + 3 = 5")])
    agent = Calculator(provider=provider)
    result = await agent.run("What is 2 + 3?")
    assert result.text == "2 + 3 = 5", result.text
    assert result.stop_reason is StopReason.STOP, result.stop_reason
    results = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert [m.text for m in results] == ["5"], results
    assert result.usage.input > 0 and result.usage.output > 0, result.usage
    assert len(provider.requests) == 2
    assert len(agent.messages) == 4  # prompt, tool call, tool result, answer


def main() -> None:
    # The application decides how much to log; here, only problems.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    check_installed_copy()
    check_license()
    check_exports()
    needs_extra = check_every_module_imports()
    check_emulator_needs_its_extra()
    check_otel_needs_its_extra()
    check_console_script()
    anyio.run(scripted_run)
    print(f"smoke: agentkit {agentkit.__version__} OK from {Path(agentkit.__file__).parent}")
    for line in needs_extra:
        print(f"smoke: optional, not imported: {line}")


if __name__ == "__main__":
    main()
