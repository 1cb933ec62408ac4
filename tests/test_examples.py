"""Every example runs, so none can rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_quickstart_streams_tools_and_answer() -> None:
    out = run_example("quickstart.py")
    assert "[tool]   get_weather({'city': 'Paris'})" in out
    assert "[result] add -> 60.5" in out
    assert "museum plus dinner comes to 60.5 euros." in out
    assert "stop: stop;" in out


@pytest.mark.parametrize("path", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_is_tested(path: str) -> None:
    tested = {"quickstart.py"}
    assert path in tested, f"examples/{path} has no test in tests/test_examples.py"
