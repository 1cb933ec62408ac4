"""Packaging: the distribution is named for the package index (``agentkit-loop``; ``agentkit``
there is another project's), every install hint uses that name, and the
LICENSE file and the metadata agree.

The wheel itself is checked by ``make smoke`` (``scripts/smoke_wheel.sh``), which
installs it alone in a fresh virtual environment.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

import agentkit
import agentkit.cli
import agentkit.testing.emulator.__main__ as emulator_command

ROOT = Path(__file__).resolve().parent.parent

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DISTRIBUTION = PYPROJECT["project"]["name"]

# A hint to install the distribution under a name other than its own:
# `pip install agentkit`, `agentkit[extra]` (the other project's name).
WRONG_HINT = re.compile(r"pip install\s+['\"]?agentkit(?![\w.-])|(?<![\w-])agentkit\[")


def hint_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "mkdocs.yml"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    files += sorted((ROOT / "examples").rglob("*.py"))
    files += sorted((ROOT / "agentkit").rglob("*.py"))
    files += sorted((ROOT / "scripts").rglob("*"))
    return [f for f in files if f.is_file()]


def test_the_distribution_is_not_named_like_the_other_project() -> None:
    assert DISTRIBUTION == "agentkit-loop"
    assert importlib.metadata.version(DISTRIBUTION) == agentkit.__version__
    # The programs that print install hints spell the same name.
    assert agentkit.cli.DISTRIBUTION == DISTRIBUTION
    assert emulator_command.DISTRIBUTION == DISTRIBUTION
    assert PYPROJECT["project"]["scripts"] == {"agentkit": "agentkit.cli:main"}


def test_every_install_hint_names_the_distribution() -> None:
    wrong = {}
    for path in hint_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        found = [m.group(0) for m in WRONG_HINT.finditer(text)]
        if found:
            wrong[str(path.relative_to(ROOT))] = found
    assert wrong == {}


@pytest.mark.parametrize(
    "hint",
    ["pip install agentkit", "pip install 'agentkit[cli]'", "install `agentkit[testing]`"],
)
def test_the_hint_check_sees_the_wrong_name(hint: str) -> None:
    assert WRONG_HINT.search(hint)
    assert not WRONG_HINT.search(hint.replace("agentkit", DISTRIBUTION))


def test_the_cli_extra_brings_what_the_commands_check_for() -> None:
    extra = PYPROJECT["project"]["optional-dependencies"][agentkit.cli.EXTRA]
    names = {re.split(r"[\[<>=!~; ]", requirement)[0] for requirement in extra}
    assert names == {"rich", "uvicorn"}
    assert f"pip install '{DISTRIBUTION}[cli]'" == agentkit.cli.INSTALL_HINT


def test_license_file_agrees_with_the_metadata() -> None:
    project = PYPROJECT["project"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == {"text": "MIT"}
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the agentkit developers" in text
    assert project["license-files"] == ["LICENSE"]
    assert "LICENSE" in PYPROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]


def test_project_urls_are_real_addresses() -> None:
    # The project has no public host yet, so there are none; any added must be real.
    for label, url in PYPROJECT["project"].get("urls", {}).items():
        assert re.match(r"https://[a-z0-9.-]+\.[a-z]{2,}/", url), (label, url)
        assert not re.search(r"example\.(com|org)|placeholder|TODO|OWNER", url), (label, url)
