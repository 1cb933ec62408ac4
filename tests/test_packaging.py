"""The documentation covers the package: a reference page per public module, every
exported name in the reference index, and a site navigation with every page in it.

The wheel itself is checked by ``make smoke`` (``scripts/smoke_wheel.sh``), which
installs it alone in a fresh virtual environment.
"""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import agentkit

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Modules documented elsewhere than on a page of their own, and why.
NO_PAGE = {
    "agentkit.testing": "re-exports agentkit.testing.scripted, which has the page",
    "agentkit.cli": "the command line; `agentkit --help` documents it",
}
COVERED_BY_PACKAGE = ("agentkit.testing.emulator.", "agentkit.cli.")


def public_modules() -> list[str]:
    names = ["agentkit"]
    for module in pkgutil.walk_packages(agentkit.__path__, "agentkit."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            names.append(module.name)
    return names


def documented_modules() -> set[str]:
    found = set()
    for page in (DOCS / "reference").glob("*.md"):
        found.update(re.findall(r"^::: (\S+)$", page.read_text(encoding="utf-8"), re.MULTILINE))
    return found


def test_every_public_module_has_a_reference_page() -> None:
    documented = documented_modules() | {"agentkit"}  # the index page, generated
    missing = [
        name
        for name in public_modules()
        if name not in documented
        and name not in NO_PAGE
        and not name.startswith(COVERED_BY_PACKAGE)
    ]
    assert not missing, f"modules without a page in docs/reference/: {missing}"
    assert documented <= set(public_modules()), documented - set(public_modules())


def test_reference_index_lists_every_export() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_reference_index.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    index = (DOCS / "reference" / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| \[`(\w+)`\]", index, re.MULTILINE))
    assert listed == set(agentkit.__all__) - {"__version__"}


def test_site_navigation_lists_exactly_the_pages() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:") :]
    in_nav = re.findall(r":\s+(\S+\.md)\s*$", nav, re.MULTILINE)
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(in_nav) == pages
    assert len(in_nav) == len(set(in_nav)), "a page is listed twice"
