"""``await agent.run(...)`` is typed by the agent's output type under ``mypy --strict``."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

SNIPPET = """
from typing import Literal, TypedDict

import attrs

from agentkit import Agent, RunResult
from agentkit.testing import ScriptedProvider


class Person(TypedDict):
    name: str
    age: int


@attrs.define
class Point:
    x: int


class Extractor(Agent[Person]):
    model = "m"


class Plain(Agent):
    model = "m"


async def main(provider: ScriptedProvider) -> None:
    reveal_type((await Extractor(provider).run("x")).output)
    reveal_type((await Agent(provider, model="m", output_type=Point).run("x")).output)
    reveal_type((await Plain(provider).run("x")).output)
    reveal_type((await Agent(provider, model="m").run("x")).output)
    labels: Agent[Literal["a", "b"]] = Agent(provider, model="m", output_type=Literal["a", "b"])
    reveal_type((await labels.run("x")).output)
    async with Extractor(provider).prompt("x") as stream:
        reveal_type((await stream.result()).output)
    bare: RunResult = (await Plain(provider).run("x"))
    reveal_type(bare.output)
    age: str = (await Extractor(provider).run("x")).output["age"]
"""

PERSON = "TypedDict(snippet.Person, {'name': str, 'age': int})"
EXPECTED = [PERSON, "snippet.Point", "str", "str", "Literal['a'] | Literal['b']", PERSON, "str"]


def test_outputs_are_typed_under_mypy_strict(tmp_path: Path) -> None:
    source = tmp_path / "snippet.py"
    source.write_text(textwrap.dedent(SNIPPET), encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    stdout, _, _ = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(root / ".mypy_cache"), str(source)]
    )
    revealed = re.findall(r'Revealed type is "(.+)"', stdout)
    assert revealed == EXPECTED, stdout
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    # The one error is the wrong type on purpose: the age is an int, not a str.
    assert len(errors) == 1 and "int" in errors[0] and "str" in errors[0], stdout
